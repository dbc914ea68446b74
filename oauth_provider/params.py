"""Protocol parameters as one flat, validated mapping.

OAuth 2.1 §3.1 and RFC 6749 §3.1: a parameter sent without a value is treated as omitted,
parameters must not be repeated, and unknown ones are ignored. The one exception is a parameter
a specification makes repeatable (RFC 8707 §2: ``resource``; RFC 8693 §2.1: ``audience``):
:func:`flatten` keeps its values
apart, in :attr:`Params.lists`, so no caller can read one of several values by mistake. Each value is bounded by
``MAX_PARAMETER_LENGTH`` (a token or JWT by the longest JWT read, if that is more) so hostile
input costs bounded work.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import BadRequest, SuspiciousOperation
from django.http import HttpRequest, QueryDict, UnreadablePostError
from django.http.multipartparser import MultiPartParserError

from .conf import provider_settings
from .errors import InvalidRequest

#: Parameters a specification allows to repeat: RFC 8707 §2 ``resource`` (one per target) and
#: RFC 8693 §2.1 ``audience`` (token exchange).
REPEATABLE = frozenset({"resource", "audience"})
#: At most this many values of one repeatable parameter (bounded work for hostile input).
MAX_REPEATS = 10
#: Parameters that carry a token or a JWT: bounded by the longest JWT this library reads
#: (:data:`JWT_MAX_LENGTH`) when that is above ``MAX_PARAMETER_LENGTH``, so a token it issued
#: itself (a JWT access token with many scopes, audiences or actors; an ID token with many
#: claims as ``id_token_hint``) can always be revoked, introspected, exchanged or sent back.
TOKEN_PARAMETERS = frozenset({
    "token", "subject_token", "actor_token", "client_assertion", "assertion", "request", "id_token_hint",
})
#: :data:`oauth_provider.jwt.MAX_LENGTH` (not imported: this module sits below it)
JWT_MAX_LENGTH = 8192
#: The longest ``login_hint`` (OIDC Core §3.1.2.1) the authorization endpoint passes on to the
#: login page, which pre-fills it: a name or an address; anything longer is text a link chose.
LOGIN_HINT_MAX_LENGTH = 255


class Params(dict[str, str]):
    """The flattened parameters: one value per key, plus :attr:`lists` holding the values of
    the repeatable parameters (:data:`REPEATABLE`), which are never in the dict itself."""

    def __init__(self, *args: object, **kwargs: str) -> None:
        super().__init__(*args, **kwargs)
        self.lists: dict[str, tuple[str, ...]] = {}

    def getlist(self, key: str) -> tuple[str, ...]:
        """Every non-empty value of ``key``, in the order sent."""
        return self.lists.get(key, ())


def getlist(params: dict[str, str], key: str) -> tuple[str, ...]:
    """The values of repeatable ``key`` in ``params``: a :class:`Params` from :func:`flatten`,
    or a plain dict (one value at most), as an extension's code may build."""
    if isinstance(params, Params):
        return params.getlist(key)
    value = params.get(key)
    return (value,) if value else ()


def _checked(key: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise InvalidRequest(f"The {key} parameter is too long.")
    if "\x00" in value:
        raise InvalidRequest(f"The {key} parameter contains a NUL character.")
    return value


def flatten(data: QueryDict, known: Iterable[str] | None = None) -> Params:
    """``data`` as a plain dict of non-empty values (the repeatable parameters in
    :attr:`Params.lists`).

    Raises :class:`InvalidRequest` when a parameter appears more than once (a repeatable
    one more than :data:`MAX_REPEATS` times) or is longer than ``MAX_PARAMETER_LENGTH``.
    With ``known``, other parameters are dropped (after the repeat check only for those)."""
    limit = provider_settings.MAX_PARAMETER_LENGTH
    token_limit = max(limit, JWT_MAX_LENGTH)
    wanted = None if known is None else set(known)
    out = Params()
    for key, values in data.lists():
        if wanted is not None and key not in wanted:
            continue
        if key in REPEATABLE:
            if len(values) > MAX_REPEATS:
                raise InvalidRequest(f"The {key} parameter was sent too many times.")
            kept = tuple(_checked(key, value, limit) for value in values)
            if any(kept):
                out.lists[key] = tuple(value for value in kept if value)
            continue
        if len(values) > 1:
            raise InvalidRequest(f"The {key} parameter was sent more than once.")
        value = _checked(key, values[0], token_limit if key in TOKEN_PARAMETERS else limit)
        if value != "":
            out[key] = value
    return out


def request_data(request: HttpRequest) -> QueryDict:
    """The query (GET) or form body (POST) of ``request``; a body Django refuses to parse
    (too large, too many fields, a multipart body without a valid boundary) is
    ``invalid_request`` rather than a bare 400 page or a 500.

    So is a form body declared in a charset other than UTF-8 (RFC 6749 Appendix B: the
    parameters are UTF-8). Recent Django versions refuse it themselves; Django 4.2 would
    decode it in that charset, so it is refused here, the same on every version."""
    charset = (request.content_params or {}).get("charset") if request.method == "POST" else None
    if charset is not None and charset.strip().lower() != "utf-8":
        raise InvalidRequest("The request body must be UTF-8.")
    try:
        return request.POST if request.method == "POST" else request.GET
    except (BadRequest, SuspiciousOperation, UnreadablePostError, MultiPartParserError) as exc:
        raise InvalidRequest("The request is too large or malformed.") from exc

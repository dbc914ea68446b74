"""Protocol parameters as one flat, validated mapping.

OAuth 2.1 §3.1 and RFC 6749 §3.1: a parameter sent without a value is treated as omitted,
parameters must not be repeated, and unknown ones are ignored. Each value is bounded by
``MAX_PARAMETER_LENGTH`` so hostile input costs bounded work.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import BadRequest, SuspiciousOperation
from django.http import HttpRequest, QueryDict, UnreadablePostError
from django.http.multipartparser import MultiPartParserError

from .conf import provider_settings
from .errors import InvalidRequest


def flatten(data: QueryDict, known: Iterable[str] | None = None) -> dict[str, str]:
    """``data`` as a plain dict of non-empty values.

    Raises :class:`InvalidRequest` when a parameter appears more than once or is longer
    than ``MAX_PARAMETER_LENGTH``. With ``known``, other parameters are dropped (after the
    repeat check only for those)."""
    limit = provider_settings.MAX_PARAMETER_LENGTH
    wanted = None if known is None else set(known)
    out: dict[str, str] = {}
    for key, values in data.lists():
        if wanted is not None and key not in wanted:
            continue
        if len(values) > 1:
            raise InvalidRequest(f"The {key} parameter was sent more than once.")
        value = values[0]
        if len(value) > limit:
            raise InvalidRequest(f"The {key} parameter is too long.")
        if "\x00" in value:
            raise InvalidRequest(f"The {key} parameter contains a NUL character.")
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

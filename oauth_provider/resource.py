"""The one core that validates a bearer access token for a protected resource (RFC 6750).

Every protection the library offers (the DRF classes in
:mod:`oauth_provider.contrib.rest_framework`, :func:`oauth_provider.decorators.protected_resource`,
:class:`~oauth_provider.decorators.ProtectedResourceMixin` and
:class:`~oauth_provider.middleware.OAuth2TokenMiddleware`) is a thin layer over
:func:`authenticate`:

1. **Find the token** (:func:`extract`): the ``Authorization: Bearer`` header (RFC 6750 §2.1,
   scheme matched case-insensitively), or the ``access_token`` field of a form-encoded POST
   body (§2.2) when ``BEARER_FORM_BODY`` is on. Never the URI query (OAuth 2.1 §5.1.1).
   Header *and* body is ``invalid_request`` (§2: at most one method per request).
2. **Shape check**: a value that is not an RFC 6750 ``b64token`` or is longer than
   :data:`MAX_TOKEN_LENGTH` is ``invalid_token`` without touching the database.
3. **One query** (:func:`lookup`): the row by its SHA-256 hash, joined to its client, user and
   token family.
4. **State checks** (:func:`is_live`): not expired, not revoked, family not revoked, client
   active, user active. Any failure is ``invalid_token``: the caller learns nothing more.

The outcome, good or bad, is remembered on the request, so a request is validated at most
once however many layers ask. The result is a :class:`ResourceToken`, a small frozen object.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from . import denylist, jwt, secrets
from .conf import provider_settings
from .errors import InsufficientScope, InvalidRequest, InvalidToken, MissingToken, OAuthError
from .issuer import get_issuer, metadata_url, resource_identifier
from .models import AccessToken
from .models.store import access_token_by_value, client_by_id
from .params import flatten, request_data
from .registry import adapter
from .responses import bearer_challenge, bearer_error

if TYPE_CHECKING:
    from .models import AbstractClient

#: Longest access token accepted; opaque ones are 43 characters, JWT ones (RFC 9068) about
#: 800 with an RS256 signature; the bound is the JWT module's.
MAX_TOKEN_LENGTH = jwt.MAX_LENGTH
#: RFC 6750 §2.1 ``b64token``.
B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
FORM = "application/x-www-form-urlencoded"

_CACHE_ATTR = "_oauth_provider_bearer"


@dataclass(frozen=True, slots=True)
class ResourceToken:
    """A validated access token, as protected views see it (``request.auth`` in DRF,
    ``request.oauth_token`` elsewhere).

    ``user`` is None for a client_credentials token (the client acts for itself);
    ``audience`` is the resource identifiers the token is good for; ``id`` is the
    AccessToken row's primary key (None for a JWT access token, whose ``client`` and
    ``user`` are lazy: they cost a query only when touched)."""

    id: int | None
    client: AbstractClient
    user: Any | None
    scopes: frozenset[str]
    expires_at: datetime
    audience: tuple[str, ...]
    #: the token family (Authorization row) of an opaque token; None for JWT access tokens
    #: and client_credentials tokens
    grant: Any | None = None
    #: True for an RFC 9068 JWT access token, verified without the database
    is_jwt: bool = False

    @property
    def scope(self) -> str:
        """The scopes, space-separated (RFC 6749 §3.3), in a stable order."""
        return " ".join(sorted(self.scopes))

    @property
    def is_client_token(self) -> bool:
        """True for a token the client obtained for itself (client_credentials)."""
        return self.user is None

    def has_scopes(self, required: Iterable[str]) -> bool:
        """Does the token carry every scope in ``required``?"""
        return self.scopes.issuperset(required)


def error_response(request: HttpRequest, error: OAuthError, scopes: Iterable[str] = ()) -> HttpResponse:
    """The RFC 6750 §3 answer for ``error``, with ``realm``, the required ``scope`` (when
    known) and ``resource_metadata`` (RFC 9728 §5.1) in the challenge."""
    required = " ".join(scopes) or None
    return bearer_error(
        error, realm=resource_identifier(request), scope=getattr(error, "scope", None) or required,
        resource_metadata=metadata_url(request),
    )


def challenge(request: HttpRequest, error: OAuthError | None) -> str:
    """The ``WWW-Authenticate`` value for ``error`` (None: no token was sent)."""
    return bearer_challenge(
        error, realm=resource_identifier(request), scope=getattr(error, "scope", None),
        resource_metadata=metadata_url(request),
    )


# -- finding the token ---------------------------------------------------------------------
def django_request(request: Any) -> HttpRequest:
    """The Django request behind a DRF ``Request`` (or ``request`` itself)."""
    inner: HttpRequest = getattr(request, "_request", request)
    return inner


def _from_header(request: HttpRequest) -> str | None:
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _is_form_post(request: HttpRequest) -> bool:
    return request.method == "POST" and request.content_type == FORM


def _from_body(request: HttpRequest) -> str | None:
    return flatten(request_data(request), known=("access_token",)).get("access_token")


def extract(request: HttpRequest, *, form_body: bool | None = None) -> str | None:
    """The raw access token the request carries, or None when it carries none.

    ``form_body`` says whether a form-encoded POST body may carry it (RFC 6750 §2.2); None:
    the ``BEARER_FORM_BODY`` setting. Raises :class:`InvalidRequest` when the token is sent
    by more than one method (RFC 6750 §2; the body is inspected for that even when the body
    is not allowed, since a client doing it is broken either way) or the body cannot be
    parsed."""
    header = _from_header(request)
    body_allowed = provider_settings.BEARER_FORM_BODY if form_body is None else form_body
    body = None
    if _is_form_post(request) and (body_allowed or header is not None):
        body = _from_body(request)
    if header is not None and body is not None:
        raise InvalidRequest("The access token was sent by more than one method.")
    if header is not None:
        return header
    return body if body_allowed else None


def is_token_shaped(raw: str) -> bool:
    """Could ``raw`` be an access token at all (RFC 6750 §2.1 ``b64token``, bounded length)?"""
    return 0 < len(raw) <= MAX_TOKEN_LENGTH and B64TOKEN.fullmatch(raw) is not None


# -- the lookup and the state checks --------------------------------------------------------
def lookup(raw: str) -> AccessToken | None:
    """The AccessToken row for ``raw`` with its client, user and family, in one query;
    None when there is none (or ``raw`` cannot be a token: no query then)."""
    if not is_token_shaped(raw):
        return None
    # Prepared once, not recompiled per request: compiling this 50-column join cost the
    # ORM several times what running it costs.
    return access_token_by_value(raw)


def is_live(row: AccessToken, when: datetime | None = None) -> bool:
    """Is the token usable now? The model's rule (:meth:`AccessToken.is_live`), on the rows
    the lookup joined: no query."""
    return row.is_live(when)


def as_resource_token(row: AccessToken, request: HttpRequest | None = None) -> ResourceToken:
    return ResourceToken(
        id=row.pk,
        client=row.client,
        user=row.user if row.user_id is not None else None,
        scopes=frozenset(row.scope.split()),
        expires_at=row.expires_at,
        audience=(resource_identifier(request),),
        grant=row.authorization if row.authorization_id is not None else None,
    )


# -- JWT access tokens (RFC 9068 §4): verified locally, no query ---------------------------
def looks_like_jwt(raw: str) -> bool:
    return raw.startswith("eyJ") and raw.count(".") == 2


def _client_by_id(client_id: str) -> AbstractClient | None:
    return client_by_id(client_id)


def _user_by_subject(subject: str) -> Any:
    return adapter().get_user_by_subject(subject) or AnonymousUser()


def verify_jwt(raw: str, request: HttpRequest | None = None) -> ResourceToken:
    """Verify an RFC 9068 access token: our signature, ``typ: at+jwt`` (an ID token is never
    an access token, RFC 8725 §3.11), our issuer, this resource as audience, unexpired, not on
    the denylist. The client and user load lazily. Raises :class:`InvalidToken`.

    What is not checked, by design: that the client or user is still active, or that the
    token or its family was revoked (unless the denylist is on). Keep JWT lifetimes short."""
    audience = resource_identifier(request)
    try:
        claims = jwt.decode(
            raw, typ=jwt.ACCESS_TOKEN_TYP, issuer=get_issuer(request), audience=audience,
            require=("iss", "exp", "iat", "sub", "client_id", "jti"),
        )
    except jwt.InvalidJWT:
        raise InvalidToken() from None
    if denylist.contains(secrets.hash_token(raw)):
        raise InvalidToken("The access token was revoked.")
    client_id, subject = str(claims["client_id"]), str(claims["sub"])
    scope = claims.get("scope", "")
    # The client's own token is the one we marked so, whatever its sub: a user's subject may
    # equal a client_id (usernames as subjects), and must not make the token the client's.
    own = claims.get(jwt.CLIENT_TOKEN_CLAIM) is True
    return ResourceToken(
        id=None,
        client=cast("AbstractClient", SimpleLazyObject(partial(_client_by_id, client_id))),
        user=None if own else SimpleLazyObject(partial(_user_by_subject, subject)),
        scopes=frozenset(scope.split() if isinstance(scope, str) else ()),
        expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=timezone.utc),
        audience=(audience,),
        is_jwt=True,
    )


def _validate(request: HttpRequest, form_body: bool | None) -> ResourceToken | None:
    raw = extract(request, form_body=form_body)
    if raw is None:
        return None
    if looks_like_jwt(raw):
        return verify_jwt(raw, request)
    if not is_token_shaped(raw):
        raise InvalidToken("The access token is malformed.")
    row = lookup(raw)
    if row is None or not is_live(row):
        raise InvalidToken()
    return as_resource_token(row, request)


# -- the public entry points ----------------------------------------------------------------
def authenticate(request: Any, *, form_body: bool | None = None) -> ResourceToken | None:
    """Validate the request's bearer token, once per request (``form_body``: see
    :func:`extract`).

    Returns the :class:`ResourceToken`, or None when the request carries no token. Raises
    :class:`InvalidToken` (bad, expired or revoked token) or :class:`InvalidRequest` (the
    token sent twice, an unparseable body). A later call returns or raises the same thing
    without a query."""
    request = django_request(request)
    cached = getattr(request, _CACHE_ATTR, None)
    if cached is None:
        try:
            cached = (_validate(request, form_body), None)
        except OAuthError as exc:
            cached = (None, exc)
        setattr(request, _CACHE_ATTR, cached)
    token, error = cached
    if error is not None:
        raise error
    return token


def outcome(request: Any) -> OAuthError | None:
    """The error :func:`authenticate` ends with for this request (None: a valid token or no
    token at all)."""
    try:
        authenticate(request)
    except OAuthError as exc:
        return exc
    return None


def get_token(request: Any) -> ResourceToken | None:
    """The request's valid token, or None when it has none or an invalid one. Never raises."""
    try:
        return authenticate(request)
    except OAuthError:
        return None


def require(request: Any, scopes: Iterable[str] = (), *, form_body: bool | None = None) -> ResourceToken:
    """The request's valid token carrying every scope in ``scopes`` (``form_body``: see
    :func:`extract`).

    Raises :class:`MissingToken` (no token), :class:`InvalidToken`, :class:`InvalidRequest`
    or :class:`InsufficientScope` (RFC 6750 §3.1), for :func:`error_response` to render."""
    required = tuple(scopes)
    token = authenticate(request, form_body=form_body)
    if token is None:
        raise MissingToken()
    if not token.has_scopes(required):
        raise InsufficientScope(scopes=required)
    return token


__all__ = [
    "MAX_TOKEN_LENGTH", "ResourceToken", "authenticate", "challenge", "error_response", "extract",
    "get_token", "is_live", "is_token_shaped", "lookup", "metadata_url", "outcome", "require",
    "resource_identifier",
]

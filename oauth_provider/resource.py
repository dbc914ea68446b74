"""The one core that validates an access token for a protected resource: bearer tokens (RFC 6750)
and DPoP-bound ones (RFC 9449 §7).

Every protection the library offers (the DRF classes in
:mod:`oauth_provider.contrib.rest_framework`, :func:`oauth_provider.decorators.protected_resource`,
:class:`~oauth_provider.decorators.ProtectedResourceMixin` and
:class:`~oauth_provider.middleware.OAuth2TokenMiddleware`) is a thin layer over
:func:`authenticate`:

1. **Find the token** (:func:`extract`): the ``Authorization: Bearer`` header (RFC 6750 §2.1,
   scheme matched case-insensitively), ``Authorization: DPoP`` (RFC 9449 §7.1), or the
   ``access_token`` field of a form-encoded POST body (§2.2, a bearer token) when
   ``BEARER_FORM_BODY`` is on. Never the URI query (OAuth 2.1 §5.1.1). Header *and* body is
   ``invalid_request`` (§2: at most one method per request).
2. **Shape check**: a value that is not an RFC 6750 ``b64token`` or is longer than
   :data:`MAX_TOKEN_LENGTH` is ``invalid_token`` without touching the database.
3. **One query** (:func:`lookup`): the row by its SHA-256 hash, joined to its client, user and
   token family.
4. **State checks** (:func:`is_live`): not expired, not revoked, family not revoked, client
   active, user active. Any failure is ``invalid_token``: the caller learns nothing more.
5. **Audience** (RFC 8707 §2, RFC 9068 §4, RFC 8725 §3.9): the token must be good at the
   resource asking, by exact string: the default resource (``RESOURCE_IDENTIFIER``) unless
   the caller names another of ``RESOURCES`` (``resource=``). The opaque token's audience is
   a column of the row the one query reads; a JWT's is its ``aud``. A token for another
   resource is ``invalid_token``, so a resource cannot replay what it was given at another.

6. **Sender constraint** (RFC 9449 §7, :mod:`oauth_provider.sender_constraint`): a token
   bound to a key (``cnf.jkt`` in a JWT, the ``dpop_jkt`` column of the row the one query
   reads) is good only with the ``DPoP`` scheme and a proof of possession of that key for
   this very request: ``htm`` its method, ``htu`` its URL on the resource's configured origin,
   ``ath`` the token's hash, a ``jti`` never seen before (the shared cache). A bound token
   sent as a bearer token is refused (§7.2: a stolen one cannot be downgraded), and so is an
   unbound one sent with the DPoP scheme (§7.1). With ``REQUIRE_DPOP`` no bearer token is good.

The outcome of steps 1-4, good or bad, is remembered on the request, and so is each proof
check, so a request is validated at most once however many layers ask (each may ask for its
own resource), and a proof's ``jti`` is spent once. The result is a :class:`ResourceToken`, a
small frozen object.

Failures are answered (:func:`error_response`, :func:`challenge`) with a ``DPoP`` challenge
carrying ``algs`` (RFC 9449 §7.1) beside the ``Bearer`` one while bearer tokens are accepted
(§7.2, RFC 9110 §11.6.1), the error in the challenge of the scheme the request used, and
``resource_metadata`` in each (RFC 9728 §5.1). A proof error is 401 here (§7.1), as is
``use_dpop_nonce`` with its ``DPoP-Nonce`` (§9, nonces of the resource's own only).

:func:`aauthenticate` and :func:`arequire` are the coroutine twins for ``async def`` views:
the one query, and a proof's replay check in the shared cache, run in a worker thread
(:func:`asgiref.sync.sync_to_async`), so the event loop never blocks on them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

from . import denylist, dpop, jwt, resources, secrets, sender_constraint
from .conf import provider_settings
from .errors import InsufficientScope, InvalidRequest, InvalidToken, MissingToken, OAuthError
from .issuer import get_issuer, metadata_url, resource_identifier
from .models import AccessToken
from .models.store import access_token_by_value, client_by_id
from .params import flatten, request_data
from .registry import adapter
from .responses import challenge_error

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
    #: RFC 8693 §4.1 ``act`` of a token obtained by token exchange with an actor: the current
    #: actor outermost, earlier ones nested (informational only, §4.1); None otherwise
    act: dict[str, Any] | None = None
    #: RFC 9449 §6: the JWK SHA-256 thumbprint (RFC 7638) of the key the token is bound to
    #: (JWT ``cnf.jkt``; the row's ``dpop_jkt``); None for a bearer token. A bound token
    #: reaches a view only with a valid DPoP proof by that key for the request.
    jkt: str | None = None

    @property
    def actor(self) -> str | None:
        """The ``sub`` of the current actor (RFC 8693 §4.1: access decisions use the top-level
        claims and this actor only), or None when nobody acts for the subject."""
        value = self.act.get("sub") if isinstance(self.act, dict) else None
        return value if isinstance(value, str) else None

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

    def is_for(self, resource: str) -> bool:
        """Is the token good at ``resource`` (its audience names it, exact string)?"""
        return resource in self.audience

    async def aclient(self) -> AbstractClient:
        """:attr:`client` from an ``async def`` view: a JWT access token's client is loaded
        lazily, by a query that must not run on the event loop (an opaque token's is already
        loaded: no query)."""
        return cast("AbstractClient", await sync_to_async(_loaded, thread_sensitive=True)(self.client))

    async def auser(self) -> Any | None:
        """:attr:`user` from an ``async def`` view (see :meth:`aclient`); None for a
        client_credentials token."""
        return await sync_to_async(_loaded, thread_sensitive=True)(self.user)


def _loaded(value: Any) -> Any:
    """``value`` with a lazy object evaluated (here, in a worker thread)."""
    if isinstance(value, SimpleLazyObject):
        if value._wrapped is empty:
            value._setup()
        return value._wrapped
    return value


def _realm_and_metadata(request: HttpRequest, resource: str | None) -> tuple[str, str]:
    """``realm`` and ``resource_metadata`` (RFC 9728 §5.1) of the challenge for ``resource``
    (None: the default resource)."""
    if resource is None:
        return resource_identifier(request), metadata_url(request)
    return resource, resources.Resource(resource, resource, None).metadata_url


def challenge(
    request: Any, error: OAuthError | None, *, resource: str | None = None, scope: str | None = None
) -> str:
    """The ``WWW-Authenticate`` value for ``error`` (None: no token was sent) at ``resource``
    (None: the default resource): a ``Bearer`` challenge (RFC 6750 §3) while bearer tokens are
    accepted, and a ``DPoP`` one with ``algs`` (RFC 9449 §7.1, §7.2), each with ``realm``,
    ``scope`` (the error's, else ``scope``) and ``resource_metadata`` (RFC 9728 §5.1). The
    error goes in the challenge of the scheme the request used; the other stays bare."""
    request = django_request(request)
    realm, metadata = _realm_and_metadata(request, resource)
    return sender_constraint.challenges(
        error, by_dpop=_by_dpop(request), realm=realm, scope=getattr(error, "scope", None) or scope,
        resource_metadata=metadata,
    )


def error_response(
    request: HttpRequest, error: OAuthError, scopes: Iterable[str] = (), *, resource: str | None = None
) -> HttpResponse:
    """The answer for ``error`` (RFC 6750 §3, RFC 9449 §7.1): its status (401 for a DPoP proof
    error, :func:`oauth_provider.sender_constraint.error_status`),
    its headers (``DPoP-Nonce`` of ``use_dpop_nonce``), and the :func:`challenge` with the
    required ``scope`` (when known) for ``resource`` (None: the default resource)."""
    text = challenge(request, error, resource=resource, scope=" ".join(scopes) or None)
    return challenge_error(error, text, status=sender_constraint.error_status(error))


# -- finding the token ---------------------------------------------------------------------
def django_request(request: Any) -> HttpRequest:
    """The Django request behind a DRF ``Request`` (or ``request`` itself)."""
    inner: HttpRequest = getattr(request, "_request", request)
    return inner


BEARER, DPOP = "bearer", "dpop"


def _authorization(request: HttpRequest) -> tuple[str, str]:
    """The scheme (lower case) and the credentials of the ``Authorization`` header."""
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    return scheme.lower(), value.strip()


def _by_dpop(request: HttpRequest) -> bool:
    """Did the request send its token with the ``DPoP`` scheme (RFC 9449 §7.1)?"""
    return _authorization(request)[0] == DPOP


def _from_header(request: HttpRequest) -> str | None:
    scheme, value = _authorization(request)
    return value if scheme in (BEARER, DPOP) else None


def _is_form_post(request: HttpRequest) -> bool:
    return request.method == "POST" and request.content_type == FORM


def _from_body(request: HttpRequest) -> str | None:
    return flatten(request_data(request), known=("access_token",)).get("access_token")


def extract(request: HttpRequest, *, form_body: bool | None = None) -> str | None:
    """The raw access token the request carries (with the ``Bearer`` or the ``DPoP`` scheme),
    or None when it carries none.

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
        audience=resources.audience(row.audience, request),
        grant=row.authorization if row.authorization_id is not None else None,
        act=row.act or None,
        jkt=row.dpop_jkt or None,
    )


# -- JWT access tokens (RFC 9068 §4): verified locally, no query ---------------------------
def looks_like_jwt(raw: str) -> bool:
    return raw.startswith("eyJ") and raw.count(".") == 2


def _client_by_id(client_id: str) -> AbstractClient | None:
    return client_by_id(client_id)


def _user_by_subject(subject: str) -> Any:
    return adapter().get_user_by_subject(subject) or AnonymousUser()


def _audience_claim(value: Any) -> tuple[str, ...]:
    """RFC 7519 §4.1.3 ``aud``: a string or a list of strings; anything else names nothing."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return ()


def verify_jwt(raw: str, request: HttpRequest | None = None) -> ResourceToken:
    """Verify an RFC 9068 access token: our signature, ``typ: at+jwt`` (an ID token is never
    an access token, RFC 8725 §3.11), our issuer, an ``aud`` (§2.2: required; whether it names
    the resource asking is :func:`authenticate`'s check), unexpired, not on the denylist. The
    client and user load lazily. Raises :class:`InvalidToken`.

    What is not checked, by design: that the client or user is still active, or that the
    token or its family was revoked (unless the denylist is on). Keep JWT lifetimes short."""
    try:
        claims = jwt.decode(
            raw, typ=jwt.ACCESS_TOKEN_TYP, issuer=get_issuer(request), audience=None,
            require=("iss", "exp", "iat", "sub", "client_id", "jti", "aud"),
        )
    except jwt.InvalidJWT:
        raise InvalidToken() from None
    audience = _audience_claim(claims["aud"])
    if not audience:
        raise InvalidToken()
    if denylist.contains(secrets.hash_token(raw)):
        raise InvalidToken("The access token was revoked.")
    jkt = sender_constraint.confirmation(claims)
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
        audience=audience,
        is_jwt=True,
        act=claims["act"] if isinstance(claims.get("act"), dict) else None,
        jkt=jkt,
    )


def _token(raw: str, request: HttpRequest) -> ResourceToken:
    if looks_like_jwt(raw):
        return verify_jwt(raw, request)
    if not is_token_shaped(raw):
        raise InvalidToken("The access token is malformed.")
    row = lookup(raw)
    if row is None or not is_live(row):
        raise InvalidToken()
    return as_resource_token(row, request)


@dataclass
class _Outcome:
    """What the request's credentials came to: the token (None: none sent) or the error, and
    for a DPoP-bound token the raw value (for ``ath``) and each proof check, by ``htu``."""

    token: ResourceToken | None
    error: OAuthError | None
    raw: str | None = None
    proofs: dict[str, OAuthError | None] = field(default_factory=dict)
    #: whether a form body could carry the token when this was decided (``form_body``)
    body_allowed: bool = False


def _validate(request: HttpRequest, form_body: bool | None) -> _Outcome:
    raw = extract(request, form_body=form_body)
    if raw is None:
        return _Outcome(None, None)
    token = _token(raw, request)
    sender_constraint.check_scheme(token.jkt, by_dpop=_by_dpop(request))
    return _Outcome(token, None, raw if token.jkt is not None else None)


def _for_resource(token: ResourceToken | None, request: HttpRequest, resource: str | None) -> ResourceToken | None:
    """``token`` when it is good at ``resource`` (None: the default resource); a token for
    another audience is ``invalid_token`` (RFC 6750 §3.1, RFC 9068 §4: the resource server
    MUST check that its identifier is in ``aud``, RFC 8725 §3.9)."""
    if token is None:
        return None
    target = resource_identifier(request) if resource is None else resource
    if not token.is_for(target):
        raise InvalidToken("The access token is not meant for this resource.")
    return token


# -- the per-request outcome ----------------------------------------------------------------
def _body_allowed(form_body: bool | None) -> bool:
    return bool(provider_settings.BEARER_FORM_BODY if form_body is None else form_body)


def _cached(request: HttpRequest, form_body: bool | None) -> _Outcome | None:
    """The outcome an earlier call left on the request, if it holds for this one: one decided
    with the body allowed and one with it refused differ for a request with no token in its
    header (a body token is the token for one and no token for the other), so such an outcome
    is decided again (no query for a refused body; nothing was proved for a token not seen)."""
    cached: _Outcome | None = getattr(request, _CACHE_ATTR, None)
    if cached is not None and cached.body_allowed != _body_allowed(form_body) and _from_header(request) is None:
        return None
    return cached


def _outcome(request: HttpRequest, form_body: bool | None) -> _Outcome:
    try:
        decided = _validate(request, form_body)
    except OAuthError as exc:
        decided = _Outcome(None, exc)
    decided.body_allowed = _body_allowed(form_body)
    return decided


def _htu(request: HttpRequest, resource: str | None, proof: str | None) -> str:
    identifier = resource_identifier(request) if resource is None else resource
    return sender_constraint.htu(request, identifier, default=resource is None, proof=proof)


def _prove(request: HttpRequest, cached: _Outcome, token: ResourceToken, resource: str | None) -> None:
    """RFC 9449 §7.1: one valid proof for this request by the key ``token`` is bound to, with
    ``ath`` of the token; checked once per ``htu`` (its ``jti`` is spent when checked)."""
    proof = dpop.proof_from_request(request)  # raises InvalidDPoPProof: not one well-formed JWT
    url = _htu(request, resource, proof)
    if url not in cached.proofs:
        cached.proofs[url] = sender_constraint.proof_error(request, proof, url, cached.raw or "", token.jkt or "")
    error = cached.proofs[url]
    if error is not None:
        raise error


def _needs_proof(request: HttpRequest, cached: _Outcome, resource: str | None) -> bool:
    """Will :func:`_finish` check a proof it has not checked yet (a write to the shared cache:
    keep it off the event loop)?"""
    if cached.raw is None:
        return False
    try:
        proof = dpop.proof_from_request(request)
    except OAuthError:
        return False
    return proof is not None and _htu(request, resource, proof) not in cached.proofs


def _finish(request: HttpRequest, cached: _Outcome, resource: str | None) -> ResourceToken | None:
    if cached.error is not None:
        raise cached.error
    token = _for_resource(cached.token, request, resource)
    if token is not None and token.jkt is not None:
        _prove(request, cached, token, resource)
    return token


# -- the public entry points ----------------------------------------------------------------
def authenticate(request: Any, *, form_body: bool | None = None, resource: str | None = None) -> ResourceToken | None:
    """Validate the request's bearer token, once per request (``form_body``: see
    :func:`extract`), for ``resource`` (an identifier of ``RESOURCES``; None: the default
    resource, ``RESOURCE_IDENTIFIER``).

    Returns the :class:`ResourceToken`, or None when the request carries no token. Raises
    :class:`InvalidToken` (bad, expired or revoked token, one whose audience does not name
    ``resource``, a DPoP-bound one sent as a bearer token or with a proof by another key),
    :class:`InvalidRequest` (the token sent twice, an unparseable body),
    :class:`~oauth_provider.errors.InvalidDPoPProof` (a bound token without a valid proof for
    this request) or :class:`~oauth_provider.errors.UseDPoPNonce` (``DPOP_NONCE``: the proof
    lacks this resource's nonce). A later call returns or raises the same thing without a
    query, and without spending the proof again (one that allows a body token where the
    earlier refused it, or the other way round, decides again for a token not in the header)."""
    request = django_request(request)
    cached = _cached(request, form_body)
    if cached is None:
        cached = _outcome(request, form_body)
        setattr(request, _CACHE_ATTR, cached)
    return _finish(request, cached, resource)


async def aauthenticate(
    request: Any, *, form_body: bool | None = None, resource: str | None = None
) -> ResourceToken | None:
    """:func:`authenticate` for ``async def`` views: the same checks and answers, with the
    validation (its one query for an opaque token; a JWT's key lookup when the key cache is
    cold) run in a worker thread, so the event loop never waits on the database. A JWT's
    ``client`` and ``user`` stay lazy: touch them through ``sync_to_async`` (or use
    :meth:`ResourceToken` fields that need no query: ``scopes``, ``audience``...)."""
    request = django_request(request)
    cached = _cached(request, form_body)
    if cached is None:
        cached = await sync_to_async(_outcome, thread_sensitive=True)(request, form_body)
        setattr(request, _CACHE_ATTR, cached)
    if _needs_proof(request, cached, resource):
        return await sync_to_async(_finish, thread_sensitive=True)(request, cached, resource)
    return _finish(request, cached, resource)


def outcome(request: Any, *, resource: str | None = None) -> OAuthError | None:
    """The error :func:`authenticate` ends with for this request (None: a valid token or no
    token at all)."""
    try:
        authenticate(request, resource=resource)
    except OAuthError as exc:
        return exc
    return None


def get_token(request: Any, *, resource: str | None = None) -> ResourceToken | None:
    """The request's valid token for ``resource``, or None when it has none or an invalid
    one. Never raises."""
    try:
        return authenticate(request, resource=resource)
    except OAuthError:
        return None


def _required(token: ResourceToken | None, required: tuple[str, ...]) -> ResourceToken:
    if token is None:
        raise MissingToken()
    if not token.has_scopes(required):
        raise InsufficientScope(scopes=required)
    return token


def require(
    request: Any, scopes: Iterable[str] = (), *, form_body: bool | None = None, resource: str | None = None
) -> ResourceToken:
    """The request's valid token for ``resource`` (None: the default resource) carrying every
    scope in ``scopes`` (``form_body``: see :func:`extract`).

    Raises :class:`MissingToken` (no token), :class:`InvalidToken`, :class:`InvalidRequest`
    or :class:`InsufficientScope` (RFC 6750 §3.1), for :func:`error_response` to render."""
    required = tuple(scopes)
    return _required(authenticate(request, form_body=form_body, resource=resource), required)


async def arequire(
    request: Any, scopes: Iterable[str] = (), *, form_body: bool | None = None, resource: str | None = None
) -> ResourceToken:
    """:func:`require` for ``async def`` views (see :func:`aauthenticate`)."""
    required = tuple(scopes)
    return _required(await aauthenticate(request, form_body=form_body, resource=resource), required)


__all__ = [
    "MAX_TOKEN_LENGTH", "ResourceToken", "aauthenticate", "arequire", "authenticate", "challenge",
    "error_response", "extract", "get_token", "is_live", "is_token_shaped", "lookup", "metadata_url", "outcome",
    "require", "resource_identifier",
]

"""The JWT bearer grant (RFC 7523 §2.1, RFC 7521 §4.1), grant type
``urn:ietf:params:oauth:grant-type:jwt-bearer``.

A confidential client registered for the grant sends ``assertion``: one compact JWS, signed by
an issuer the host trusts, saying which user (``sub``) the token is for. Nothing is trusted
until the host says so, twice: the issuer's keys (the client's own registered keys when
``iss`` is its client_id, or an entry of ``JWT_BEARER_ISSUERS``), and the mapping of the
subject to a local user (:meth:`~oauth_provider.adapter.DefaultAdapter.user_for_assertion`,
None by default). The checks, in order, every failure ``invalid_grant`` (RFC 7523 §3.1):

1. the header (:func:`oauth_provider.jwt.foreign_header`, shared with ``private_key_jwt``):
   ``alg`` asymmetric from the allow-list, never ``none`` or an HMAC (RFC 8725 §3.1-3.2); no
   ``jku``/``x5u``/``jwk``/``x5c``/``crit``; an explicit ``typ`` other than ``JWT`` refused
   (RFC 8725 §3.11: a client assertion, access token or logout token is no grant);
2. the issuer (unverified ``iss``, only to choose the keys): trusted for this client, never
   our own issuer (our ID and access tokens are no assertions);
3. the signature, by a key of that issuer with the header's ``kid`` (an unknown ``kid`` makes
   a ``jwks_uri`` be fetched afresh at most once a minute per issuer);
4. ``sub`` present, and not an assertion a client signs to authenticate itself (``iss`` and
   ``sub`` both its client_id: OIDC Core §9);
5. ``aud`` our issuer identifier or token endpoint URL, compared exactly (RFC 7523 §3 item 3,
   draft-ietf-oauth-rfc7523bis §4);
6. ``exp`` required and not past, the assertion living at most ``JWT_BEARER_MAX_LIFETIME``
   seconds; ``nbf``/``iat`` not in the future, ``iat`` not older than that lifetime (60 s skew);
7. ``jti`` required and used once (RFC 7523 §3 item 7, RFC 7521 §8.2), in the shared
   ``REPLAY_CACHE`` until the assertion expires, so a replay on another worker fails too;
8. the subject mapped to an active user by the adapter.

The token is issued to the client for that user with the requested (or default) scope the
client may have, in a new grant (family) so the user sees and can revoke it; no refresh token
(the client can present a new assertion). Queries: client, family and access-token INSERTs.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.cache import caches
from django.db import transaction
from django.http import HttpRequest

from .. import client_keys, jwt, resources, scopes, secrets
from ..conf import provider_settings
from ..errors import InvalidGrant, InvalidRequest, UnauthorizedClient
from ..issuer import endpoint_url, get_issuer
from ..issuing import IssuedTokens, issue_tokens
from ..models import Authorization
from ..models.store import insert
from ..params import getlist
from ..registry import adapter
from .base import Grant

if TYPE_CHECKING:
    from ..models import AbstractClient

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat``
LEEWAY = 60
MAX_JTI_LENGTH = 256
#: ``typ`` values of a grant assertion: none, or plain JWT (RFC 7519 §5.1)
_ACCEPTED_TYPES = frozenset({"", "jwt"})
_UNVERIFIED = "The assertion could not be verified with the keys of a trusted issuer."


@dataclass(frozen=True)
class TrustedIssuer:
    """An issuer whose assertions this client may present, and where its keys are."""

    issuer: str
    jwks: Any = None
    jwks_uri: str = ""
    client: AbstractClient | None = None  # set when the issuer is the client itself

    def keys(self, *, refresh: bool = False) -> tuple[client_keys.ClientKey, ...]:
        """The issuer's public keys. Raises :class:`InvalidGrant` when they cannot be had."""
        from ..fetch import FetchError, fetch_json

        try:
            if self.client is not None:
                if self.client.jwks:
                    return client_keys.registered_keys(self.client)
                return client_keys.published_keys(self.client, refresh=refresh)
            if self.jwks is not None:
                return tuple(client_keys.parse_jwks(self.jwks))
            if self.jwks_uri:
                document = fetch_json(self.jwks_uri, max_bytes=client_keys.MAX_JWKS_LENGTH, use_cache=not refresh)
                return tuple(client_keys.parse_jwks(document))
        except (FetchError, client_keys.InvalidKeySet):
            raise InvalidGrant("The keys of the assertion's issuer could not be obtained.") from None
        return ()

    @property
    def published(self) -> bool:
        if self.client is not None:
            return bool(self.client.jwks_uri) and not self.client.jwks
        return self.jwks is None and bool(self.jwks_uri)


def trusted_issuer(request: HttpRequest, client: AbstractClient, issuer: Any) -> TrustedIssuer:
    """The issuer named by the assertion, if this client may present its assertions: the
    client itself (its registered ``jwks``/``jwks_uri``), or an entry of
    ``JWT_BEARER_ISSUERS`` whose ``clients`` (when given) list this client_id."""
    if not isinstance(issuer, str) or not issuer or issuer == get_issuer(request):
        raise InvalidGrant("The assertion's issuer is not trusted.")
    if issuer == client.client_id:
        if client.jwks or client.jwks_uri:
            return TrustedIssuer(issuer=issuer, client=client)
        raise InvalidGrant("The assertion's issuer is not trusted.")
    entry = (provider_settings.JWT_BEARER_ISSUERS or {}).get(issuer)
    if not isinstance(entry, dict):
        raise InvalidGrant("The assertion's issuer is not trusted.")
    allowed = entry.get("clients")
    if allowed is not None and client.client_id not in allowed:
        raise InvalidGrant("The assertion's issuer is not trusted.")
    return TrustedIssuer(issuer=issuer, jwks=entry.get("jwks"), jwks_uri=str(entry.get("jwks_uri") or ""))


def _matching(keys: tuple[client_keys.ClientKey, ...], head: dict[str, Any]) -> list[client_keys.ClientKey]:
    alg, kid = head["alg"], head.get("kid")
    return [key for key in keys if alg in key.algorithms and key.use != "enc" and (kid is None or key.kid == kid)]


def _may_refresh(trusted: TrustedIssuer) -> bool:
    """At most one forced fetch of an issuer's keys a minute, across workers."""
    digest = hashlib.sha256(trusted.issuer.encode("utf-8")).hexdigest()
    return bool(caches[provider_settings.REPLAY_CACHE].add(
        f"oauth_provider:jwt-bearer-jwks-refresh:{digest}", 1, timeout=client_keys.REFRESH_INTERVAL))


def verified_claims(request: HttpRequest, client: AbstractClient, assertion: str) -> dict[str, Any]:
    """Checks 1-3 of the module docstring: the claims once the signature verifies."""
    try:
        head = jwt.foreign_header(assertion, client_keys.SIGNING_ALGORITHMS)
        unverified = jwt.unverified_claims(assertion)
    except jwt.InvalidJWT:
        raise InvalidGrant("The assertion must be one compact JWS signed with an asymmetric algorithm.") from None
    if jwt.normalise_typ(head.get("typ")) not in _ACCEPTED_TYPES:
        raise InvalidGrant("The assertion is typed as another kind of JWT.")
    trusted = trusted_issuer(request, client, unverified.get("iss"))
    candidates = _matching(trusted.keys(), head)
    if not candidates and trusted.published and head.get("kid") is not None and _may_refresh(trusted):
        candidates = _matching(trusted.keys(refresh=True), head)
    for key in candidates:
        try:
            claims = jwt.verify_foreign(assertion, head["alg"], key.public)
        except jwt.InvalidJWT:
            continue
        if claims.get("iss") == trusted.issuer:
            return claims
    raise InvalidGrant(_UNVERIFIED)


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidGrant(f"The assertion's {name} is not a number.")
    return float(value)


def check_claims(request: HttpRequest, client: AbstractClient, claims: dict[str, Any]) -> None:
    """Checks 4-6: ``sub``, ``aud``, times, ``jti`` present (RFC 7523 §3)."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise InvalidGrant("The assertion must name its subject in sub (RFC 7523 section 3).")
    if claims.get("iss") == client.client_id and subject == client.client_id:
        raise InvalidGrant("A client authentication assertion is not a grant.")
    accepted = (get_issuer(request), endpoint_url(request, "token"))
    aud = claims.get("aud")
    values = aud if isinstance(aud, list) else [aud]
    if not any(isinstance(value, str) and value in accepted for value in values):
        raise InvalidGrant("The assertion's aud must be this server's issuer identifier or token endpoint URL.")
    now = secrets.now().timestamp()
    expires, not_before, issued = _number(claims, "exp"), _number(claims, "nbf"), _number(claims, "iat")
    longest = provider_settings.JWT_BEARER_MAX_LIFETIME
    if expires is None:
        raise InvalidGrant("The assertion must have an exp (RFC 7523 section 3).")
    if now > expires + LEEWAY:
        raise InvalidGrant("The assertion has expired.")
    if expires - (issued if issued is not None else now) > longest + LEEWAY:
        raise InvalidGrant(f"The assertion lives too long: at most {longest} seconds.")
    if not_before is not None and not_before > now + LEEWAY:
        raise InvalidGrant("The assertion is not valid yet (nbf).")
    if issued is not None and (issued > now + LEEWAY or issued < now - longest - LEEWAY):
        raise InvalidGrant("The assertion's iat is out of the accepted window.")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise InvalidGrant("The assertion must have a jti (a string of at most 256 characters).")


def consume(claims: dict[str, Any]) -> None:
    """Check 7: remember the issuer's ``jti`` until the assertion expires (an atomic
    ``cache.add`` in the cache every worker shares); a second use is refused."""
    issuer = hashlib.sha256(str(claims["iss"]).encode("utf-8")).hexdigest()
    digest = hashlib.sha256(str(claims["jti"]).encode("utf-8")).hexdigest()
    # up to the end of the last second it is accepted in: int() would drop a fraction of it
    timeout = max(math.ceil(float(claims["exp"]) - secrets.now().timestamp()) + LEEWAY, 1)
    if not caches[provider_settings.REPLAY_CACHE].add(f"oauth_provider:jwt-bearer-jti:{issuer}:{digest}", 1,
                                                      timeout=timeout):
        raise InvalidGrant("The assertion was already used (jti).")


class JWTBearerGrant(Grant):
    """RFC 7523 §2.1; the checks are listed in the module docstring."""

    grant_type = GRANT_TYPE
    #: off until a client is registered for it: advertised only then (see the metadata endpoint)
    opt_in = True

    def issue(self, request: HttpRequest, params: dict[str, str], client: AbstractClient) -> IssuedTokens:
        if client.is_public:
            raise UnauthorizedClient("The JWT bearer grant needs a confidential client.")
        assertion = params.get("assertion")
        if not assertion:
            raise InvalidRequest("The assertion parameter is required (RFC 7523 section 2.1).")
        claims = verified_claims(request, client, assertion)
        check_claims(request, client, claims)
        consume(claims)
        policy = adapter()
        user = policy.user_for_assertion(str(claims["iss"]), str(claims["sub"]), claims, client)
        if user is None or not getattr(user, "is_active", True):
            raise InvalidGrant("The assertion's subject is not a user of this server.")
        audience = resources.store(resources.requested(getlist(params, "resource"), client, request))
        granted = scopes.resolve(scopes.parse(params.get("scope")), scopes.client_allowed(client))
        granted = resources.downscope(granted, audience, request)
        family = Authorization(
            client=client,  # type: ignore[misc]  # the FK is to the swappable client model
            user=user, scope=scopes.join(granted), resources=audience,
        )
        with transaction.atomic():
            insert(family)
            return issue_tokens(
                request, grant_type=self.grant_type, client=client, user=user, scope=family.scope,
                authorization=family, audience=audience, with_id_token=False,
            )

"""``private_key_jwt``: client authentication with a signed JWT (RFC 7523 §2.2 and §3, OIDC Core
§9, draft-ietf-oauth-rfc7523bis).

The client sends ``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``
and ``client_assertion``, a compact JWS signed with one of the public keys it registered
(``jwks``, or published at ``jwks_uri`` and fetched through :mod:`oauth_provider.fetch`). It
proves possession of the private key; there is no shared secret, so nothing a client can lose
is stored here. :class:`PrivateKeyJWT` is the method in the ``CLIENT_AUTH_METHODS`` registry;
:func:`verify` holds the rules, checked in this order:

1. the header: ``alg`` asymmetric (:data:`~oauth_provider.client_keys.SIGNING_ALGORITHMS`,
   narrowed to the client's ``token_endpoint_auth_signing_alg``, and to PS256, ES256 and EdDSA
   under the FAPI 2.0 profile, §5.4.1), never ``none`` or an HMAC
   (RFC 8725 §3.1-3.2); no ``jku``/``x5u``/``jwk``/``x5c``/``crit`` (§3.10); ``typ`` absent,
   ``JWT`` or ``client-authentication+jwt``, any other explicit type refused (rfc7523bis §4,
   RFC 8725 §3.11: an access token, logout token or request object is no assertion);
2. the signature, with a registered key of that ``kid`` (or any matching key when the header
   names none); an unknown ``kid`` fetches a ``jwks_uri`` afresh at most once a minute per client;
3. ``iss`` and ``sub`` both exactly the client_id (OIDC Core §9, RFC 7523 §3 items 1-2);
4. ``aud`` exactly the issuer identifier, as a string (rfc7523bis §4 item 3b: an assertion
   for another endpoint or server cannot be replayed here). ``CLIENT_ASSERTION_LEGACY_AUDIENCE``
   also accepts the token endpoint URL or the URL of the endpoint called, alone or in an array,
   as RFC 7523 §3 allowed, except under the FAPI 2.0 profile (§5.3.2.1-8);
5. ``exp`` required and not past, and the assertion lives at most
   ``CLIENT_ASSERTION_MAX_LIFETIME`` seconds
   (from ``iat`` when given, else from now); ``nbf`` and ``iat`` not in the future; all with
   ``LEEWAY`` seconds of clock skew (RFC 7523 §3 items 4-6);
6. ``jti`` required, and used once: remembered in the shared ``REPLAY_CACHE`` until the
   assertion expires (OIDC Core §9, RFC 7523 §3 item 7), so a replay on another worker fails too.

Every failure is ``invalid_client`` (401), counted by the client-authentication throttle like a
wrong secret. The reasons after the signature check are told to the caller (only the holder
of the key can reach them); before it, an unknown client_id is told what a known client without
a pinned algorithm would be (a refused header or ``typ``, else that its keys do not verify the
assertion), so the answer does not say whether the client_id exists. What still differs: a
client's pinned ``token_endpoint_auth_signing_alg`` refusing another algorithm, and a
``jwks_uri`` that cannot be fetched.

``client_secret_jwt`` is left out on purpose: its HMAC key is the client secret itself, which
the server would have to store recoverably; we only ever store a digest of secrets.
"""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING, Any

from django.core.cache import caches
from django.http import HttpRequest

from . import client_keys, jwt, profiles, secrets
from .client_auth import ClientAuthMethod
from .conf import provider_settings
from .errors import InvalidClient
from .issuer import endpoint_url, get_issuer

if TYPE_CHECKING:
    from .models import AbstractClient

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: the explicit type of a client assertion (rfc7523bis §4); ``JWT`` and no typ are accepted too
TYP = "client-authentication+jwt"
_ACCEPTED_TYPES = frozenset({"", "jwt", TYP})
#: seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat``: FAPI 2.0 §5.3.2.1-13 wants an
#: ``iat``/``nbf`` up to 10 seconds ahead accepted and more than 60 seconds ahead refused
LEEWAY = 60
MAX_JTI_LENGTH = 256
GENERIC_FAILURE = "The client assertion could not be verified with the client's registered keys."


class PrivateKeyJWT(ClientAuthMethod):
    """``private_key_jwt`` (RFC 7523 §2.2, OIDC Core §9): a JWT signed with the client's key."""

    name = "private_key_jwt"
    uses_secret = False
    hint = ("send client_assertion_type=" + ASSERTION_TYPE + " and a client_assertion JWT signed with one "
            "of its registered keys (iss and sub = client_id, aud = the issuer), no secret")

    def attempted(self, request: HttpRequest, params: dict[str, str]) -> bool:
        return "client_assertion" in params or "client_assertion_type" in params

    def credentials(self, request: HttpRequest, params: dict[str, str]) -> tuple[str, str | None]:
        """``(client_id, assertion)``: the client_id is the form's, or else the assertion's
        ``sub`` (RFC 7523 §3: ``client_id`` is optional); read before verification only to
        choose whose keys verify it."""
        if params.get("client_assertion_type") != ASSERTION_TYPE:
            raise InvalidClient(f"client_assertion_type must be {ASSERTION_TYPE}.")
        assertion = params.get("client_assertion", "")
        try:
            claims = jwt.unverified_claims(assertion)
        except jwt.InvalidJWT:
            raise InvalidClient("client_assertion must be one compact JWS (RFC 7523 section 2.2).") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise InvalidClient("The client assertion must name the client in sub (OIDC Core section 9).")
        client_id = params.get("client_id", subject)
        if client_id != subject:
            raise InvalidClient("client_id differs from the client assertion's sub.")
        return client_id, assertion

    def proves(self, request: HttpRequest, client: AbstractClient | None, credential: str | None) -> bool:
        if client is None:
            # the work and the words of a client without a pinned algorithm whose keys do not
            # verify the assertion: neither tells whether the client_id exists (OIDC Core §16.12)
            _verify_for_nobody(credential or "")
            _checked_header(credential or "", profiles.allowed_algorithms(client_keys.SIGNING_ALGORITHMS))
            raise InvalidClient(GENERIC_FAILURE)
        verify(request, client, credential or "")
        return True


def verify(request: HttpRequest, client: AbstractClient, assertion: str) -> dict[str, Any]:
    """Check ``assertion`` for ``client`` (the rules in the module docstring) and consume its
    ``jti``; return its claims. Raises :class:`InvalidClient`."""
    head = _checked_header(assertion, _algorithms(client))
    claims = _verified(client, assertion, head)
    _check_claims(request, client, claims)
    _consume(client, claims)
    return claims


def _checked_header(assertion: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    """Rule 1: the header, with ``alg`` one of ``allowed``. Raises :class:`InvalidClient`."""
    try:
        head = jwt.foreign_header(assertion, allowed)
    except jwt.InvalidJWT as exc:
        raise InvalidClient(f"The client assertion was refused: {exc}.") from None
    if jwt.normalise_typ(head.get("typ")) not in _ACCEPTED_TYPES:
        raise InvalidClient("The client assertion is typed as another kind of JWT.")
    return head


def _algorithms(client: AbstractClient) -> tuple[str, ...]:
    """The algorithms ``client``'s assertions may use: its pinned one or any asymmetric one,
    narrowed by the profile in force (FAPI 2.0 §5.4.1: PS256, ES256, EdDSA)."""
    pinned = client.token_endpoint_auth_signing_alg
    allowed = profiles.allowed_algorithms(client_keys.SIGNING_ALGORITHMS)
    if pinned:
        return (pinned,) if pinned in allowed else ()
    return allowed


def _keys(client: AbstractClient, *, refresh: bool = False) -> tuple[client_keys.ClientKey, ...]:
    from .fetch import FetchError

    if client.jwks:
        return client_keys.registered_keys(client)
    try:
        return client_keys.published_keys(client, refresh=refresh)
    except (FetchError, client_keys.InvalidKeySet):
        raise InvalidClient("The client's keys could not be obtained from its jwks_uri.") from None


def _verified(client: AbstractClient, assertion: str, head: dict[str, Any]) -> dict[str, Any]:
    """The claims, once a key of ``client`` verifies the signature."""
    claims = client_keys.verified_claims(client, assertion, head, _keys, provider_settings.REPLAY_CACHE)
    if claims is None:
        raise InvalidClient(GENERIC_FAILURE)
    return claims


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidClient(f"The client assertion's {name} is not a number.")
    return float(value)


def _check_claims(request: HttpRequest, client: AbstractClient, claims: dict[str, Any]) -> None:
    if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
        raise InvalidClient("The client assertion's iss and sub must both be the client_id (OIDC Core section 9).")
    if not _audience_ok(request, claims.get("aud")):
        expected = "the issuer identifier, as a string" + (
            ", or the token endpoint URL"
            if provider_settings.CLIENT_ASSERTION_LEGACY_AUDIENCE and not profiles.fapi2() else "")
        raise InvalidClient(f"The client assertion's aud must be {expected}: {get_issuer(request)}.")
    now = secrets.now().timestamp()
    expires, not_before, issued = _number(claims, "exp"), _number(claims, "nbf"), _number(claims, "iat")
    if expires is None:
        raise InvalidClient("The client assertion must have an exp (RFC 7523 section 3).")
    if now > expires + LEEWAY:
        raise InvalidClient("The client assertion has expired.")
    longest = provider_settings.CLIENT_ASSERTION_MAX_LIFETIME
    if expires - (issued if issued is not None else now) > longest + LEEWAY:
        raise InvalidClient(f"The client assertion lives too long: at most {longest} seconds from iat to exp.")
    if not_before is not None and not_before > now + LEEWAY:
        raise InvalidClient("The client assertion is not valid yet (nbf).")
    if issued is not None and issued > now + LEEWAY:
        raise InvalidClient("The client assertion was issued in the future (iat).")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise InvalidClient("The client assertion must have a jti (a string of at most 256 characters).")


def _audience_ok(request: HttpRequest, aud: Any) -> bool:
    """rfc7523bis §4: ``aud`` is the issuer identifier as a single string. With the legacy
    setting, RFC 7523 §3's wider rule: the issuer, the token endpoint URL or the URL of the
    endpoint called, as a string or in an array."""
    issuer = get_issuer(request)
    if aud == issuer:
        return True
    if not provider_settings.CLIENT_ASSERTION_LEGACY_AUDIENCE or profiles.fapi2():
        return False  # FAPI 2.0 §5.3.2.1-8: the issuer, as a string, whatever the setting says
    accepted = {issuer, endpoint_url(request, "token")}
    match = getattr(request, "resolver_match", None)
    if match is not None and match.url_name and "oauth_provider" in match.namespaces:
        accepted.add(endpoint_url(request, match.url_name))
    values = aud if isinstance(aud, list) else [aud]
    return any(isinstance(value, str) and value in accepted for value in values)


def _consume(client: AbstractClient, claims: dict[str, Any]) -> None:
    """Remember the ``jti`` until the assertion expires; a second use is refused (an atomic
    ``cache.add`` in the cache every worker shares)."""
    digest = hashlib.sha256(str(claims["jti"]).encode("utf-8")).hexdigest()
    key = f"oauth_provider:client-assertion-jti:{hashlib.sha256(client.client_id.encode()).hexdigest()}:{digest}"
    # up to the end of the last second it is accepted in: int() would drop a fraction of it
    timeout = max(math.ceil(float(claims["exp"]) - secrets.now().timestamp()) + LEEWAY, 1)
    if not caches[provider_settings.REPLAY_CACHE].add(key, 1, timeout=timeout):
        raise InvalidClient("The client assertion was already used (jti).")


_NOBODY: dict[str, Any] = {}


def _verify_for_nobody(assertion: str) -> None:
    """For an unknown client_id, a signature check of the same kind against a throw-away key,
    so the time taken does not tell whether the client exists (OIDC Core §16.12)."""
    try:
        head = jwt.foreign_header(assertion, client_keys.SIGNING_ALGORITHMS)
    except jwt.InvalidJWT:
        return
    alg = str(head["alg"])
    key = _NOBODY.get(alg)
    if key is None:
        key = _NOBODY[alg] = _throwaway_public_key(alg)
    try:
        jwt.verify_foreign(assertion, alg, key)
    except jwt.InvalidJWT:
        pass


def _throwaway_public_key(alg: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if alg.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate().public_key()
    curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}[alg]
    return ec.generate_private_key(curve).public_key()

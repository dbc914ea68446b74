"""A client's public keys (RFC 7517 JWK Sets), registered as ``jwks`` or published at
``jwks_uri`` (RFC 7591 §2), for verifying what the client signs (``private_key_jwt``
assertions, RFC 7523 §3).

A registered set holds public asymmetric keys only (OIDC Registration §2): a private member
(``d``, ``p``...), a symmetric ``oct`` key, an RSA key under 2048 bits (RFC 7518 §3.3) or a
curve we do not verify refuses the whole set, at registration and again when a set is
fetched. Only the algorithms in :data:`SIGNING_ALGORITHMS` are ever used: asymmetric, never
``none``, never an HMAC (a public key must never serve as an HMAC secret, RFC 8725 §3.1).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.exceptions import InvalidKeyError

if TYPE_CHECKING:
    from .models import AbstractClient

#: asymmetric JWS algorithms a client may sign with (RFC 7518 §3.1, RFC 8037 §3.1): never
#: ``none`` and never an HMAC (the key would have to be a shared secret, which we never store)
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
#: the algorithms a key of each type and curve can sign with
_KEY_ALGORITHMS: dict[tuple[str, str | None], tuple[str, ...]] = {
    ("RSA", None): ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    ("EC", "P-256"): ("ES256",), ("EC", "P-384"): ("ES384",), ("EC", "P-521"): ("ES512",),
    ("OKP", "Ed25519"): ("EdDSA",), ("OKP", "Ed448"): ("EdDSA",),
}
#: JWK members that hold private or symmetric key material (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2)
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
MIN_RSA_BITS = 2048
#: the largest RSA modulus taken: verifying costs the modulus size squared, and a key arrives
#: from anyone who sends a DPoP proof or registers a client (a 16,384-bit key cost ~10 ms a
#: signature here, against ~0.05 ms for 2,048 bits)
MAX_RSA_BITS = 4096
#: an RSA public exponent above 2^16 (FIPS 186-5 §5.4; odd: cryptography refuses an even one)
#: and below 2^31, the largest Go's crypto/rsa takes. Real keys use 65537; a long exponent
#: makes each verification a modular exponentiation as long (~16 ms for a 3,072-bit one), and
#: a client may send an assertion without a kid, tried against each of its 20 keys.
_RSA_EXPONENTS = (2**16, 2**31)
MAX_KEYS = 20
MAX_JWKS_LENGTH = 64 * 1024
#: least seconds between two fetches of a client's ``jwks_uri`` forced by an unknown ``kid``
REFRESH_INTERVAL = 60
_KID = re.compile(r"^[\x21-\x7e]{1,128}$")


class InvalidKeySet(ValueError):
    """A JWK Set we refuse; the message says why, and is safe to show the client."""


@dataclass(frozen=True)
class ClientKey:
    """One public key of a client's JWK Set, ready to verify a signature."""

    kid: str | None
    kty: str
    algorithms: tuple[str, ...]
    public: Any
    use: str | None = None


def load_jwks(value: Any) -> dict[str, Any]:
    """A client's JWK Set (an object, or its JSON text), checked by :func:`parse_jwks`."""
    if isinstance(value, str):
        if len(value) > MAX_JWKS_LENGTH:
            raise InvalidKeySet(gettext("jwks is too large."))
        try:
            value = json.loads(value)
        except ValueError:
            raise InvalidKeySet(gettext("jwks is not valid JSON.")) from None
    parse_jwks(value)
    return dict(value)


def parse_jwks(value: Any) -> list[ClientKey]:
    """The public keys of a client's JWK Set (RFC 7517 §5), ready to verify signatures.

    Refused: anything but ``{"keys": [...]}`` of at most :data:`MAX_KEYS` keys; a key holding
    private or symmetric material (``d``, ``k``...: OIDC Registration §2 says the set holds
    public keys only, and a private key sent to us is a leaked key); ``oct`` keys; RSA keys
    under 2048 bits (RFC 7518 §3.3) or over :data:`MAX_RSA_BITS`, or whose public exponent is
    outside 2^16 to 2^31 (FIPS 186-5 §5.4, Go): a key anyone can send must not make
    verifying a signature cost milliseconds; curves other than P-256/384/521, Ed25519, Ed448; an
    ``alg`` the key cannot sign with or outside :data:`SIGNING_ALGORITHMS`; a repeated ``kid``.
    Raises :class:`InvalidKeySet`."""
    refuse = InvalidKeySet

    if not isinstance(value, Mapping) or not isinstance(value.get("keys"), list):
        raise refuse(gettext('jwks must be a JWK Set: {"keys": [...]}.'))
    entries = value["keys"]
    if not entries or len(entries) > MAX_KEYS:
        raise refuse(gettext("jwks must hold 1 to %(max)d keys.") % {"max": MAX_KEYS})
    if len(json.dumps(value)) > MAX_JWKS_LENGTH:
        raise refuse(gettext("jwks is too large."))
    keys: list[ClientKey] = []
    kids: set[str] = set()
    for entry in entries:
        key = _parse_jwk(entry)
        if key.kid is not None:
            if key.kid in kids:
                raise refuse(gettext("Two keys in jwks share the kid %(kid)s.") % {"kid": key.kid})
            kids.add(key.kid)
        keys.append(key)
    return keys


def _parse_jwk(entry: Any) -> ClientKey:
    refuse = InvalidKeySet
    if not isinstance(entry, Mapping):
        raise refuse(gettext("Each key in jwks must be a JSON object."))
    private = sorted(PRIVATE_JWK_MEMBERS & set(entry))
    if private:
        raise refuse(gettext(
            "jwks must hold public keys only: a key carries private material (%(members)s). "
            "Treat that private key as leaked and make a new one."
        ) % {"members": ", ".join(private)})
    kty, crv = entry.get("kty"), entry.get("crv")
    if kty == "oct":
        raise refuse(gettext("jwks cannot hold symmetric (oct) keys."))
    algorithms = _KEY_ALGORITHMS.get((str(kty), None if kty == "RSA" else str(crv)))
    if algorithms is None:
        raise refuse(gettext("Unsupported key type in jwks (RSA, EC P-256/P-384/P-521, OKP Ed25519/Ed448)."))
    kid = entry.get("kid")
    if kid is not None and (not isinstance(kid, str) or not _KID.fullmatch(kid)):
        raise refuse(gettext("A kid in jwks must be 1 to 128 printable ASCII characters."))
    alg = entry.get("alg")
    if alg is not None:
        if alg not in algorithms or alg not in SIGNING_ALGORITHMS:
            raise refuse(gettext("A key in jwks names an algorithm it cannot be used with: %(alg)s.") % {
                "alg": str(alg)[:20]})
        algorithms = (alg,)
    use = entry.get("use")
    if use is not None and use not in ("sig", "enc"):
        raise refuse(gettext("A key's use in jwks must be sig or enc."))
    loader: Any = {"RSA": RSAAlgorithm, "EC": ECAlgorithm, "OKP": OKPAlgorithm}[str(kty)]
    try:
        public = loader.from_jwk(dict(entry))
    except (InvalidKeyError, ValueError, TypeError, KeyError):
        raise refuse(gettext("A key in jwks is malformed.")) from None
    if kty == "RSA" and public.key_size < MIN_RSA_BITS:
        raise refuse(gettext("RSA keys must have at least %(bits)d bits.") % {"bits": MIN_RSA_BITS})
    if kty == "RSA" and public.key_size > MAX_RSA_BITS:
        raise refuse(gettext("RSA keys must have at most %(bits)d bits.") % {"bits": MAX_RSA_BITS})
    if kty == "RSA":
        exponent = public.public_numbers().e
        if not _RSA_EXPONENTS[0] < exponent < _RSA_EXPONENTS[1]:  # an even one: cryptography refused it above
            raise refuse(gettext("An RSA key's public exponent must be above 2^16 and below 2^31."))
    return ClientKey(kid=kid, kty=str(kty), algorithms=tuple(algorithms), public=public, use=use)


# -- the keys of a registered client ----------------------------------------------------------

@lru_cache(maxsize=256)
def _parsed(text: str) -> tuple[ClientKey, ...]:
    return tuple(parse_jwks(json.loads(text)))


def registered_keys(client: AbstractClient) -> tuple[ClientKey, ...]:
    """The keys of ``client``'s registered ``jwks`` (parsed once per distinct set and process)."""
    text = (client.jwks or "").strip()
    if not text:
        return ()
    try:
        return _parsed(text)
    except (ValueError, InvalidKeySet):  # stored before validation, or edited by hand
        return ()


def published_keys(client: AbstractClient, *, refresh: bool = False) -> tuple[ClientKey, ...]:
    """The keys at ``client``'s ``jwks_uri``, through :func:`oauth_provider.fetch.fetch_json`
    (SSRF rules, size and time limits, cached in Django's cache within bounds). ``refresh``
    asks for a fresh copy (a ``kid`` we do not know yet, after a key rotation); the caller
    limits how often (:func:`may_refresh`). Raises :class:`~oauth_provider.fetch.FetchError`
    or :class:`InvalidKeySet` (a published set is held to the registration rules too)."""
    from .fetch import fetch_json

    url = client.jwks_uri
    if not url:
        return ()
    return tuple(parse_jwks(fetch_json(url, max_bytes=MAX_JWKS_LENGTH, use_cache=not refresh)))


def may_refresh(client: AbstractClient, cache_alias: str, interval: int = REFRESH_INTERVAL) -> bool:
    """May ``client``'s published keys be fetched afresh now? At most once per ``interval``
    seconds per client, across workers (a shared cache), so assertions naming random ``kid``
    values cannot make us fetch on every request (security checklist DERIVED-jwks-refresh-bounded)."""
    from django.core.cache import caches

    return bool(caches[cache_alias].add(f"oauth_provider:jwks-refresh:{client.pk}", 1, timeout=interval))


def _matching(keys: tuple[ClientKey, ...], head: Mapping[str, Any]) -> list[ClientKey]:
    alg, kid = head["alg"], head.get("kid")
    return [key for key in keys if alg in key.algorithms and key.use != "enc" and (kid is None or key.kid == kid)]


def verified_claims(client: AbstractClient, token: str, head: Mapping[str, Any],
                    keys_of: Callable[..., tuple[ClientKey, ...]], cache_alias: str) -> dict[str, Any] | None:
    """The claims of ``token`` (a JWT ``client`` signed; ``head`` its checked header) once one
    of the client's keys with that ``alg`` (and ``kid``, if named) verifies it; None when none
    does. ``keys_of(client, refresh=...)`` gives the keys (raising the caller's own error when
    they cannot be had). A ``kid`` not among the published keys fetches them once afresh, at
    most once per :data:`REFRESH_INTERVAL` (:func:`may_refresh`): the client may have rotated."""
    from . import jwt

    candidates = _matching(keys_of(client), head)
    published = bool(client.jwks_uri) and not client.jwks
    if not candidates and published and head.get("kid") is not None and may_refresh(client, cache_alias):
        candidates = _matching(keys_of(client, refresh=True), head)
    for key in candidates:
        try:
            return jwt.verify_foreign(token, head["alg"], key.public)
        except jwt.InvalidJWT:
            continue
    return None

"""DPoP proofs (RFC 9449): parse, verify, replay cache, server nonces, key thumbprints.

A client proves it holds a private key by sending, with each request, a ``DPoP`` header: a
JWT it signed with that key, whose header carries the public key (§4.2). Tokens issued to it
are bound to the key's RFC 7638 thumbprint (``jkt``), so a stolen token is useless without
the key. :func:`verify_proof` applies every check of §4.3, in this order:

1. exactly one ``DPoP`` header holding one compact JWS (items 1-2; :func:`proof_from_request`);
2. ``typ`` is ``dpop+jwt`` (item 4); ``alg`` is asymmetric and in ``DPOP_SIGNING_ALGORITHMS``,
   never ``none`` or an HMAC (item 5, §11.6: a public key must never serve as an HMAC secret);
   no ``jku``/``x5u``/``x5c``/``crit`` (RFC 8725 §3.10);
3. ``jwk`` is a public key of a type that ``alg`` signs with: no private or symmetric members
   (item 7), RSA keys of at least 2048 bits; and the signature verifies with it (item 6);
4. ``jti``, ``htm``, ``htu``, ``iat`` present (item 3); ``htm`` is the request method (item 8);
   ``htu`` is the request URI without query and fragment, both normalised by RFC 3986 §6.2.2
   and §6.2.3 (item 9);
5. ``nonce`` is one this server issued and still valid, when ``DPOP_NONCE`` is on (item 10, §8, §9);
6. ``iat`` at most ``DPOP_PROOF_MAX_AGE`` seconds past, and at most :data:`FUTURE_LEEWAY`
   seconds ahead (item 11, §11.1; FAPI 2.0 §5.3.2.1 item 13 accepts 10 s, refuses 60 s);
7. ``ath`` is base64url(SHA-256(access token)) when the proof comes with a token (item 12, §4.3);
8. ``jti`` not seen before for this ``htu`` and key within the window (§11.1): an atomic
   ``cache.add`` in ``REPLAY_CACHE``, shared by every worker.

Failures raise :class:`~oauth_provider.errors.InvalidDPoPProof`, or
:class:`~oauth_provider.errors.UseDPoPNonce` carrying a fresh nonce.

At the token endpoint (§5), :func:`token_request_proof` verifies the request's proof once and
keeps it on the request; :mod:`oauth_provider.issuing` binds every token it mints for that
request to the proof's key (``cnf.jkt`` in a JWT access token, ``dpop_jkt`` on every stored
row; a public client's refresh token too). A client registered with
``dpop_bound_access_tokens``, or any client under ``REQUIRE_DPOP``, gets no token without a
proof (§5.2). :func:`require_key` is the rule for what is already bound: a code bound by
``dpop_jkt`` (§10), a public client's refresh token (§5) and a DPoP-bound subject token of a
token exchange are only honoured with a proof made with that key.

Nonces (§8, §9) are stateless: 16 random bytes, the issue time, and an HMAC over both and the
name of the server that issued them (``"token"`` or ``"resource"``) under a key derived from
``SECRET_KEY``. They cannot be predicted, expire after :data:`NONCE_LIFETIME` seconds, and are
accepted only by the server that issued them (§9). When ``DPOP_NONCE`` is on, every proof must
carry one, so a client that got a nonce cannot fall back to proofs without it (§11.3).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets as _random
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.core.cache import caches
from django.http import HttpRequest
from django.utils.crypto import salted_hmac

from . import client_keys, jwt, profiles, secrets
from .conf import provider_settings
from .errors import InvalidDPoPProof, UseDPoPNonce
from .issuer import endpoint_url

if TYPE_CHECKING:
    from .models import AbstractClient

TYP = "dpop+jwt"
#: seconds a proof may be dated ahead of our clock (FAPI 2.0 §5.3.2.1 item 13: accept 10 s)
FUTURE_LEEWAY = 10
#: seconds a server nonce stays valid
NONCE_LIFETIME = 300
MAX_JTI_LENGTH = 256
#: the servers that issue nonces, each accepting only its own (RFC 9449 §9)
SERVERS = ("token", "resource")
#: RFC 7638 §3.2 / RFC 8037 §2: each key type's required members, in lexicographic order (§3.3)
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}
_COMPACT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
_JKT = re.compile(r"^[A-Za-z0-9_-]{43}$")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NONCE_RANDOM, _NONCE_TIME, _NONCE_MAC = 16, 8, 16
_NONCE = re.compile(r"^[A-Za-z0-9_-]{54}$")  # base64url of the 40 bytes above
#: where the verified proof of a token request is kept, so it is verified (and its jti spent) once
_REQUEST_ATTR = "_oauth_provider_dpop_proof"


@dataclass(frozen=True)
class DPoPProof:
    """A verified proof: ``jkt`` is the RFC 7638 thumbprint of its key (what tokens are bound
    to), ``jwk`` the public key itself, ``alg`` the algorithm it was signed with."""

    jkt: str
    jti: str
    iat: float
    jwk: dict[str, Any]
    alg: str


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 §3: base64url(SHA-256) of the JSON object of the key's required members, in
    lexicographic order, without whitespace. Raises ``ValueError`` for an unknown key type or a
    missing or non-string member."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None:
        raise ValueError("unsupported key type")
    if not all(isinstance(jwk.get(name), str) for name in members):
        raise ValueError("a required key member is missing")
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def is_thumbprint(value: str) -> bool:
    """Has ``value`` the shape of a SHA-256 JWK thumbprint (43 base64url characters)? For the
    ``dpop_jkt`` authorization request parameter (§10)."""
    return bool(_JKT.fullmatch(value))


def access_token_hash(access_token: str) -> str:
    """The ``ath`` of a proof for ``access_token`` (§4.2): base64url(SHA-256(ASCII(token)))."""
    return _b64url(hashlib.sha256(access_token.encode("ascii", "replace")).digest())


def proof_from_request(request: HttpRequest) -> str | None:
    """The request's DPoP proof; None without a ``DPoP`` header. Two headers (joined by a comma
    by the server), an empty one or anything but one compact JWS of bounded size raise
    :class:`InvalidDPoPProof` (§4.3 items 1-2)."""
    value = request.META.get("HTTP_DPOP")
    if not isinstance(value, str):
        return None
    if len(value) > jwt.MAX_LENGTH or not _COMPACT.fullmatch(value):
        raise InvalidDPoPProof("The request must carry exactly one DPoP header holding one compact JWT "
                               "(RFC 9449 section 4.3).")
    return value


@lru_cache(maxsize=512)
def normalise_uri(uri: str) -> str | None:
    """``uri`` without query and fragment, normalised as RFC 3986 §6.2.2 (case, percent-encoding,
    dot segments) and §6.2.3 (default port, empty path) say; None when it is no absolute http(s)
    URI without user information."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = _PERCENT.sub(_percent, parts.path) or "/"
    return f"{scheme}://{netloc}{_remove_dot_segments(path)}"


def _percent(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, for an absolute path."""
    segments = path.split("/")
    kept: list[str] = []
    for segment in segments:
        if segment == "..":
            if len(kept) > 1:
                kept.pop()
        elif segment != ".":
            kept.append(segment)
    if segments[-1] in (".", ".."):
        kept.append("")
    return "/".join(kept)


# -- nonces (§8, §9) ------------------------------------------------------------------------

def _nonce_mac(server: str, body: bytes) -> bytes:
    return salted_hmac(f"oauth_provider.dpop-nonce.{server}", body, algorithm="sha256").digest()[:_NONCE_MAC]


def issue_nonce(server: str) -> str:
    """A fresh nonce for ``server`` (``"token"`` or ``"resource"``), to send as ``DPoP-Nonce``."""
    if server not in SERVERS:
        raise ValueError(f"unknown DPoP server {server!r}")
    issued = int(secrets.now().timestamp()).to_bytes(_NONCE_TIME, "big")
    body = _random.token_bytes(_NONCE_RANDOM) + issued
    return _b64url(body + _nonce_mac(server, body))


def nonce_valid(nonce: Any, server: str) -> bool:
    """Did ``server`` issue ``nonce`` less than :data:`NONCE_LIFETIME` seconds ago?"""
    if not isinstance(nonce, str) or not _NONCE.fullmatch(nonce):
        return False
    raw = base64.urlsafe_b64decode(nonce + "==")
    body, mac = raw[:-_NONCE_MAC], raw[-_NONCE_MAC:]
    if not hmac.compare_digest(mac, _nonce_mac(server, body)):
        return False
    age = secrets.now().timestamp() - int.from_bytes(body[_NONCE_RANDOM:], "big")
    return -FUTURE_LEEWAY <= age <= NONCE_LIFETIME


# -- the proof (§4.3) -----------------------------------------------------------------------

def verify_proof(
    proof: str, *, method: str, url: str, access_token: str | None = None, server: str = "token",
) -> DPoPProof:
    """Check ``proof`` (the ``DPoP`` header) for a request with ``method`` to ``url`` by the
    rules in the module docstring, and consume its ``jti``. ``access_token`` is the token the
    proof comes with at a resource (then ``ath`` is required); ``server`` names who checks it,
    for nonces. Raises :class:`InvalidDPoPProof` or :class:`UseDPoPNonce`."""
    head = _header(proof)
    jwk = head["jwk"]
    claims, jkt = _signed_claims(proof, head)
    jti, target = _check_claims(claims, method=method, url=url)
    if provider_settings.DPOP_NONCE and not nonce_valid(claims.get("nonce"), server):
        raise UseDPoPNonce(issue_nonce(server))
    now, max_age = secrets.now().timestamp(), provider_settings.DPOP_PROOF_MAX_AGE
    issued = _check_iat(claims, now, max_age)
    if access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str) or not secrets.constant_time_equals(ath, access_token_hash(access_token)):
            raise InvalidDPoPProof("The DPoP proof's ath is not the hash of the access token (RFC 9449 section 4.3).")
    _consume(jti, jkt, target, issued + max_age - now)
    return DPoPProof(jkt=jkt, jti=jti, iat=issued, jwk=dict(jwk), alg=str(head["alg"]))


@lru_cache(maxsize=8)
def _allowed(configured: tuple[str, ...]) -> tuple[str, ...]:
    """The asymmetric algorithms among ``DPOP_SIGNING_ALGORITHMS`` (as configured)."""
    return tuple(alg for alg in configured if alg in client_keys.SIGNING_ALGORITHMS)


def signing_algorithms() -> tuple[str, ...]:
    """The algorithms a proof may be signed with: ``DPOP_SIGNING_ALGORITHMS``, asymmetric ones
    only, narrowed to the profile's (FAPI 2.0 §5.4.1). What proofs are checked against and
    what the metadata (``dpop_signing_alg_values_supported``, RFC 9449 §5.1) and the
    ``WWW-Authenticate`` challenge (``algs``, §7.1) advertise: one list, so a client never
    picks an algorithm that is then refused."""
    return profiles.allowed_algorithms(_allowed(tuple(provider_settings.DPOP_SIGNING_ALGORITHMS)))


def _header(proof: str) -> dict[str, Any]:
    try:
        head = jwt.foreign_header(proof, signing_algorithms(), embedded_key=True)
    except jwt.InvalidJWT as exc:
        raise InvalidDPoPProof(f"The DPoP proof was refused: {exc} (RFC 9449 section 4.3).") from None
    typ = jwt.normalise_typ(head.get("typ"))
    if typ != TYP:
        raise InvalidDPoPProof("The DPoP proof's typ must be dpop+jwt (RFC 9449 section 4.2).")
    if not isinstance(head.get("jwk"), dict):
        raise InvalidDPoPProof("The DPoP proof must carry its public key in the jwk header (RFC 9449 section 4.2).")
    return head


@lru_cache(maxsize=1024)
def _public_key(encoded_header: str) -> tuple[client_keys.ClientKey, str]:
    """The checked public key of the ``jwk`` in a proof's header (its base64url segment, already
    checked by :func:`_header`) and its thumbprint: a client proves with the same key, in the
    same header, request after request, so it is parsed and checked once per process."""
    jwk = jwt.parse_json(base64.urlsafe_b64decode(encoded_header + "=" * (-len(encoded_header) % 4)))["jwk"]
    return client_keys.parse_jwks({"keys": [jwk]})[0], jwk_thumbprint(jwk)


def _signed_claims(proof: str, head: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The proof's claims once its signature verifies with its ``jwk``, and the key's thumbprint."""
    try:
        key, jkt = _public_key(proof.partition(".")[0])
    except ValueError as exc:  # InvalidKeySet, or a member the thumbprint needs is not a string
        raise InvalidDPoPProof(f"The DPoP proof's jwk was refused: {exc}") from None
    if head["alg"] not in key.algorithms or key.use == "enc":
        raise InvalidDPoPProof("The DPoP proof's jwk cannot sign with its alg.")
    try:
        return jwt.verify_foreign(proof, head["alg"], key.public), jkt
    except jwt.InvalidJWT:
        raise InvalidDPoPProof("The DPoP proof's signature does not verify with its jwk.") from None


def _check_claims(claims: dict[str, Any], *, method: str, url: str) -> tuple[str, str]:
    """``(jti, the normalised target URI)`` once ``jti``, ``htm`` and ``htu`` are right."""
    jti, htm, htu = claims.get("jti"), claims.get("htm"), claims.get("htu")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise InvalidDPoPProof("The DPoP proof must have a jti of at most 256 characters.")
    if not isinstance(htm, str) or htm != method.upper():
        raise InvalidDPoPProof(f"The DPoP proof's htm must be the request method, {method.upper()}.")
    target = normalise_uri(url)
    if not isinstance(htu, str) or target is None or normalise_uri(htu) != target:
        raise InvalidDPoPProof(f"The DPoP proof's htu must be the URL requested, {target}.")
    return jti, target


def _check_iat(claims: dict[str, Any], now: float, max_age: int) -> float:
    issued = claims.get("iat")
    if isinstance(issued, bool) or not isinstance(issued, (int, float)):
        raise InvalidDPoPProof("The DPoP proof must have a numeric iat.")
    if issued > now + FUTURE_LEEWAY:
        raise InvalidDPoPProof("The DPoP proof was issued in the future (iat).")
    if issued < now - max_age:
        raise InvalidDPoPProof("The DPoP proof is too old (iat): make a new one for each request.")
    return float(issued)


def _consume(jti: str, jkt: str, htu: str, accepted_for: float) -> None:
    """Remember ``jti`` for this key and URI until the proof can no longer be accepted (for
    ``accepted_for`` more seconds); a second use is refused (§11.1). ``cache.add`` is atomic in
    the cache every worker shares."""
    digest = hashlib.sha256("\n".join((htu, jkt, jti)).encode("utf-8", "surrogatepass")).hexdigest()
    timeout = int(accepted_for) + 2
    if not caches[provider_settings.REPLAY_CACHE].add(f"oauth_provider:dpop-jti:{digest}", 1, timeout=max(timeout, 1)):
        raise InvalidDPoPProof("The DPoP proof was already used (jti): make a new one for each request.")


# -- the token endpoint (§5, §10) -------------------------------------------------------------

def demand_nonce_first(request: HttpRequest) -> None:
    """In nonce mode (§8), answer a token or PAR request whose proof carries no current nonce
    with ``use_dpop_nonce`` before anything else is looked at: the client authenticates after
    this, and a ``private_key_jwt`` assertion's ``jti`` is spent when it does, so a client
    resending its request with the nonce (and the same assertion, as §8's retry reads) would
    otherwise be refused as a replay. The proof is not verified here (:func:`verify_proof`
    does that later); a request whose ``DPoP`` header cannot be read is left to it, so its
    error is the proof's. Anyone may obtain a nonce; nothing else is given or spent."""
    if not provider_settings.DPOP_NONCE:
        return
    raw = request.META.get("HTTP_DPOP")
    if not isinstance(raw, str):
        return
    try:
        claims = jwt.unverified_claims(raw)
    except jwt.InvalidJWT:
        return
    if not nonce_valid(claims.get("nonce"), "token"):
        raise UseDPoPNonce(issue_nonce("token"))


def token_request_proof(request: HttpRequest, client: AbstractClient) -> DPoPProof | None:
    """The verified DPoP proof of a token request, or None without a ``DPoP`` header; the token
    endpoint calls it once per request, before the grant, which reads the result through
    :func:`verified_proof` (a second call would find the proof's ``jti`` spent). ``htu`` must be
    the token endpoint's URL as advertised in the metadata. Raises :class:`InvalidDPoPProof`
    for a bad proof, and for a missing one when ``client.dpop_bound_access_tokens`` or
    ``REQUIRE_DPOP`` says every token must be bound (§5.2); :class:`UseDPoPNonce` in nonce mode."""
    raw = proof_from_request(request)
    proof = None
    if raw is not None:
        proof = verify_proof(raw, method="POST", url=endpoint_url(request, "token"), server="token")
    elif client.dpop_bound_access_tokens or provider_settings.REQUIRE_DPOP:
        raise InvalidDPoPProof("This client's tokens must be DPoP-bound: send a DPoP proof (RFC 9449 section 5.2).")
    setattr(request, _REQUEST_ATTR, proof)
    return proof


def verified_proof(request: HttpRequest) -> DPoPProof | None:
    """The proof :func:`token_request_proof` verified for this request (None: none, or not
    checked)."""
    proof: DPoPProof | None = getattr(request, _REQUEST_ATTR, None)
    return proof


def require_key(request: HttpRequest, jkt: str, what: str) -> None:
    """``what`` (a code, refresh token or subject token) is bound to the key of thumbprint
    ``jkt`` (empty: not bound): the request's proof must be made with that key, so a bound
    credential is never redeemed without it nor turned into a bearer token (§5, §10).
    Raises :class:`InvalidDPoPProof`."""
    if not jkt:
        return
    proof = verified_proof(request)
    if proof is None:
        raise InvalidDPoPProof(f"{what} is DPoP-bound: send a DPoP proof made with its key (RFC 9449).")
    if not secrets.constant_time_equals(proof.jkt, jkt):
        raise InvalidDPoPProof(f"{what} is bound to another DPoP key than this proof's (RFC 9449).")


def pushed_request_jkt(request: HttpRequest, dpop_jkt: str | None, *, url: str) -> str | None:
    """RFC 9449 §10.1: at the pushed authorization request endpoint (``url``) a client binds
    the code it will get either with ``dpop_jkt`` or with a ``DPoP`` proof, or both, which must
    then name the same key. Returns the thumbprint to store as the request's ``dpop_jkt`` (None:
    not bound). Raises :class:`InvalidDPoPProof` (or :class:`UseDPoPNonce`)."""
    if dpop_jkt is not None and not is_thumbprint(dpop_jkt):
        raise InvalidDPoPProof("dpop_jkt must be the base64url SHA-256 JWK thumbprint of a key (RFC 9449 section 10).")
    raw = proof_from_request(request)
    if raw is None:
        return dpop_jkt
    proof = verify_proof(raw, method="POST", url=url, server="token")
    if dpop_jkt is not None and not secrets.constant_time_equals(dpop_jkt, proof.jkt):
        raise InvalidDPoPProof("dpop_jkt and the DPoP proof name different keys (RFC 9449 section 10.1).")
    return proof.jkt


def response_headers(request: HttpRequest) -> dict[str, str]:
    """Headers for a successful token response to a request that carried a proof: a fresh
    ``DPoP-Nonce`` in nonce mode (§8.2), so the client has one for its next proof."""
    if provider_settings.DPOP_NONCE and verified_proof(request) is not None:
        return {"DPoP-Nonce": issue_nonce("token")}
    return {}

"""JWT encoding and verification over PyJWT, with the RFC 8725 rules made explicit.

Only our own asymmetric keys verify, each with exactly its one algorithm (§3.1): ``none`` and
every HMAC algorithm are refused before PyJWT sees the token, so a public key can never be
used as an HMAC secret. ``jku``, ``x5u``, ``jwk`` and ``x5c`` headers are refused rather
than followed (§3.10), any ``crit`` header is refused since we understand no extension
(RFC 7515 §4.1.11), ``kid`` is checked against a strict pattern and only ever used as a
dictionary key (§3.10), the size is bounded before decoding (DERIVED-jose-size), ``iss`` is
compared exactly (§3.8), and explicit ``typ`` values keep ID tokens and access tokens apart
(§3.11, RFC 9068 §2.1). Under a security profile (FAPI 2.0 §5.4.1) only its algorithms pass,
in what we verify of our own and in what others sign.
"""

from __future__ import annotations

import base64
import json
import math
import re
import sys
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jwt.algorithms import get_default_algorithms

from . import keys, profiles, secrets
from .client_keys import SIGNING_ALGORITHMS as FOREIGN_ALGORITHMS
from .conf import provider_settings

#: the longest JWT accepted anywhere (bytes); bigger inputs are refused before decoding
MAX_LENGTH = 8192
#: seconds of clock skew :func:`decode` allows on ``exp``, ``nbf`` and ``iat`` unless told
#: otherwise: a resource accepts an access token this long past its ``exp``
DEFAULT_LEEWAY = 60
FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c", "crit"})
ACCESS_TOKEN_TYP = "at+jwt"
#: private claim (RFC 7519 §4.3) of an access token a client obtained for itself: ``true``. Whose
#: token it is follows from this claim alone, never from ``sub == client_id`` (RFC 9068 §5):
#: a host whose subjects are usernames may have a user named like a client.
CLIENT_TOKEN_CLAIM = "client_token"
_COMPACT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
#: an Unsecured JWS (RFC 7515 Appendix A.5, ``alg`` ``none``): refused like any non-JWS, named
_UNSECURED = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.$")
#: our own keys' ``kid``: what ``rotatekeys`` makes (RFC 7638 thumbprints) and what its
#: ``--import --kid`` accepts (``key_import.KID``); narrower, and an imported key would sign
#: tokens that we then refuse
_KID = re.compile(r"^[A-Za-z0-9._~+/=:-]{1,128}$")
#: PyJWT's signature primitives for the algorithms our keys use (and no other)
_VERIFIERS = {name: algorithm for name, algorithm in get_default_algorithms().items() if name in keys.ALGORITHMS}
_FOREIGN_VERIFIERS = {name: algorithm for name, algorithm in get_default_algorithms().items()
                      if name in FOREIGN_ALGORITHMS}
_FOREIGN_KID = re.compile(r"^[\x21-\x7e]{1,128}$")


class InvalidJWT(ValueError):
    """The token is not a JWT we issued and accept here; the message says why."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999
        raise ValueError("a number out of range")
    return value


def _bounded(text: str) -> int:
    value = int(text)
    if abs(value) > sys.float_info.max:  # RFC 8259 §6: beyond IEEE 754 binary64, float() overflows
        raise ValueError("a number out of range")
    return value


#: the parsers, made once (``json.loads`` with options builds a decoder per call, which costs
#: more than the parse). An integer beyond a float's range has at least 309 digits, as
#: ``sys.float_info.max`` has: only a text with such a run of digits is read with the
#: per-integer check, which would double the cost of reading every token's claims.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite)
_BOUNDED_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite, parse_int=_bounded)
_LONG_DIGITS = re.compile(r"[0-9]{309}")
#: the only way a lone surrogate gets into a parsed string: an escape ``\uD800``-``\uDFFF``
#: (the UTF-8 decoder refuses encoded ones). A pair is joined into one code point by the parser.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def parse_json(data: str | bytes) -> Any:
    """``data`` (a decoded header or payload segment) as RFC 8259 JSON. Raises ``ValueError``
    for anything else, including what Python's parser reads but JSON has not (``NaN``,
    ``Infinity``, a number beyond a float's range: each comparison with ``NaN`` is false, so it
    would pass every time check, and ``float()`` of a 400-digit ``exp`` raises) and nesting
    deeper than the parser recurses (its ``RecursionError``, which callers catching
    ``ValueError`` would let through as a 500), and a string holding a lone surrogate
    (``"\\ud800"``: I-JSON, RFC 7493 §2.1; RFC 8259 §8.2 leaves its meaning open). Such a
    string is no Unicode text: it has no UTF-8 encoding, so hashing a ``jti`` made of it, or
    sending it to PostgreSQL as a ``sub``, raised ``UnicodeEncodeError`` (a 500)."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data  # RFC 7519 §7.2: UTF-8
        # nearly always no run of digits that long: integers then need no check of their own
        value = (_DECODER if _LONG_DIGITS.search(text) is None else _BOUNDED_DECODER).decode(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if _SURROGATE_ESCAPE.search(text) is not None:  # rare: only then is the value read again
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # UnicodeEncodeError is a ValueError
    return value


def encode(claims: dict[str, Any], *, typ: str = "JWT", key: keys.LoadedKey | None = None) -> str:
    """Sign ``claims`` with ``key`` (default: the active signing key), ``kid`` and ``typ``
    in the header. An ES256 signature is given its low-``s`` form (:func:`_low_s`)."""
    key = key or keys.signing_key()
    token = pyjwt.encode(claims, key.private, algorithm=key.algorithm, headers={"kid": key.kid, "typ": typ})
    if key.algorithm != "ES256":
        return token
    signing_input, _, encoded_signature = token.rpartition(".")
    signature = _low_s(_segment(encoded_signature))
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode('ascii')}"


#: the order n of P-256's group (SEC 2 §2.4.2, FIPS 186-5)
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _low_s(signature: bytes) -> bytes:
    """An ES256 signature (``r || s``, RFC 7518 §3.4) with ``s <= n/2``. ECDSA accepts ``(r, s)``
    and ``(r, n - s)`` alike, so anyone holding a token could make a second valid text of it,
    one the denylist (which knows a revoked token by the digest of its text) and the token
    lookups would not know: our tokens are signed with the low ``s`` and verified only so."""
    s = int.from_bytes(signature[32:], "big")
    if len(signature) != 64 or s <= _P256_ORDER // 2:
        return signature
    return signature[:32] + (_P256_ORDER - s).to_bytes(32, "big")


def normalise_typ(value: Any) -> str:
    """RFC 7515 §4.1.9: ``typ`` in lower case without the ``application/`` prefix it may leave
    out. ``application/`` alone names no media type: it stays as it is, and matches nothing."""
    text = str(value or "").lower()
    return text[len("application/"):] if text.startswith("application/") and text != "application/" else text


def header(token: str) -> dict[str, Any]:
    """The checked JOSE header of ``token``. Raises :class:`InvalidJWT`."""
    head = _raw_header(token)
    if head.get("alg") not in keys.ALGORITHMS or not profiles.allowed_algorithms((head["alg"],)):
        raise InvalidJWT("algorithm not allowed")
    if FORBIDDEN_HEADERS & set(head):
        raise InvalidJWT("header parameter not allowed: " + ", ".join(sorted(FORBIDDEN_HEADERS & set(head))))
    kid = head.get("kid")
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise InvalidJWT("missing or malformed kid")
    return head


def foreign_header(token: str, algorithms: Iterable[str], *, embedded_key: bool = False) -> dict[str, Any]:
    """The checked JOSE header of a JWT signed by someone else (a client's assertion), whose
    ``alg`` must be one of ``algorithms`` (never ``none`` nor an HMAC: the caller's list holds
    asymmetric algorithms only, RFC 8725 §3.1-3.2). ``jku``, ``x5u``, ``jwk``, ``x5c`` and
    ``crit`` are refused (§3.10); ``kid`` is optional, and checked when present.
    ``embedded_key=True`` lets ``jwk`` through: only for a DPoP proof, whose very point is to
    carry the key it is signed with (RFC 9449 §4.2; the caller checks that key). Raises
    :class:`InvalidJWT`."""
    head = _raw_header(token)
    if head.get("alg") not in set(profiles.allowed_algorithms(tuple(algorithms))) \
            or head.get("alg") in ("none", "HS256", "HS384", "HS512"):
        raise InvalidJWT("algorithm not allowed")
    refused = FORBIDDEN_HEADERS - {"jwk"} if embedded_key else FORBIDDEN_HEADERS
    if refused & set(head):
        raise InvalidJWT("header parameter not allowed: " + ", ".join(sorted(refused & set(head))))
    kid = head.get("kid")
    if kid is not None and (not isinstance(kid, str) or not _FOREIGN_KID.fullmatch(kid)):
        raise InvalidJWT("malformed kid")
    return head


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a compact JWS, NOT verified: only to find out which keys to verify it
    with (a client assertion's ``sub`` names its client). Raises :class:`InvalidJWT`."""
    _raw_header(token)
    try:
        claims = parse_json(_segment(token.split(".")[1]))
    except ValueError as exc:
        raise InvalidJWT("malformed payload") from exc
    if not isinstance(claims, dict):
        raise InvalidJWT("malformed payload")
    return claims


def verify_foreign(token: str, algorithm: str, public_key: Any) -> dict[str, Any]:
    """The claims of ``token`` once its signature verifies with ``public_key`` under
    ``algorithm`` (checked by :func:`foreign_header` first). Raises :class:`InvalidJWT`."""
    verifier = _FOREIGN_VERIFIERS.get(algorithm)
    if verifier is None:
        raise InvalidJWT("algorithm not allowed")
    if algorithm == "EdDSA" and profiles.fapi2() and not isinstance(public_key, Ed25519PublicKey):
        raise InvalidJWT("algorithm not allowed")  # FAPI 2.0 §5.4.1: EdDSA only as Ed25519, not Ed448
    try:
        return _verified_claims_with(token, verifier, public_key)
    except (TypeError, ValueError) as exc:  # a key of another type than the algorithm's
        if isinstance(exc, InvalidJWT):
            raise
        raise InvalidJWT("signature verification failed") from None


def _raw_header(token: str) -> dict[str, Any]:
    if not isinstance(token, str) or len(token) > MAX_LENGTH:
        raise InvalidJWT("not a compact JWS of acceptable size")
    if not _COMPACT.fullmatch(token):
        if _UNSECURED.fullmatch(token):
            raise InvalidJWT("unsigned (no signature, as with alg none): only signed tokens are accepted")
        raise InvalidJWT("not a compact JWS of acceptable size")
    # Only the header segment is decoded here (the pattern above already holds every segment
    # to the base64url alphabet): PyJWT's own header reader would validate the whole token
    # character by character, and decode() does that again anyway.
    head = _decoded_header(token.partition(".")[0])
    if head is None:
        raise InvalidJWT("malformed header")
    return dict(head)  # a copy: the parsed one is shared through the cache


@lru_cache(maxsize=256)
def _decoded_header(encoded: str) -> dict[str, Any] | None:
    """The JSON object a header segment encodes, None when it encodes none. Parsed once per
    process: a key signs token after token with the same header (ours, and a DPoP client's,
    whose proofs differ only in their claims). At most 256 kept, each at most MAX_LENGTH."""
    try:
        head = parse_json(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except ValueError:  # binascii.Error, UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    return head if isinstance(head, dict) else None


def decode(
    token: str,
    *,
    typ: str | None,
    issuer: str,
    audience: str | Iterable[str] | None = None,
    verify_exp: bool = True,
    require: Iterable[str] = ("iss", "exp", "iat"),
    leeway: int = DEFAULT_LEEWAY,
) -> dict[str, Any]:
    """Verify ``token`` and return its claims. Raises :class:`InvalidJWT`.

    ``typ`` is the header type the token must carry (``"at+jwt"`` for access tokens); with
    ``typ=None`` (ID tokens) only an untyped or ``JWT`` token is accepted, so an access token
    or a logout token (``logout+jwt``) never passes for an ID token (RFC 8725 §3.11,
    Back-Channel Logout 1.0 §4.1). ``audience=None`` skips the
    audience check (the caller then checks ``aud`` itself)."""
    head = header(token)
    got = normalise_typ(head.get("typ"))
    if typ is not None and got != typ:
        raise InvalidJWT("unexpected token type")
    if typ is None and got == ACCESS_TOKEN_TYP:
        raise InvalidJWT("an access token is not accepted here")
    if typ is None and got not in ("", "jwt"):
        raise InvalidJWT("unexpected token type")
    key = keys.verification_key(head["kid"])
    if key is None or key.algorithm != head["alg"]:
        raise InvalidJWT("unknown key")
    claims = _verified_claims(token, key)
    for name in require:
        if claims.get(name) is None:
            raise InvalidJWT(f"missing the {name} claim")
    if claims.get("iss") != issuer:
        raise InvalidJWT("wrong issuer")
    if audience is not None:
        _check_audience(claims, [audience] if isinstance(audience, str) else list(audience))
    _check_times(claims, verify_exp=verify_exp, leeway=leeway)
    _check_key_period(claims, key, leeway=leeway, lifetime=verify_exp)
    return claims


#: the last character of a canonical base64url text of length 2 or 3 mod 4: its unused low
#: bits (4, or 2) are zero, so its index in the alphabet is a multiple of 16, or of 4
_CANONICAL_LAST = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}


def _segment(encoded: str) -> bytes:
    """One base64url segment (of the base64url alphabet, as :data:`_COMPACT` checked), decoded.
    Only the canonical encoding is accepted (RFC 7515 §2: no padding, and unused low bits
    zero): a re-encoded copy of a token must not be a second valid string, since the denylist
    knows a revoked token by the digest of its text. A length of 1 mod 4 is no base64 at all
    (the decoder raises)."""
    rest = len(encoded) % 4
    if rest in _CANONICAL_LAST and encoded[-1] not in _CANONICAL_LAST[rest]:
        raise ValueError("non-canonical base64url")
    return base64.urlsafe_b64decode(encoded + "=" * (-rest % 4))


def _verified_claims(token: str, key: keys.LoadedKey) -> dict[str, Any]:
    """Our own token's claims, verified with our ``key``: an ES256 signature only in its low-``s``
    form, the one :func:`encode` writes (the other verifies too, as a second text of the token)."""
    if key.algorithm == "ES256":
        try:
            signature = _segment(token.rpartition(".")[2])
        except ValueError as exc:
            raise InvalidJWT("malformed base64url") from exc
        if _low_s(signature) != signature:
            raise InvalidJWT("signature not in its canonical (low-s) form")
    return _verified_claims_with(token, _VERIFIERS[key.algorithm], key.public)


def _verified_claims_with(token: str, verifier: Any, public_key: Any) -> dict[str, Any]:
    """The payload of ``token`` once its signature verifies with ``key`` (RFC 7515 §5.2).

    The header was checked by :func:`header`. PyJWT's signature primitives do the
    cryptography; its ``decode()`` is not used because it checks the alphabet of the whole
    token one character at a time in Python (~50 µs for an RS256 access token), which the
    pattern in :func:`header` has already done."""
    signing_input, _, encoded_signature = token.rpartition(".")
    encoded_header, _, encoded_payload = signing_input.partition(".")
    try:
        _segment(encoded_header)
        payload, signature = _segment(encoded_payload), _segment(encoded_signature)
    except ValueError as exc:  # binascii.Error is a ValueError
        raise InvalidJWT("malformed base64url") from exc
    if not verifier.verify(signing_input.encode("ascii"), public_key, signature):
        raise InvalidJWT("signature verification failed")
    try:
        claims = parse_json(payload)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InvalidJWT("malformed payload") from exc
    if not isinstance(claims, dict):
        raise InvalidJWT("malformed payload")
    return claims


def _check_audience(claims: dict[str, Any], expected: list[str]) -> None:
    """``aud`` is present, a string or a list of strings, and names one of ``expected``
    (RFC 7519 §4.1.3)."""
    aud = claims.get("aud")
    if not aud:
        raise InvalidJWT("missing the aud claim")
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise InvalidJWT("malformed aud claim")
    if not any(value in values for value in expected):
        raise InvalidJWT("not intended for this audience")


def _check_key_period(claims: dict[str, Any], key: keys.LoadedKey, leeway: int, lifetime: bool) -> None:
    """A token must have been signed while its key was signing (a worker may sign with a
    just-retired key for one key-cache period), and, when its expiry counts (``lifetime``),
    live no longer than anything we issue: so a retired key that leaked cannot mint tokens
    that outlive it. A hint read past its expiry (``id_token_hint``) gains nothing from a
    long lifetime, and one issued by the server this one replaced (django-oauth-toolkit's ID
    tokens live ten hours) must still name its user and client."""
    issued_at = claims.get("iat")
    if isinstance(issued_at, (int, float)) and key.retired_at is not None:
        slack = provider_settings.SIGNING_KEY_CACHE_SECONDS + leeway
        if issued_at > key.retired_at.timestamp() + slack:
            raise InvalidJWT("signed after its key was retired")
    expires = claims.get("exp")
    if lifetime and isinstance(issued_at, (int, float)) and isinstance(expires, (int, float)):
        longest = max(provider_settings.ID_TOKEN_LIFETIME, provider_settings.ACCESS_TOKEN_LIFETIME)
        if expires - issued_at > longest + leeway:
            raise InvalidJWT("lifetime longer than any token this server issues")


def _check_times(claims: dict[str, Any], *, verify_exp: bool, leeway: int) -> None:
    """``exp``, ``nbf`` and ``iat`` with bounded skew (RFC 7519 §4.1.4-4.1.6)."""
    now = secrets.now().timestamp()
    for name in ("exp", "nbf", "iat"):
        if name in claims and (isinstance(claims[name], bool) or not isinstance(claims[name], (int, float))):
            raise InvalidJWT(f"{name} is not a number")
    if verify_exp and "exp" in claims and now > claims["exp"] + leeway:
        raise InvalidJWT("expired")
    if "nbf" in claims and now + leeway < claims["nbf"]:
        raise InvalidJWT("not valid yet")
    if "iat" in claims and now + leeway < claims["iat"]:
        raise InvalidJWT("issued in the future")

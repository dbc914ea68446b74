"""JWT encoding and verification over PyJWT, with the RFC 8725 rules made explicit.

Only our own asymmetric keys verify, each with exactly its one algorithm (§3.1): ``none`` and
every HMAC algorithm are refused before PyJWT sees the token, so a public key can never be
used as an HMAC secret. ``jku``, ``x5u``, ``jwk`` and ``x5c`` headers are refused rather
than followed (§3.10), any ``crit`` header is refused since we understand no extension
(RFC 7515 §4.1.11), ``kid`` is checked against a strict pattern and only ever used as a
dictionary key (§3.10), the size is bounded before decoding (DERIVED-jose-size), ``iss`` is
compared exactly (§3.8), and explicit ``typ`` values keep ID tokens and access tokens apart
(§3.11, RFC 9068 §2.1).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import Any

import jwt as pyjwt

from . import keys, secrets
from .conf import provider_settings

#: the longest JWT accepted anywhere (bytes); bigger inputs are refused before decoding
MAX_LENGTH = 8192
FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c", "crit"})
ACCESS_TOKEN_TYP = "at+jwt"
_COMPACT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
_KID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class InvalidJWT(ValueError):
    """The token is not a JWT we issued and accept here; the message says why."""


def encode(claims: dict[str, Any], *, typ: str = "JWT", key: keys.LoadedKey | None = None) -> str:
    """Sign ``claims`` with ``key`` (default: the active signing key), ``kid`` and ``typ``
    in the header."""
    key = key or keys.signing_key()
    return pyjwt.encode(claims, key.private, algorithm=key.algorithm, headers={"kid": key.kid, "typ": typ})


def _normalise_typ(value: Any) -> str:
    text = str(value or "").lower()
    return text[len("application/"):] if text.startswith("application/") else text


def header(token: str) -> dict[str, Any]:
    """The checked JOSE header of ``token``. Raises :class:`InvalidJWT`."""
    if not isinstance(token, str) or len(token) > MAX_LENGTH or not _COMPACT.fullmatch(token):
        raise InvalidJWT("not a compact JWS of acceptable size")
    # Only the header segment is decoded here (the pattern above already holds every segment
    # to the base64url alphabet): PyJWT's own header reader would validate the whole token
    # character by character, and decode() does that again anyway.
    encoded = token.partition(".")[0]
    try:
        head = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except ValueError as exc:  # binascii.Error, UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InvalidJWT("malformed header") from exc
    if not isinstance(head, dict):
        raise InvalidJWT("malformed header")
    if head.get("alg") not in keys.ALGORITHMS:
        raise InvalidJWT("algorithm not allowed")
    if FORBIDDEN_HEADERS & set(head):
        raise InvalidJWT("header parameter not allowed: " + ", ".join(sorted(FORBIDDEN_HEADERS & set(head))))
    kid = head.get("kid")
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise InvalidJWT("missing or malformed kid")
    return head


def decode(
    token: str,
    *,
    typ: str | None,
    issuer: str,
    audience: str | Iterable[str] | None = None,
    verify_exp: bool = True,
    require: Iterable[str] = ("iss", "exp", "iat"),
    leeway: int = 60,
) -> dict[str, Any]:
    """Verify ``token`` and return its claims. Raises :class:`InvalidJWT`.

    ``typ`` is the header type the token must carry (``"at+jwt"`` for access tokens); with
    ``typ=None`` (ID tokens) an access-token typ is refused. ``audience=None`` skips the
    audience check (the caller then checks ``aud`` itself)."""
    head = header(token)
    got = _normalise_typ(head.get("typ"))
    if typ is not None and got != typ:
        raise InvalidJWT("unexpected token type")
    if typ is None and got == ACCESS_TOKEN_TYP:
        raise InvalidJWT("an access token is not accepted here")
    key = keys.verification_key(head["kid"])
    if key is None or key.algorithm != head["alg"]:
        raise InvalidJWT("unknown key")
    # Time claims are checked below against the library's clock (secrets.now), not PyJWT's.
    options = {
        "require": list(require), "verify_exp": False, "verify_nbf": False, "verify_iat": False,
        "verify_aud": audience is not None,
    }
    try:
        claims = pyjwt.decode(
            token, key.public, algorithms=[key.algorithm], issuer=issuer,
            audience=audience if audience is None or isinstance(audience, str) else list(audience),
            options=options,  # type: ignore[arg-type]
        )
    except pyjwt.PyJWTError as exc:
        raise InvalidJWT(str(exc)) from exc
    if claims.get("iss") != issuer:
        raise InvalidJWT("wrong issuer")
    _check_times(claims, verify_exp=verify_exp, leeway=leeway)
    _check_key_period(claims, key, leeway=leeway)
    return claims


def _check_key_period(claims: dict[str, Any], key: keys.LoadedKey, *, leeway: int) -> None:
    """A token must have been signed while its key was signing (a worker may sign with a
    just-retired key for one key-cache period), and live no longer than anything we issue:
    so a retired key that leaked cannot mint tokens that outlive it."""
    issued_at = claims.get("iat")
    if isinstance(issued_at, (int, float)) and key.retired_at is not None:
        slack = provider_settings.SIGNING_KEY_CACHE_SECONDS + leeway
        if issued_at > key.retired_at.timestamp() + slack:
            raise InvalidJWT("signed after its key was retired")
    expires = claims.get("exp")
    if isinstance(issued_at, (int, float)) and isinstance(expires, (int, float)):
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

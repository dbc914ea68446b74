"""DPoP proofs (RFC 9449 §4) made the way a client makes them, with real keys, for tests of
the token endpoint and of resources. Built on PyJWT and cryptography only, independent of
``oauth_provider.dpop``, so a mistake there is not mirrored here."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

_DEFAULT_ALG = {"EC": "ES256", "RSA": "PS256", "OKP": "EdDSA"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def random_rsa_jwk(n_bits: int, e: int) -> dict[str, str]:
    """A public RSA JWK of a random odd ``n_bits``-bit modulus (no private key exists for it)
    and the exponent ``e``: only to be refused as a key, before any signature is checked."""
    modulus = secrets.randbits(n_bits) | (1 << (n_bits - 1)) | 1
    return {"kty": "RSA", "n": _unsigned(modulus), "e": _unsigned(e)}


def _unsigned(value: int) -> str:
    """RFC 7518 §2 Base64urlUInt."""
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class DPoPKey:
    """A client's DPoP key pair: ``jwk`` (public), ``jkt`` (RFC 7638 thumbprint, computed here
    by hand) and :meth:`proof`."""

    def __init__(self, kind: str = "EC", alg: str | None = None) -> None:
        if kind == "EC":
            self.private: Any = ec.generate_private_key(ec.SECP256R1())
            self.jwk = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
            members = ("crv", "kty", "x", "y")
        elif kind == "RSA":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.jwk = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
            members = ("e", "kty", "n")
        elif kind == "OKP":
            self.private = ed25519.Ed25519PrivateKey.generate()
            self.jwk = OKPAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
            members = ("crv", "kty", "x")
        else:
            raise ValueError(kind)
        self.alg = alg or _DEFAULT_ALG[kind]
        canonical = json.dumps({m: self.jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
        self.jkt = b64url(hashlib.sha256(canonical.encode()).digest())

    def proof(
        self, method: str, url: str, *, access_token: str | None = None, nonce: str | None = None,
        iat: float | None = None, jti: str | None = None, header: dict[str, Any] | None = None,
        claims: dict[str, Any] | None = None, drop: tuple[str, ...] = (),
    ) -> str:
        """A proof for ``method`` ``url``; ``header``/``claims`` override or add members, ``drop``
        removes claims (to forge broken proofs)."""
        payload: dict[str, Any] = {
            "jti": jti or str(uuid.uuid4()), "htm": method, "htu": url,
            "iat": int(time.time()) if iat is None else iat,
        }
        if access_token is not None:
            payload["ath"] = b64url(hashlib.sha256(access_token.encode("ascii")).digest())
        if nonce is not None:
            payload["nonce"] = nonce
        payload.update(claims or {})
        for name in drop:
            payload.pop(name, None)
        head = {"typ": "dpop+jwt", "jwk": self.jwk, **(header or {})}
        return pyjwt.encode(payload, self.private, algorithm=self.alg, headers=head)


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWS built by hand (``alg: none``, HMAC forgeries)."""
    return ".".join((b64url(json.dumps(header).encode()), b64url(json.dumps(payload).encode()), b64url(signature)))

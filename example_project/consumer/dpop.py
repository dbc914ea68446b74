"""DPoP (RFC 9449) for the consumer site: when the user ticks "bind my tokens to a key", this
site makes a key pair for the login, sends a proof signed with it to Example's token endpoint
(so Example binds the tokens to the key, ``token_type: DPoP``), and signs a proof for every
call to the notes API. A token copied from this site's database or logs is then useless
without the key.

The private key is kept in this site's session, which lives server side in its database: a
demo's choice. A real site would keep it where it keeps its other secrets (a KMS, an HSM).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from typing import Any

import jwt  # PyJWT
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

#: where the login's key lives in the session
SESSION_KEY = "dpop_key"
PUBLIC_MEMBERS = ("crv", "kty", "x", "y")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_key() -> dict[str, Any]:
    """A fresh P-256 key pair, as a private JWK (RFC 7517)."""
    private = ec.generate_private_key(ec.SECP256R1())
    return ECAlgorithm.to_jwk(private, as_dict=True)


def thumbprint(key: dict[str, Any]) -> str:
    """The key's RFC 7638 thumbprint: what Example binds the tokens to (``cnf.jkt``)."""
    canonical = json.dumps({name: key[name] for name in PUBLIC_MEMBERS}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def proof(key: dict[str, Any], method: str, url: str, *, access_token: str | None = None,
          nonce: str | None = None) -> str:
    """A DPoP proof (RFC 9449 §4.2) for one request: ``method`` ``url`` (without query), with
    ``ath`` when it goes with an access token, and the server's ``nonce`` when it asked."""
    claims: dict[str, Any] = {"jti": str(uuid.uuid4()), "htm": method, "htu": url.split("?", 1)[0],
                              "iat": int(time.time())}
    if access_token is not None:
        claims["ath"] = _b64url(hashlib.sha256(access_token.encode("ascii")).digest())
    if nonce:
        claims["nonce"] = nonce
    public = {name: key[name] for name in PUBLIC_MEMBERS}
    private = ECAlgorithm.from_jwk(json.dumps(key))
    return jwt.encode(claims, private, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": public})

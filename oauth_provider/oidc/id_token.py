"""ID tokens (OpenID Connect Core §2, §3.1.3.6, §12.2).

Claims: ``iss``, ``sub`` (adapter), ``aud`` and ``azp`` (the client), ``exp``, ``iat``,
``auth_time`` (the real login time), ``nonce`` (echoed), ``at_hash`` (§3.1.3.8: left half of
the hash of the access token, with the hash of the signing algorithm), ``sid``, ``acr`` /
``amr`` when the adapter gives them, and the user's claims the client may see.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any

from .. import jwt, keys, secrets
from ..adapter import claims_for, subject_for
from ..conf import provider_settings
from ..models import Authorization
from ..registry import adapter
from . import claims as oidc_claims

if TYPE_CHECKING:
    from ..models import AbstractClient

_HASHES = {"RS256": hashlib.sha256, "ES256": hashlib.sha256, "EdDSA": hashlib.sha512}


def token_hash(value: str, algorithm: str) -> str:
    """``at_hash`` / ``c_hash`` (OIDC Core §3.1.3.8, §3.3.2.11)."""
    digest = _HASHES[algorithm](value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def build(
    *, issuer: str, client: AbstractClient, authorization: Authorization, access_token: str | None, nonce: str | None,
) -> str:
    """Sign an ID token for ``authorization``'s user and ``client``."""
    user = authorization.user
    policy = adapter()
    now = int(secrets.now().timestamp())
    key = keys.signing_key()
    body: dict[str, Any] = {}
    names = oidc_claims.requested_names(
        authorization.scope.split(), authorization.claims, "id_token",
        scope_claims=provider_settings.ID_TOKEN_SCOPE_CLAIMS,
    )
    body.update(oidc_claims.select(claims_for(user, client, policy=policy), names))
    body.update({
        "iss": issuer,
        "sub": subject_for(user, client, policy=policy),
        "aud": client.client_id,
        "azp": client.client_id,
        "exp": now + provider_settings.ID_TOKEN_LIFETIME,
        "iat": now,
    })
    if authorization.auth_time is not None:
        body["auth_time"] = int(authorization.auth_time.timestamp())
    if nonce:
        body["nonce"] = nonce
    if access_token:
        body["at_hash"] = token_hash(access_token, key.algorithm)
    if authorization.session_id:
        body["sid"] = authorization.session_id
    context = authorization.auth_context or {}
    for name in ("acr", "amr"):
        if context.get(name):
            body[name] = context[name]
    return jwt.encode(body, typ="JWT", key=key)

"""Settings for the django-oauth-toolkit migration tests (tests/migration/): DOT
(``oauth2_provider``) installed beside this library, as on a site in the middle of the move,
with its URLs under ``/dot/`` and ours where they always are. DOT's own flows create the rows
``import_dot`` reads.

    python -m pytest --ds tests.dot_settings tests/migration

Same database choice as tests.settings (``OAUTH_PROVIDER_TEST_DB``).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .settings import *  # noqa: F403
from .settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "oauth2_provider"]
ROOT_URLCONF = "tests.migration.urls"
# DOT hashes client secrets with PBKDF2 (the default of Django's PASSWORD_HASHERS), here with
# fewer rounds; tests.settings keeps only MD5, for fast test users
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "tests.migration.hashers.FewerRoundsPBKDF2",
]


def _pem(bits: int = 2048) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": _pem(),
    "OIDC_RSA_PRIVATE_KEYS_INACTIVE": [_pem()],
    "OIDC_ISS_ENDPOINT": "https://testserver/o",
    "SCOPES": {"openid": "OpenID Connect", "read": "Read your data", "write": "Change your data"},
    "DEFAULT_SCOPES": ["read"],
    "PKCE_REQUIRED": True,
    "REQUEST_APPROVAL_PROMPT": "auto",
    "CLIENT_SECRET_HASHER": "pbkdf2_sha256",
    "REFRESH_TOKEN_EXPIRE_SECONDS": 30 * 24 * 3600,
    "ACCESS_TOKEN_EXPIRE_SECONDS": 36000,
}

"""Storage: clients, token families and tokens, consents, signing keys; and every rule about
their state (live, spent, revoked, expired, remembered).

* ``Client`` is the only swappable model (``OAUTH_PROVIDER_CLIENT_MODEL``, like
  ``AUTH_USER_MODEL``); subclass :class:`AbstractClient` to add fields.
* An :class:`Authorization` is a token family: every code, access token and refresh token
  born of one grant points at it, so a replayed code or a reused refresh token revokes the
  whole family with one UPDATE (RFC 9700 §4.14.2, RFC 6749 §4.1.2).
* A :class:`DeviceCode` is one device authorization (RFC 8628), claimed by the one user who
  entered its user code.
* Codes, tokens and client secrets are stored only as SHA-256 hex digests
  (:mod:`oauth_provider.secrets`) under a unique index; the plaintext is never stored.
* One-time things are consumed by a conditional UPDATE whose row count decides the winner.
* A :class:`PushedAuthorization` is a request pushed to the PAR endpoint (RFC 9126), spent
  once when its authorization completes.
* Dynamic registration (RFC 7591/7592) keeps its initial access tokens and each registered
  client's registration access token (hashed) in :mod:`.registrations`.
* ``import_dot`` remembers each token it carried over from django-oauth-toolkit
  (:mod:`.imports`), so a later run neither brings back one revoked here nor misses one DOT
  revoked since.
"""

from .clients import (
    CLIENT_MODEL_SETTING,
    DEFAULT_CLIENT_MODEL,
    AbstractClient,
    AccessTokenFormat,
    AuthMethod,
    Client,
    ClientType,
    GrantType,
    client_model_label,
    get_client_model,
)
from .consents import Consent, ConsentQuerySet
from .devices import DeviceCode, DeviceCodeQuerySet, DeviceCodeStatus
from .imports import ImportedToken, ImportedTokenKind, ImportedTokenQuerySet
from .logout import LogoutDelivery, LogoutDeliveryQuerySet, LogoutReason
from .pushed import PushedAuthorization, PushedAuthorizationQuerySet
from .registrations import (
    ClientRegistration,
    ClientRegistrationQuerySet,
    InitialAccessToken,
    InitialAccessTokenQuerySet,
)
from .signing import SigningKey, SigningKeyQuerySet
from .tokens import (
    AccessToken,
    AccessTokenQuerySet,
    Authorization,
    AuthorizationCode,
    AuthorizationCodeQuerySet,
    AuthorizationQuerySet,
    RefreshToken,
    RefreshTokenQuerySet,
    TokenQuerySet,
)

__all__ = [
    "AbstractClient", "AccessToken", "AccessTokenFormat", "AccessTokenQuerySet", "AuthMethod",
    "Authorization", "AuthorizationCode", "AuthorizationCodeQuerySet", "AuthorizationQuerySet", "Client",
    "CLIENT_MODEL_SETTING", "ClientRegistration", "ClientRegistrationQuerySet", "ClientType", "Consent",
    "ConsentQuerySet", "DEFAULT_CLIENT_MODEL", "DeviceCode", "DeviceCodeQuerySet", "DeviceCodeStatus",
    "GrantType", "ImportedToken", "ImportedTokenKind", "ImportedTokenQuerySet", "InitialAccessToken",
    "InitialAccessTokenQuerySet", "LogoutDelivery",
    "LogoutDeliveryQuerySet", "LogoutReason", "PushedAuthorization", "PushedAuthorizationQuerySet", "RefreshToken",
    "RefreshTokenQuerySet", "SigningKey", "SigningKeyQuerySet", "TokenQuerySet", "client_model_label",
    "get_client_model",
]

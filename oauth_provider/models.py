"""Storage: clients, grants and tokens.

* ``Client`` is the only swappable model (``OAUTH_PROVIDER_CLIENT_MODEL``, like
  ``AUTH_USER_MODEL``); subclass :class:`AbstractClient` to add fields.
* An :class:`Authorization` is a token family: every code, access token and refresh token
  born of one grant points at it, so a replayed code or a reused refresh token revokes the
  whole family with one UPDATE (RFC 9700 §4.14.2, RFC 6749 §4.1.2).
* Codes, tokens and client secrets are stored only as SHA-256 hex digests
  (:mod:`oauth_provider.secrets`) under a unique index; the plaintext is never stored.
* One-time things are consumed by a conditional UPDATE whose row count decides the winner.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.apps import apps as django_apps
from django.conf import settings
from django.contrib.auth.hashers import check_password, identify_hasher
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from . import denylist, generators
from . import secrets as _secrets
from .redirect_uris import validate_redirect_uri

CLIENT_MODEL_SETTING = "OAUTH_PROVIDER_CLIENT_MODEL"
DEFAULT_CLIENT_MODEL = "oauth_provider.Client"


def client_model_label() -> str:
    """The ``app_label.ModelName`` of the client model in use."""
    return getattr(settings, CLIENT_MODEL_SETTING, DEFAULT_CLIENT_MODEL)


def get_client_model() -> Any:
    """The client model class in use (``OAUTH_PROVIDER_CLIENT_MODEL``)."""
    try:
        return django_apps.get_model(client_model_label(), require_ready=False)
    except (ValueError, LookupError) as exc:
        raise ImproperlyConfigured(
            f"{CLIENT_MODEL_SETTING} refers to {client_model_label()!r}, which is not an installed model."
        ) from exc


class ClientType(models.TextChoices):
    CONFIDENTIAL = "confidential", _("Confidential (can keep a secret: a server-side app)")
    PUBLIC = "public", _("Public (cannot keep a secret: SPA, mobile or desktop app)")


class AuthMethod(models.TextChoices):
    """token_endpoint_auth_method values (RFC 7591 §2)."""

    CLIENT_SECRET_BASIC = "client_secret_basic", _("HTTP Basic (client_secret_basic)")
    CLIENT_SECRET_POST = "client_secret_post", _("Form body (client_secret_post)")
    NONE = "none", _("None (public client)")


class AccessTokenFormat(models.TextChoices):
    OPAQUE = "opaque", _("Opaque (checked against the database)")
    JWT = "jwt", _("JWT (RFC 9068, verified without the database)")


class GrantType(models.TextChoices):
    AUTHORIZATION_CODE = "authorization_code", _("Authorization code (with PKCE)")
    REFRESH_TOKEN = "refresh_token", _("Refresh token")
    CLIENT_CREDENTIALS = "client_credentials", _("Client credentials")


def _words(value: str) -> list[str]:
    return value.split()


class AbstractClient(models.Model):
    """A registered OAuth client. Subclass it (and set ``OAUTH_PROVIDER_CLIENT_MODEL``) to
    add fields; the protocol code only relies on the fields and methods defined here."""

    client_id = models.CharField(
        _("client ID"), max_length=100, unique=True, default=generators.generate_client_id
    )
    client_secret_hash = models.CharField(
        _("client secret (hash)"), max_length=255, blank=True, editable=False,
        help_text=_("Only a hash is stored. The secret itself is shown once, when it is created."),
    )
    name = models.CharField(_("name"), max_length=255)
    client_type = models.CharField(
        _("client type"), max_length=32, choices=ClientType.choices, default=ClientType.CONFIDENTIAL
    )
    token_endpoint_auth_method = models.CharField(
        _("token endpoint authentication"), max_length=64, choices=AuthMethod.choices,
        default=AuthMethod.CLIENT_SECRET_BASIC,
    )
    redirect_uris = models.TextField(
        _("redirect URIs"), blank=True,
        help_text=_("One complete URI per line, matched exactly. https, or http on 127.0.0.1/[::1]/localhost."),
    )
    grant_types = models.CharField(
        _("grant types"), max_length=255, default="authorization_code refresh_token",
        help_text=_("Space-separated grant types the client may use."),
    )
    allowed_scopes = models.TextField(
        _("allowed scopes"), blank=True,
        help_text=_("Space-separated. Empty: every scope in OAUTH_PROVIDER['SCOPES']."),
    )
    skip_consent = models.BooleanField(
        _("skip consent"), default=False,
        help_text=_("A first-party client: users are never shown the consent page."),
    )
    is_resource_server = models.BooleanField(
        _("resource server"), default=False,
        help_text=_("May introspect tokens issued to other clients."),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="%(app_label)s_%(class)s_owned",
    )
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Inactive clients cannot obtain or use tokens.")
    )
    post_logout_redirect_uris = models.TextField(
        _("post-logout redirect URIs"), blank=True,
        help_text=_("One complete URI per line, where RP-initiated logout may send the user back."),
    )
    access_token_format = models.CharField(
        _("access token format"), max_length=16, blank=True, choices=AccessTokenFormat.choices,
        help_text=_("Empty: the site default (OAUTH_PROVIDER['ACCESS_TOKEN_FORMAT'])."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        abstract = True
        verbose_name = _("client")
        verbose_name_plural = _("clients")

    def __str__(self) -> str:
        return self.name or self.client_id

    # -- lists stored as text ------------------------------------------------------------
    @property
    def redirect_uri_list(self) -> list[str]:
        return _words(self.redirect_uris)

    @property
    def grant_type_list(self) -> list[str]:
        return _words(self.grant_types)

    @property
    def allowed_scope_tuple(self) -> tuple[str, ...] | None:
        """The client's scope allow-list, or None when it may ask for every registered scope."""
        words = _words(self.allowed_scopes)
        return tuple(words) if words else None

    @property
    def post_logout_redirect_uri_list(self) -> list[str]:
        return _words(self.post_logout_redirect_uris)

    @property
    def is_public(self) -> bool:
        return self.client_type == ClientType.PUBLIC

    def allows_grant(self, grant_type: str) -> bool:
        return grant_type in self.grant_type_list

    # -- secrets ---------------------------------------------------------------------------
    def set_secret(self, raw: str | None) -> None:
        """Store the hash of ``raw`` (None clears it, for public clients)."""
        self.client_secret_hash = _secrets.hash_token(raw) if raw else ""

    def generate_secret(self) -> str:
        """Give the client a fresh random secret; returns it (the only time it is seen)."""
        raw = _secrets.generate_token()
        self.set_secret(raw)
        return raw

    def check_secret(self, raw: str) -> bool:
        """Constant-time check of a presented secret.

        Secrets made here are SHA-256 digests. A secret migrated from django-oauth-toolkit as
        a Django password hash (``pbkdf2_sha256$...``) is verified once with Django's hashers
        and then re-stored as a digest, so later checks are fast.
        """
        stored = self.client_secret_hash
        if not stored:
            return False
        if "$" not in stored:
            return _secrets.constant_time_equals(_secrets.hash_token(raw), stored)
        try:
            identify_hasher(stored)
        except ValueError:
            return False
        try:
            matched = check_password(raw, stored)
        except ValueError:  # a corrupted stored hash: refuse, never a 500
            return False
        if not matched:
            return False
        self.set_secret(raw)
        type(self)._default_manager.filter(pk=self.pk).update(client_secret_hash=self.client_secret_hash)
        return True

    # -- validation ------------------------------------------------------------------------
    def clean(self) -> None:
        errors: dict[str, list[Any]] = {}
        public = self.client_type == ClientType.PUBLIC
        for uri in self.redirect_uri_list:
            try:
                validate_redirect_uri(uri, public=public)
            except ValidationError as exc:
                errors.setdefault("redirect_uris", []).extend(exc.messages)
        for uri in self.post_logout_redirect_uri_list:
            try:
                validate_redirect_uri(uri, public=public)
            except ValidationError as exc:
                errors.setdefault("post_logout_redirect_uris", []).extend(exc.messages)
        grants = self.grant_type_list
        unknown = [g for g in grants if g not in GrantType.values]
        if unknown:
            errors.setdefault("grant_types", []).append(
                _("Unknown grant type: %(g)s") % {"g": " ".join(unknown)}
            )
        if not grants:
            errors.setdefault("grant_types", []).append(_("Choose at least one grant type."))
        if GrantType.AUTHORIZATION_CODE in grants and not self.redirect_uri_list:
            errors.setdefault("redirect_uris", []).append(
                _("The authorization_code grant needs at least one redirect URI.")
            )
        if public and GrantType.CLIENT_CREDENTIALS in grants:
            errors.setdefault("grant_types", []).append(
                _("client_credentials needs a confidential client (OAuth 2.1 §4.2).")
            )
        if public and self.token_endpoint_auth_method != AuthMethod.NONE:
            errors.setdefault("token_endpoint_auth_method", []).append(
                _("A public client authenticates with 'none'.")
            )
        if not public and self.token_endpoint_auth_method == AuthMethod.NONE:
            errors.setdefault("token_endpoint_auth_method", []).append(
                _("A confidential client must authenticate with its secret.")
            )
        if errors:
            raise ValidationError(errors)


class Client(AbstractClient):
    class Meta(AbstractClient.Meta):
        swappable = CLIENT_MODEL_SETTING


class AuthorizationQuerySet(models.QuerySet["Authorization"]):
    def revoke(self, when: datetime | None = None) -> int:
        """Revoke every family in the queryset (and so every token of each); their live JWT
        access tokens go on the denylist when it is enabled."""
        when = when or _secrets.now()
        if denylist.enabled():
            denylist.add(
                AccessToken.objects.filter(authorization__in=self, revoked_at__isnull=True, expires_at__gt=when)
                .values_list("token_hash", "expires_at")
            )
        return self.filter(revoked_at__isnull=True).update(revoked_at=when)


class Authorization(models.Model):
    """One grant by a user (or a client acting for itself) to a client: the family its
    codes and tokens belong to. Revoking it revokes them all at once."""

    client = models.ForeignKey(client_model_label(), on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
        related_name="oauth_authorizations",
    )
    scope = models.TextField(_("scope"), blank=True)
    created_at = models.DateTimeField(_("created"), default=_secrets.now)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    auth_time = models.DateTimeField(
        _("authenticated at"), null=True, blank=True,
        help_text=_("When the user logged in before granting (OIDC auth_time)."),
    )
    session_id = models.CharField(_("session ID"), max_length=64, blank=True, help_text=_("OIDC sid."))
    claims = models.JSONField(_("requested claims"), null=True, blank=True)
    auth_context = models.JSONField(
        _("authentication context"), null=True, blank=True, help_text=_("acr/amr of the login (OIDC).")
    )

    objects = AuthorizationQuerySet.as_manager()

    class Meta:
        verbose_name = _("authorization")
        verbose_name_plural = _("authorizations")

    def __str__(self) -> str:
        return f"{self.client_id} / {self.user_id or '-'}: {self.scope}"


class TokenQuerySet(models.QuerySet[Any]):
    def by_value(self, raw: str) -> TokenQuerySet:
        """Rows whose stored hash is the hash of ``raw`` (at most one: unique index)."""
        return self.filter(**{self.model.HASH_FIELD: _secrets.hash_token(raw)})

    def expired(self, when: datetime | None = None) -> TokenQuerySet:
        return self.filter(expires_at__lte=when or _secrets.now())

    def revoke(self, when: datetime | None = None) -> int:
        """Revoke the rows not revoked yet; returns how many. Live JWT access tokens among
        them go on the denylist when it is enabled."""
        when = when or _secrets.now()
        pending = self.filter(revoked_at__isnull=True)
        if self.model is AccessToken and denylist.enabled():
            denylist.add(pending.filter(expires_at__gt=when).values_list("token_hash", "expires_at"))
        return pending.update(revoked_at=when)


class AuthorizationCode(models.Model):
    """An authorization code (RFC 6749 §4.1.2), single use, short-lived, PKCE-bound."""

    HASH_FIELD = "code_hash"

    code_hash = models.CharField(max_length=64, unique=True, editable=False)
    authorization = models.ForeignKey(Authorization, on_delete=models.CASCADE, related_name="codes")
    redirect_uri = models.TextField(
        blank=True, help_text=_("The redirect_uri sent with the request; empty if it was omitted.")
    )
    code_challenge = models.CharField(max_length=128)
    code_challenge_method = models.CharField(max_length=10, default="S256")
    nonce = models.TextField(blank=True)
    created_at = models.DateTimeField(default=_secrets.now)
    expires_at = models.DateTimeField(db_index=True)
    consumed_at = models.DateTimeField(null=True, blank=True)

    objects = TokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("authorization code")
        verbose_name_plural = _("authorization codes")

    def __str__(self) -> str:
        return f"code {self.code_hash[:8]}…"


class AccessToken(models.Model):
    """An opaque bearer access token (RFC 6750)."""

    HASH_FIELD = "token_hash"

    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    client = models.ForeignKey(client_model_label(), on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
        related_name="oauth_access_tokens",
    )
    authorization = models.ForeignKey(
        Authorization, null=True, blank=True, on_delete=models.CASCADE, related_name="access_tokens"
    )
    scope = models.TextField(blank=True)
    created_at = models.DateTimeField(default=_secrets.now)
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = TokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("access token")
        verbose_name_plural = _("access tokens")

    def __str__(self) -> str:
        return f"access token {self.token_hash[:8]}…"

    def is_active(self, when: datetime | None = None) -> bool:
        when = when or _secrets.now()
        family = self.authorization if self.authorization_id is not None else None
        family_revoked = family is not None and family.revoked_at is not None
        return self.revoked_at is None and not family_revoked and self.expires_at > when


class RefreshToken(models.Model):
    """A refresh token, rotated on every use (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2)."""

    HASH_FIELD = "token_hash"

    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    authorization = models.ForeignKey(Authorization, on_delete=models.CASCADE, related_name="refresh_tokens")
    scope = models.TextField(blank=True)
    created_at = models.DateTimeField(default=_secrets.now)
    expires_at = models.DateTimeField(db_index=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = TokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("refresh token")
        verbose_name_plural = _("refresh tokens")

    def __str__(self) -> str:
        return f"refresh token {self.token_hash[:8]}…"


class Consent(models.Model):
    """The scopes a user has granted a client, remembered so the consent page is not shown
    again for the same or fewer scopes."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oauth_consents")
    client = models.ForeignKey(client_model_label(), on_delete=models.CASCADE, related_name="+")
    scope = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        constraints = [models.UniqueConstraint(fields=["user", "client"], name="oauth_provider_consent_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} -> {self.client_id}: {self.scope}"

    def covers(self, scopes: tuple[str, ...]) -> bool:
        return set(scopes) <= set(self.scope.split())


class SigningKeyQuerySet(models.QuerySet["SigningKey"]):
    def signing(self, when: datetime) -> SigningKeyQuerySet:
        """Keys allowed to sign at ``when``."""
        return self.filter(not_before__lte=when).filter(Q(retired_at__isnull=True) | Q(retired_at__gt=when))

    def published(self, when: datetime) -> SigningKeyQuerySet:
        """Keys in the JWKS at ``when``: next, active, and retired ones whose tokens may live on."""
        from .keys import publication_window

        return self.filter(Q(retired_at__isnull=True) | Q(retired_at__gt=when - publication_window()))


class SigningKey(models.Model):
    """A key that signs ID tokens and JWT access tokens. The private key is encrypted at rest
    (:mod:`oauth_provider.keys`); the state follows from ``not_before`` and ``retired_at``."""

    kid = models.CharField(_("key ID"), max_length=128, unique=True, editable=False)
    algorithm = models.CharField(
        _("algorithm"), max_length=10,
        choices=[("RS256", "RS256"), ("ES256", "ES256"), ("EdDSA", "EdDSA")], default="RS256",
    )
    private_key = models.TextField(_("private key (encrypted)"), editable=False)
    public_jwk = models.JSONField(_("public JWK"), editable=False)
    created_at = models.DateTimeField(_("created"), default=_secrets.now)
    not_before = models.DateTimeField(_("signs from"), db_index=True)
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True)

    objects = SigningKeyQuerySet.as_manager()

    class Meta:
        verbose_name = _("signing key")
        verbose_name_plural = _("signing keys")
        ordering = ["-not_before"]

    def __str__(self) -> str:
        return f"{self.algorithm} {self.kid[:12]}… ({self.state})"

    @property
    def state(self) -> str:
        """``next``, ``active`` or ``retired`` now."""
        now = _secrets.now()
        if self.retired_at is not None and self.retired_at <= now:
            return "retired"
        return "next" if self.not_before > now else "active"


__all__ = [
    "AbstractClient", "AccessToken", "AuthMethod", "Authorization", "AuthorizationCode", "Client",
    "ClientType", "Consent", "GrantType", "RefreshToken", "SigningKey", "get_client_model",
]

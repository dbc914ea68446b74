"""Grants and what they produce: the token family (:class:`Authorization`), codes, access and
refresh tokens, and remembered consent. Values are stored only as SHA-256 digests; one-time
things are consumed by conditional UPDATEs; revoking a family revokes every token born of it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .. import denylist
from .. import secrets as _secrets
from .clients import client_model_label


class AuthorizationQuerySet(models.QuerySet["Authorization"]):
    def revoke(self, when: datetime | None = None) -> int:
        """Revoke every family in the queryset (and so every token of each); their live JWT
        access tokens go on the denylist when it is enabled."""
        when = when or _secrets.now()
        live: list[tuple[str, datetime]] = []
        if denylist.enabled():
            live = list(
                AccessToken.objects.filter(authorization__in=self, revoked_at__isnull=True, expires_at__gt=when)
                .values_list("token_hash", "expires_at")
            )
        count = self.filter(revoked_at__isnull=True).update(revoked_at=when)
        denylist.add(live)  # after the UPDATE: a cache failure can never undo the revocation
        return count


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
        live: list[tuple[str, datetime]] = []
        if self.model is AccessToken and denylist.enabled():
            live = list(pending.filter(expires_at__gt=when).values_list("token_hash", "expires_at"))
        count = pending.update(revoked_at=when)
        denylist.add(live)  # after the UPDATE: a cache failure can never undo the revocation
        return count


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
    """A bearer access token (RFC 6750): opaque, or an RFC 9068 JWT whose digest is stored here
    so introspection, revocation and family revocation see it like any other."""

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

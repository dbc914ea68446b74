"""Signing keys and the rules of their state: which keys sign and which are published at a
given time (see :mod:`oauth_provider.keys` for their generation, encryption and caching)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .. import secrets as _secrets
from ..conf import provider_settings


def publication_window() -> timedelta:
    """How long a retired key stays published: the longest lifetime of anything it signed
    (RFC 7517 §5: a verifier must find the key of every token still in circulation)."""
    return timedelta(seconds=max(provider_settings.ID_TOKEN_LIFETIME, provider_settings.ACCESS_TOKEN_LIFETIME))


class SigningKeyQuerySet(models.QuerySet["SigningKey"]):
    def signing(self, when: datetime) -> SigningKeyQuerySet:
        """Keys allowed to sign at ``when``."""
        return self.filter(not_before__lte=when).filter(Q(retired_at__isnull=True) | Q(retired_at__gt=when))

    def published(self, when: datetime) -> SigningKeyQuerySet:
        """Keys in the JWKS at ``when``: next, active, and retired ones whose tokens may live on."""
        return self.filter(Q(retired_at__isnull=True) | Q(retired_at__gt=when - publication_window()))

    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete, and have every worker drop the keys within a second (as a rotation does)."""
        result = super().delete()
        _announce_on_commit()
        return result


def _announce_on_commit() -> None:
    from django.db import transaction

    from ..keys import announce_change

    transaction.on_commit(announce_change)


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

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        result = super().delete(*args, **kwargs)
        _announce_on_commit()
        return result

    @property
    def state(self) -> str:
        """``next``, ``active`` or ``retired`` now."""
        now = _secrets.now()
        if self.retired_at is not None and self.retired_at <= now:
            return "retired"
        return "next" if self.not_before > now else "active"

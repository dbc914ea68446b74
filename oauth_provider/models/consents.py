"""Remembered consent: what a user told the consent page to remember for a client.

A :class:`Consent` row stands in for the consent page while it covers the scopes a client
asks for. It holds exactly the user's last word (OAuth 2.1 §7.6.3, RFC 6819 §5.2.4.1: the
user must stay in control of what is granted silently):

* :meth:`ConsentQuerySet.remember` after an approval with "remember" ticked: the scopes the
  user granted are added, and every scope the request asked for but the user unticked is
  removed, so a declined scope never comes back silently;
* :meth:`ConsentQuerySet.forget` after an approval with "remember" unticked, or a denial:
  nothing is granted silently any more;
* :meth:`ConsentQuerySet.revoke_client` from the connected-apps page: the consent goes, and
  every grant and token the client holds for the user is revoked in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from .. import secrets as _secrets
from .clients import client_model_label
from .tokens import AccessToken, Authorization

if TYPE_CHECKING:
    from .clients import AbstractClient


def _join(scopes: Iterable[str]) -> str:
    return " ".join(dict.fromkeys(scopes))


class ConsentQuerySet(models.QuerySet["Consent"]):
    def remember(self, user: Any, client: AbstractClient, granted: Iterable[str],
                 declined: Iterable[str] = (), current: Consent | None = None) -> Consent:
        """Store the user's decision: ``granted`` added, ``declined`` (asked for, unticked)
        removed. ``current`` is the row already read for this user and client, if any: it
        spares a query on the approval path."""
        granted, declined = tuple(granted), set(declined)
        consent, created = current, False
        if consent is None:
            consent, created = self.get_or_create(user=user, client_id=client.pk, defaults={"scope": _join(granted)})
        if created:
            return consent
        scope = _join(s for s in (*consent.scope.split(), *granted) if s not in declined)
        if scope != consent.scope:
            consent.scope = scope
            consent.save(update_fields=["scope", "updated_at"])
        return consent

    def forget(self, user: Any, client: AbstractClient) -> int:
        """Delete the remembered decision, if any; returns how many rows went (0 or 1)."""
        deleted, _per_model = self.filter(user=user, client_id=client.pk).delete()
        return deleted

    def revoke_client(self, user: Any, client: AbstractClient, now: datetime | None = None) -> None:
        """The user withdraws ``client`` entirely: the consent is forgotten and every grant
        (token family) and access token the client holds for the user is revoked, in one
        transaction, so its tokens stop working at once (RFC 7009 §2.1's cascade)."""
        now = now or _secrets.now()
        with transaction.atomic():
            self.forget(user, client)
            Authorization.objects.filter(user=user, client=client).revoke(now)
            AccessToken.objects.filter(user=user, client=client).revoke(now)


class Consent(models.Model):
    """The scopes a user has granted a client, remembered so the consent page is not shown
    again for the same or fewer scopes."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oauth_consents")
    client = models.ForeignKey(client_model_label(), on_delete=models.CASCADE, related_name="+")
    scope = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ConsentQuerySet.as_manager()

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        constraints = [models.UniqueConstraint(fields=["user", "client"], name="oauth_provider_consent_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} -> {self.client_id}: {self.scope}"

    def covers(self, scopes: Iterable[str]) -> bool:
        """Does the remembered decision include every scope in ``scopes``?"""
        return set(scopes) <= set(self.scope.split())

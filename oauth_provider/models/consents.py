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

:func:`connected_apps` is what that page lists: every client a user has authorized.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Max
from django.utils.translation import gettext_lazy as _

from .. import scopes
from .. import secrets as _secrets
from .clients import AbstractClient, client_model_label, get_client_model
from .tokens import AccessToken, Authorization


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

    def forget_everyone(self, client: AbstractClient) -> int:
        """Forget every user's remembered decision for ``client`` (its redirect URIs changed:
        each user sees the consent page again before a code goes to the new address)."""
        deleted, _per_model = self.filter(client_id=client.pk).delete()
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


@dataclass
class ConnectedApp:
    """One row of the page."""

    client: AbstractClient
    scopes: list[tuple[str, str]] = field(default_factory=list)
    granted_at: datetime | None = None
    last_token_at: datetime | None = None


def connected_apps(user: Any, now: datetime | None = None) -> list[ConnectedApp]:
    """The clients ``user`` has authorized, most recently used first: those with a remembered
    consent, a live access token or a family holding a live refresh token (the connected-apps
    page). Each with its scopes described, when access was first granted and when a token was
    last issued."""
    now = now or _secrets.now()
    apps: dict[Any, ConnectedApp] = {}
    granted: dict[Any, set[str]] = {}
    for consent in Consent.objects.filter(user=user).select_related("client"):
        apps[consent.client_id] = ConnectedApp(consent.client, granted_at=consent.created_at)
        granted[consent.client_id] = set(consent.scope.split())
    live = list(AccessToken.objects.filter(user=user).live(now).values_list("client_id", "scope", "created_at"))
    live += list(
        Authorization.objects.filter(user=user).holding_tokens(now).values_list("client_id", "scope", "created_at")
    )
    missing = {client_pk for client_pk, _, _ in live} - set(apps)
    for client in get_client_model()._default_manager.filter(pk__in=missing):
        apps[client.pk] = ConnectedApp(client)
    for client_pk, scope, created_at in live:
        app = apps[client_pk]
        granted.setdefault(client_pk, set()).update(scope.split())
        if app.granted_at is None or created_at < app.granted_at:
            app.granted_at = created_at
    last_issued = (
        AccessToken.objects.filter(user=user, client_id__in=list(apps))
        .values("client_id").annotate(last=Max("created_at")).values_list("client_id", "last")
    )
    for client_pk, last in last_issued:
        apps[client_pk].last_token_at = last
    known = scopes.registered()
    for client_pk, app in apps.items():
        ordered = [s for s in known if s in granted[client_pk]]
        ordered += sorted(granted[client_pk] - set(known))
        app.scopes = scopes.describe(ordered)
    epoch = datetime.min.replace(tzinfo=now.tzinfo)
    return sorted(apps.values(), key=lambda a: a.last_token_at or a.granted_at or epoch, reverse=True)

"""Back-channel logout deliveries waiting to be sent, sent, or given up on (OpenID Connect
Back-Channel Logout 1.0 §2.5, §2.8).

A :class:`LogoutDelivery` row is written when a user's session at the provider ends (or the
user withdraws a client) for every client that registered a ``backchannel_logout_uri`` and
holds a grant of that session. It keeps what is needed to build the logout token again at
each attempt (issuer, subject, sid) rather than the token itself: a logout token lives two
minutes, a retry may come hours later.

Its state, all decided here:

* **pending**: neither delivered nor failed; due once ``next_attempt_at`` has passed.
* **delivered**: the client answered 200 or 204 (§2.8).
* **failed**: the client answered with a non-recoverable error (§2.8: 400 and the like), or the
  attempts ran out. Failed deliveries are kept for the admin and ``cleartokens`` removes them.

A worker **claims** a due row with one conditional UPDATE (``attempts + 1`` and
``next_attempt_at`` moved past the attempt), so two workers (the background thread and
``sendlogouts``) never send the same row at once; a worker that dies mid-attempt leaves the
row due again once that lease has passed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from .. import secrets as _secrets
from .clients import client_model_label

#: how long finished deliveries stay listed in the admin before ``cleartokens`` removes them
KEEP_FINISHED = timedelta(days=7)


class LogoutReason(models.TextChoices):
    LOGOUT = "logout", _("user logged out")
    REVOKED = "revoked", _("user revoked the client")


class LogoutDeliveryQuerySet(models.QuerySet["LogoutDelivery"]):
    def pending(self) -> LogoutDeliveryQuerySet:
        """Neither delivered nor given up on."""
        return self.filter(delivered_at__isnull=True, failed_at__isnull=True)

    def due(self, now: datetime | None = None) -> LogoutDeliveryQuerySet:
        """Pending and whose next attempt time has come."""
        return self.pending().filter(next_attempt_at__lte=now or _secrets.now())

    def dead(self, now: datetime | None = None) -> LogoutDeliveryQuerySet:
        """Finished (delivered or failed) more than :data:`KEEP_FINISHED` ago: what
        ``cleartokens`` deletes."""
        cutoff = (now or _secrets.now()) - KEEP_FINISHED
        return self.filter(Q(delivered_at__lte=cutoff) | Q(failed_at__lte=cutoff))

    def claim(self, pk: Any, now: datetime, lease: timedelta) -> bool:
        """Take the due row ``pk`` for one attempt; True for the one worker that wins."""
        return bool(self.due(now).filter(pk=pk).update(attempts=F("attempts") + 1, next_attempt_at=now + lease))


class LogoutDelivery(models.Model):
    """One logout token to POST to one client's ``backchannel_logout_uri``."""

    client = models.ForeignKey(client_model_label(), on_delete=models.CASCADE, related_name="+",
                               verbose_name=_("client"))
    issuer = models.CharField(_("issuer"), max_length=255)
    subject = models.CharField(_("subject"), max_length=255, help_text=_("The logout token's sub."))
    session_id = models.CharField(_("session ID"), max_length=64, blank=True, help_text=_("The logout token's sid."))
    reason = models.CharField(_("reason"), max_length=16, choices=LogoutReason.choices, default=LogoutReason.LOGOUT)
    created_at = models.DateTimeField(_("created"), default=_secrets.now)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True, db_index=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    failed_at = models.DateTimeField(_("given up"), null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(_("last HTTP status"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    objects = LogoutDeliveryQuerySet.as_manager()

    class Meta:
        verbose_name = _("back-channel logout delivery")
        verbose_name_plural = _("back-channel logout deliveries")

    def __str__(self) -> str:
        return f"{self.client_id} / {self.subject}"

    @property
    def state(self) -> str:
        """``"delivered"``, ``"failed"`` or ``"pending"``."""
        if self.delivered_at is not None:
            return "delivered"
        if self.failed_at is not None:
            return "failed"
        return "pending"

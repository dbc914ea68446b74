"""Device authorization state (RFC 8628): one :class:`DeviceCode` row per device flow.

A row is born *pending* at the device authorization endpoint (§3.1-3.2). The first user who
enters its user code on the verification page *claims* it (``user`` set, §3.3); only that
user may then approve or deny it (*approved* / *denied*); the device's poll that finds it
approved *consumes* it and gets the tokens (§3.4-3.5). Every change of state is one
conditional UPDATE whose row count decides the winner, so two users cannot both claim a code,
a decision cannot be taken twice, and of parallel polls exactly one redeems the approval.

* ``device_code`` is 256-bit randomness, stored only as its SHA-256 digest (like every token).
* ``user_code`` has 43 bits (:data:`oauth_provider.secrets.USER_CODE_LENGTH`): a plain
  digest of it could be reversed by trying every code, so it is stored as an HMAC keyed from
  ``SECRET_KEY`` (:func:`oauth_provider.secrets.user_code_digest`). A read of the database
  alone (a backup, an injection) then shows no code a reader could enter to claim a pending
  device. The digest is unique among all rows, so a live code is never issued twice.
* Polling (§3.5): a poll of a pending code that respects the interval is one UPDATE
  (:meth:`DeviceCodeQuerySet.poll`), which also records the poll time; anything else is
  looked at in a second statement to say why.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import DateTimeField, ExpressionWrapper, F, Q, Value
from django.utils.translation import gettext_lazy as _

from .. import secrets as _secrets
from .clients import client_model_label

#: RFC 8628 §3.5: each slow_down adds this to the interval, for good
SLOW_DOWN_STEP = timedelta(seconds=5)

#: what :meth:`DeviceCode.state` reports; the grant words the error (RFC 8628 §3.5)
PENDING = "pending"
APPROVED = "approved"
DENIED = "denied"
CONSUMED = "consumed"
EXPIRED = "expired"


class DeviceCodeStatus(models.TextChoices):
    PENDING = PENDING, _("Pending")
    APPROVED = APPROVED, _("Approved")
    DENIED = DENIED, _("Denied")
    CONSUMED = CONSUMED, _("Redeemed")


class DeviceCodeQuerySet(models.QuerySet["DeviceCode"]):
    def by_device_code(self, raw: str) -> DeviceCodeQuerySet:
        """The row (at most one: unique index) whose device_code is ``raw``."""
        return self.filter(device_code_hash=_secrets.hash_token(raw))

    def by_user_code(self, normalized: str) -> DeviceCodeQuerySet:
        """The row (at most one) whose user code is ``normalized``
        (:func:`oauth_provider.secrets.normalize_user_code`)."""
        return self.filter(user_code_hash=_secrets.user_code_digest(normalized))

    def live(self, now: datetime | None = None) -> DeviceCodeQuerySet:
        """Codes that may still yield tokens: unexpired, pending or approved, client active."""
        now = now or _secrets.now()
        return self.filter(expires_at__gt=now, status__in=(PENDING, APPROVED), client__is_active=True)

    def pending(self, now: datetime | None = None) -> DeviceCodeQuerySet:
        now = now or _secrets.now()
        return self.filter(expires_at__gt=now, status=PENDING)

    def dead(self, now: datetime | None = None) -> DeviceCodeQuerySet:
        """Expired codes, whatever their state. A redeemed or denied code stays until then, so
        a late poll is still told what became of it (``invalid_grant``, ``access_denied``)."""
        return self.filter(expires_at__lte=now or _secrets.now())

    def poll(self, raw: str, client_pk: Any, now: datetime) -> bool:
        """A poll by the client ``client_pk`` of the pending, unexpired device code ``raw``
        that waited at least the interval since the previous poll: record it and return
        True (the answer is ``authorization_pending``). One UPDATE; False means anything else,
        which :meth:`DeviceCode.state` and :meth:`DeviceCode.too_soon` explain."""
        waited = ExpressionWrapper(Value(now) - F("interval"), output_field=DateTimeField())
        return self.by_device_code(raw).filter(
            Q(last_polled_at__isnull=True) | Q(last_polled_at__lte=waited),
            client=client_pk, status=PENDING, expires_at__gt=now,
        ).update(last_polled_at=now) == 1


class DeviceCode(models.Model):
    """One device authorization request (RFC 8628 §3.1) and what became of it."""

    HASH_FIELD = "device_code_hash"

    device_code_hash = models.CharField(max_length=64, unique=True, editable=False)
    user_code_hash = models.CharField(max_length=64, unique=True, editable=False)
    client = models.ForeignKey(client_model_label(), on_delete=models.CASCADE, related_name="+",
                               verbose_name=_("client"))
    scope = models.TextField(_("scope"), blank=True)
    resources = models.TextField(
        _("resources"), blank=True, default="",
        help_text=_("The resources the device asked for (RFC 8707), space-separated; empty: the default resource."),
    )
    status = models.CharField(_("status"), max_length=16, choices=DeviceCodeStatus.choices,
                              default=DeviceCodeStatus.PENDING)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
        related_name="oauth_device_codes", verbose_name=_("user"),
        help_text=_("The user who entered the user code: the only one who may approve it."),
    )
    auth_time = models.DateTimeField(_("authenticated at"), null=True, blank=True)
    interval = models.DurationField(_("polling interval"), default=timedelta(seconds=5))
    last_polled_at = models.DateTimeField(_("last polled"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=_secrets.now)
    expires_at = models.DateTimeField(_("expires"), db_index=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    consumed_at = models.DateTimeField(_("redeemed"), null=True, blank=True)

    objects = DeviceCodeQuerySet.as_manager()

    class Meta:
        verbose_name = _("device code")
        verbose_name_plural = _("device codes")

    def __str__(self) -> str:
        return f"device code {self.device_code_hash[:8]}…"

    # -- state ------------------------------------------------------------------------------
    def state(self, now: datetime | None = None) -> str:
        """What this row is now, in the order a poll must report it: redeemed
        (``invalid_grant``), expired (``expired_token``), denied (``access_denied``),
        approved, pending (RFC 8628 §3.5)."""
        if self.status == CONSUMED:
            return CONSUMED
        if self.expires_at <= (now or _secrets.now()):
            return EXPIRED
        return str(self.status)

    def is_live(self, now: datetime | None = None) -> bool:
        return self.state(now) in (PENDING, APPROVED)

    def too_soon(self, now: datetime) -> bool:
        """Polled before the interval since the last poll passed (RFC 8628 §3.5 slow_down)."""
        return self.last_polled_at is not None and now < self.last_polled_at + self.interval

    @property
    def interval_seconds(self) -> int:
        return int(self.interval.total_seconds())

    def claimed_by_other(self, user: Any) -> bool:
        return self.user_id is not None and self.user_id != user.pk

    # -- the conditional UPDATEs ------------------------------------------------------------
    def _pending_row(self, now: datetime) -> DeviceCodeQuerySet:
        return DeviceCode.objects.filter(pk=self.pk, status=PENDING, expires_at__gt=now)

    def claim(self, user: Any, now: datetime | None = None) -> bool:
        """Bind the pending code to ``user``, who entered it, unless another user did first
        (RFC 8628 §5.5; django-oauth-toolkit GHSA-cfrv-vfcq-245m). True if it is now theirs."""
        now = now or _secrets.now()
        won = self._pending_row(now).filter(Q(user__isnull=True) | Q(user=user.pk)).update(user=user.pk) == 1
        if won:
            self.user = user
        return won

    def decide(self, user: Any, scope: str | None, *, auth_time: datetime | None = None,
               now: datetime | None = None) -> bool:
        """Approve (``scope``: what the user granted) or deny (``scope`` None) the pending code
        that ``user`` claimed. True for the one decision that is taken."""
        now = now or _secrets.now()
        changes: dict[str, Any] = {"decided_at": now}
        if scope is None:
            changes["status"] = DENIED
        else:
            changes.update(status=APPROVED, scope=scope, auth_time=auth_time)
        won = self._pending_row(now).filter(user=user.pk).update(**changes) == 1
        if won:
            for name, value in changes.items():
                setattr(self, name, value)
        return won

    def consume(self, now: datetime | None = None) -> bool:
        """Redeem the approval: True for the one poll that does (RFC 8628 §3.5; of parallel
        polls only one flips the status)."""
        now = now or _secrets.now()
        return DeviceCode.objects.filter(pk=self.pk, status=APPROVED, expires_at__gt=now).update(
            status=CONSUMED, consumed_at=now) == 1

    def slow_down(self, now: datetime, longest: timedelta) -> timedelta:
        """Raise the interval by 5 seconds for this and all later polls (RFC 8628 §3.5),
        never past ``longest``, and count this poll as the last one; returns the new interval."""
        interval = min(self.interval + SLOW_DOWN_STEP, max(longest, self.interval))
        DeviceCode.objects.filter(pk=self.pk).update(interval=interval, last_polled_at=now)
        self.interval, self.last_polled_at = interval, now
        return interval

"""Pushed authorization requests (RFC 9126): one :class:`PushedAuthorization` row per push.

The PAR endpoint validates a client's authorization request and stores its parameters here;
the client gets back a ``request_uri`` (``urn:ietf:params:oauth:request_uri:<random>``) that
the browser carries to the authorization endpoint instead of the parameters.

* The random part of the ``request_uri`` has 256 bits (RFC 9126 §2.2 and RFC 9101 §10.2 ask
  for enough entropy that it cannot be guessed) and is stored only as its SHA-256 digest
  under a unique index, like every other one-time secret: a database read shows no usable
  ``request_uri``.
* A row belongs to the client that pushed it; only that client's ``client_id`` finds it
  (:meth:`PushedAuthorizationQuerySet.usable`).
* It is single use (RFC 9126 §4) and spent when the authorization *completes* (approval, or a
  remembered consent), not when the consent page is shown (FAPI 2.0 §5.3.2.2 note 3: the user
  may reload the page): one conditional UPDATE (:meth:`PushedAuthorizationQuerySet.consume`)
  whose row count decides the winner, so of two parallel approvals exactly one gets a code.
* ``cleartokens`` deletes expired rows, spent or not (:meth:`PushedAuthorizationQuerySet.dead`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from .. import secrets as _secrets
from .clients import client_model_label

#: RFC 9126 §2.2: the ``request_uri`` prefix (the URN namespace RFC 9126 §7.1 registers)
REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"


class PushedAuthorizationQuerySet(models.QuerySet["PushedAuthorization"]):
    def by_request_uri(self, request_uri: str) -> PushedAuthorizationQuerySet:
        """The row (at most one: unique index) whose ``request_uri`` is exactly ``request_uri``."""
        return self.filter(request_uri_hash=_secrets.hash_token(request_uri))

    def usable(self, request_uri: str, client_pk: Any, now: datetime | None = None) -> PushedAuthorizationQuerySet:
        """The row of ``request_uri`` if ``client_pk`` pushed it, it is unexpired and not spent."""
        now = now or _secrets.now()
        return self.by_request_uri(request_uri).filter(client=client_pk, expires_at__gt=now,
                                                       consumed_at__isnull=True)

    def consume(self, pk: Any, now: datetime | None = None) -> bool:
        """Spend the row ``pk`` if it is still unexpired and unspent: one conditional UPDATE;
        True for the one caller that spent it, False for every other (RFC 9126 §4)."""
        now = now or _secrets.now()
        return self.filter(pk=pk, consumed_at__isnull=True, expires_at__gt=now).update(consumed_at=now) == 1

    def dead(self, now: datetime | None = None) -> PushedAuthorizationQuerySet:
        """Rows past their expiry, spent or not: they can never be used again."""
        return self.filter(expires_at__lte=now or _secrets.now())


class PushedAuthorization(models.Model):
    """An authorization request pushed to the PAR endpoint (RFC 9126 §2), validated, waiting for
    the browser to bring its ``request_uri`` to the authorization endpoint."""

    HASH_FIELD = "request_uri_hash"

    request_uri_hash = models.CharField(max_length=64, unique=True, editable=False)
    client = models.ForeignKey(client_model_label(), on_delete=models.CASCADE, related_name="+",
                               verbose_name=_("client"))
    parameters = models.JSONField(
        _("parameters"), default=dict,
        help_text=_("The validated authorization request parameters the client pushed."),
    )
    created_at = models.DateTimeField(_("pushed"), default=_secrets.now)
    expires_at = models.DateTimeField(_("expires"), db_index=True)
    consumed_at = models.DateTimeField(_("used"), null=True, blank=True)

    objects = PushedAuthorizationQuerySet.as_manager()

    class Meta:
        verbose_name = _("pushed authorization request")
        verbose_name_plural = _("pushed authorization requests")

    def __str__(self) -> str:
        return f"pushed request {self.request_uri_hash[:8]}…"

    def is_live(self, now: datetime | None = None) -> bool:
        return self.consumed_at is None and self.expires_at > (now or _secrets.now())

"""Dynamic client registration state (RFC 7591, RFC 7592): initial access tokens and the
registration access token of each dynamically registered client.

* An :class:`InitialAccessToken` (RFC 7591 §3, "token" mode) is made by
  ``manage.py createregistrationtoken``; it may expire and may be good for a limited number
  of registrations, each consumed by a conditional UPDATE (two registrations racing for the
  last use cannot both win).
* A :class:`ClientRegistration` ties a client registered at the endpoint to the hash of its
  registration access token (RFC 7592 §1.2: a bearer credential for that client's
  configuration endpoint and nothing else). The token is replaced on every update (§2.2 allows
  a new one; an old copy stops working at once) and the row goes when the client is deleted.

Both tokens are 256-bit random values stored only as SHA-256 hex digests under a unique index
(RFC 7592 §5, RFC 6819 §5.1.4.1.3): the plaintext is shown once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .. import secrets as _secrets
from .clients import AbstractClient, client_model_label


class InitialAccessTokenQuerySet(models.QuerySet["InitialAccessToken"]):
    def usable(self, now: datetime | None = None) -> InitialAccessTokenQuerySet:
        """Tokens that may authorize a registration now: not revoked, not expired, uses left."""
        now = now or _secrets.now()
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        ).filter(Q(uses_left__isnull=True) | Q(uses_left__gt=0))

    def create_token(self, *, expires_in: int | None = None, uses: int | None = None,
                     description: str = "", created_by: Any = None) -> tuple[InitialAccessToken, str]:
        """A new token; returns the row and the plaintext (the only time it exists)."""
        raw = _secrets.generate_token()
        expires_at = _secrets.now() + timedelta(seconds=expires_in) if expires_in else None
        row = self.create(token_hash=_secrets.hash_token(raw), expires_at=expires_at, uses_left=uses,
                          description=description, created_by=created_by)
        return row, raw

    def revoke(self, now: datetime | None = None) -> int:
        """Revoke these tokens; one already revoked keeps the time it was revoked at. Returns
        how many were revoked now."""
        return self.filter(revoked_at__isnull=True).update(revoked_at=now or _secrets.now())

    def spend(self, token: InitialAccessToken, now: datetime | None = None) -> bool:
        """Spend one use of ``token`` (read as usable before): a conditional UPDATE for a
        counted token, whose row count says whether this caller got a use; True for a token
        without a count (no query)."""
        if token.uses_left is None:
            return True
        spent = self.usable(now).filter(pk=token.pk, uses_left__gt=0).update(uses_left=F("uses_left") - 1)
        return spent == 1


class InitialAccessToken(models.Model):
    """An initial access token (RFC 7591 §3): the bearer credential a registration needs when
    ``DYNAMIC_REGISTRATION`` is ``"token"``."""

    token_hash = models.CharField(_("token (hash)"), max_length=64, unique=True, editable=False)
    description = models.CharField(_("description"), max_length=255, blank=True,
                                   help_text=_("Who the token was given to, and why."))
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True,
                                      help_text=_("Empty: never expires."))
    uses_left = models.PositiveIntegerField(_("registrations left"), null=True, blank=True,
                                            help_text=_("Empty: any number of registrations."))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = InitialAccessTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("initial access token")
        verbose_name_plural = _("initial access tokens")

    def __str__(self) -> str:
        return self.description or f"#{self.pk}"

    def is_usable(self, now: datetime | None = None) -> bool:
        now = now or _secrets.now()
        return (self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
                and (self.uses_left is None or self.uses_left > 0))


class ClientRegistrationQuerySet(models.QuerySet["ClientRegistration"]):
    def register(self, client: AbstractClient, *, initial_token: InitialAccessToken | None = None,
                 address: str = "") -> tuple[ClientRegistration, str]:
        """Record ``client`` as dynamically registered; returns the row and its registration
        access token's plaintext."""
        raw = _secrets.generate_token()
        row = self.create(client_id=client.pk, token_hash=_secrets.hash_token(raw), initial_token=initial_token,
                          registered_from=address[:64])
        return row, raw

    def authenticate(self, client_id: str, raw: str) -> ClientRegistration | None:
        """The registration of the client ``client_id`` when ``raw`` is its registration access
        token, with the client joined; None otherwise (unknown client, wrong or replaced
        token, inactive client: RFC 7592 §2 answers all of them alike). One query."""
        row = (self.select_related("client").filter(token_hash=_secrets.hash_token(raw)).first())
        if row is None or not _secrets.constant_time_equals(row.client.client_id, client_id):
            return None
        if not row.client.is_active:
            return None
        return row


class ClientRegistration(models.Model):
    """A dynamically registered client and the hash of its registration access token
    (RFC 7592 §1.2)."""

    client = models.OneToOneField(client_model_label(), on_delete=models.CASCADE, related_name="+",
                                  verbose_name=_("client"))
    token_hash = models.CharField(_("registration access token (hash)"), max_length=64, unique=True,
                                  editable=False)
    initial_token = models.ForeignKey(InitialAccessToken, verbose_name=_("initial access token"), null=True,
                                      blank=True, on_delete=models.SET_NULL, related_name="registrations")
    registered_from = models.CharField(_("registered from"), max_length=64, blank=True,
                                       help_text=_("The address the registration came from."))
    created_at = models.DateTimeField(_("registered"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    last_used_at = models.DateTimeField(
        _("last used"), null=True, blank=True, editable=False,
        help_text=_("When the client last got a grant, code, token, device code or pushed request, as "
                    "cleartokens last saw it: it records this before deleting those rows, and (if "
                    "DYNAMIC_CLIENT_IDLE_TIMEOUT is set) deletes the client once nothing used it for that long."))

    objects = ClientRegistrationQuerySet.as_manager()

    class Meta:
        verbose_name = _("dynamic registration")
        verbose_name_plural = _("dynamic registrations")

    def __str__(self) -> str:
        return str(self.client)

    def rotate(self) -> str | None:
        """Replace the registration access token (RFC 7592 §2.2); returns the new plaintext, or
        None when the token this row was read with is no longer the current one (another
        request holding it rotated it or deleted the registration first). One conditional
        UPDATE: of two requests presenting the same token, one wins; the old token stops
        working with it."""
        raw = _secrets.generate_token()
        digest = _secrets.hash_token(raw)
        changed = type(self).objects.filter(pk=self.pk, token_hash=self.token_hash).update(
            token_hash=digest, updated_at=timezone.now())
        if changed != 1:
            return None
        self.token_hash = digest
        return raw

    def spend(self) -> bool:
        """Delete this registration if its token is still the one it was read with (RFC 7592
        §2.3); False when another request holding that token rotated it or deleted it first."""
        deleted, _ = type(self).objects.filter(pk=self.pk, token_hash=self.token_hash).delete()
        return deleted > 0

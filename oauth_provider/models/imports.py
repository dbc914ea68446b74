"""What ``manage.py import_dot`` carried over from django-oauth-toolkit, remembered.

One :class:`ImportedToken` per access or refresh token an import stored here, by the digest
DOT keeps and this library stores (``token_hash``). It outlives the token: when the token is
revoked here and ``cleartokens`` deletes it, DOT still holds it as live, and without this
record a later run could not tell it from one DOT issued since, and would bring it back. With
it, any number of runs is safe:

* a token a run imported is never imported again, whatever happened to it here since;
* a token a run imported and DOT has revoked or rotated since is revoked here (a stolen old
  refresh token is no way in after the switch), and only such tokens: a token issued by this
  site has no record, so a later run never touches it.

A record is forgotten by ``cleartokens`` once the token it names has expired (its expiry here:
DOT's for an access token, the refresh token's as imported): no run would import it then.
"""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.utils.translation import gettext_lazy as _

from .. import secrets as _secrets

#: the kinds of token a record names
ACCESS = "access"
REFRESH = "refresh"


class ImportedTokenKind(models.TextChoices):
    ACCESS = ACCESS, _("access token")
    REFRESH = REFRESH, _("refresh token")


class ImportedTokenQuerySet(models.QuerySet["ImportedToken"]):
    def dead(self, now: datetime | None = None) -> ImportedTokenQuerySet:
        """Records of tokens past their expiry: no run would import them again."""
        return self.filter(expires_at__lte=now or _secrets.now())


class ImportedToken(models.Model):
    """A token ``import_dot`` stored here, by its digest (the token itself may be gone)."""

    token_hash = models.CharField(_("token digest"), max_length=64, editable=False)
    kind = models.CharField(_("kind"), max_length=16, choices=ImportedTokenKind.choices)
    imported_at = models.DateTimeField(_("imported"), default=_secrets.now)
    expires_at = models.DateTimeField(
        _("expires"), db_index=True,
        help_text=_("When the token expires; cleartokens forgets the record after that."),
    )

    objects = ImportedTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("token imported from django-oauth-toolkit")
        verbose_name_plural = _("tokens imported from django-oauth-toolkit")
        # a constraint, not unique=True: on PostgreSQL that would add a pattern-operator index
        # no query uses (migration 0015 dropped those of the other digests)
        constraints = [models.UniqueConstraint(fields=["token_hash"], name="oauth_provider_imported_token_hash")]

    def __str__(self) -> str:
        return f"imported {self.get_kind_display()} {self.token_hash[:8]}…"

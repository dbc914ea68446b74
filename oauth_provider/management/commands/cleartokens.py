"""``manage.py cleartokens``: delete codes, tokens and grants that can never be used again.

What goes, in this order (children before their family):

* authorization codes that expired, or whose family was revoked. A used code is kept until it
  expires, so a replay before then still revokes its family (RFC 6749 §4.1.2);
* access tokens that expired or were revoked, or whose family was revoked;
* refresh tokens that expired or were revoked, or whose family was revoked. A rotated refresh
  token is kept until it expires: presenting it again is how a stolen token is detected and
  its family revoked (RFC 9700 §4.14.2);
* families (``Authorization``) that were revoked, and families older than
  ``REFRESH_TOKEN_LIFETIME`` with no live code or token left. The age guard spares a family
  created an instant before its first code.

Rows are deleted by primary-key lists of at most ``--batch-size``, so memory and lock time
stay bounded on tables of millions of rows, and the run can be interrupted at any point.
With ``-v 2`` a line is printed after every batch (rows deleted so far, batches, seconds), so
a long run shows it is moving.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections, router
from django.db.models import Exists, Model, OuterRef, Q, QuerySet

from ... import secrets
from ...conf import provider_settings
from ...models import AccessToken, Authorization, AuthorizationCode, RefreshToken

DEFAULT_BATCH_SIZE = 10_000


def _family_revoked() -> Q:
    return Q(authorization__revoked_at__isnull=False)


def dead_rows(now: datetime) -> list[QuerySet[Any]]:
    """The querysets of rows that can be deleted at ``now``, children first."""
    lifetime = timedelta(seconds=provider_settings.REFRESH_TOKEN_LIFETIME)
    live_codes = AuthorizationCode.objects.filter(authorization=OuterRef("pk"), expires_at__gt=now)
    live_access = AccessToken.objects.filter(
        authorization=OuterRef("pk"), expires_at__gt=now, revoked_at__isnull=True
    )
    live_refresh = RefreshToken.objects.filter(
        authorization=OuterRef("pk"), expires_at__gt=now, revoked_at__isnull=True
    )
    return [
        AuthorizationCode.objects.filter(Q(expires_at__lte=now) | _family_revoked()),
        AccessToken.objects.filter(Q(expires_at__lte=now) | Q(revoked_at__isnull=False) | _family_revoked()),
        RefreshToken.objects.filter(Q(expires_at__lte=now) | Q(revoked_at__isnull=False) | _family_revoked()),
        Authorization.objects.filter(
            Q(revoked_at__isnull=False)
            | (Q(created_at__lte=now - lifetime) & ~Exists(live_codes) & ~Exists(live_access)
               & ~Exists(live_refresh))
        ),
    ]


#: called after each batch with the model label, the rows deleted so far (cascades
#: included) and the number of batches so far
Progress = Callable[[str, int, int], None]


def delete_in_batches(queryset: QuerySet[Any], batch_size: int, progress: Progress | None = None) -> Counter[str]:
    """Delete the rows of ``queryset`` by pk lists of at most ``batch_size``; returns the
    number of rows deleted per model label (cascades included).

    Each batch resumes after the last pk seen (keyset pagination on the primary key), so no
    batch rescans rows an earlier one already passed over. A dead row never comes back to
    life (expiry and revocation are final), so deleting by pk alone is safe.
    """
    model: type[Model] = queryset.model
    db = router.db_for_write(model)
    # Stay under the backend's bound-parameter limit (SQLite) for the IN list.
    limit = connections[db].features.max_query_params or batch_size
    size = max(1, min(batch_size, limit))
    deleted: Counter[str] = Counter()
    last: Any = None
    batches = 0
    while True:
        page = queryset.order_by("pk") if last is None else queryset.filter(pk__gt=last).order_by("pk")
        pks = list(page.values_list("pk", flat=True)[:size])
        if not pks:
            return deleted
        _total, per_model = model._base_manager.using(db).filter(pk__in=pks).delete()
        deleted.update(per_model)
        batches += 1
        if progress is not None:
            progress(model._meta.label, sum(deleted.values()), batches)
        if len(pks) < size:
            return deleted
        last = pks[-1]


def clear(*, batch_size: int = DEFAULT_BATCH_SIZE, dry_run: bool = False,
          now: datetime | None = None, progress: Progress | None = None) -> dict[str, int]:
    """Delete (or with ``dry_run`` only count) every dead row at ``now`` (default: the
    clock); returns the count per model label, in deletion order. ``progress`` is called
    after every batch (see :data:`Progress`)."""
    now = now or secrets.now()
    counts: Counter[str] = Counter()
    for queryset in dead_rows(now):
        counts[queryset.model._meta.label] += 0  # every model gets a line, even with nothing to do
        if dry_run:
            counts[queryset.model._meta.label] += queryset.count()
        else:
            counts.update(delete_in_batches(queryset, batch_size, progress))
    return dict(counts)


class Command(BaseCommand):
    help = (
        "Delete expired and revoked authorization codes, access tokens and refresh tokens, and "
        "the grants (token families) nothing can use any more. Run it daily from cron; it is "
        "safe to run while the site is serving requests."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, metavar="N",
            help=f"Delete at most N rows per statement (default {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument("--dry-run", action="store_true",
                            help="Only count what would be deleted.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be a positive number.")
        started = time.monotonic()

        def progress(label: str, deleted: int, batches: int) -> None:
            name = apps.get_model(label)._meta.verbose_name_plural
            self.stdout.write(f"  {name}: {deleted} deleted so far ({batches} batches, "
                              f"{time.monotonic() - started:.1f} s)")
            self.stdout.flush()

        counts = clear(batch_size=options["batch_size"], dry_run=options["dry_run"],
                       progress=progress if options["verbosity"] >= 2 else None)
        verb = "would be deleted" if options["dry_run"] else "deleted"
        for label, count in counts.items():
            name = apps.get_model(label)._meta.verbose_name_plural
            self.stdout.write(f"{name}: {count} {verb}")

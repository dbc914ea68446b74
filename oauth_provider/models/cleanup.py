"""What ``manage.py cleartokens`` deletes: codes, tokens and families that can never be used
again, in batches.

What goes, in this order (children before their family), each model's ``.dead(now)``
(:mod:`.tokens` states the rules):

* authorization codes that expired, or whose family was revoked. A used code is kept until it
  expires, so a replay before then still revokes its family (RFC 6749 §4.1.2);
* access tokens that expired or were revoked, or whose family was revoked;
* refresh tokens that expired or were revoked, or whose family was revoked. A rotated refresh
  token is kept until it expires: presenting it again is how a stolen token is detected and
  its family revoked (RFC 9700 §4.14.2);
* families (``Authorization``) that were revoked, and families older than
  ``REFRESH_TOKEN_LIFETIME`` with no code or token left that is not dead. The age guard spares
  a family created an instant before its first code;
* device codes (RFC 8628) that expired, whatever became of them: a redeemed or denied one is
  kept until then so a late poll is still told so.
* pushed authorization requests (RFC 9126) past their expiry, used or not (:mod:`.pushed`);
* back-channel logout deliveries delivered or given up on more than a week ago
  (:mod:`.logout`); pending ones stay, ``sendlogouts`` finishes them;
* records of tokens ``import_dot`` carried over (:mod:`.imports`) once those tokens expired.

Rows are deleted by primary-key lists of at most ``batch_size``, so memory and lock time stay
bounded on tables of millions of rows, and a run can be interrupted at any point.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import connections, router
from django.db.models import Model, QuerySet

from .. import secrets
from .devices import DeviceCode
from .imports import ImportedToken
from .logout import LogoutDelivery
from .pushed import PushedAuthorization
from .tokens import AccessToken, Authorization, AuthorizationCode, RefreshToken

DEFAULT_BATCH_SIZE = 10_000


def dead_rows(now: datetime) -> list[QuerySet[Any]]:
    """The querysets of rows that can be deleted at ``now`` (each model's ``.dead(now)``),
    children before their family."""
    return [
        AuthorizationCode.objects.dead(now),
        AccessToken.objects.dead(now),
        RefreshToken.objects.dead(now),
        Authorization.objects.dead(now),
        DeviceCode.objects.dead(now),
        PushedAuthorization.objects.dead(now),
        LogoutDelivery.objects.dead(now),
        ImportedToken.objects.dead(now),
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

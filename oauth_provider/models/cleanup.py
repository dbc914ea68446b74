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
* records of tokens ``import_dot`` carried over (:mod:`.imports`) once those tokens expired;
* last, dynamically registered clients (RFC 7591) nothing has used for
  ``DYNAMIC_CLIENT_IDLE_TIMEOUT`` (:func:`idle_clients`). Before deleting anything, a run
  carries each such client's newest grant, token, device code and pushed request into its
  registration's ``last_used_at`` (:func:`record_use`), so a use is remembered after its rows
  are gone.

Rows are deleted by primary-key lists of at most ``batch_size``, so memory and lock time stay
bounded on tables of millions of rows, and a run can be interrupted at any point. A row one of
the host's models protects (``on_delete=PROTECT``/``RESTRICT``) is left, not a failed run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connections, router, transaction
from django.db.models import Exists, Max, Model, OuterRef, ProtectedError, Q, QuerySet, RestrictedError, Subquery

from .. import secrets
from ..conf import provider_settings
from .clients import get_client_model
from .devices import DeviceCode
from .imports import ImportedToken
from .logout import LogoutDelivery
from .pushed import PushedAuthorization
from .registrations import ClientRegistration
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


#: the rows whose ``created_at`` shows a client was used
USE_EVIDENCE: tuple[type[Model], ...] = (Authorization, AccessToken, DeviceCode, PushedAuthorization)
#: while a client has any of these rows, it is not idle (codes and refresh tokens belong to a
#: family, an ``Authorization``)
HOLDINGS: tuple[type[Model], ...] = (*USE_EVIDENCE, LogoutDelivery)


def record_use() -> int:
    """Set each dynamic registration's ``last_used_at`` to the newest ``created_at`` of its
    client's rows in :data:`USE_EVIDENCE`, where one is newer; returns the registrations
    changed. One UPDATE per model, run before anything is deleted."""
    changed = 0
    for model in USE_EVIDENCE:
        rows = model._base_manager.filter(client=OuterRef("client_id")).order_by()
        newest = rows.values("client").annotate(newest=Max("created_at")).values("newest")
        changed += ClientRegistration.objects.filter(
            (Q(last_used_at__isnull=True) & Exists(rows))
            | Exists(rows.filter(created_at__gt=OuterRef("last_used_at")))
        ).update(last_used_at=Subquery(newest))
    return changed


def idle_clients(now: datetime, timeout: int) -> QuerySet[Any]:
    """Dynamically registered clients nothing has used for ``timeout`` seconds before ``now``:
    no row of :data:`HOLDINGS` left, the registration made, changed and last used (as
    :func:`record_use` saw it) before then, and the client not changed since either. Active
    clients only: deactivating is how an admin blocks a client, and a deleted one could
    register again as new. Not a resource server either: only an admin makes one, and its use
    (introspection) leaves no row. A client whose registration row was deleted is not one of
    them."""
    cutoff = now - timedelta(seconds=timeout)
    registration = ClientRegistration.objects.filter(
        client=OuterRef("pk"), created_at__lt=cutoff, updated_at__lt=cutoff,
    ).filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=cutoff))
    clients: QuerySet[Any] = get_client_model()._base_manager.filter(
        Exists(registration), is_active=True, is_resource_server=False, updated_at__lt=cutoff)
    for model in HOLDINGS:
        clients = clients.exclude(Exists(model._base_manager.filter(client=OuterRef("pk"))))
    return clients


#: called after each batch with the model label, the rows deleted so far (cascades
#: included) and the number of batches so far
Progress = Callable[[str, int, int], None]


def delete_in_batches(queryset: QuerySet[Any], batch_size: int, progress: Progress | None = None, *,
                      recheck: bool = False) -> Counter[str]:
    """Delete the rows of ``queryset`` by pk lists of at most ``batch_size``; returns the
    number of rows deleted per model label (cascades included).

    Each batch resumes after the last pk seen (keyset pagination on the primary key), so no
    batch rescans rows an earlier one already passed over. A dead row never comes back to
    life (expiry and revocation are final), so deleting by pk alone is safe. An idle client
    can be used again in between: with ``recheck`` the delete applies ``queryset``'s
    condition again.
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
        batch = queryset if recheck else model._base_manager.using(db)
        deleted.update(_delete(batch, pks))
        batches += 1
        if progress is not None:
            progress(model._meta.label, sum(deleted.values()), batches)
        if len(pks) < size:
            return deleted
        last = pks[-1]


#: what a delete meets when something outside the library holds a row: a host model's foreign
#: key with ``on_delete=PROTECT``/``RESTRICT`` (Django refuses), or one only the database knows
#: (``DO_NOTHING``, an unmanaged model, another application's table: the database refuses)
HELD = (ProtectedError, RestrictedError, IntegrityError)


def _delete(rows: QuerySet[Any], pks: list[Any]) -> Counter[str]:
    """Delete the rows of ``rows`` among ``pks``; the count per model label. A row something
    outside the library holds (:data:`HELD`) stays, and the others of its batch go one by one,
    rather than the whole run failing on it every day. Each attempt is its own transaction (a
    savepoint inside a caller's), so a refused one leaves the connection usable."""
    db = rows.db
    try:
        with transaction.atomic(using=db):
            return Counter(rows.filter(pk__in=pks).delete()[1])
    except HELD:
        pass
    deleted: Counter[str] = Counter()
    for pk in pks:
        with suppress(*HELD), transaction.atomic(using=db):
            deleted.update(rows.filter(pk=pk).delete()[1])
    return deleted


def clear(*, batch_size: int = DEFAULT_BATCH_SIZE, dry_run: bool = False,
          now: datetime | None = None, progress: Progress | None = None) -> dict[str, int]:
    """Delete (or with ``dry_run`` only count) every dead row at ``now`` (default: the
    clock); returns the count per model label, in deletion order. ``progress`` is called
    after every batch (see :data:`Progress`)."""
    now = now or secrets.now()
    counts: Counter[str] = Counter()
    if not dry_run:
        record_use()
    for queryset in dead_rows(now):
        counts[queryset.model._meta.label] += 0  # every model gets a line, even with nothing to do
        if dry_run:
            counts[queryset.model._meta.label] += queryset.count()
        else:
            counts.update(delete_in_batches(queryset, batch_size, progress))
    timeout = provider_settings.DYNAMIC_CLIENT_IDLE_TIMEOUT
    if timeout is not None:
        clients = idle_clients(now, timeout)
        counts[clients.model._meta.label] += 0
        if dry_run:  # counted before this run's deletions, which could make more idle
            counts[clients.model._meta.label] += clients.count()
        else:
            counts.update(delete_in_batches(clients, batch_size, progress, recheck=True))
    return dict(counts)

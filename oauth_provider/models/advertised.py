"""Which opt-in grant types some active client is registered for (the device grant, RFC 8628;
later token exchange and the JWT bearer grant): the metadata (RFC 8414 §2, RFC 8628 §4) lists
such a grant only then, so a server advertises nothing no client can use.

The answer costs one query on the clients table, kept in Django's cache (the ``default``
alias, shared by every worker) for :data:`TIMEOUT` seconds and forgotten whenever a client is
saved or deleted (:mod:`oauth_provider.receivers`). A change made with ``QuerySet.update()``
sends no signal: it shows within :data:`TIMEOUT`, which is also how long readers may cache the
metadata document itself (``Cache-Control: max-age=300``). A cache outage costs the query on
every request, never an error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.core.cache import cache
from django.db.models import Q

from .clients import get_client_model

logger = logging.getLogger(__name__)

CACHE_KEY = "oauth_provider:advertised-grants"
#: seconds the answer is kept (the metadata document's own max-age)
TIMEOUT = 300


def _registered_word(grant: str) -> Q:
    """``grant_types`` (space-separated words) contains the word ``grant``, not a longer one."""
    return (Q(grant_types=grant) | Q(grant_types__startswith=f"{grant} ")
            | Q(grant_types__endswith=f" {grant}") | Q(grant_types__contains=f" {grant} "))


def query_registered(grants: Iterable[str]) -> list[str]:
    """Those of ``grants`` some active client is registered for: one query, no cache."""
    wanted = list(grants)
    if not wanted:
        return []
    words = Q()
    for grant in wanted:
        words |= _registered_word(grant)
    found: set[str] = set()
    rows = get_client_model()._default_manager.filter(words, is_active=True)
    for value in rows.values_list("grant_types", flat=True).distinct()[:1000]:
        found.update(value.split())
    return [grant for grant in wanted if grant in found]


def registered(grants: Iterable[str]) -> list[str]:
    """:func:`query_registered`, through the cache."""
    wanted = tuple(grants)
    if not wanted:
        return []
    try:
        stored: Any = cache.get(CACHE_KEY)
    except Exception:  # noqa: BLE001 - the cache is down: answer from the database
        logger.warning("advertised grants: cache read failed", exc_info=True)
        stored = None
    if isinstance(stored, tuple) and len(stored) == 2 and stored[0] == wanted:
        return list(stored[1])
    found = query_registered(wanted)
    try:
        cache.set(CACHE_KEY, (wanted, tuple(found)), TIMEOUT)
    except Exception:  # noqa: BLE001
        logger.warning("advertised grants: cache write failed", exc_info=True)
    return found


def forget(*args: Any, **kwargs: Any) -> None:
    """A client was saved or deleted: the next metadata request asks the database again."""
    try:
        cache.delete(CACHE_KEY)
    except Exception:  # noqa: BLE001
        logger.warning("advertised grants: cache delete failed", exc_info=True)

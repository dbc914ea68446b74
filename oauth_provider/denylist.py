"""An optional denylist of revoked JWT access tokens, kept in Django's cache.

A JWT access token (RFC 9068) is verified without the database, so revoking its row does not
stop it by itself: it lives until ``exp``. With ``JWT_ACCESS_TOKEN_DENYLIST`` on, every
revocation (the revocation endpoint, a replayed code or reused refresh token revoking a
family, connected apps, admin actions) also puts the token's hash in the cache named by
``DENYLIST_CACHE`` until it expires, and the resource layer refuses it: one cache read per
request, still no database query. The cache must be shared by every worker (Redis,
Memcached): a per-process cache only protects the process that revoked.

Failure modes, chosen so a broken cache never weakens revocation: the database revocation
always happens first and stands on its own; writing the denylist is done after the
transaction commits and a cache error is logged, not raised. Reading it fails closed: if the
cache cannot answer, a JWT access token is refused (``invalid_token``) and the error logged.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.core.cache import caches
from django.db import transaction

from . import jwt, secrets
from .conf import provider_settings

logger = logging.getLogger("oauth_provider.denylist")
_PREFIX = "oauth_provider:denied:"


def enabled() -> bool:
    """Is the JWT access-token denylist on (``JWT_ACCESS_TOKEN_DENYLIST``)?"""
    return bool(provider_settings.JWT_ACCESS_TOKEN_DENYLIST)


def still_accepted_after(when: datetime) -> datetime:
    """Tokens expiring after this are still accepted by a resource at ``when``: up to
    :data:`oauth_provider.jwt.DEFAULT_LEEWAY` seconds past their ``exp`` (clock skew). A token
    revoked then must be denied too."""
    return when - timedelta(seconds=jwt.DEFAULT_LEEWAY)


def add(entries: Iterable[tuple[str, datetime]]) -> None:
    """Deny each ``(token_hash, expires_at)`` as long as a resource would accept it (until its
    ``exp`` plus the clock-skew leeway, to the end of that second), once the current
    transaction commits. Never raises: the database revocation is what counts."""
    pending = list(entries)
    if pending:
        transaction.on_commit(lambda: _write(pending))


def _write(entries: list[tuple[str, datetime]]) -> None:
    now = secrets.now()
    accepted = still_accepted_after(now)
    live = [(token_hash, expires_at) for token_hash, expires_at in entries if expires_at > accepted]
    if not live:
        return
    longest = max(math.ceil((expires_at - accepted).total_seconds()) for _hash, expires_at in live)
    try:
        caches[provider_settings.DENYLIST_CACHE].set_many(
            {_PREFIX + token_hash: 1 for token_hash, _expires in live}, timeout=longest
        )
    except Exception:  # any cache backend error: the revocation itself already stands
        logger.exception("Could not write %d revoked JWT access tokens to the denylist cache", len(live))


def contains(token_hash: str) -> bool:
    """Is this token on the denylist? True as well when the cache cannot answer (fail closed)."""
    if not enabled():
        return False
    try:
        return caches[provider_settings.DENYLIST_CACHE].get(_PREFIX + token_hash) is not None
    except Exception:
        logger.exception("The JWT denylist cache did not answer: refusing the token")
        return True

"""An optional denylist of revoked JWT access tokens, kept in Django's cache.

A JWT access token (RFC 9068) is verified without the database, so revoking its row does not
stop it by itself: it lives until ``exp``. With ``JWT_ACCESS_TOKEN_DENYLIST`` on, every
revocation (the revocation endpoint, a replayed code or reused refresh token revoking a
family, connected apps, admin actions) also puts the token's hash in the cache named by
``DENYLIST_CACHE`` until it expires, and the resource layer refuses it: one cache read per
request, still no database query. The cache must be shared by every worker (Redis,
Memcached): a per-process cache only protects the process that revoked.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.core.cache import caches

from . import secrets
from .conf import provider_settings

_PREFIX = "oauth_provider:denied:"


def enabled() -> bool:
    return bool(provider_settings.JWT_ACCESS_TOKEN_DENYLIST)


def add(entries: Iterable[tuple[str, datetime]]) -> None:
    """Deny each ``(token_hash, expires_at)`` until it expires (plus a minute of skew)."""
    now = secrets.now()
    values = {
        _PREFIX + token_hash: 1
        for token_hash, expires_at in entries
        if expires_at > now
    }
    if not values:
        return
    longest = max(int((e - now).total_seconds()) for _h, e in entries if e > now) + 60
    caches[provider_settings.DENYLIST_CACHE].set_many(values, timeout=longest)


def contains(token_hash: str) -> bool:
    return enabled() and caches[provider_settings.DENYLIST_CACHE].get(_PREFIX + token_hash) is not None

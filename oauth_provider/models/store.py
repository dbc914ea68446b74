"""The hot-path statements: a client by its ``client_id``, a code or token by its value, the
INSERT of a new row, and the conditional UPDATEs that consume a code, rotate a refresh token or
spend a rotated one's grace. Each is prepared once (:mod:`._prepared`, imported by this module
alone), not recompiled per request; the rules about what the rows mean live on the models
(:mod:`.tokens`, :mod:`.consents`).

``client_id`` is compared exactly (RFC 3986 §6.2.1 simple string comparison): an identifier
that differs in letter case or by trailing spaces is another identifier. A database compares
with the column's collation, and MariaDB/MySQL's default (``utf8mb4_general_ci``) is
case-insensitive and PAD SPACE (``'a' = 'a '``), so the row the database returns is compared
again here. The unique index keeps that row alone, and the check costs no query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import router, transaction
from django.db.models import Model

from .. import secrets as _secrets
from ._prepared import PreparedLookup, PreparedUpdate
from ._prepared import insert as _insert
from ._prepared import insert_if as _insert_if
from ._prepared import insert_pair as _insert_pair
from ._prepared import insert_two as _insert_two
from .clients import AbstractClient, get_client_model
from .consents import Consent
from .devices import DeviceCode
from .tokens import AccessToken, Authorization, AuthorizationCode, RefreshToken

_client = PreparedLookup(get_client_model, ("client_id",))
_access_token = PreparedLookup(lambda: AccessToken, ("token_hash",), ("client", "user", "authorization"))
_code = PreparedLookup(lambda: AuthorizationCode, ("code_hash",), ("authorization", "authorization__user"))
_refresh_token = PreparedLookup(lambda: RefreshToken, ("token_hash",), ("authorization", "authorization__user"))
_refresh_token_with_client = PreparedLookup(
    lambda: RefreshToken, ("token_hash",), ("authorization__client", "authorization__user")
)
_consent = PreparedLookup(lambda: Consent, ("user", "client"))
_user = PreparedLookup(get_user_model, ("pk",))
_device_code = PreparedLookup(lambda: DeviceCode, ("device_code_hash",), ("user",))
_device_by_user_code = PreparedLookup(lambda: DeviceCode, ("user_code_hash",), ("client",))

#: the length of the client_id column: a longer value names no client
CLIENT_ID_MAX_LENGTH = 255


def client_by_id(client_id: str, **filters: Any) -> AbstractClient | None:
    """The client whose ``client_id`` is exactly ``client_id`` (and matches ``filters``), or None.
    A value no client_id can be (a NUL, which PostgreSQL refuses in a query with an error, or
    longer than the column) is None without a query: every caller gets this for free."""
    if "\x00" in client_id or len(client_id) > CLIENT_ID_MAX_LENGTH:
        return None
    if filters:
        rows = list(get_client_model()._default_manager.filter(client_id=client_id, **filters)[:1])
        client = rows[0] if rows else None
    else:
        client = _client.get(client_id)
    if client is None or client.client_id != client_id:
        return None
    return client


def user_by_pk(pk: Any) -> Any | None:
    """The user whose primary key is ``pk`` (a string is converted as the ORM would; one
    that is no valid key raises its ``ValueError``/``ValidationError``), or None."""
    return _user.get(pk)


def consent_of(user: Any, client: AbstractClient) -> Consent | None:
    """The consent ``user`` gave ``client``, if any (one row: unique per user and client)."""
    return _consent.get(user.pk, client.pk)


def access_token_by_value(raw: str) -> AccessToken | None:
    """The access token whose value is ``raw``, with its client, user and family."""
    return _access_token.get(_secrets.hash_token(raw))


def code_by_value(raw: str) -> AuthorizationCode | None:
    """The authorization code whose value is ``raw``, with its family and the family's user."""
    return _code.get(_secrets.hash_token(raw))


def refresh_token_by_value(raw: str, *, with_client: bool = False) -> RefreshToken | None:
    """The refresh token whose value is ``raw``, with its family and the family's user (and
    the family's client when ``with_client``)."""
    lookup = _refresh_token_with_client if with_client else _refresh_token
    return lookup.get(_secrets.hash_token(raw))


def device_code_by_value(raw: str) -> DeviceCode | None:
    """The device code whose value is ``raw`` (RFC 8628 §3.4), with the user who claimed it."""
    return _device_code.get(_secrets.hash_token(raw))


def device_code_by_user_code(normalized: str) -> DeviceCode | None:
    """The device code whose user code is ``normalized`` (already through
    :func:`oauth_provider.secrets.normalize_user_code`), with its client."""
    return _device_by_user_code.get(_secrets.user_code_digest(normalized))


_consume_code = PreparedUpdate(
    lambda: AuthorizationCode,
    "UPDATE {table} SET {consumed_at} = %s WHERE {id} = %s AND {consumed_at} IS NULL AND {family_live}",
    ("consumed_at", "id"),
)
_rotate = PreparedUpdate(
    lambda: RefreshToken,
    "UPDATE {table} SET {rotated_at} = %s WHERE {id} = %s AND {rotated_at} IS NULL AND {revoked_at} IS NULL "
    "AND {family_live}",
    ("rotated_at", "id"),
)
_spend_grace = PreparedUpdate(
    lambda: RefreshToken,
    "UPDATE {table} SET {revoked_at} = %s WHERE {id} = %s AND {revoked_at} IS NULL AND {rotated_at} > %s",
    ("revoked_at", "id", "rotated_at"),
)

_keep_refresh = PreparedUpdate(
    lambda: RefreshToken,
    "UPDATE {table} SET {expires_at} = %s WHERE {id} = %s AND {rotated_at} IS NULL AND {revoked_at} IS NULL "
    "AND {expires_at} > %s AND {family_live}",
    ("expires_at", "id", "expires_at"),
)

def attach_client(family: Authorization, client: AbstractClient) -> None:
    """Hand ``family`` the client object already loaded (the authenticated client, whose pk
    the caller checked is the family's), so reading ``family.client`` costs no query."""
    if family.client_id != client.pk:
        raise ValueError("attach_client: the client is not the family's")
    Authorization.client.field.set_cached_value(family, client)


def insert(obj: Model) -> None:
    """``obj.save()`` for a new row, with its INSERT compiled once (falls back to ``save()``)."""
    _insert(obj)


def insert_both(first: Model, second: Model) -> None:
    """Store two new rows that do not refer to each other (an access token and its refresh
    token) inside the caller's transaction: one statement on PostgreSQL (one round trip less),
    else two INSERTs."""
    if not _insert_two(first, second):
        _insert(first)
        _insert(second)


def insert_with_parent(parent: Model, child: Model, link: str) -> None:
    """Store the new ``parent`` and the new ``child`` whose foreign key ``link`` points at it
    (a grant and its first code) atomically: one statement on PostgreSQL (no BEGIN/COMMIT
    round trips), else two INSERTs in one transaction (one commit, one fsync on SQLite)."""
    if _insert_pair(parent, child, link):
        return
    with transaction.atomic(using=router.db_for_write(type(parent), instance=parent)):
        _insert(parent)
        _insert(child)


@dataclass(frozen=True)
class Condition:
    """A conditional UPDATE that new rows are stored under (:func:`insert_if`): a code
    consumed, a refresh token rotated or kept. Made by :func:`code_unconsumed`,
    :func:`refresh_unrotated`, :func:`refresh_kept`."""

    update: PreparedUpdate
    values: tuple[Any, ...]

    def run(self) -> bool:
        """Run the UPDATE alone: True when it changed the one row."""
        return self.update.run(*self.values) == 1


# A token obtained by token exchange is stored only while the token it comes from (and that
# token's family) is unrevoked, and holds that row until its transaction ends: a revocation of
# it waits for the new token to be stored, and then revokes it too (AccessTokenQuerySet.revoke
# reads the tree of exchanged tokens again once its UPDATE has run). "SET revoked_at = NULL"
# changes nothing; the UPDATE is for its row lock and its condition.
_access_token_held = PreparedUpdate(
    lambda: AccessToken,
    "UPDATE {table} SET {revoked_at} = NULL WHERE {id} = %s AND {revoked_at} IS NULL "
    "AND ({authorization} IS NULL OR {family_live})",
    ("id",),
)
_family_held = PreparedUpdate(
    lambda: Authorization,
    "UPDATE {table} SET {revoked_at} = NULL WHERE {id} = %s AND {revoked_at} IS NULL",
    ("id",),
)


def exchanged_from(token: AccessToken | None, family: Authorization | None) -> Condition | None:
    """Store a token obtained by exchange only if ``token`` (the stored subject token) and
    its family, or, without one, ``family`` (the grant an ID token came from), are still
    unrevoked, and hold that row to the end of the transaction (RFC 8693: a revocation of the
    subject must reach what was obtained from it, however the two requests interleave)."""
    if token is not None:
        return Condition(_access_token_held, (token.pk,))
    if family is not None:
        return Condition(_family_held, (family.pk,))
    return None


def hold_access_token(token: AccessToken) -> bool:
    """Hold ``token``'s row (an actor token) to the end of the caller's transaction, if it and
    its family are still unrevoked: True when held, False when revoked meanwhile. Only inside
    a transaction: outside one, the hold would end with the statement."""
    if not transaction.get_connection(router.db_for_write(AccessToken)).in_atomic_block:
        raise transaction.TransactionManagementError("hold_access_token() holds a row only inside a transaction.")
    return _access_token_held.run(token.pk) == 1


def code_unconsumed(pk: Any, when: datetime) -> Condition:
    """Mark the code consumed unless it already is, or its grant was revoked meanwhile: the
    one request whose UPDATE changes the row wins, so concurrent redemptions cannot both
    succeed (RFC 6749 §4.1.2); the grant is read under a shared lock, so a revocation racing
    the redemption either finds the tokens stored (and denies the JWT) or leaves none."""
    return Condition(_consume_code, (when, pk))


def refresh_unrotated(pk: Any, when: datetime) -> Condition:
    """Mark the refresh token rotated unless it already is, or it or its grant was revoked
    meanwhile (a revocation landing between the grant's read and this UPDATE is never undone
    by a new token; the grant is read under a shared lock, so a revocation of the family racing
    this use either waits for the new tokens and denies the JWT, or leaves none): of
    concurrent uses of one token only one wins (RFC 9700 §4.14.2)."""
    return Condition(_rotate, (when, pk))


def refresh_kept(pk: Any, when: datetime, expires_at: datetime) -> Condition:
    """A refresh token used without rotation (``REFRESH_TOKEN_ROTATION``) stays, its expiry
    moved to ``expires_at`` (the idle timeout counts from this use, RFC 9700 §4.14.2), while
    it is unrotated, unrevoked, unexpired at ``when`` and its grant unrevoked: a revocation that
    lands meanwhile is never undone."""
    return Condition(_keep_refresh, (expires_at, pk, when))


def insert_if(condition: Condition, *rows: Model) -> bool:
    """Store the new ``rows`` (one, or two that do not refer to each other: an access token
    and its refresh token) only if ``condition``'s UPDATE changes its row, atomically: True
    when it did and they are stored, False when it did not and nothing is. So of concurrent
    redemptions of one code or refresh token exactly one stores tokens, and none is stored for
    a code it did not consume (RFC 6749 §4.1.2, RFC 9700 §4.14.2). One statement on
    PostgreSQL (no BEGIN/COMMIT round trips; a statement is atomic); elsewhere the UPDATE and
    the INSERTs in one transaction."""
    done = _insert_if(condition.update, condition.values, rows)
    if done is not None:
        return done
    with transaction.atomic(using=router.db_for_write(type(rows[0]), instance=rows[0])):
        if not condition.run():
            return False
        if len(rows) == 2:
            insert_both(*rows)
        else:
            _insert(rows[0])
    return True


def share_refresh_token(pk: Any, when: datetime) -> bool:
    """A grace retry hands the unused successor ``pk`` out a second time: two holders have it,
    so its own grace is spent in advance (``RefreshToken.shared_at``: once rotated, any second
    presentation is reuse). One conditional UPDATE: False when the successor was used
    (rotated) or revoked since it was read, and the retry is then reuse, as it would be a
    moment later."""
    return RefreshToken.objects.filter(pk=pk, rotated_at__isnull=True, revoked_at__isnull=True).update(
        shared_at=when) == 1


def spend_refresh_grace(pk: Any, when: datetime, grace: timedelta) -> bool:
    """A rotated refresh token presented again inside its grace period is honoured once:
    True for the one request that marks it (revoked), False when it was already spent or
    its grace is over (reuse). One conditional UPDATE, safe under concurrent replays."""
    return _spend_grace.run(when, pk, when - grace) == 1

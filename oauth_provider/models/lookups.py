"""Finding a client by its ``client_id``, exactly.

RFC 3986 §6.2.1 simple string comparison: an identifier that differs in letter case or by
trailing spaces is another identifier. A database compares with the column's collation, and
MariaDB/MySQL's default (``utf8mb4_general_ci``) is case-insensitive and PAD SPACE
(``'a' = 'a '``), so the row the database returns is compared again here. The unique index
keeps that row alone, and the check costs no query.
"""

from __future__ import annotations

from typing import Any

from .clients import get_client_model


#: the length of the client_id column: a longer value names no client
CLIENT_ID_MAX_LENGTH = 100


def client_by_id(client_id: str, **filters: Any) -> Any | None:
    """The client whose ``client_id`` is exactly ``client_id`` (and matches ``filters``), or None.
    A value no client_id can be (a NUL, which PostgreSQL refuses in a query with an error, or
    longer than the column) is None without a query: every caller gets this for free."""
    if "\x00" in client_id or len(client_id) > CLIENT_ID_MAX_LENGTH:
        return None
    rows = list(get_client_model()._default_manager.filter(client_id=client_id, **filters)[:1])
    if not rows or rows[0].client_id != client_id:
        return None
    return rows[0]

"""Settings for the race tests (tests/security/test_concurrency.py) on SQLite: a file database, not the
in-memory one, so that each thread's connection is a real SQLite connection to one shared
file. Writers then serialise on SQLite's database lock, waiting up to ``timeout`` seconds
(the busy timeout) instead of failing; ``BEGIN IMMEDIATE`` takes the write lock when a
transaction starts, so two transactions never deadlock upgrading a read lock; WAL lets readers
proceed while one writer works. That is enough for SQLite to prove what the conditional
UPDATEs promise: of racing redemptions of one code exactly one changes the row.

    python -m pytest --ds tests.sqlite_file_settings tests/security/test_concurrency.py
"""

from __future__ import annotations

import os
import tempfile

from .settings import *  # noqa: F403

_path = os.environ.get("OAUTH_PROVIDER_SQLITE_FILE") or os.path.join(
    tempfile.gettempdir(), f"oauth-provider-races-{os.getpid()}.sqlite3"
)
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": _path,
        "TEST": {"NAME": _path},
        "OPTIONS": {"timeout": 60, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
    }
}

"""What every benchmark script shares: Django set up with ``benchsite``, a fresh database,
clients made the way the README says (``manage.py createclient --json``), and small
statistics helpers.

Run the scripts from the project root with the project's virtualenv, e.g.
``.venv/bin/python benchmarks/scenarios.py``; the checkout is put first on ``sys.path``, so
the code measured is this working tree even when an older copy is installed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import platform
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for entry in (str(ROOT), str(BENCH_DIR)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

REDIRECT_URI = "https://client.example.com/cb"


def setup(db: str) -> None:
    """Configure Django for ``benchsite`` on ``db`` (``sqlite`` or ``postgres``)."""
    os.environ["BENCH_DB"] = db
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")
    import django

    django.setup()


def fresh_database() -> None:
    """Drop and re-create the benchmark database, then migrate."""
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    db = settings.DATABASES["default"]
    connection.close()
    if db["ENGINE"].endswith("sqlite3"):
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(db["NAME"] + suffix).unlink(missing_ok=True)
    else:
        import psycopg

        name = db["NAME"]
        if not name.replace("_", "").isalnum():
            raise SystemExit(f"refusing to drop a database named {name!r}")
        params = {k: v for k, v in {"host": db["HOST"], "port": db["PORT"], "user": db["USER"],
                                      "password": db["PASSWORD"]}.items() if v}
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as maintenance:
            maintenance.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            maintenance.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", verbosity=0, interactive=False)


def createclient(name: str, *args: str) -> tuple[str, str | None]:
    """``manage.py createclient NAME ARGS --json``: (client_id, client_secret)."""
    from django.core.management import call_command

    out = io.StringIO()
    call_command("createclient", name, *args, "--json", stdout=out)
    data = json.loads(out.getvalue())
    return data["client_id"], data.get("client_secret")


@dataclass
class Creds:
    client_id: str
    secret: str | None = None


@dataclass
class Fixtures:
    user: Any
    public: Creds
    confidential: Creds
    resource_server: Creds


def create_fixtures() -> Fixtures:
    """A user, a public client (code + refresh), a confidential client (code, refresh,
    client_credentials) and a resource server allowed to introspect any token."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("bench-user", password=None)
    code = ("--grant-type", "authorization_code", "--grant-type", "refresh_token")
    scope = ("--scope", "read write")
    public, _ = createclient("bench-public", "--public", "--redirect-uri", REDIRECT_URI, *code, *scope)
    conf_id, conf_secret = createclient(
        "bench-conf", "--redirect-uri", REDIRECT_URI, *code, "--grant-type", "client_credentials", *scope
    )
    rs_id, rs_secret = createclient(
        "bench-resource-server", "--grant-type", "client_credentials", "--resource-server", *scope
    )
    return Fixtures(user, Creds(public), Creds(conf_id, conf_secret), Creds(rs_id, rs_secret))


class DPoPClient:
    """A client's DPoP key (P-256) and the proofs it signs (RFC 9449 §4.2), made with PyJWT as a
    client would: the benchmarks time the server, so proofs are made before the clock starts."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec
        from jwt.algorithms import ECAlgorithm

        self.private = ec.generate_private_key(ec.SECP256R1())
        self.jwk = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        members = {name: self.jwk[name] for name in ("crv", "kty", "x", "y")}
        canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
        self.jkt = _b64url(hashlib.sha256(canonical).digest())  # RFC 7638

    def proof(self, method: str, url: str, access_token: str) -> str:
        import jwt

        claims = {"jti": secrets.token_urlsafe(16), "htm": method, "htu": url, "iat": int(time.time()),
                  "ath": _b64url(hashlib.sha256(access_token.encode()).digest())}
        return jwt.encode(claims, self.private, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": self.jwk})


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``samples``."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def environment() -> dict[str, Any]:
    """Versions and database settings, for the record."""
    import django
    from django.db import connection

    import oauth_provider

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "django": django.get_version(),
        "oauth_provider": getattr(oauth_provider, "__version__", "?"),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "database": connection.vendor,
    }
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            import sqlite3

            info["sqlite"] = sqlite3.sqlite_version
            for pragma in ("journal_mode", "synchronous"):
                cursor.execute(f"PRAGMA {pragma}")
                info[pragma] = cursor.fetchone()[0]
        elif connection.vendor == "postgresql":
            for setting in ("server_version", "synchronous_commit"):
                cursor.execute(f"SHOW {setting}")
                info[setting] = cursor.fetchone()[0]
    return info


def busy_cpu_seconds() -> float | None:
    """CPU seconds the whole machine has been busy (Linux /proc/stat), for noise notes."""
    try:
        with open("/proc/stat") as f:
            values = [int(x) for x in f.readline().split()[1:]]
        return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None

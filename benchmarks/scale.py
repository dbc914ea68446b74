#!/usr/bin/env python3
"""Scale: bearer-token lookups against a million live tokens, and ``cleartokens`` over a
million expired ones.

    .venv/bin/python benchmarks/scale.py [--db sqlite|postgres] [--rows 1000000]

1. 1,000 live access tokens: time ``oauth_provider.resource.lookup`` (the one-query join a
   protected request makes), a protected DRF request, and a revocation at ``/o/revoke/`` (RFC
   7009; its UPDATE also looks for tokens exchanged from the one revoked), for tokens drawn at
   random.
2. The same after growing the table to ``--rows`` live tokens (random tokens from the whole
   table, so the index is really walked). Pass: within 1.2x of step 1.
3. Every one of those rows expired, then ``manage.py cleartokens -v 2`` in a child process:
   its progress lines, wall time, and peak memory (the child's max RSS) next to the peak of
   the same command with nothing to delete: bounded memory means the two stay close.

Rows are written with bulk SQL (the tokens' SHA-256 digests, as the library stores them), not
through the token endpoint: a million requests would measure the endpoint, not the table.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

CHUNK = 20_000


def raw_token(i: int) -> str:
    return f"scale-token-{i:09d}"


def add_tokens(start: int, stop: int, *, client: Any, user: Any, family: Any, expires: Any) -> None:
    """Insert access tokens ``start``..``stop - 1`` by bulk SQL, in transactions of CHUNK rows."""
    from django.db import connection, transaction

    from oauth_provider import secrets
    from oauth_provider.models import AccessToken

    meta = AccessToken._meta
    quote = connection.ops.quote_name
    columns = ["token_hash", "client", "user", "authorization", "scope", "created_at", "expires_at"]
    fields = [meta.get_field(name) for name in columns]
    # every other column as the model would write it (its default), so a new NOT NULL column
    # does not break the bulk INSERT
    others = [f for f in meta.concrete_fields if f not in fields and not f.primary_key]
    defaults = tuple(f.get_db_prep_save(f.get_default(), connection) for f in others)
    fields += others
    sql = (f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608
           f"VALUES ({', '.join(['%s'] * len(fields))})")
    now = secrets.now()
    created = fields[5].get_db_prep_save(now, connection)
    expiry = fields[6].get_db_prep_save(expires, connection)
    for low in range(start, stop, CHUNK):
        rows = [
            (hashlib.sha256(raw_token(i).encode()).hexdigest(), client.pk, user.pk, family.pk, "read", created, expiry,
             *defaults)
            for i in range(low, min(stop, low + CHUNK))
        ]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, rows)
        if (min(stop, low + CHUNK) - start) % 200_000 == 0:
            print(f"  {min(stop, low + CHUNK):,} rows", file=sys.stderr)


def time_lookups(live: int, n: int, anon: Any, client_id: str) -> dict[str, float]:
    """p50/mean of ``resource.lookup`` and of a protected DRF GET for random live tokens, and
    the p50 of revoking some (:func:`time_revocations`)."""
    from oauth_provider import resource

    picks = [random.randrange(live) for _ in range(n)]  # noqa: S311 - a sample, not a secret
    for i in picks[: n // 10]:  # warm the statement cache, the request path and the page cache
        resource.lookup(raw_token(i))
        anon.get("/api/hello", HTTP_AUTHORIZATION=f"Bearer {raw_token(i)}")
    lookup_us, request_us = [], []
    for i in picks:
        raw = raw_token(i)
        t0 = time.perf_counter_ns()
        row = resource.lookup(raw)
        lookup_us.append((time.perf_counter_ns() - t0) / 1000)
        if row is None:
            raise SystemExit(f"token {i} not found")
    for i in picks[: n // 2]:
        t0 = time.perf_counter_ns()
        response = anon.get("/api/hello", HTTP_AUTHORIZATION=f"Bearer {raw_token(i)}")
        request_us.append((time.perf_counter_ns() - t0) / 1000)
        if response.status_code != 200:
            raise SystemExit(f"protected request: HTTP {response.status_code}")
    return {
        "lookup_p50_us": statistics.median(lookup_us), "lookup_mean_us": statistics.fmean(lookup_us),
        "lookup_p99_us": common.percentile(lookup_us, 99),
        "request_p50_us": statistics.median(request_us), "request_mean_us": statistics.fmean(request_us),
        "revoke_p50_us": time_revocations(live, max(n // 20, 20), anon, client_id),
    }


def time_revocations(live: int, n: int, anon: Any, client_id: str) -> float:
    """p50 of revoking ``n`` random live tokens at ``/o/revoke/`` (the public client), then
    un-revoked, so later steps find every token live."""
    from oauth_provider.models import AccessToken

    revoke_us = []
    for i in random.sample(range(live), n):
        form = {"token": raw_token(i), "token_type_hint": "access_token", "client_id": client_id}
        t0 = time.perf_counter_ns()
        response = anon.post("/o/revoke/", form)
        revoke_us.append((time.perf_counter_ns() - t0) / 1000)
        if response.status_code != 200:
            raise SystemExit(f"revocation: HTTP {response.status_code}")
    if AccessToken.objects.filter(revoked_at__isnull=False).update(revoked_at=None) != n:
        raise SystemExit("revocation: not every token was revoked")
    return statistics.median(revoke_us)


def cleartokens(db: str, *extra: str) -> tuple[list[str], float, int]:
    """Run ``manage.py cleartokens -v 2`` in a child, echoing its lines to stderr as they
    come; returns (its lines, wall seconds, the child's max RSS in KiB)."""
    env = dict(os.environ, BENCH_DB=db, DJANGO_SETTINGS_MODULE="benchsite.settings",
               PYTHONPATH=os.pathsep.join([str(common.BENCH_DIR), str(common.ROOT)]))
    t0 = time.perf_counter()
    command = [sys.executable, "-m", "django", "cleartokens", "-v", "2", *extra]
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert child.stdout is not None
    lines = []
    for line in child.stdout:
        lines.append(line.rstrip("\n"))
        print(f"    | {lines[-1]}", file=sys.stderr, flush=True)
    _pid, status, usage = os.wait4(child.pid, 0)  # reaped here, for this child's own rusage
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if child.returncode:
        raise SystemExit("cleartokens failed:\n" + "\n".join(lines))
    return lines, wall, usage.ru_maxrss


def database_size() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            return f"{Path(connection.settings_dict['NAME']).stat().st_size / 2**20:,.0f} MiB file"
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        return str(cursor.fetchone()[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--lookups", type=int, default=4_000)
    parser.add_argument("--batch-size", type=int, default=None, help="cleartokens --batch-size (default: its own)")
    args = parser.parse_args(argv)
    random.seed(7)
    common.setup(args.db)
    common.fresh_database()
    from django.db import connection
    from django.test import Client

    from oauth_provider import secrets
    from oauth_provider.models import AccessToken, Authorization, get_client_model

    fx = common.create_fixtures()
    client = get_client_model().objects.get(client_id=fx.public.client_id)
    family = Authorization.objects.create(client=client, user=fx.user, scope="read")
    expires = secrets.now() + timedelta(days=1)
    anon = Client()
    print(common.environment())

    def report(label: str, r: dict[str, float]) -> None:
        print(f"{label}: lookup p50 {r['lookup_p50_us']:.0f} µs (mean {r['lookup_mean_us']:.0f}, p99 "
              f"{r['lookup_p99_us']:.0f}); protected DRF request p50 {r['request_p50_us']:.0f} µs; "
              f"revocation p50 {r['revoke_p50_us']:.0f} µs", flush=True)

    add_tokens(0, args.small, client=client, user=fx.user, family=family, expires=expires)
    time_lookups(args.small, args.lookups, anon, client.client_id)  # a first pass warms every code path
    small = time_lookups(args.small, args.lookups, anon, client.client_id)
    report(f"{args.small:,} live tokens", small)

    t0 = time.perf_counter()
    add_tokens(args.small, args.rows, client=client, user=fx.user, family=family, expires=expires)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(AccessToken._meta.db_table)}")
    print(f"grew the table to {AccessToken.objects.count():,} live tokens in {time.perf_counter() - t0:.0f} s "
          f"({database_size()})", flush=True)
    large = time_lookups(args.rows, args.lookups, anon, client.client_id)
    report(f"{args.rows:,} live tokens", large)
    # Back to the small table (A-B-A), so a change in machine load between the steps shows.
    cut = AccessToken.objects.order_by("pk").values_list("pk", flat=True)[args.small - 1]
    AccessToken.objects.filter(pk__gt=cut).delete()
    again = time_lookups(args.small, args.lookups, anon, client.client_id)
    report(f"{args.small:,} live tokens again", again)
    base = {key: (small[key] + again[key]) / 2 for key in small}
    ratios = {key: large[key] / base[key]
              for key in ("lookup_p50_us", "lookup_mean_us", "request_p50_us", "revoke_p50_us")}
    print(f"ratio {args.rows:,} / {args.small:,} rows (the small table's two runs averaged): lookup p50 "
          f"{ratios['lookup_p50_us']:.2f}x, mean {ratios['lookup_mean_us']:.2f}x; protected request p50 "
          f"{ratios['request_p50_us']:.2f}x; revocation p50 {ratios['revoke_p50_us']:.2f}x (pass: <= 1.2x)",
          flush=True)
    add_tokens(args.small, args.rows, client=client, user=fx.user, family=family, expires=expires)

    t0 = time.perf_counter()
    AccessToken.objects.update(expires_at=secrets.now() - timedelta(seconds=1))
    print(f"expired all {args.rows:,} tokens in {time.perf_counter() - t0:.0f} s", flush=True)
    connection.close()
    extra = ("--batch-size", str(args.batch_size)) if args.batch_size else ()
    lines, wall, rss = cleartokens(args.db, *extra)
    shown = lines if len(lines) <= 12 else [*lines[:5], f"  ... {len(lines) - 10} more progress lines ...", *lines[-5:]]
    print("cleartokens -v 2:\n" + "\n".join(f"    {line}" for line in shown))
    _lines, base_wall, base_rss = cleartokens(args.db, *extra)
    left = AccessToken.objects.count()
    print(f"cleartokens over {args.rows:,} expired tokens: {wall:.1f} s, {len(lines) - 4} progress lines, "
          f"peak RSS {rss / 1024:.0f} MiB; the same command with nothing to delete: {base_wall:.1f} s, "
          f"peak RSS {base_rss / 1024:.0f} MiB; access tokens left: {left}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

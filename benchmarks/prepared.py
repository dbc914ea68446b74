#!/usr/bin/env python3
"""What ``oauth_provider.models._prepared`` buys, statement by statement, without HTTP.

    .venv/bin/python benchmarks/prepared.py [--db sqlite|postgres] [--iterations 2000]

Each pair runs the same statement two ways in the same process, in alternating blocks (so a
burst of load from elsewhere falls on both alike), and reports the p50 of the thread's CPU
time per call (the figure to read on a busy machine) and of the wall time:

* ``lookup``: the bearer-token lookup (the token by its hash, joined to its client, user and
  family: ~50 columns), prepared (:class:`PreparedLookup`) vs the ORM's
  ``select_related(...).filter(...)[:1]``, which compiles the query on every call;
* ``update``: the conditional UPDATE that consumes a code, prepared (:class:`PreparedUpdate`)
  vs the ORM's ``filter(...).update(...)``;
* ``insert``: a new access-token row, :func:`insert` vs ``Model.save()``.

On PostgreSQL each also runs "compiled once, unprepared": the same statement with
``POSTGRESQL_PREPARED_STATEMENTS`` off, sent as Django sends a query, so the server parses and
plans it every time (what the prepared statement saves on the server's side).

Writes run inside one transaction that is rolled back at the end, so the figures leave out
commit and fsync: they are the Python-side cost the prepared statements remove. The request
figures (``scenarios.py``, ``../shared/bench``) include everything else.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def measure(
    variants: dict[str, Callable[[], object]], iterations: int, block: int = 50
) -> dict[str, tuple[float, float]]:
    """p50 (CPU µs, wall µs) per variant, run in alternating blocks of ``block`` calls."""
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    wall: dict[str, list[float]] = {name: [] for name in variants}
    for function in variants.values():  # warm-up: compile, fill caches
        for _ in range(20):
            function()
    done = 0
    while done < iterations:
        for name, function in variants.items():
            for _ in range(block):
                t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
                function()
                c1, t1 = time.thread_time_ns(), time.perf_counter_ns()
                cpu[name].append((c1 - c0) / 1000)
                wall[name].append((t1 - t0) / 1000)
        done += block
    return {name: (statistics.median(cpu[name]), statistics.median(wall[name])) for name in variants}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--iterations", type=int, default=2000)
    args = parser.parse_args(argv)
    common.setup(args.db)
    common.fresh_database()

    from django.db import connection, transaction

    from oauth_provider import secrets
    from oauth_provider.conf import provider_settings
    from oauth_provider.models import AccessToken, Authorization, AuthorizationCode
    from oauth_provider.models._prepared import PreparedLookup, PreparedUpdate, _local, insert

    merged = provider_settings._merged()

    fx = common.create_fixtures()
    from oauth_provider.models import get_client_model

    client = get_client_model().objects.get(client_id=fx.public.client_id)
    family = Authorization.objects.create(client=client, user=fx.user, scope="read write")
    raw = secrets.generate_token()
    now = secrets.now()
    AccessToken.objects.create(
        token_hash=secrets.hash_token(raw), client=client, user=fx.user, authorization=family, scope="read",
        created_at=now, expires_at=now + timedelta(hours=1),
    )
    code = AuthorizationCode.objects.create(
        code_hash=secrets.hash_token("code"), authorization=family, code_challenge="c" * 43,
        expires_at=now + timedelta(minutes=1),
    )
    related = ("client", "user", "authorization")
    prepared_lookup = PreparedLookup(lambda: AccessToken, ("token_hash",), related)
    prepared_update = PreparedUpdate(
        lambda: AuthorizationCode,
        "UPDATE {table} SET {consumed_at} = %s WHERE {id} = %s AND {consumed_at} IS NULL",
        ("consumed_at", "id"),
    )
    token_hash = secrets.hash_token(raw)

    def orm_lookup() -> object:
        rows = list(AccessToken.objects.select_related(*related).filter(token_hash=token_hash)[:1])
        return rows[0]

    def new_token() -> AccessToken:
        when = secrets.now()
        return AccessToken(
            token_hash=secrets.hash_token(secrets.generate_token()), client=client, user=fx.user,
            authorization=family, scope="read", created_at=when, expires_at=when + timedelta(hours=1),
        )

    assert prepared_lookup.get(token_hash).pk == orm_lookup().pk  # type: ignore[attr-defined]

    def unprepared(function: Callable[[], object]) -> Callable[[], object]:
        """``function`` with POSTGRESQL_PREPARED_STATEMENTS off: compiled once, but sent as
        Django sends a query (parsed and planned by the server every time)."""
        def run() -> object:
            merged["POSTGRESQL_PREPARED_STATEMENTS"] = False
            _local.modes = {}
            try:
                return function()
            finally:
                merged["POSTGRESQL_PREPARED_STATEMENTS"] = "auto"
                _local.modes = {}
        return run

    def variants(prepared: Callable[[], object], orm: Callable[[], object], orm_name: str = "ORM") -> dict[
            str, Callable[[], object]]:
        if connection.vendor != "postgresql":
            return {"prepared": prepared, orm_name: orm}
        return {"prepared": prepared, "compiled once, unprepared": unprepared(prepared), orm_name: orm}

    results: dict[str, dict[str, tuple[float, float]]] = {}
    results["lookup"] = measure(variants(lambda: prepared_lookup.get(token_hash), orm_lookup), args.iterations)
    with transaction.atomic():
        results["update"] = measure(variants(
            lambda: prepared_update.run(secrets.now(), code.pk),
            lambda: AuthorizationCode.objects.filter(pk=code.pk, consumed_at__isnull=True).update(
                consumed_at=secrets.now()
            ),
        ), args.iterations)
        results["insert"] = measure(
            variants(lambda: insert(new_token()), lambda: new_token().save(), "save()"), args.iterations
        )
        transaction.set_rollback(True)

    env = common.environment()
    print(f"oauth_provider {env['oauth_provider']}, Django {env['django']}, Python {env['python']}, "
          f"{env['database']}, {args.iterations} calls each")
    print()
    print("| statement | variant | CPU p50 µs | wall p50 µs |")
    print("|---|---|---:|---:|")
    for statement, variants in results.items():
        for name, (cpu, wall) in variants.items():
            print(f"| {statement} | {name} | {cpu:,.1f} | {wall:,.1f} |")
    connection.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""What preparing the hot statements on the PostgreSQL server buys a protected request.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/oauth_provider_bench \\
        .venv/bin/python benchmarks/pg_prepared.py [--requests 1000]

One process, Django's default database settings, the DRF view guarded by an opaque token
(``/api/hello``) and the same view open (``/api/hello-open``), with
``POSTGRESQL_PREPARED_STATEMENTS`` switched between blocks of 25 requests (False: the
statement sent as Django sends a query, parsed and planned by the server each time; "auto":
prepared). Per variant: this process's CPU p50 (``thread_time``), the wall p50, and the mean CPU
time of the connection's PostgreSQL backend (``/proc/PID/schedstat``, so the server must run on
this machine), which other load on the machine cannot inflate the way it inflates wall time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per variant")
    args = parser.parse_args(argv)
    common.setup("postgres")
    common.fresh_database()

    import scenarios
    from django.db import connection

    from oauth_provider.conf import provider_settings
    from oauth_provider.models import _prepared

    bench = scenarios.Bench(common.create_fixtures(), None)  # type: ignore[arg-type]
    token = bench.user_token()["access_token"]
    backend = connection.connection.info.backend_pid

    def server_ns() -> int:
        with open(f"/proc/{backend}/schedstat") as stat:
            return int(stat.read().split()[0])

    def request(path: str, bearer: str | None) -> None:
        extra = {"HTTP_AUTHORIZATION": f"Bearer {bearer}"} if bearer else {}
        response = bench.anon.get(path, **extra)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code} {response.content[:200]!r}")

    def mode(value: object) -> None:
        provider_settings._merged()["POSTGRESQL_PREPARED_STATEMENTS"] = value
        _prepared._local.modes = {}

    variants = {
        "protected, unprepared": (False, "/api/hello", token),
        "protected, prepared": ("auto", "/api/hello", token),
        "open (floor)": ("auto", "/api/hello-open", None),
    }
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    wall: dict[str, list[float]] = {name: [] for name in variants}
    server = dict.fromkeys(variants, 0)
    for value, path, bearer in variants.values():  # warm-up: compile, prepare, fill caches
        mode(value)
        for _ in range(30):
            request(path, bearer)
    block = 25
    for _ in range(0, args.requests, block):
        for name, (value, path, bearer) in variants.items():
            mode(value)
            for _ in range(3):
                request(path, bearer)
            before = server_ns()
            for _ in range(block):
                t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
                request(path, bearer)
                c1, t1 = time.thread_time_ns(), time.perf_counter_ns()
                cpu[name].append((c1 - c0) / 1000)
                wall[name].append((t1 - t0) / 1000)
            server[name] += server_ns() - before
    mode("auto")
    env = common.environment()
    print(f"oauth_provider {env['oauth_provider']}, Django {env['django']}, {env['database']}, "
          f"{len(cpu['open (floor)'])} requests each")
    print()
    print("| variant | CPU p50 | wall p50 | PostgreSQL backend CPU, mean |")
    print("|---|---:|---:|---:|")
    for name in variants:
        backend_us = server[name] / len(cpu[name]) / 1000
        print(f"| {name} | {statistics.median(cpu[name]):,.0f} µs | {statistics.median(wall[name]):,.0f} µs "
              f"| {backend_us:,.0f} µs |")
    connection.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Pieces of the hot paths timed alone, in a loop: what bounds a request.

    .venv/bin/python benchmarks/pieces.py [--db postgres] [--blocks 20] [--calls 200]

Each piece runs ``--calls`` times per block, the pieces taking turns block by block, and the
thread's CPU time and the wall time of each block give a per-call figure; the table shows the
minimum and the median over ``--blocks`` blocks. Run on an idle machine: a loop keeps the
CPU's caches warm, so every piece is cheaper here than inside a request (``scenarios.py``
measures requests).

* ``bearer lookup``: the one statement of a protected request with an opaque token (the token
  joined to its client, user and family) and the four model instances it makes;
* ``authenticate()``: :func:`oauth_provider.resource.authenticate` on a request carrying that
  token (the lookup, the checks, the :class:`ResourceToken`), the request built inside the loop;
* ``request object``: building that request alone, to subtract;
* ``SELECT 1 (Django cursor)``: one round trip through Django's cursor, nothing read;
* ``four instances: from_db``: the token, client, user and family instances made by
  ``Model.from_db`` from rows of the right length, as the lookup makes them;
* ``four instances: __dict__``: the same instances with ``Model.__init__`` skipped (the state
  set by hand), the shortcut docs/performance.md measured and did not take;
* ``consent page GET``: the authorize GET of a logged-in user (``django.test.Client``);
* ``consent template``: that page's template rendered with the view's own context.

``--indexes`` instead times what an index costs a SQLite commit (rollback journal,
``synchronous=FULL``, as Django leaves it): BEGIN, one INSERT, COMMIT into a table with 0, 2, 4
and 6 secondary indexes besides a unique one, in a scratch file under ``benchmarks/.data/``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import common


def pieces(db: str) -> dict[str, Callable[[], Any]]:
    """The pieces, each a callable, on a fresh database with the scenarios' fixtures."""
    common.setup(db)
    common.fresh_database()
    from django.core.management import call_command

    call_command("rotatekeys", verbosity=0)
    import scenarios
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.db.models.base import ModelState
    from django.template import loader
    from django.test import RequestFactory

    import oauth_provider.responses as responses
    from oauth_provider import resource
    from oauth_provider.models import AccessToken, Authorization, store
    from oauth_provider.models.clients import get_client_model

    fx = common.create_fixtures()
    jwt_id, _ = common.createclient("bench-jwt", "--public", "--redirect-uri", common.REDIRECT_URI,
                                    "--grant-type", "authorization_code", "--scope", "read write",
                                    "--access-token-format", "jwt")
    bench = scenarios.Bench(fx, common.Creds(jwt_id))
    raw = bench.user_token()["access_token"]
    factory = RequestFactory()

    def request() -> Any:
        return factory.get("/api/hello", HTTP_AUTHORIZATION=f"Bearer {raw}")

    def select_one() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    models = [AccessToken, get_client_model(), get_user_model(), Authorization]
    names = {m: [f.attname for f in m._meta.concrete_fields] for m in models}
    rows = {m: [1] + [None] * (len(names[m]) - 1) for m in models}

    def from_db() -> None:
        for model in models:
            model.from_db("default", names[model], rows[model])

    def by_dict() -> None:
        for model in models:
            obj = model.__new__(model)
            obj.__dict__.update(zip(names[model], rows[model], strict=True))
            state = obj._state = ModelState()
            state.adding, state.db = False, "default"

    _, challenge = scenarios.pkce_pair()
    params = {"response_type": "code", "client_id": fx.public.client_id, "redirect_uri": common.REDIRECT_URI,
              "scope": "read write", "state": "pieces", "code_challenge_method": "S256",
              "code_challenge": challenge}
    seen: dict[str, Any] = {}
    original = responses.TemplateResponse

    class Remembering(original):  # type: ignore[misc,valid-type]
        def __init__(self, request: Any, template: Any, context: Any = None, *args: Any, **kwargs: Any) -> None:
            seen.update(request=request, template=template, context=context)
            super().__init__(request, template, context, *args, **kwargs)

    responses.TemplateResponse = Remembering  # type: ignore[misc]
    try:
        page = bench.browser.get("/o/authorize/", params)
    finally:
        responses.TemplateResponse = original  # type: ignore[misc]
    if page.status_code != 200 or "template" not in seen:
        raise SystemExit(f"the consent page did not render: HTTP {page.status_code}")
    template = loader.get_template(seen["template"])

    return {
        "bearer lookup": lambda: store.access_token_by_value(raw),
        "authenticate()": lambda: resource.authenticate(request()),
        "request object": request,
        "SELECT 1 (Django cursor)": select_one,
        "four instances: from_db": from_db,
        "four instances: __dict__": by_dict,
        "consent page GET": lambda: bench.browser.get("/o/authorize/", params),
        "consent template": lambda: template.render(dict(seen["context"]), seen["request"]),
    }


def index_costs(rounds: int = 1500) -> None:
    """p50 wall and CPU of BEGIN + INSERT + COMMIT by the number of secondary indexes."""
    import secrets
    import sqlite3

    path = common.BENCH_DIR / ".data" / "pieces-indexes.sqlite3"
    path.parent.mkdir(exist_ok=True)
    print("| secondary indexes | p50 wall µs | p50 CPU µs |")
    print("|---:|---:|---:|")
    for indexes in (0, 2, 4, 6):
        for suffix in ("", "-journal"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, h TEXT UNIQUE, c1 INT, c2 INT, c3 INT, c4 INT, "
                   "c5 INT, c6 INT, x TEXT)")
        for n in range(1, indexes + 1):
            db.execute(f"CREATE INDEX t_c{n} ON t (c{n})")
        insert = "INSERT INTO t (h, c1, c2, c3, c4, c5, c6, x) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        for n in range(2000):
            db.execute(insert, (secrets.token_hex(32), n, n, n, n, n, n, "x" * 100))
        wall, cpu = [], []
        for n in range(rounds):
            w, c = time.perf_counter(), time.thread_time()
            db.execute("BEGIN")
            db.execute(insert, (secrets.token_hex(32), n, n, n, n, n, n, "x" * 100))
            db.execute("COMMIT")
            wall.append(time.perf_counter() - w)
            cpu.append(time.thread_time() - c)
        db.close()
        print(f"| {indexes} | {statistics.median(wall) * 1e6:,.0f} | {statistics.median(cpu) * 1e6:,.0f} |")
    for suffix in ("", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--calls", type=int, default=200, help="calls per block")
    parser.add_argument("--indexes", action="store_true", help="what an index costs a SQLite commit, instead")
    args = parser.parse_args(argv)
    if args.indexes:
        index_costs()
        return 0
    if args.blocks < 1 or args.calls < 1:
        parser.error("--blocks and --calls must be positive")
    timed = pieces(args.db)
    for piece in timed.values():  # warm: the statements prepared, the templates loaded
        for _ in range(min(args.calls, 50)):
            piece()
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in timed}
    for _ in range(args.blocks):
        for name, piece in timed.items():
            cpu_start, wall_start = time.thread_time(), time.perf_counter()
            for _ in range(args.calls):
                piece()
            figures[name].append(((time.thread_time() - cpu_start) * 1e6 / args.calls,
                                  (time.perf_counter() - wall_start) * 1e6 / args.calls))
    print(common.environment())
    print()
    print("| piece | CPU min µs | CPU median µs | wall min µs | wall median µs |")
    print("|---|---:|---:|---:|---:|")
    for name, values in figures.items():
        cpu = [v[0] for v in values]
        wall = [v[1] for v in values]
        print(f"| {name} | {min(cpu):,.1f} | {statistics.median(cpu):,.1f} | {min(wall):,.1f} | "
              f"{statistics.median(wall):,.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

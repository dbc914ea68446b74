#!/usr/bin/env python3
"""Multi-process: gunicorn with 4 sync workers on PostgreSQL, driven over loopback.

    .venv/bin/pip install -e ".[bench]"     # once (gunicorn)
    .venv/bin/python benchmarks/multiprocess.py [--workers 4] [--concurrency 8] [--requests 2000]

Starts ``gunicorn benchsite.wsgi`` (``-w 4``, sync workers, persistent database connections)
on 127.0.0.1, then sends exactly ``--requests`` requests per scenario from ``--concurrency``
concurrent connections (an asyncio client in this process; one TCP connection per request,
since sync workers close after each answer) and reports throughput and p50/p99 latency:

* ``client_credentials``: POST /o/token/ with HTTP Basic;
* ``code exchange``: POST /o/token/ with a fresh code and its PKCE verifier per request (the
  codes are obtained beforehand through the authorize endpoint, in process, untimed);
* ``protected request``: GET of a DRF view with a bearer access token (opaque, one query).

Every response is checked (status 200, a token in the body); a failure is counted and shown.
Everything runs on one machine: the workers, PostgreSQL and the load generator share its
CPUs, so the figures are a lower bound for a real deployment.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import scenarios  # noqa: E402

HOST = "testserver"  # the issuer's host (benchsite.settings); any Host is allowed


def start_server(args: argparse.Namespace) -> subprocess.Popen[bytes]:
    env = dict(os.environ, BENCH_DB=args.db, DJANGO_SETTINGS_MODULE="benchsite.settings",
               PYTHONPATH=os.pathsep.join([str(common.BENCH_DIR), str(common.ROOT)]))
    command = [sys.executable, "-m", "gunicorn", "benchsite.wsgi", "--workers", str(args.workers),
               "--bind", f"127.0.0.1:{args.port}", "--worker-class", "sync", "--backlog", "512",
               "--log-level", "warning"]
    server = subprocess.Popen(command, env=env, start_new_session=True)  # noqa: S603 - fixed arguments
    deadline = time.monotonic() + 30
    url = f"http://127.0.0.1:{args.port}/o/.well-known/oauth-authorization-server"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback URL
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    stop_server(server)
    raise SystemExit("gunicorn did not answer within 30 s (is it installed? .venv/bin/pip install gunicorn)")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def http_request(
    method: str, path: str, headers: dict[str, str] | None = None, form: dict[str, str] | None = None
) -> bytes:
    body = urlencode(form or {}).encode() if method == "POST" else b""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", "Connection: close"]
    if method == "POST":
        lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def send(port: int, raw: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        data = await reader.read()  # Connection: close: the answer ends with the connection
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, body


async def load(port: int, requests: list[bytes], concurrency: int, check: Any) -> dict[str, Any]:
    """Send every request once from ``concurrency`` workers; latency per request."""
    latencies: list[float] = []
    failures: list[str] = []
    queue = iter(requests)

    async def worker() -> None:
        for raw in queue:
            t0 = time.perf_counter_ns()
            try:
                status, body = await send(port, raw)
            except OSError as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                continue
            latencies.append((time.perf_counter_ns() - t0) / 1000)
            problem = check(status, body)
            if problem:
                failures.append(problem)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    return {
        "requests": len(requests), "ok": len(requests) - len(failures), "failures": failures[:5],
        "failed": len(failures), "seconds": wall, "throughput": len(requests) / wall,
        "p50_ms": statistics.median(latencies) / 1000, "p99_ms": common.percentile(latencies, 99) / 1000,
    }


def token_answer(status: int, body: bytes) -> str | None:
    if status != 200:
        return f"HTTP {status}: {body[:120]!r}"
    if "access_token" not in json.loads(body):
        return f"no access_token: {body[:120]!r}"
    return None


def hello_answer(status: int, body: bytes) -> str | None:
    return None if status == 200 and b"bench-user" in body else f"HTTP {status}: {body[:120]!r}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent client connections")
    parser.add_argument("--requests", type=int, default=2000, help="requests per scenario (bounded)")
    parser.add_argument("--port", type=int, default=8937)
    args = parser.parse_args(argv)

    common.setup(args.db)
    common.fresh_database()
    from django.db import connection

    fx = common.create_fixtures()
    bench = scenarios.Bench(fx, common.Creds(fx.public.client_id))
    target = bench.user_token()["access_token"]
    print(common.environment())
    conf = fx.confidential
    credentials = f"{quote_plus(conf.client_id)}:{quote_plus(conf.secret or '')}"
    basic = "Basic " + base64.b64encode(credentials.encode()).decode()
    connection.close()  # the server's workers open their own

    server = start_server(args)
    results: dict[str, Any] = {}
    try:
        cc = [http_request("POST", "/o/token/", {"Authorization": basic},
                           {"grant_type": "client_credentials", "scope": "read"})] * args.requests
        results["client_credentials"] = asyncio.run(load(args.port, cc, args.concurrency, token_answer))

        # Codes live 60 s (AUTHORIZATION_CODE_LIFETIME): obtained just before they are redeemed.
        t0 = time.perf_counter()
        codes = [bench.authorize() for _ in range(args.requests)]
        connection.close()
        print(f"obtained {len(codes)} codes through the authorize endpoint in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)
        exchanges = [
            http_request("POST", "/o/token/", form={
                "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                "redirect_uri": common.REDIRECT_URI, "client_id": fx.public.client_id})
            for code, verifier in codes
        ]
        results["code exchange"] = asyncio.run(load(args.port, exchanges, args.concurrency, token_answer))

        protected = [http_request("GET", "/api/hello", {"Authorization": f"Bearer {target}"})] * args.requests
        results["protected request"] = asyncio.run(load(args.port, protected, args.concurrency, hello_answer))
    finally:
        stop_server(server)

    print(f"\ngunicorn {args.workers} sync workers, {args.db}, {args.concurrency} concurrent connections, "
          f"{args.requests} requests per scenario, {os.cpu_count()} CPUs shared by server, database and client\n")
    print("| scenario | requests | ok | throughput (req/s) | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['requests']} | {r['ok']} | {r['throughput']:,.0f} | {r['p50_ms']:.1f} | "
              f"{r['p99_ms']:.1f} |")
    for name, r in results.items():
        if r["failed"]:
            print(f"{name}: {r['failed']} failed, e.g. {r['failures']}")
    return 1 if any(r["failed"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

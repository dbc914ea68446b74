#!/usr/bin/env python3
"""Multi-process and two-node runs: gunicorn on PostgreSQL, driven over loopback.

    .venv/bin/pip install -e ".[bench]"     # once (gunicorn, redis)
    .venv/bin/python benchmarks/multiprocess.py [--workers 4] [--concurrency 8] [--requests 2000]
    .venv/bin/python benchmarks/multiprocess.py --nodes 2 --workers 2   # two nodes, Redis cache

Starts ``gunicorn benchsite.wsgi`` (sync workers, persistent database connections) on
127.0.0.1, then sends exactly ``--requests`` requests per scenario from ``--concurrency``
concurrent connections (an asyncio client in this process; one TCP connection per request,
since sync workers close after each answer) and reports throughput and p50/p99 latency:

* ``client_credentials``: POST /o/token/ with HTTP Basic;
* ``code exchange``: POST /o/token/ with a fresh code and its PKCE verifier per request (the
  codes are obtained beforehand through the authorize endpoint, in process, untimed);
* ``refresh``: POST /o/token/ with a fresh refresh token per request (rotation; obtained
  beforehand, untimed);
* ``protected request, opaque`` / ``, JWT``: GET of a DRF view with a bearer access token
  (opaque: one query; JWT: none);
* ``protected request, DPoP, opaque`` / ``, JWT``: the same with a DPoP-bound token and a
  fresh proof per request (RFC 9449 §7; signed beforehand, untimed): the proof's signature,
  and its jti in the replay cache (per process with ``locmem``, shared with ``redis``).

``--nodes 2`` starts two **independent** gunicorn instances (separate masters and ports, as
two machines behind a load balancer would be) on the same database, with Django's cache in
Redis (``BENCH_CACHE=redis``: throttle counters, the JWT denylist, replay caches and the
signing-key generation shared by both); requests alternate between the nodes. It then
measures how fast a change made through one node is seen by the other, with every answer
checked (no 5xx, and once the change is seen it stays seen):

* an opaque access token revoked at node A (RFC 7009), used at node B;
* a JWT access token revoked at node A (the denylist in the shared cache), used at node B;
* a DPoP proof used at node A, replayed at node B (RFC 9449 §11.1: refused at once, the jti
  being in the shared cache);
* ``rotatekeys --compromised`` run beside the nodes: a JWT signed by the withdrawn key used at
  each node, and each node's JWKS, until the old key is gone.

Every response is checked (status 200, a token in the body); a failure is counted and shown.
Everything runs on one machine: the workers, PostgreSQL, Redis and the load generator share its
CPUs, so the figures are a lower bound for a real deployment.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import scenarios  # noqa: E402

HOST = "testserver"  # the issuer's host (benchsite.settings); any Host is allowed


def start_server(args: argparse.Namespace, port: int) -> subprocess.Popen[bytes]:
    """One node: a gunicorn master of its own with ``--workers`` sync workers on ``port``."""
    env = dict(os.environ, BENCH_DB=args.db, BENCH_CACHE=args.cache, DJANGO_SETTINGS_MODULE="benchsite.settings",
               PYTHONPATH=os.pathsep.join([str(common.BENCH_DIR), str(common.ROOT)]))
    command = [sys.executable, "-m", "gunicorn", "benchsite.wsgi", "--workers", str(args.workers),
               "--bind", f"127.0.0.1:{port}", "--worker-class", "sync", "--backlog", "512",
               "--log-level", "warning"]
    server = subprocess.Popen(command, env=env, start_new_session=True)  # noqa: S603 - fixed arguments
    deadline = time.monotonic() + 30
    url = f"http://127.0.0.1:{port}/o/.well-known/oauth-authorization-server"
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


async def load(ports: list[int], requests: list[bytes], concurrency: int, check: Any) -> dict[str, Any]:
    """Send every request once from ``concurrency`` workers, request i to node i mod len(ports)
    (a round-robin load balancer); latency per request."""
    latencies: list[float] = []
    failures: list[str] = []
    queue = iter((ports[i % len(ports)], raw) for i, raw in enumerate(requests))

    async def worker() -> None:
        for port, raw in queue:
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


def denied(status: int, body: bytes) -> bool:
    return status == 401


Probe = Callable[[], "bool | None"]


def refused(port: int, raw: bytes) -> Probe:
    """A probe: has ``port`` refused the token in ``raw`` (401)? None: an answer that is neither."""
    def probe() -> bool | None:
        status, _body = asyncio.run(send(port, raw))
        return True if status == 401 else False if status == 200 else None
    return probe


def kid_gone(port: int, kid: str) -> Probe:
    """A probe: is ``kid`` gone from the node's JWKS?"""
    def probe() -> bool | None:
        status, body = asyncio.run(send(port, http_request("GET", "/o/jwks/")))
        return None if status != 200 else kid not in {key["kid"] for key in json.loads(body)["keys"]}
    return probe


def watch(probes: dict[str, Probe], since: float, limit: float = 5.0, settle: int = 50) -> dict[str, Any]:
    """Run the probes in turn, again and again, for at most ``limit`` seconds, until each has
    seen the change ``settle`` times in a row. A node has several worker processes, each of
    which learns of a change on its own (a key rotation: at its next look at the shared cache,
    at most a second later), so for each probe the change is *first seen* at its first
    positive answer and seen *everywhere* where its final unbroken run of positive answers
    starts. ``missed`` counts answers that did not see it yet (a revoked token accepted);
    ``errors`` answers that were neither (a 5xx)."""
    state = {name: {"first": None, "everywhere": None, "streak": 0, "missed": 0, "errors": 0} for name in probes}
    while time.perf_counter() < since + limit and any(st["streak"] < settle for st in state.values()):
        for name, probe in probes.items():
            st = state[name]
            if st["streak"] >= settle:
                continue
            seen = probe()
            now = time.perf_counter()
            if seen:
                st["first"] = st["first"] or now
                st["everywhere"] = st["everywhere"] if st["streak"] else now
                st["streak"] += 1
            else:
                st["streak"] = 0
                st["missed"] += seen is False
                st["errors"] += seen is None
    return {name: {"seen_ms": None if st["first"] is None else (st["first"] - since) * 1000,
                   "everywhere_ms": (st["everywhere"] - since) * 1000 if st["streak"] >= settle else None,
                   "missed": st["missed"], "errors": st["errors"]}
            for name, st in state.items()}


def propagation(bench: scenarios.Bench, fx: common.Fixtures, jwt_client: str, ports: list[int],
                dpop: tuple[common.DPoPClient, str]) -> dict[str, Any]:
    """Changes made through node A (or beside the nodes) as node B sees them; and a DPoP proof
    used at node A replayed at node B (the jti replay cache is the nodes' shared cache)."""
    import jwt as pyjwt
    from django.core.management import call_command
    from django.db import connection

    a, b = ports[0], ports[1]
    out: dict[str, Any] = {}
    for kind, client_id in (("opaque", fx.public.client_id), ("JWT", jwt_client)):
        token = bench.user_token(client_id)["access_token"]
        connection.close()
        use = http_request("GET", "/api/hello", {"Authorization": f"Bearer {token}"})
        assert asyncio.run(send(b, use))[0] == 200, f"{kind} token not accepted at node B before its revocation"
        revoke = http_request("POST", "/o/revoke/", form={"token": token, "client_id": client_id})
        status, body = asyncio.run(send(a, revoke))
        assert status == 200, f"revocation at node A: HTTP {status} {body[:120]!r}"
        out |= watch({f"{kind} access token revoked at node A, used at node B": refused(b, use)},
                     time.perf_counter())

    dpop_client, dpop_token = dpop
    proof = dpop_client.proof("GET", f"http://{HOST}/api/hello", dpop_token)
    use = http_request("GET", "/api/hello", {"Authorization": f"DPoP {dpop_token}", "DPoP": proof})
    status, body = asyncio.run(send(a, use))
    assert status == 200, f"DPoP request at node A: HTTP {status} {body[:120]!r}"
    out |= watch({"a DPoP proof used at node A, replayed at node B": refused(b, use)}, time.perf_counter())

    token = bench.user_token(jwt_client)["access_token"]
    old_kid = pyjwt.get_unverified_header(token)["kid"]
    connection.close()
    use = http_request("GET", "/api/hello", {"Authorization": f"Bearer {token}"})
    assert all(asyncio.run(send(port, use))[0] == 200 for port in ports), "JWT not accepted before the rotation"
    call_command("rotatekeys", "--compromised", verbosity=0, stdout=io.StringIO())
    connection.close()
    out |= watch({
        "rotatekeys --compromised: a JWT of the withdrawn key at node A": refused(a, use),
        "rotatekeys --compromised: a JWT of the withdrawn key at node B": refused(b, use),
        "rotatekeys --compromised: the withdrawn kid gone from node A's JWKS": kid_gone(a, old_kid),
        "rotatekeys --compromised: the withdrawn kid gone from node B's JWKS": kid_gone(b, old_kid),
    }, time.perf_counter())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--nodes", type=int, choices=[1, 2], default=1,
                        help="independent gunicorn instances (2: with a shared Redis cache)")
    parser.add_argument("--cache", choices=["locmem", "redis"], default=None,
                        help="Django's cache (default: locmem for one node, redis for two)")
    parser.add_argument("--workers", type=int, default=None, help="sync workers per node (default 4 / nodes)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent client connections")
    parser.add_argument("--requests", type=int, default=2000, help="requests per scenario (bounded)")
    parser.add_argument("--port", type=int, default=8937, help="the first node's port (the next node: +1)")
    args = parser.parse_args(argv)
    args.cache = args.cache or ("redis" if args.nodes > 1 else "locmem")
    args.workers = args.workers or max(1, 4 // args.nodes)
    if args.nodes > 1 and args.cache != "redis":
        parser.error("two nodes need a shared cache: --cache redis")
    os.environ["BENCH_CACHE"] = args.cache  # this process too: the key rotation it runs is announced there

    common.setup(args.db)
    common.fresh_database()
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection

    cache.clear()
    call_command("rotatekeys", "--now", verbosity=0)  # a signing key for the JWT access tokens
    fx = common.create_fixtures()
    jwt_id, _ = common.createclient("bench-jwt", "--public", "--redirect-uri", common.REDIRECT_URI,
                                    "--grant-type", "authorization_code", "--grant-type", "refresh_token",
                                    "--scope", "read write", "--access-token-format", "jwt")
    bench = scenarios.Bench(fx, common.Creds(fx.public.client_id))
    target = bench.user_token()["access_token"]
    target_jwt = bench.user_token(jwt_id)["access_token"]
    dpop_client = common.DPoPClient()  # tokens bound to its key as the token endpoint binds them
    target_dpop, target_dpop_jwt = scenarios.Bench(fx, common.Creds(jwt_id)).dpop_bound(dpop_client.jkt)
    connection.close()  # dpop_bound wrote through this process's connection
    print(common.environment())
    conf = fx.confidential
    credentials = f"{quote_plus(conf.client_id)}:{quote_plus(conf.secret or '')}"
    basic = "Basic " + base64.b64encode(credentials.encode()).decode()
    connection.close()  # the server's workers open their own

    ports = [args.port + i for i in range(args.nodes)]
    servers: list[subprocess.Popen[bytes]] = []
    results: dict[str, Any] = {}
    spread: dict[str, Any] = {}
    try:
        servers += [start_server(args, port) for port in ports]
        cc = [http_request("POST", "/o/token/", {"Authorization": basic},
                           {"grant_type": "client_credentials", "scope": "read"})] * args.requests
        results["client_credentials"] = asyncio.run(load(ports, cc, args.concurrency, token_answer))

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
        results["code exchange"] = asyncio.run(load(ports, exchanges, args.concurrency, token_answer))

        t0 = time.perf_counter()
        refresh_tokens = [bench.user_token()["refresh_token"] for _ in range(args.requests)]
        connection.close()
        print(f"obtained {len(refresh_tokens)} refresh tokens in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        refreshes = [http_request("POST", "/o/token/", form={
            "grant_type": "refresh_token", "refresh_token": rt, "client_id": fx.public.client_id})
            for rt in refresh_tokens]
        results["refresh"] = asyncio.run(load(ports, refreshes, args.concurrency, token_answer))

        for name, token in (("protected request, opaque", target), ("protected request, JWT", target_jwt)):
            protected = [http_request("GET", "/api/hello", {"Authorization": f"Bearer {token}"})] * args.requests
            results[name] = asyncio.run(load(ports, protected, args.concurrency, hello_answer))
        for name, token in (("protected request, DPoP, opaque", target_dpop),
                            ("protected request, DPoP, JWT", target_dpop_jwt)):
            # A fresh proof per request (RFC 9449 §4.2), signed before the load starts: the
            # client's work is not the server's. The jti replay cache is the nodes' shared cache.
            proofs = [dpop_client.proof("GET", f"http://{HOST}/api/hello", token) for _ in range(args.requests)]
            protected = [http_request("GET", "/api/hello", {"Authorization": f"DPoP {token}", "DPoP": proof})
                         for proof in proofs]
            results[name] = asyncio.run(load(ports, protected, args.concurrency, hello_answer))

        if args.nodes > 1:
            spread = propagation(bench, fx, jwt_id, ports, (dpop_client, target_dpop))
    finally:
        for server in servers:
            stop_server(server)

    what = (f"{args.nodes} independent gunicorn instances ({args.workers} sync workers each), Redis cache"
            if args.nodes > 1 else f"gunicorn {args.workers} sync workers, {args.cache} cache")
    print(f"\n{what}, {args.db}, {args.concurrency} concurrent connections, "
          f"{args.requests} requests per scenario, {os.cpu_count()} CPUs shared by servers, database and client\n")
    print("| scenario | requests | ok | throughput (req/s) | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['requests']} | {r['ok']} | {r['throughput']:,.0f} | {r['p50_ms']:.1f} | "
              f"{r['p99_ms']:.1f} |")
    for name, r in results.items():
        if r["failed"]:
            print(f"{name}: {r['failed']} failed, e.g. {r['failures']}")
    late = False
    if spread:
        print("\n| change, and where it is looked for | first seen after (ms) | seen by every worker after (ms) "
              "| answers not seeing it yet | errors |")
        print("|---|---:|---:|---:|---:|")
        for name, r in spread.items():
            def ms(value: float | None) -> str:
                return "not within 5 s" if value is None else f"{value:,.0f}"
            print(f"| {name} | {ms(r['seen_ms'])} | {ms(r['everywhere_ms'])} | {r['missed']} | {r['errors']} |")
            late = late or r["everywhere_ms"] is None or r["everywhere_ms"] > 1000 + 250 or r["errors"] > 0
    failed = any(r["failed"] for r in results.values())
    return 1 if failed or late else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The provider's hot paths, in process, without django-oauth-toolkit.

    .venv/bin/python benchmarks/scenarios.py [--db sqlite|postgres] [--iterations 500] [--only a,b]

Every step is one request through ``django.test.Client`` (no network, one thread, DEBUG off,
the stock middleware) against ``benchsite``, a host configured the way the README says:
clients from ``createclient --json``, the DRF classes and the decorator. Per step: a warm-up,
one pass under ``CaptureQueriesContext`` (statements per request, BEGIN/COMMIT counted
apart), then the timed iterations (``perf_counter_ns`` around the request only; the thread's
CPU time beside it, the figure to read when the machine is busy). Preparation inside an
iteration (a PKCE pair, the consent form, the token to revoke) is never timed. Responses are
checked: a wrong status or body stops the run.

The floors are the same database work with no OAuth around it: ``floor_insert`` (one INSERT
of a token-shaped row) and ``floor_select_insert`` (Basic parse, SELECT the client, compare,
INSERT), the unprotected ``drf_open`` / ``plain_open`` views the protection's overhead is
measured against, and ``floor_drf_one_query``: the open DRF view asking the database
``SELECT 1`` through Django's cursor, the least a check that asks the database once can cost.
For the side-by-side with django-oauth-toolkit use the shared harness (see
benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import json
import re
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

ISSUER = "http://testserver/o"  # benchsite.settings
RESOURCE = "https://api.bench.example/"  # benchsite.settings RESOURCES
CONSENT_FIELD = re.compile(r'name="oauth_request" value="([^"]+)"')


class CheckFailed(Exception):
    pass


def expect(response: Any, status: int, what: str) -> Any:
    if response.status_code != status:
        raise CheckFailed(f"{what}: HTTP {response.status_code}, expected {status}: {response.content[:300]!r}")
    return response


def basic(client_id: str, secret: str) -> str:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class Step:
    lat_us: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)


class Measure:
    """Wraps each measured request: ``warm`` just runs it, ``capture`` records its SQL,
    ``timed`` records wall and CPU time."""

    def __init__(self, steps: dict[str, Step], profile: str = "", profiler: Any = None) -> None:
        self.steps = steps
        self.mode = "warm"
        self.profile = profile
        self.profiler = profiler

    def __call__(self, name: str, request: Callable[[], Any]) -> Any:
        if self.mode == "warm":
            return request()
        step = self.steps.setdefault(name, Step())
        if self.mode == "capture":
            from django.db import connection
            from django.test.utils import CaptureQueriesContext

            with CaptureQueriesContext(connection) as queries:
                response = request()
            step.statements = [q["sql"] for q in queries.captured_queries]
            return response
        profiled = self.profiler is not None and name == self.profile
        if profiled:
            self.profiler.enable()
        c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
        response = request()
        t1, c1 = time.perf_counter_ns(), time.thread_time_ns()
        if profiled:
            self.profiler.disable()
        step.lat_us.append((t1 - t0) / 1000)
        step.cpu_us.append((c1 - c0) / 1000)
        return response


FORM = "application/x-www-form-urlencoded"
#: DPoP proofs signed at once, before a block of requests (the default ``--block``)
PROOF_BATCH = 10


def form_client() -> Any:
    """A test client whose POSTs are urlencoded, as OAuth clients send them (RFC 6749 §3.2;
    the back-channel endpoints take nothing else). Django's test client defaults to multipart."""
    from django.test import Client

    class FormClient(Client):
        def post(self, path: str, data: Any = None, content_type: str = FORM, **extra: Any) -> Any:
            if isinstance(data, dict) and content_type == FORM:
                data = urlencode(data)
            return super().post(path, data, content_type=content_type, **extra)

    return FormClient()


class Bench:
    """The fixtures and the HTTP conversations of the scenarios."""

    def __init__(self, fx: common.Fixtures, jwt: common.Creds) -> None:
        from django.test import Client

        self.fx = fx
        self.jwt = jwt
        self.anon = form_client()
        self.browser = Client()
        self.browser.force_login(fx.user)
        self.refresh_token = ""
        self.pool: list[str] = []

    # -- conversations ---------------------------------------------------------------------
    def authorize(self, m: Measure | None = None, client_id: str | None = None) -> tuple[str, str]:
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(12)
        params = {
            "response_type": "code", "client_id": client_id or self.fx.public.client_id,
            "redirect_uri": common.REDIRECT_URI, "scope": "read write", "state": state,
            "code_challenge": challenge, "code_challenge_method": "S256",
        }
        run = m or Measure({})
        page = expect(run("authz_get", lambda: self.browser.get("/o/authorize/", params)), 200, "authorize GET")
        found = CONSENT_FIELD.search(page.content.decode())
        if not found:
            raise CheckFailed("authorize GET: no consent form")
        form = {"oauth_request": found.group(1), "allow": "allow"}
        answer = expect(run("authz_post", lambda: self.browser.post("/o/authorize/", form)), 302, "authorize POST")
        query = parse_qs(urlsplit(answer["Location"]).query)
        if query.get("state") != [state] or "code" not in query:
            raise CheckFailed(f"authorize POST: redirected to {answer['Location']}")
        return query["code"][0], verifier

    def exchange(self, code: str, verifier: str, m: Measure | None = None,
                 client_id: str | None = None) -> dict[str, Any]:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": common.REDIRECT_URI,
                "code_verifier": verifier, "client_id": client_id or self.fx.public.client_id}
        run = m or Measure({})
        return self.token_json(run("code_exchange", lambda: self.anon.post("/o/token/", data)), "code exchange")

    @staticmethod
    def token_json(response: Any, what: str) -> dict[str, Any]:
        body = expect(response, 200, what).json()
        if body.get("token_type") != "Bearer" or "access_token" not in body:
            raise CheckFailed(f"{what}: {body}")
        return body

    def user_token(self, client_id: str | None = None) -> dict[str, Any]:
        code, verifier = self.authorize(client_id=client_id)
        return self.exchange(code, verifier, client_id=client_id)

    # -- scenarios: one iteration each -------------------------------------------------------
    def cc_token(self, m: Measure) -> None:
        creds = self.fx.confidential
        auth = basic(creds.client_id, creds.secret or "")
        self.token_json(m("cc_token", lambda: self.anon.post(
            "/o/token/", {"grant_type": "client_credentials", "scope": "read"}, HTTP_AUTHORIZATION=auth)), "cc")

    def code_flow(self, m: Measure) -> None:
        code, verifier = self.authorize(m)
        self.pool.append(self.exchange(code, verifier, m)["access_token"])

    def refresh(self, m: Measure) -> None:
        if not self.refresh_token:
            self.refresh_token = self.user_token()["refresh_token"]
        data = {"grant_type": "refresh_token", "refresh_token": self.refresh_token,
                "client_id": self.fx.public.client_id}
        body = self.token_json(m("refresh", lambda: self.anon.post("/o/token/", data)), "refresh")
        self.refresh_token = body["refresh_token"]

    def introspect(self, m: Measure) -> None:
        rs = self.fx.resource_server
        auth = basic(rs.client_id, rs.secret or "")
        body = expect(m("introspect", lambda: self.anon.post(
            "/o/introspect/", {"token": self.target}, HTTP_AUTHORIZATION=auth)), 200, "introspect").json()
        if body.get("active") is not True:
            raise CheckFailed(f"introspection of a live token: {body}")

    def revoke(self, m: Measure) -> None:
        token = self.pool.pop() if self.pool else self.user_token()["access_token"]
        data = {"token": token, "token_type_hint": "access_token", "client_id": self.fx.public.client_id}
        expect(m("revoke", lambda: self.anon.post("/o/revoke/", data)), 200, "revoke")

    def _hello(self, m: Measure, step: str, path: str, token: str | None, who: str) -> None:
        extra = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        body = expect(m(step, lambda: self.anon.get(path, **extra)), 200, step).json()
        if body.get("hello") != who:
            raise CheckFailed(f"{step}: {body}")

    def drf_protected(self, m: Measure) -> None:
        self._hello(m, "drf_protected", "/api/hello", self.target, self.fx.user.get_username())

    def _dpop(self, m: Measure, step: str, path: str, token: str, who: str) -> None:
        # The client's work (signing fresh proofs) happens before the request is timed, and in
        # batches: signing right before each request evicts the server's working set from
        # the CPU's caches, which a client on another machine never does (it billed the
        # opaque-token lookup +30 µs). A batch is a block's worth, so a proof is never old.
        queue = self.proofs.setdefault(step, [])
        if not queue:
            queue.extend(self.dpop_client.proof("GET", "http://testserver" + path, token) for _ in range(PROOF_BATCH))
        proof = queue.pop()
        extra = {"HTTP_AUTHORIZATION": f"DPoP {token}", "HTTP_DPOP": proof}
        body = expect(m(step, lambda: self.anon.get(path, **extra)), 200, step).json()
        if body.get("hello") != who:
            raise CheckFailed(f"{step}: {body}")

    def drf_dpop(self, m: Measure) -> None:
        self._dpop(m, "drf_dpop", "/api/hello", self.target_dpop, self.fx.user.get_username())

    def drf_dpop_jwt(self, m: Measure) -> None:
        self._dpop(m, "drf_dpop_jwt", "/api/scope", self.target_dpop_jwt, "read write")

    def drf_protected_jwt(self, m: Measure) -> None:
        self._hello(m, "drf_protected_jwt", "/api/hello", self.target_jwt, self.fx.user.get_username())

    def drf_jwt_no_user(self, m: Measure) -> None:
        self._hello(m, "drf_jwt_no_user", "/api/scope", self.target_jwt, "read write")

    def drf_open(self, m: Measure) -> None:
        self._hello(m, "drf_open", "/api/hello-open", None, "anonymous")

    def floor_drf_one_query(self, m: Measure) -> None:
        self._hello(m, "floor_drf_one_query", "/api/hello-one-query", None, "anonymous")

    def plain_protected(self, m: Measure) -> None:
        self._hello(m, "plain_protected", "/api/plain", self.target, self.fx.user.get_username())

    def plain_open(self, m: Measure) -> None:
        self._hello(m, "plain_open", "/api/plain-open", None, "anonymous")

    # -- the wave-2 paths: each beside the plain path it extends --------------------------------
    def cc_token_audience(self, m: Measure) -> None:
        """client_credentials for a named resource (RFC 8707): beside ``cc_token``."""
        creds = self.fx.confidential
        auth = basic(creds.client_id, creds.secret or "")
        body = self.token_json(m("cc_token_audience", lambda: self.anon.post(
            "/o/token/", {"grant_type": "client_credentials", "scope": "read", "resource": RESOURCE},
            HTTP_AUTHORIZATION=auth)), "cc with resource")
        if body.get("scope") != "read":
            raise CheckFailed(f"cc with resource: {body}")

    def cc_private_key_jwt(self, m: Measure) -> None:
        """client_credentials authenticated by a signed assertion (RFC 7523 §2.2; the jti goes
        through the replay cache): beside ``cc_token`` (HTTP Basic)."""
        import jwt

        client_id, key = self.pkjwt
        now = int(time.time())
        assertion = jwt.encode({"iss": client_id, "sub": client_id, "aud": ISSUER, "iat": now, "exp": now + 60,
                                "jti": secrets.token_urlsafe(16)}, key, algorithm="ES256")
        data = {"grant_type": "client_credentials", "scope": "read", "client_assertion": assertion,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
        self.token_json(m("cc_private_key_jwt", lambda: self.anon.post("/o/token/", data)), "private_key_jwt")

    def token_exchange(self, m: Measure) -> None:
        """A service narrows a token it holds to one scope (RFC 8693; the default adapter lets a
        client exchange only its own tokens): beside ``cc_token``."""
        client_id, secret = self.exchanger
        data = {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": self.exchange_subject,
                "subject_token_type": "urn:ietf:params:oauth:token-type:access_token", "scope": "read"}
        body = expect(m("token_exchange", lambda: self.anon.post(
            "/o/token/", data, HTTP_AUTHORIZATION=basic(client_id, secret))), 200, "token exchange").json()
        if body.get("issued_token_type") != "urn:ietf:params:oauth:token-type:access_token":
            raise CheckFailed(f"token exchange: {body}")

    def device_poll(self, m: Measure) -> None:
        """A device polling, on time, while its user has not decided (RFC 8628 §3.4):
        ``authorization_pending``. Each iteration polls a device code of its own (made untimed),
        since polling one code faster than its interval is ``slow_down``, another path."""
        data = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": self.new_device_code(),
                "client_id": self.device_client}
        body = expect(m("device_poll", lambda: self.anon.post("/o/token/", data)), 400, "device poll").json()
        if body.get("error") != "authorization_pending":
            raise CheckFailed(f"device poll: {body}")

    def new_device_code(self) -> str:
        started = self.anon.post("/o/device_authorization/", {"client_id": self.device_client, "scope": "read"})
        return str(expect(started, 200, "device authorization").json()["device_code"])

    def register(self, m: Measure) -> None:
        """Open dynamic client registration (RFC 7591) of an MCP-style native client."""
        metadata = {"redirect_uris": ["http://127.0.0.1:3030/callback"], "token_endpoint_auth_method": "none",
                    "grant_types": ["authorization_code", "refresh_token"], "application_type": "native",
                    "client_name": "bench agent"}
        answer = m("register", lambda: self.anon.post("/o/register/", json.dumps(metadata),
                                                      content_type="application/json"))
        if expect(answer, 201, "register").json().get("token_endpoint_auth_method") != "none":
            raise CheckFailed(f"register: {answer.content[:200]!r}")

    def floor_insert(self, m: Measure) -> None:
        expect(m("floor_insert", lambda: self.anon.post("/floor/insert", {"scope": "read"})), 200, "floor")

    def floor_select_insert(self, m: Measure) -> None:
        auth = basic(self.floor_client[0], self.floor_client[1])
        expect(m("floor_select_insert", lambda: self.anon.post(
            "/floor/select-insert", {"scope": "read"}, HTTP_AUTHORIZATION=auth)), 200, "floor")

    def dpop_bound(self, jkt: str) -> tuple[str, str]:
        """An opaque and a JWT access token bound to ``jkt`` (RFC 9449 §6), as the token
        endpoint binds them: the row's ``dpop_jkt``, the JWT's ``cnf.jkt``."""
        from oauth_provider import jwt, secrets
        from oauth_provider.models import AccessToken

        opaque = self.user_token()["access_token"]
        AccessToken.objects.filter(token_hash=secrets.hash_token(opaque)).update(dpop_jkt=jkt)
        claims = jwt.decode(self.user_token(self.jwt.client_id)["access_token"], typ=jwt.ACCESS_TOKEN_TYP,
                            issuer="http://testserver/o", audience=None)
        return opaque, jwt.encode({**claims, "cnf": {"jkt": jkt}}, typ=jwt.ACCESS_TOKEN_TYP)

    def prepare(self) -> None:
        from benchsite.floor.models import FloorClient

        self.target = self.user_token()["access_token"]
        self.target_jwt = self.user_token(self.jwt.client_id)["access_token"]
        self.dpop_client = common.DPoPClient()
        self.proofs: dict[str, list[str]] = {}
        self.target_dpop, self.target_dpop_jwt = self.dpop_bound(self.dpop_client.jkt)
        secret = secrets.token_urlsafe(32)
        FloorClient.objects.create(client_id="floor-client", client_secret=secret)
        self.floor_client = ("floor-client", secret)
        self.prepare_wave2()

    def prepare_wave2(self) -> None:
        """Clients for the wave-2 paths, made with ``createclient`` as a host would."""
        import jwt
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
        pk_id, _ = common.createclient("bench-private-key-jwt", "--grant-type", "client_credentials",
                                       "--scope", "read write", "--auth-method", "private_key_jwt",
                                       "--jwks", json.dumps({"keys": [{**public, "use": "sig"}]}))
        self.pkjwt = (pk_id, key)
        ex_id, ex_secret = common.createclient(
            "bench-exchanger", "--grant-type", "urn:ietf:params:oauth:grant-type:token-exchange",
            "--grant-type", "client_credentials", "--scope", "read write")
        self.exchanger = (ex_id, ex_secret or "")
        self.exchange_subject = self.token_json(self.anon.post(
            "/o/token/", {"grant_type": "client_credentials", "scope": "read write"},
            HTTP_AUTHORIZATION=basic(ex_id, ex_secret or "")), "exchanger's token")["access_token"]
        self.device_client, _ = common.createclient(
            "bench-device", "--public", "--grant-type", "urn:ietf:params:oauth:grant-type:device_code",
            "--scope", "read write")


SCENARIOS = [
    "cc_token", "code_flow", "refresh", "introspect", "revoke", "drf_protected", "drf_protected_jwt",
    "drf_jwt_no_user", "drf_dpop", "drf_dpop_jwt", "drf_open", "floor_drf_one_query", "plain_protected",
    "plain_open", "floor_insert", "floor_select_insert", "cc_token_audience", "cc_private_key_jwt", "token_exchange",
    "device_poll", "register",
]
#: scenarios that only read (timed as their own round-robin group)
READERS = frozenset({
    "introspect", "drf_protected", "drf_protected_jwt", "drf_jwt_no_user", "drf_dpop", "drf_dpop_jwt", "drf_open",
    "floor_drf_one_query", "plain_protected", "plain_open",
})
ORDER = [
    "cc_token", "cc_token_audience", "cc_private_key_jwt", "token_exchange", "device_poll", "register",
    "floor_select_insert", "authz_get", "authz_post", "code_exchange", "refresh", "floor_insert",
    "introspect", "revoke", "drf_protected", "drf_protected_jwt", "drf_jwt_no_user", "drf_dpop", "drf_dpop_jwt",
    "drf_open", "floor_drf_one_query", "plain_protected", "plain_open",
]


def kinds(statements: list[str]) -> str:
    words = [s.split(None, 1)[0].upper() for s in statements if s.strip()]
    tx = sum(1 for w in words if w not in ("SELECT", "INSERT", "UPDATE", "DELETE"))
    counted = len(words) - tx
    return f"{counted} ({'/'.join(str(words.count(w)) for w in ('SELECT', 'INSERT', 'UPDATE', 'DELETE'))}) +{tx} tx"


def run(args: argparse.Namespace) -> dict[str, Any]:
    common.setup(args.db)
    common.fresh_database()
    from django.core.management import call_command

    call_command("rotatekeys", verbosity=0)  # a signing key for the JWT access tokens
    fx = common.create_fixtures()
    jwt_id, _ = common.createclient("bench-jwt", "--public", "--redirect-uri", common.REDIRECT_URI,
                                    "--grant-type", "authorization_code", "--scope", "read write",
                                    "--access-token-format", "jwt")
    bench = Bench(fx, common.Creds(jwt_id))
    bench.prepare()
    only = {s for s in args.only.split(",") if s}
    names = [name for name in SCENARIOS if not only or name in only]
    steps: dict[str, Step] = {}
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    measures = {name: Measure(steps, args.profile, profiler) for name in names}
    for name in names:
        for _ in range(args.warmup):
            getattr(bench, name)(measures[name])
        measures[name].mode = "capture"
        getattr(bench, name)(measures[name])
        measures[name].mode = "timed"
    # Round-robin blocks: load from other processes then falls on every scenario alike, so
    # the ratios between steps stay meaningful on a shared machine. Writers and readers are
    # two groups: a commit just before a read makes SQLite re-check its page cache, which
    # would bill the protected views for the token endpoint's writes.
    gc.collect()
    b0, c0, w0 = common.busy_cpu_seconds(), time.process_time(), time.perf_counter()
    for group in ([n for n in names if n not in READERS], [n for n in names if n in READERS]):
        done = 0
        while group and done < args.iterations:
            block = min(args.block, args.iterations - done)
            for name in group:
                for _ in range(block):
                    getattr(bench, name)(measures[name])
            done += block
    b1, c1, w1 = common.busy_cpu_seconds(), time.process_time(), time.perf_counter()
    noise = None if b0 is None or b1 is None else max(0.0, ((b1 - b0) - (c1 - c0)) / (w1 - w0))
    print(f"timed {args.iterations} iterations of {len(names)} scenarios in {w1 - w0:.1f} s", file=sys.stderr)
    rows = {}
    for name, step in steps.items():
        rows[name] = {
            "n": len(step.lat_us), "p50_us": statistics.median(step.lat_us),
            "p99_us": common.percentile(step.lat_us, 99), "mean_us": statistics.fmean(step.lat_us),
            "cpu_p50_us": statistics.median(step.cpu_us), "statements": kinds(step.statements),
            "sql": step.statements,
        }
    if profiler is not None:
        import io
        import pstats

        if args.profile_out:
            profiler.dump_stats(args.profile_out)
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(20)
        print(f"cProfile of the timed `{args.profile}` requests (profiling slows them; the table's "
              f"figures for this step are not comparable):\n{out.getvalue()}", file=sys.stderr)
    return {"environment": common.environment(), "steps": rows, "other_cpu_cores": noise}


def render(result: dict[str, Any]) -> str:
    env = result["environment"]
    steps = result["steps"]
    lines = [
        f"oauth_provider {env['oauth_provider']}, Django {env['django']}, Python {env['python']}, "
        f"{env['cpus']} CPUs, {env['database']} "
        + (f"{env.get('sqlite')} journal_mode={env.get('journal_mode')} synchronous={env.get('synchronous')}"
           if env["database"] == "sqlite" else f"{env.get('server_version')} "
           f"synchronous_commit={env.get('synchronous_commit')}"),
        "",
        "| step | n | p50 µs | p99 µs | ops/s | CPU p50 µs | statements (S/I/U/D) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name in ORDER:
        if name in steps:
            r = steps[name]
            lines.append(f"| `{name}` | {r['n']} | {r['p50_us']:,.0f} | {r['p99_us']:,.0f} | "
                         f"{1e6 / r['mean_us']:,.0f} | {r['cpu_p50_us']:,.0f} | {r['statements']} |")
    derived = []
    for a, b, label in (("drf_protected", "drf_open", "DRF protection, opaque token"),
                        ("drf_protected_jwt", "drf_open", "DRF protection, JWT access token, view reads request.user"),
                        ("drf_jwt_no_user", "drf_open", "DRF protection, JWT access token, view reads request.auth"),
                        ("plain_protected", "plain_open", "decorator, opaque token"),
                        ("floor_drf_one_query", "drf_open", "floor: one `SELECT 1` in the open view (a round trip)"),
                        ("drf_protected", "floor_drf_one_query", "DRF protection, opaque token, over that floor")):
        if a in steps and b in steps:
            over = "the open view" if b.endswith("_open") else f"`{b}`"
            derived.append(f"- {label}: +{steps[a]['p50_us'] - steps[b]['p50_us']:,.0f} µs wall, "
                           f"+{steps[a]['cpu_p50_us'] - steps[b]['cpu_p50_us']:,.0f} µs CPU (p50 over {over})")
    for a, b, label in (("cc_token_audience", "cc_token", "a named resource (RFC 8707)"),
                        ("cc_private_key_jwt", "cc_token", "private_key_jwt instead of HTTP Basic"),
                        ("token_exchange", "cc_token", "token exchange instead of client_credentials"),
                        ("device_poll", "cc_token", "a pending device-code poll, against client_credentials")):
        if a in steps and b in steps:
            derived.append(f"- {label}: {steps[a]['p50_us'] - steps[b]['p50_us']:+,.0f} µs wall, "
                           f"{steps[a]['cpu_p50_us'] - steps[b]['cpu_p50_us']:+,.0f} µs CPU (p50, `{a}` - `{b}`)")
    for a, b, label in (("drf_dpop", "drf_protected", "DPoP over bearer, opaque token (proof, jti in the cache)"),
                        ("drf_dpop_jwt", "drf_jwt_no_user", "DPoP over bearer, JWT access token")):
        if a in steps and b in steps:
            derived.append(f"- {label}: +{steps[a]['p50_us'] - steps[b]['p50_us']:,.0f} µs wall, "
                           f"+{steps[a]['cpu_p50_us'] - steps[b]['cpu_p50_us']:,.0f} µs CPU (p50)")
    for a, b in (("cc_token", "floor_select_insert"), ("code_exchange", "floor_insert"), ("refresh", "floor_insert")):
        if a in steps and b in steps:
            derived.append(f"- `{a}` vs `{b}`: {steps[b]['p50_us'] / steps[a]['p50_us']:.2f}x the floor's rate "
                           f"(p50 {steps[a]['p50_us']:,.0f} vs {steps[b]['p50_us']:,.0f} µs)")
    other = result["other_cpu_cores"]
    if other is not None:
        derived.append(f"- other processes used {other:.2f} CPU cores during the timed phase"
                       + (" (a busy machine: read the CPU column and the ratios)" if other > 0.3 else ""))
    return "\n".join(lines + [""] + derived)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--block", type=int, default=10,
                        help="iterations per scenario before moving to the next (round-robin)")
    parser.add_argument("--only", default="", help=f"comma-separated: {', '.join(SCENARIOS)}")
    parser.add_argument("--json", metavar="FILE", help="also write every figure (and the SQL) as JSON")
    parser.add_argument("--profile", metavar="STEP", default="",
                        help="run the timed requests of STEP (e.g. code_exchange) under cProfile; stats on stderr")
    parser.add_argument("--profile-out", metavar="FILE", default="",
                        help="with --profile: also write the raw profile here (for pstats or snakeviz)")
    args = parser.parse_args(argv)
    unknown = sorted({s for s in args.only.split(",") if s} - set(SCENARIOS))
    if unknown:  # a step name (authz_get) is not a scenario (code_flow times it)
        parser.error(f"--only: no scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    result = run(args)
    print(render(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared fixtures and helpers.

* ``req`` marker: ``@pytest.mark.req("BCP-2.1-redirect-exact-match")`` tags a test with the
  security-checklist rule (docs/security-checklist.md) it proves; ``cve`` names the published
  vulnerability a test guards against. The run ends with the rules left without a passing
  test and the security figures (tests/support/security_report.py; ``figure`` fixture).
* Every response of an oauth_provider view is audited for its security headers
  (tests/support/header_audit.py, F17/F18); failed client authentications are forgotten between tests.
* ``assert_max_queries(n)`` / ``assert_num_queries(n)``: query budgets that ignore
  transaction-control statements (BEGIN, COMMIT, SAVEPOINT, RELEASE, ROLLBACK).
* ``oauth``: a small driver for the authorization code flow over Django's test client.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from contextlib import contextmanager
from urllib.parse import parse_qs, quote_plus, urlencode, urlsplit

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext

from oauth_provider.secrets import set_clock
from tests.support.factories import REDIRECT_URI, ClientFactory, PublicClientFactory, UserFactory

from .support import security_report

_REPORT = security_report.Report()


def _fresh_asgiref_thread_after_fork() -> None:
    """A mutation tool forks a worker per mutant from a process that has run the suite.
    asgiref's single thread for thread-sensitive ``sync_to_async`` calls made outside any
    request (``asyncio.run(resource.aauthenticate(...))``) was started in the parent; the
    fork copies its executor but not the thread, so the first such call in the child waited
    forever (mutmut then times the mutant out after minutes). The child gets an executor of
    its own."""
    from concurrent.futures import ThreadPoolExecutor

    from asgiref.sync import SyncToAsync

    SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_asgiref_thread_after_fork)


def pytest_configure(config):
    config.addinivalue_line("markers", "cve(id): the published vulnerability a test is a regression test for")


def pytest_collection_modifyitems(items):
    # On the item, so the markers travel with every report (pytest-xdist included).
    for item in items:
        for name in ("req", "cve"):
            for mark in item.iter_markers(name):
                item.user_properties.extend((name, str(arg)) for arg in mark.args)


def pytest_runtest_logreport(report):
    _REPORT.add(report.user_properties, report.when, passed=report.when == "call" and report.passed,
                skipped=report.skipped)


def pytest_terminal_summary(terminalreporter):
    terminalreporter.section("security figures (shared/specs/test-figures.md)")
    for line in _REPORT.lines():
        terminalreporter.write_line(line)


@pytest.fixture
def figure(request):
    """``figure("F25", "one summary line")``: printed at the end of the run (tests/support/security_report.py)."""

    def report(key: str, line: str) -> None:
        request.node.user_properties.append((f"figure:{key}", line))

    return report


TX_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|SET\s)", re.IGNORECASE)


def real_queries(captured) -> list[str]:
    """SQL statements from a CaptureQueriesContext, without transaction control."""
    return [q["sql"] for q in captured.captured_queries if not TX_CONTROL.match(q["sql"])]


@contextmanager
def _budget(n: int, exact: bool):
    with CaptureQueriesContext(connection) as ctx:
        yield ctx
    sql = real_queries(ctx)
    ok = len(sql) == n if exact else len(sql) <= n
    assert ok, f"expected {'exactly' if exact else 'at most'} {n} queries, got {len(sql)}:\n" + "\n".join(sql)


@pytest.fixture
def assert_max_queries():
    return lambda n: _budget(n, exact=False)


@pytest.fixture
def assert_num_queries():
    return lambda n: _budget(n, exact=True)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def basic_auth(client_id: str, secret: str) -> str:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query, keep_blank_values=True).items()}


def consent_blob(html: str) -> str:
    match = re.search(r'name="oauth_request" value="([^"]+)"', html)
    assert match, "no consent form on the page"
    return match.group(1)


class OAuthDriver:
    """Drives the authorization code flow with a logged-in browser (Django test client)."""

    def __init__(self, browser: HttpClient, api: HttpClient) -> None:
        self.browser = browser
        self.api = api

    def authorize_params(self, client, **overrides) -> tuple[dict, str]:
        verifier, challenge = pkce_pair()
        params = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": client.redirect_uri_list[0],
            "scope": "read",
            "state": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}, verifier

    def approve(self, response, remember: bool | None = None, **extra):
        """Press Allow as a browser would: the "remember" box goes with the form when the page
        offers it ticked, unless ``remember`` says otherwise."""
        html = response.content.decode()
        data = {"oauth_request": consent_blob(html), "allow": "allow", **extra}
        if remember is None:
            remember = bool(re.search(r'<input type="checkbox" id="remember" name="remember" value="1" checked>', html))
        if remember:
            data["remember"] = "1"
        return self.browser.post("/o/authorize/", data)

    def get_code(self, client, **overrides) -> tuple[str, str]:
        """Run authorize (+ consent if shown) and return (code, verifier)."""
        params, verifier = self.authorize_params(client, **overrides)
        r = self.browser.get("/o/authorize/", params)
        if r.status_code == 200:
            r = self.approve(r)
        assert r.status_code == 302, r.content[:500]
        q = query_of(r["Location"])
        assert "code" in q, r["Location"]
        return q["code"], verifier

    def token(self, client, data: dict, **extra):
        data = dict(data)
        if client.client_type == "public":
            data.setdefault("client_id", client.client_id)
        elif "HTTP_AUTHORIZATION" not in extra and "client_secret" not in data:
            extra["HTTP_AUTHORIZATION"] = basic_auth(client.client_id, client.raw_secret)
        # urlencoded, as RFC 6749 §3.2 requires (the test client's default is multipart)
        return self.api.post("/o/token/", urlencode(data), content_type="application/x-www-form-urlencoded", **extra)

    def exchange(self, client, code: str, verifier: str, **data):
        payload = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": client.redirect_uri_list[0],
            "code_verifier": verifier,
            **data,
        }
        return self.token(client, {k: v for k, v in payload.items() if v is not None})

    def tokens(self, client, **overrides) -> dict:
        code, verifier = self.get_code(client, **overrides)
        r = self.exchange(client, code, verifier)
        assert r.status_code == 200, r.content
        return r.json()


@pytest.fixture(autouse=True)
def _reset_clock():
    yield
    set_clock(None)


@pytest.fixture(autouse=True)
def _audit_security_headers(request):
    """Every response of an oauth_provider view this test caused was audited by
    tests/support/header_audit.py (F17, F18); a missing header fails the test that saw it."""
    from tests.support.header_audit import AUDIT

    before = AUDIT.snapshot()
    yield
    after = AUDIT.snapshot()
    with AUDIT.lock:
        new = AUDIT.violations[before[-1]:]
    counts = dict(zip(("F17", "F18", "F17-violations", "F18-violations"),
                      (a - b for a, b in zip(after[:4], before[:4]))))
    request.node.user_properties.extend((f"count:{k}", v) for k, v in counts.items())
    assert not new, "responses without their security headers:\n" + "\n".join(new)


@pytest.fixture(autouse=True)
def _site_language():
    """A test that negotiates a language (LocaleMiddleware, Accept-Language: fr) leaves it
    active in its thread, as Django does between requests: the next test on the same worker
    would render French pages where it expects the site's language."""
    from django.utils import translation

    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _forget_throttle_counts():
    """Failed client authentications are counted in the cache for a minute: every test
    starts with none, whatever the tests before it failed on purpose."""
    from django.core.cache import caches

    caches["default"].clear()
    yield


@pytest.fixture(autouse=True)
def _forget_memoised_results():
    """The pure functions memoised per process (a proof's htu normalised, a JWS header
    decoded, a client's key set parsed) start every test empty, so each test runs them
    rather than reading what an earlier test left: a test of one of them proves it whatever
    ran before (a mutation tool forking its workers after a whole-suite run, too)."""
    from oauth_provider import client_keys, dpop, jwt, sender_constraint

    for memoised in (dpop.normalise_uri, dpop._allowed, dpop._public_key, jwt._decoded_header,
                     client_keys._parsed, sender_constraint._origin):
        memoised.cache_clear()
    yield


@pytest.fixture(autouse=True)
def _forget_signing_keys():
    """Signing keys are cached per process; the database is rolled back per test."""
    from oauth_provider.keys import clear_cache

    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def signing_key(db):
    """An RS256 key that signs from now on."""
    from oauth_provider.keys import create_key

    return create_key("RS256", prepublish=False)


@pytest.fixture
def admin_browser(db):
    """A browser signed in as a superuser (the admin tests)."""
    from django.contrib.auth import get_user_model

    browser = HttpClient()
    browser.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    return browser


@pytest.fixture
def viewer(db):
    """A browser signed in as staff with only the view permission on every model of the app
    and of ``auth`` (the admin tests)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    staff = get_user_model().objects.create_user("viewer", "viewer@example.com", "pw", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(
        codename__startswith="view_", content_type__app_label__in=["oauth_provider", "auth"]))
    browser = HttpClient()
    browser.force_login(staff)
    return browser


@pytest.fixture
def user(db):
    return UserFactory(username="alice")


@pytest.fixture
def conf_client(db):
    return ClientFactory(name="Confidential RP", redirect_uris=REDIRECT_URI)


@pytest.fixture
def public_client(db):
    return PublicClientFactory(name="Native App")


@pytest.fixture
def browser(user):
    c = HttpClient()
    c.force_login(user)
    return c


@pytest.fixture
def oauth(browser):
    return OAuthDriver(browser, HttpClient())

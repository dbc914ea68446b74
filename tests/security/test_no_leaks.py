"""No secret is written anywhere it could be read back (F23), and every credential is a fresh
256-bit random value (F22).

**F23.** Every flow runs with every logger at DEBUG (SQL with its parameters included) and all
records captured: a password login through the host's login form, authorization code + PKCE
with OpenID Connect (ID token), a refresh, client_credentials (secret in the body too),
introspection of both tokens, UserInfo, revocation, RP-initiated logout with the ID token as
hint, and a public client's code + PKCE flow. Then every issued value (client secrets, the
password, codes, PKCE verifiers, access, refresh and ID tokens) is searched for, verbatim,
in: every log record (message, arguments, extras, exception text), every cookie the clients
hold and every Set-Cookie the server sent, every column of every row of every model's table
(``django_session`` decoded as well), and the cache. DERIVED-no-secrets-in-logs,
6819-5.1.4.1.3-no-cleartext.

**F22.** 10,000 each of codes, access tokens, refresh tokens and client secrets from the
generator the issuing code calls (proved first by spying on a real flow): no duplicates, each
the base64url form of 32 random bytes (256 bits, above the 160 OAuth 2.1 §7.7 asks), and the
bits of all of them balanced as a CSPRNG's are. O21-7.7-entropy.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.db import connection
from django.test import Client as HttpClient

from oauth_provider import secrets
from oauth_provider.models import get_client_model
from tests.conftest import OAuthDriver, basic_auth, query_of
from tests.support.factories import ClientFactory, PublicClientFactory, UserFactory
from tests.support.token_helpers import post_form

pytestmark = pytest.mark.django_db
PASSWORD = "Tr0ub4dor&3-horse-battery"


class Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        out = []
        for record in self.records:
            out += [record.getMessage(), repr(record.args), repr(record.__dict__)]
            if record.exc_info:
                out.append(logging.Formatter().formatException(record.exc_info))
        return "\n".join(out)


@pytest.fixture
def debug_log() -> Iterator[Everything]:
    """Every logger at DEBUG into one handler, SQL logging forced on; all restored afterwards."""
    handler = Everything()
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in list(logging.root.manager.loggerDict))]
    levels = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    forced = connection.force_debug_cursor
    connection.force_debug_cursor = True
    yield handler
    connection.force_debug_cursor = forced
    logging.getLogger().removeHandler(handler)
    for lg, level in levels:
        lg.setLevel(level)


class Recorder:
    """Clients whose every response is kept, for their Set-Cookie headers."""

    def __init__(self) -> None:
        self.responses: list[Any] = []
        self.clients: list[HttpClient] = []

    def client(self) -> HttpClient:
        http = HttpClient()
        original = http.request

        def request(**kwargs: Any) -> Any:
            response = original(**kwargs)
            self.responses.append(response)
            return response

        http.request = request  # type: ignore[method-assign]
        self.clients.append(http)
        return http

    def cookies(self) -> str:
        jar = [f"{k}={m.value}" for c in self.clients for k, m in c.cookies.items()]
        sent = [m.OutputString() for r in self.responses for m in r.cookies.values()]
        return "\n".join(jar + sent)


def database_dump() -> str:
    """Every column of every row of every installed model, sessions decoded too."""
    out = []
    for model in apps.get_models(include_auto_created=True):
        for row in model._base_manager.values_list():
            out.append(f"{model._meta.db_table}: {row!r}")
    for session in Session.objects.all():
        out.append(f"decoded session: {session.get_decoded()!r}")
    return "\n".join(out)


def cache_dump() -> str:
    cache = caches["default"]
    store = getattr(cache, "_cache", {})
    return "\n".join(f"{key!r}: {value!r}" for key, value in store.items())


def login_with_password(browser: HttpClient, authorize_response: Any) -> Any:
    assert authorize_response.status_code == 302 and "/accounts/login/" in authorize_response["Location"]
    login_page = browser.get(authorize_response["Location"])
    token = login_page.context["csrf_token"] if login_page.context else browser.cookies["csrftoken"].value
    next_url = query_of(authorize_response["Location"])["next"]
    response = browser.post("/accounts/login/", {"username": "leaktest", "password": PASSWORD, "next": next_url,
                                                 "csrfmiddlewaretoken": str(token)})
    assert response.status_code == 302, response.content[:300]
    return browser.get(response["Location"])


def run_every_flow(recorder: Recorder) -> list[str]:
    """All the flows; returns every secret they issued or used."""
    UserFactory(username="leaktest", password=PASSWORD)
    c1 = ClientFactory(post_logout_redirect_uris="https://rp.example/logged-out")
    c2 = ClientFactory(token_endpoint_auth_method="client_secret_post")
    p1 = PublicClientFactory()
    browser, api = recorder.client(), recorder.client()
    oauth = OAuthDriver(browser, api)
    found: list[str] = [c1.raw_secret, c2.raw_secret, PASSWORD]

    # Code + PKCE with OpenID Connect, logging in through the login form.
    params, verifier = oauth.authorize_params(c1, scope="openid read profile", nonce="n-leak")
    response = login_with_password(browser, browser.get("/o/authorize/", params))
    if response.status_code == 200:
        response = oauth.approve(response)
    code = query_of(response["Location"])["code"]
    tokens = oauth.exchange(c1, code, verifier).json()
    found += [code, verifier, tokens["access_token"], tokens["refresh_token"], tokens["id_token"]]

    refreshed = oauth.token(c1, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}).json()
    found += [refreshed["access_token"], refreshed["refresh_token"], refreshed["id_token"]]

    service = oauth.token(c1, {"grant_type": "client_credentials", "scope": "read"}).json()
    posted = post_form(api, {"grant_type": "client_credentials", "scope": "read", "client_id": c2.client_id,
                             "client_secret": c2.raw_secret}).json()
    found += [service["access_token"], posted["access_token"]]

    auth = basic_auth(c1.client_id, c1.raw_secret)
    for raw in (refreshed["access_token"], refreshed["refresh_token"]):
        assert post_form(api, {"token": raw}, path="/o/introspect/", HTTP_AUTHORIZATION=auth).json()["active"]
    assert api.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {refreshed['access_token']}").status_code == 200
    assert post_form(api, {"token": refreshed["refresh_token"]}, path="/o/revoke/",
                     HTTP_AUTHORIZATION=auth).status_code == 200
    logout = browser.get("/o/logout/", {"id_token_hint": refreshed["id_token"],
                                        "post_logout_redirect_uri": "https://rp.example/logged-out"})
    assert logout.status_code == 302

    # A public client, after logging in again.
    params, verifier = oauth.authorize_params(p1, scope="read")
    response = login_with_password(browser, browser.get("/o/authorize/", params))
    if response.status_code == 200:
        response = oauth.approve(response)
    code = query_of(response["Location"])["code"]
    public = oauth.exchange(p1, code, verifier).json()
    found += [code, verifier, public["access_token"], public["refresh_token"]]
    return found


@pytest.mark.req("DERIVED-no-secrets-in-logs")
@pytest.mark.cve("CVE-2024-4540")
@pytest.mark.req("6819-5.1.4.1.3-no-cleartext")
def test_no_issued_secret_is_found_in_logs_cookies_database_or_cache(debug_log, signing_key, figure):
    recorder = Recorder()
    issued = run_every_flow(recorder)
    assert len(set(issued)) == len(issued) == 17
    places = {"logs": debug_log.text(), "cookies": recorder.cookies(), "database": database_dump(),
              "cache": cache_dump()}
    # The scan can find something: the SQL log holds the hashes the database stores.
    assert secrets.hash_token(issued[3]) in places["logs"] + places["database"]
    assert any(r.name == "django.db.backends" for r in debug_log.records)  # SQL and its parameters
    hits = [(value[:12] + "...", place) for value in issued for place, text in places.items() if value in text]
    sizes = ", ".join(f"{place} {len(text) // 1024} KB" for place, text in places.items())
    figure("F23", f"issued secrets found in logs, cookies, database and cache after a full-flow run at DEBUG: "
                  f"{len(hits)} of {len(issued)} values searched ({len(debug_log.records)} log records; {sizes})")
    assert hits == []


# -- F22 ---------------------------------------------------------------------------------------
SAMPLES = 10_000


def test_issuing_draws_every_credential_from_the_generator(oauth, conf_client, monkeypatch):
    """White-box link for the sampling below: the code, access and refresh tokens of a real
    flow are values secrets.generate_token returned."""
    drawn: list[str] = []
    real = secrets.generate_token

    def spy() -> str:
        drawn.append(real())
        return drawn[-1]

    monkeypatch.setattr(secrets, "generate_token", spy)
    code, verifier = oauth.get_code(conf_client)
    tokens = oauth.exchange(conf_client, code, verifier).json()
    secret = get_client_model()(name="x").generate_secret()
    assert {code, tokens["access_token"], tokens["refresh_token"], secret} <= set(drawn)


def random_bytes(value: str) -> bytes:
    """The bytes a base64url value (without padding) encodes; b"" when it is not base64url."""
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
    except ValueError:
        return b""


@pytest.mark.req("O21-7.7-entropy")
def test_ten_thousand_of_each_credential_are_unique_256_bit_values(figure):
    client = get_client_model()(name="sampler")
    kinds = {
        "codes": [secrets.generate_token() for _ in range(SAMPLES)],
        "access tokens": [secrets.generate_token() for _ in range(SAMPLES)],
        "refresh tokens": [secrets.generate_token() for _ in range(SAMPLES)],
        "client secrets": [client.generate_secret() for _ in range(SAMPLES)],
    }
    everything = [v for values in kinds.values() for v in values]
    duplicates = len(everything) - len(set(everything))
    decoded = [random_bytes(v) for v in everything]
    sizes = {len(d) for d in decoded}
    bits = min(sizes) * 8
    ones = sum(bin(int.from_bytes(d, "big")).count("1") for d in decoded)
    share = ones / (len(decoded) * 256)
    figure("F22", f"{SAMPLES:,} each of codes, access tokens, refresh tokens, client secrets: {duplicates} "
                  f"duplicates (across all {len(everything):,}), {bits} bits of CSPRNG output each, "
                  f"share of 1 bits {share:.4f}")
    assert duplicates == 0
    # every value is exactly 32 random bytes in unpadded base64url (43 characters), nothing less
    assert sizes == {32}, sizes
    assert {len(v) for v in everything} == {43}
    assert all(base64.urlsafe_b64encode(d).rstrip(b"=").decode() == v for d, v in zip(decoded, everything))
    # 10.24 million bits: a fair source lands within 0.5 +- 0.001 (over 6 standard deviations).
    assert abs(share - 0.5) < 0.001


@pytest.mark.req("O21-7.7-entropy")
def test_credentials_come_from_the_operating_systems_csprng(monkeypatch):
    """The balance of bits above cannot tell a CSPRNG from a seeded ``random.Random``: both
    look fair. So pin the source: every credential's bytes are the bytes Python's ``secrets``
    module drew (``secrets.token_bytes``, which reads the OS CSPRNG, ``os.urandom``)."""
    import secrets as stdlib_secrets

    asked: list[int] = []
    pattern = bytes(range(1, 33))

    def fake_token_bytes(n: int | None = None) -> bytes:
        asked.append(n)
        return pattern[:n]

    monkeypatch.setattr(stdlib_secrets, "token_bytes", fake_token_bytes)
    token = secrets.generate_token()
    secret = get_client_model()(name="x").generate_secret()
    monkeypatch.undo()
    assert random_bytes(token) == pattern and random_bytes(secret) == pattern
    assert asked.count(32) == 2  # one 256-bit draw each (a new client also draws its client_id)

"""The example project works the way ``python3 dev.py serve``, its home page and the README say.

Both of its sites run as their own Django processes (their own settings, temporary SQLite
files), so this test goes through ``manage.py`` and HTTP only: migrate, ``seed_demo`` twice
(same clients, same secrets), then ``runserver`` for the provider site and the consumer site,
and every role exercised: the login page (identity provider), the home page's hand-made
code flow (authorization server), the notes API and the plain protected view (resource
server), the consumer site's "Log in with Example" (a client website, with its own session
beside the provider's on the same host) and the service script (client credentials).
The same walk in a real browser is tests/browser/test_walkthrough.py.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests

from tests.support.example_sites import EXAMPLE, ExampleSites, new_sites

from ..conftest import pkce_pair, query_of
from .test_third_party_clients import authorize_in_browser, submit

pytestmark = [pytest.mark.e2e]

TIMEOUT = 10
CONSUMER = "Consumer site"
SERVICE = "Nightly report"
CLI = "Demo CLI"
TV = "Notes TV"


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> ExampleSites:
    return new_sites(tmp_path_factory.mktemp("example_project"))


@pytest.fixture(scope="module")
def seeded(sites: ExampleSites) -> dict[str, dict]:
    """Migrate and seed twice; the second run must find what the first made."""
    sites.manage("check", "--fail-level", "WARNING")
    sites.manage("check", "--fail-level", "WARNING", "--settings", "consumer.settings")
    first = sites.prepare()
    stored = json.loads(sites.credentials_file.read_text())
    second = sites.prepare()
    assert json.loads(sites.credentials_file.read_text()) == stored
    assert "Registered" in first and "Registered" not in second and "Updated" not in second
    assert set(stored) == {CONSUMER, SERVICE, CLI, TV}
    assert stored[CONSUMER]["client_secret"] and stored[SERVICE]["client_secret"]
    assert stored[CLI]["client_secret"] is None and stored[TV]["client_secret"] is None
    for output in (first, second):
        for entry in stored.values():
            assert entry["client_id"] in output
            assert entry["client_secret"] is None or entry["client_secret"] in output
        assert "demo / demo-password" in output and "admin / admin-password" in output
    return stored


@pytest.fixture(scope="module")
def server(sites: ExampleSites, seeded: dict) -> Iterator[str]:
    with sites.running():
        yield sites.provider


def registered_clients(sites: ExampleSites) -> dict[str, dict]:
    dumped = json.loads(sites.manage("dumpdata", "oauth_provider.client"))
    return {row["fields"]["name"]: row["fields"] for row in dumped}


def user_tokens(server: str, seeded: dict, scope: str) -> dict:
    """Tokens for demo through the public CLI client: the hand-made flow of the home page."""
    cli = seeded[CLI]
    verifier, challenge = pkce_pair()
    query = {"response_type": "code", "client_id": cli["client_id"], "redirect_uri": "http://127.0.0.1/callback",
             "scope": scope, "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"}
    url = server + "/o/authorize/?" + urlencode(query)
    callback = authorize_in_browser(url, "http://127.0.0.1/callback", "demo", password="demo-password")
    r = requests.post(server + "/o/token/", timeout=TIMEOUT, data={
        "grant_type": "authorization_code", "client_id": cli["client_id"], "code": query_of(callback)["code"],
        "redirect_uri": "http://127.0.0.1/callback", "code_verifier": verifier,
    })
    assert r.status_code == 200, r.text
    return r.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- seeding ---------------------------------------------------------------------------------------
def test_seed_registers_the_consumer_as_an_oidc_relying_party(sites: ExampleSites, seeded: dict) -> None:
    consumer = registered_clients(sites)[CONSUMER]
    assert consumer["client_type"] == "confidential"
    assert consumer["redirect_uris"] == sites.consumer + "/callback"
    assert consumer["post_logout_redirect_uris"] == sites.consumer + "/"
    assert consumer["allowed_scopes"] == "openid profile email read write"
    assert consumer["grant_types"] == "authorization_code refresh_token"
    assert consumer["logo_uri"] == sites.consumer + "/static/consumer/logo.svg"
    assert consumer["policy_uri"] == sites.consumer + "/privacy/"
    service = registered_clients(sites)[SERVICE]
    assert service["grant_types"] == "client_credentials" and service["redirect_uris"] == ""


def test_seed_follows_the_consumer_to_another_port(tmp_path: Path) -> None:
    moved = new_sites(tmp_path)
    moved.prepare()
    elsewhere = "http://127.0.0.1:18999"
    output = moved.manage("seed_demo", env=moved.env(EXAMPLE_CONSUMER_URL=elsewhere))
    assert "Updated 'Consumer site'" in output
    consumer = registered_clients(moved)[CONSUMER]
    assert consumer["redirect_uris"] == elsewhere + "/callback"
    assert consumer["post_logout_redirect_uris"] == elsewhere + "/"


# -- identity provider and authorization server -----------------------------------------------------
def test_example_project_home_page_instructions_work(server: str, seeded: dict) -> None:
    home = requests.get(server + "/", timeout=TIMEOUT)
    assert home.status_code == 200
    page = html.unescape(home.text)
    for link in ("/o/.well-known/oauth-authorization-server", "/admin/", "/accounts/login/", "/api/notes/",
                 "/api/stats/", "service_client.py", "device_client.py", "/o/device/"):
        assert link in page
    metadata = requests.get(server + "/o/.well-known/oauth-authorization-server", timeout=TIMEOUT).json()
    # the example names its issuer in settings, as production sites must
    assert metadata["issuer"] == server + "/o"

    cli = seeded[CLI]
    authorize_url = re.search(r'href="([^"]*/o/authorize/\?[^"]*)"', page).group(1)
    verifier = re.search(r"-d code_verifier=(\S+)", page).group(1)
    assert f"client_id={cli['client_id']}" in authorize_url

    callback = authorize_in_browser(authorize_url, "http://127.0.0.1/callback", "demo", password="demo-password")
    params = query_of(callback)
    assert params["iss"] == metadata["issuer"]

    token_url = server + "/o/token/"
    tokens = requests.post(token_url, timeout=TIMEOUT, data={
        "grant_type": "authorization_code", "client_id": cli["client_id"],
        "redirect_uri": "http://127.0.0.1/callback", "code_verifier": verifier, "code": params["code"],
    })
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["scope"] == "read write"
    notes = requests.get(server + "/api/notes/", headers=bearer(tokens.json()["access_token"]), timeout=TIMEOUT)
    assert notes.status_code == 200 and "Buy milk" in [n["text"] for n in notes.json()]
    refreshed = requests.post(token_url, timeout=TIMEOUT, data={
        "grant_type": "refresh_token", "client_id": cli["client_id"],
        "refresh_token": tokens.json()["refresh_token"],
    })
    assert refreshed.status_code == 200, refreshed.text

    service = seeded[SERVICE]
    answer = requests.post(token_url, auth=(service["client_id"], service["client_secret"]), timeout=TIMEOUT,
                           data={"grant_type": "client_credentials", "scope": "read"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"] == "read"


def test_example_project_login_page_logs_in(server: str) -> None:
    with requests.Session() as browser:
        page = browser.get(server + "/accounts/login/", timeout=TIMEOUT)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        response = browser.post(server + "/accounts/login/", timeout=TIMEOUT, headers={"Referer": page.url},
                                data={"csrfmiddlewaretoken": token, "username": "admin", "password": "admin-password"})
        assert response.status_code == 200 and response.url == server + "/"
        assert "Signed in as <strong>admin</strong>" in response.text
        assert browser.get(server + "/admin/", timeout=TIMEOUT, allow_redirects=False).status_code == 200


# -- resource server -------------------------------------------------------------------------------------
@pytest.mark.req("DERIVED-client-policy")
def test_notes_api_asks_read_for_get_and_write_for_post(server: str, seeded: dict) -> None:
    assert requests.get(server + "/api/notes/", timeout=TIMEOUT).status_code == 401
    read_only = user_tokens(server, seeded, "read")["access_token"]
    listed = requests.get(server + "/api/notes/", headers=bearer(read_only), timeout=TIMEOUT)
    assert listed.status_code == 200 and "Buy milk" in [n["text"] for n in listed.json()]
    refused = requests.post(server + "/api/notes/", json={"text": "nope"}, headers=bearer(read_only), timeout=TIMEOUT)
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    assert 'scope="write"' in refused.headers["WWW-Authenticate"]

    both = user_tokens(server, seeded, "read write")["access_token"]
    added = requests.post(server + "/api/notes/", json={"text": "From the e2e test"}, headers=bearer(both),
                          timeout=TIMEOUT)
    assert added.status_code == 201, added.text
    texts = [n["text"] for n in requests.get(server + "/api/notes/", headers=bearer(both), timeout=TIMEOUT).json()]
    assert texts[0] == "From the e2e test"
    stats = requests.get(server + "/api/stats/", headers=bearer(read_only), timeout=TIMEOUT).json()
    assert stats == {"client": CLI, "user": "demo", "scope": "read", "notes": len(texts)}


def test_notes_api_schema_describes_the_providers_oauth2_scheme(server: str) -> None:
    """The example's OpenAPI document (drf-spectacular) points tools at the provider."""
    pytest.importorskip("drf_spectacular")
    r = requests.get(server + "/api/schema/", params={"format": "json"}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text[:300]
    document = r.json()
    flows = document["components"]["securitySchemes"]["oauth2"]["flows"]
    assert flows["authorizationCode"]["authorizationUrl"] == server + "/o/authorize/"
    assert flows["authorizationCode"]["tokenUrl"] == server + "/o/token/"
    assert {"read", "write"} <= set(flows["authorizationCode"]["scopes"])
    notes = document["paths"]["/api/notes/"]
    assert notes["get"]["security"] == [{"oauth2": ["read"]}]
    assert notes["post"]["security"] == [{"oauth2": ["write"]}]


def test_service_client_script_uses_client_credentials(sites: ExampleSites, server: str, seeded: dict) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE / "service_client.py"), "--provider", server],
        env=sites.env(), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "GET " + server + "/api/stats/ -> HTTP 200" in result.stdout
    answer = json.loads(result.stdout[result.stdout.index("{"):])
    assert answer["client"] == SERVICE and answer["user"] is None and answer["scope"] == "read"
    # a service token acts for no user: the personal notes stay closed to it
    service = seeded[SERVICE]
    token = requests.post(server + "/o/token/", auth=(service["client_id"], service["client_secret"]), timeout=TIMEOUT,
                          data={"grant_type": "client_credentials", "scope": "read"}).json()["access_token"]
    assert requests.get(server + "/api/notes/", headers=bearer(token), timeout=TIMEOUT).status_code == 403
    wrong = subprocess.run(
        [sys.executable, str(EXAMPLE / "service_client.py"), "--provider", server,
         "--client-id=" + service["client_id"], "--client-secret=wrong"],
        env=sites.env(), capture_output=True, text=True, timeout=60,
    )
    assert wrong.returncode == 1 and "invalid_client" in wrong.stderr


def test_device_client_script_signs_in_with_a_code_typed_in_a_browser(sites: ExampleSites, server: str,
                                                                      seeded: dict) -> None:
    """RFC 8628 from outside: device_client.py prints a code and polls; a browser logs in at
    the verification URI, types the code and allows; the script gets tokens and reads the notes."""
    device = subprocess.Popen(
        [sys.executable, "-u", str(EXAMPLE / "device_client.py"), "--provider", server],
        env=sites.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        printed = []
        assert device.stdout is not None
        for line in device.stdout:
            printed.append(line)
            if "Waiting for you" in line:
                break
        text = "".join(printed)
        match = re.search(r"enter the code:\s+([A-Z]{5}-[A-Z]{5})", text)
        assert match, text + (device.stderr.read() if device.stderr else "")
        user_code = match.group(1)
        assert f"open {server}/o/device/" in text
        assert "█" in text, "the QR code of verification_uri_complete (qrcode is in the test extra)"
        with requests.Session() as browser:
            page = browser.get(f"{server}/o/device/", timeout=TIMEOUT)  # redirected to the login page
            page = submit(browser, page, has="password", username="demo", password="demo-password")
            page = browser.get(urljoin(page.url, page.headers["Location"]), timeout=TIMEOUT)
            assert 'name="user_code"' in page.text
            consent = submit(browser, page, has="user_code", user_code=user_code.lower().replace("-", ""))
            assert consent.status_code == 200 and user_code in consent.text, consent.text[:2000]
            assert "A device asked for this, not this browser." in consent.text
            done = submit(browser, consent, has="device_request", button="allow")
            assert done.status_code == 200 and "Device connected" in done.text
        out, err = device.communicate(timeout=60)
    finally:
        if device.poll() is None:
            device.kill()
    assert device.returncode == 0, out + err
    assert f"GET {server}/api/notes/ -> HTTP 200" in out
    assert "Buy milk" in out


# -- the consumer site ---------------------------------------------------------------------------------------
def test_consumer_site_logs_in_with_example_and_reads_the_api(sites: ExampleSites, server: str,
                                                               seeded: dict) -> None:
    with requests.Session() as browser:
        home = browser.get(sites.consumer + "/", timeout=TIMEOUT)
        assert home.status_code == 200 and "Log in with Example" in home.text
        start = browser.get(sites.consumer + "/login/", timeout=TIMEOUT, allow_redirects=False)
        assert start.status_code == 302
        location = urlsplit(start.headers["Location"])
        params = {k: v[0] for k, v in parse_qs(location.query).items()}
        assert f"{location.scheme}://{location.netloc}{location.path}" == server + "/o/authorize/"
        assert params["client_id"] == seeded[CONSUMER]["client_id"]
        assert params["redirect_uri"] == sites.consumer + "/callback"
        assert params["scope"] == "openid profile email read write"
        assert params["code_challenge_method"] == "S256" and params["nonce"] and params["state"]
        # one cookie jar for both sites, as a browser has for one host: the names keep them apart
        assert "consumer_sessionid" in browser.cookies

        response = browser.get(start.headers["Location"], timeout=TIMEOUT, allow_redirects=False)
        for _ in range(10):
            if response.is_redirect:
                location = urljoin(response.url, response.headers["Location"])
                response = browser.get(location, timeout=TIMEOUT, allow_redirects=False)
            elif 'name="password"' in response.text:
                response = submit(browser, response, has="password", username="demo", password="demo-password")
            elif 'name="oauth_request"' in response.text:
                response = submit(browser, response, has="oauth_request", button="allow")
            else:
                break
        assert response.status_code == 200 and response.url == sites.consumer + "/", response.url
        assert "provider_sessionid" in browser.cookies and "consumer_sessionid" in browser.cookies
        page = html.unescape(response.text)
        assert "Welcome, Dana" in page and "Buy milk" in page
        assert "demo@example.com" in page and server + "/o" in page  # the ID token's email and iss

        logout_form = re.search(r'<form method="post" action="/logout/">.*?value="([^"]+)"', response.text, re.S)
        out = browser.post(sites.consumer + "/logout/", data={"csrfmiddlewaretoken": logout_form.group(1)},
                           headers={"Referer": response.url}, timeout=TIMEOUT, allow_redirects=False)
        assert out.status_code == 302 and out.headers["Location"].startswith(server + "/o/logout/?")
        signed_out = browser.get(urljoin(out.url, out.headers["Location"]), timeout=TIMEOUT)
        # Example's signed-out page loads the consumer's front-channel logout URI (an iframe),
        # then goes back to the consumer: the meta refresh (requests runs no script) to its link
        assert signed_out.url.startswith(server + "/o/logout/")
        assert "oauth-provider-frontchannel-logout" in signed_out.text
        refresh = re.search(r'<meta http-equiv="refresh" content="\d+;url=([^"]+)">', signed_out.text)
        back = browser.get(html.unescape(refresh.group(1)), timeout=TIMEOUT)
        assert back.url == sites.consumer + "/"
        assert "You are signed out of this site and of Example." in html.unescape(back.text)
        assert "Log in with Example" in back.text


def _consumer_login(browser: requests.Session, consumer: str, login: str = "/login/") -> requests.Response:
    response = browser.get(consumer + login, timeout=TIMEOUT, allow_redirects=False)
    for _ in range(12):
        if response.is_redirect:
            response = browser.get(urljoin(response.url, response.headers["Location"]), timeout=TIMEOUT,
                                   allow_redirects=False)
        elif 'name="password"' in response.text:
            response = submit(browser, response, has="password", username="demo", password="demo-password")
        elif 'name="oauth_request"' in response.text:
            response = submit(browser, response, has="oauth_request", button="allow")
        else:
            break
    assert response.status_code == 200 and "Welcome, Dana" in html.unescape(response.text), response.url
    return response


@pytest.mark.req("9449-7.1-rs-checks")
def test_consumer_site_with_dpop_reads_and_writes_the_api_with_bound_tokens(sites: ExampleSites, server: str,
                                                                           seeded: dict) -> None:
    """Issue 15 item 5: the consumer's "tokens bound to a key" login gets DPoP tokens from
    Example and calls the notes API (DRF) with proofs, reading and adding a note."""
    with requests.Session() as browser:
        home = browser.get(sites.consumer + "/", timeout=TIMEOUT)
        assert 'href="/login/?dpop=1"' in home.text
        page = html.unescape(_consumer_login(browser, sites.consumer, "/login/?dpop=1").text)
        assert "Token type DPoP: bound to this site's key" in re.sub(r"<[^>]+>", "", page), page[:3000]
        assert "Buy milk" in page  # GET /api/notes/ with Authorization: DPoP and a proof
        form = re.search(r'<form method="post" action="/notes/">.*?value="([^"]+)"', page, re.S)
        added = browser.post(sites.consumer + "/notes/", data={"csrfmiddlewaretoken": form.group(1),
                             "text": "Bound to a key"}, headers={"Referer": sites.consumer + "/"}, timeout=TIMEOUT)
        after = html.unescape(added.text)
        assert "Note added through the API." in after and "Bound to a key" in after


def _signed_out_of_consumer(browser: requests.Session, consumer: str, seconds: float = 10) -> bool:
    """The consumer's home page offers "Log in with Example" again (the provider's logout token
    arrives from a background thread, so give it a moment)."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if "Log in with Example" in browser.get(consumer + "/", timeout=TIMEOUT).text:
            return True
        time.sleep(0.2)
    return False


@pytest.mark.req("BCL-2.6-rp-validation")
def test_logging_out_at_example_logs_the_user_out_of_the_consumer_site(sites: ExampleSites, server: str,
                                                                        seeded: dict) -> None:
    """OpenID Connect Back-Channel Logout: the consumer registered a backchannel_logout_uri
    (seed_demo), Example POSTs a logout token there when the user logs out at Example itself,
    and the consumer validates it and ends that session."""
    bcl_uri = registered_clients(sites)[CONSUMER]["backchannel_logout_uri"]
    assert bcl_uri == sites.consumer + "/oidc/backchannel-logout"
    with requests.Session() as browser:
        _consumer_login(browser, sites.consumer)
        assert "Log in with Example" not in browser.get(sites.consumer + "/", timeout=TIMEOUT).text
        home = browser.get(server + "/", timeout=TIMEOUT)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', home.text).group(1)
        out = browser.post(server + "/accounts/logout/", data={"csrfmiddlewaretoken": token},
                           headers={"Referer": server + "/"}, timeout=TIMEOUT, allow_redirects=False)
        assert out.status_code in (200, 302), out.status_code
        assert _signed_out_of_consumer(browser, sites.consumer)


@pytest.mark.req("FCL-2-uri-origin")
def test_front_channel_logout_from_example_to_the_consumer(sites: ExampleSites, server: str, seeded: dict) -> None:
    """OpenID Connect Front-Channel Logout: the consumer registered a frontchannel_logout_uri
    with session_required (seed_demo); its page acts only for Example's issuer and the sid of
    its own login; and logging out at Example answers the page that loads it with iss and sid."""
    registered = registered_clients(sites)[CONSUMER]
    fcl_uri = registered["frontchannel_logout_uri"]
    assert fcl_uri == sites.consumer + "/oidc/frontchannel-logout"
    with requests.Session() as browser:
        _consumer_login(browser, sites.consumer)
        home = html.unescape(browser.get(sites.consumer + "/", timeout=TIMEOUT).text)
        sid = re.search(r"<code>sid</code></th><td>([^<]+)", home).group(1).strip()
        issuer = re.search(r"<code>iss</code></th><td>([^<]+)", home).group(1).strip()
        for forged in ({"iss": "https://evil.example", "sid": sid}, {"iss": issuer, "sid": "0" * 32}, {}):
            answer = requests.get(fcl_uri, params=forged, timeout=TIMEOUT)
            assert answer.status_code == 200 and "no-store" in answer.headers["Cache-Control"]
            assert "Log in with Example" not in browser.get(sites.consumer + "/", timeout=TIMEOUT).text
        # the real one (no cookie needed: the session is found by sid) ends that login at once
        assert requests.get(fcl_uri, params={"iss": issuer, "sid": sid}, timeout=TIMEOUT).status_code == 200
        assert "Log in with Example" in browser.get(sites.consumer + "/", timeout=TIMEOUT).text
        _consumer_login(browser, sites.consumer)
        # Example's own logout (its LogoutView, FrontChannelLogoutMiddleware): the page names the
        # consumer's logout URI with this login's iss and sid; loading it signs the user out there
        page = browser.get(server + "/", timeout=TIMEOUT)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        out = browser.post(server + "/accounts/logout/", data={"csrfmiddlewaretoken": token},
                           headers={"Referer": server + "/"}, timeout=TIMEOUT, allow_redirects=False)
        assert out.status_code == 200 and out.headers["X-Frame-Options"] == "DENY"
        src = html.unescape(re.search(r'<iframe class="oauth-provider-frontchannel-logout" src="([^"]+)"',
                                      out.text).group(1))
        assert src == fcl_uri + "?" + urlencode({"iss": issuer, "sid": sid})
        assert requests.get(src, timeout=TIMEOUT).status_code == 200
        assert _signed_out_of_consumer(browser, sites.consumer)


def test_the_consumer_refuses_a_forged_or_replayed_logout_token(sites: ExampleSites, server: str,
                                                                seeded: dict) -> None:
    with requests.Session() as browser:
        _consumer_login(browser, sites.consumer)
        endpoint = sites.consumer + "/oidc/backchannel-logout"
        # an ID token is signed by Example too, but it is not a logout token (§2.6, §4.1)
        for forged in ("", "not.a.jwt", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."):
            answer = requests.post(endpoint, data={"logout_token": forged}, timeout=TIMEOUT)
            assert answer.status_code == 400
        assert "Log in with Example" not in browser.get(sites.consumer + "/", timeout=TIMEOUT).text

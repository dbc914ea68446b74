"""Front-channel logout in a real browser (Debian's Chromium through Playwright).

The provider is pytest-django's live server; the relying party is another origin, a small HTTP
server on another loopback port (tests/support/http_servers.py) that records every request.
The user signs in to the RP (authorization code flow in the browser, the code exchanged over
HTTP), then the RP sends them to the end-session endpoint: the provider's page loads the RP's
``frontchannel_logout_uri`` in its invisible iframe, the RP receives ``iss`` and ``sid`` (the
``sid`` of its ID token), and the browser goes on to the post-logout redirect URI: at once
with JavaScript (when the iframe has loaded), after the timeout by the meta refresh without.

Skipped like the other browser tests when Chromium or Playwright is missing
(``OAUTH_PROVIDER_BROWSER_TESTS=required`` makes that a failure).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt as pyjwt
import pytest
import requests

from tests.support.factories import ClientFactory, UserFactory
from tests.support.http_servers import LocalServer, local_server, send
from tests.support.settings import override_oauth

from . import test_walkthrough
from .test_walkthrough import TIMEOUT_MS

#: the walkthrough's module-scoped Chromium (skipped or failed the same way when it is missing)
chromium = test_walkthrough.chromium
pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PAGE = b"<!doctype html><html lang=en><title>RP</title><h1>RP</h1></html>"


@pytest.fixture(scope="module", autouse=True)
def _sync_database_under_playwright() -> Iterator[None]:
    """Playwright's sync API keeps an event loop running in this thread, and the test's own
    database work (fixtures, the live server's data) is synchronous: Django's documented escape
    hatch, for this module only (the provider itself runs in the live server's threads)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture
def rp_server() -> Iterator[LocalServer]:
    with local_server() as server:
        for path in ("/cb", "/fc-logout", "/bye"):
            # §2: the RP's logout page should not be cached
            server.routes[path] = lambda h: send(h, 200, PAGE, "text/html",
                                                 {"Cache-Control": "no-cache, no-store", "Pragma": "no-cache"})
        yield server


def sign_in(page: Any, live_server: Any, rp_server: LocalServer, client: Any) -> dict[str, Any]:
    """The authorization code flow in the browser; returns the ID token's claims (+ ``_raw``)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect_uri = rp_server.url("/cb")
    page.goto(f"{live_server.url}/o/authorize/?" + urlencode({
        "response_type": "code", "client_id": client.client_id, "redirect_uri": redirect_uri,
        "scope": "openid", "state": "st", "code_challenge": challenge, "code_challenge_method": "S256"}))
    page.locator("input[name=username]").fill("fc-user")
    page.locator("input[name=password]").fill("fc-password")
    page.locator("form [type=submit]").click()
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(redirect_uri + "?*")
    code = parse_qs(urlsplit(page.url).query)["code"][0]
    r = requests.post(f"{live_server.url}/o/token/", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier,
    }, auth=(client.client_id, client.raw_secret), timeout=10)
    assert r.status_code == 200, r.text
    raw = r.json()["id_token"]
    return pyjwt.decode(raw, options={"verify_signature": False}) | {"_raw": raw}


def logout_requests(rp_server: LocalServer) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(r["path"]).query) for r in rp_server.requests if r["path"].startswith("/fc-logout")]


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_the_rp_receives_iss_and_sid_in_the_iframe_then_the_user_goes_back(
        chromium, live_server, rp_server, signing_key, javascript):
    UserFactory(username="fc-user", password="fc-password")
    client = ClientFactory(
        name="Front-channel RP", redirect_uris=rp_server.url("/cb"), post_logout_redirect_uris=rp_server.url("/bye"),
        frontchannel_logout_uri=rp_server.url("/fc-logout"), frontchannel_logout_session_required=True,
    )
    with override_oauth(OIDC_ENABLED=True, FRONTCHANNEL_LOGOUT={"timeout": 2}):
        context = chromium.new_context(java_script_enabled=javascript)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        try:
            id_token = sign_in(page, live_server, rp_server, client)
            started = time.monotonic()
            page.goto(f"{live_server.url}/o/logout/?" + urlencode({
                "id_token_hint": id_token["_raw"], "post_logout_redirect_uri": rp_server.url("/bye"), "state": "s1"}),
                wait_until="commit")
            page.wait_for_url(rp_server.url("/bye") + "?state=s1")
            took = time.monotonic() - started
        finally:
            context.close()
    (received,) = logout_requests(rp_server)
    assert received == {"iss": [id_token["iss"]], "sid": [id_token["sid"]]}
    fc = next(r for r in rp_server.requests if r["path"].startswith("/fc-logout"))
    assert "Referer" not in fc["headers"]  # the logout URL (with the id_token_hint) never leaks
    if javascript:
        assert took < 2, f"the script goes on once the iframe has loaded ({took:.2f}s)"
    else:
        assert took >= 1.5, f"the meta refresh waits for the timeout ({took:.2f}s)"


def test_another_user_signing_in_signs_the_first_one_out_of_the_rp_then_goes_on(
        chromium, live_server, rp_server, signing_key):
    """The RP offers "use another account" (``prompt=login``) and someone else signs in: the
    login's redirect becomes the "Switching accounts" page, whose iframe signs the first user
    out of the RP (with the first session's ``sid``), and the browser goes on to the
    authorization request, now for the second user."""
    UserFactory(username="fc-user", password="fc-password")
    UserFactory(username="fc-other", password="other-password")
    client = ClientFactory(
        name="Front-channel RP", redirect_uris=rp_server.url("/cb"),
        frontchannel_logout_uri=rp_server.url("/fc-logout"), frontchannel_logout_session_required=True,
    )
    with override_oauth(OIDC_ENABLED=True, FRONTCHANNEL_LOGOUT={"timeout": 5}):
        context = chromium.new_context()
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        try:
            id_token = sign_in(page, live_server, rp_server, client)
            challenge = base64.urlsafe_b64encode(hashlib.sha256(b"v" * 43).digest()).rstrip(b"=").decode()
            page.goto(f"{live_server.url}/o/authorize/?" + urlencode({
                "response_type": "code", "client_id": client.client_id, "redirect_uri": rp_server.url("/cb"),
                "scope": "openid", "state": "st2", "code_challenge": challenge, "code_challenge_method": "S256",
                "prompt": "login"}))
            page.locator("input[name=username]").fill("fc-other")
            page.locator("input[name=password]").fill("other-password")
            page.locator("form [type=submit]").click()
            page.get_by_role("button", name="Allow").wait_for()
            assert "/o/authorize/" in page.url
            assert "fc-other" in page.content()  # the consent page is the second user's
        finally:
            context.close()
    (received,) = logout_requests(rp_server)
    assert received == {"iss": [id_token["iss"]], "sid": [id_token["sid"]]}

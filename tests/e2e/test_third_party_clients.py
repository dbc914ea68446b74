"""Unmodified third-party OAuth clients against the provider served over real HTTP.

Each test starts from the RFC 8414 metadata document only (no endpoint URL is hard-coded),
drives the user's side like a browser (the real login form, the real consent form, cookies
and CSRF tokens) with ``requests``, and lets Authlib or requests-oauthlib do the client's
side exactly as their documentation shows. What they check on their own (state, PKCE
verifier, token-response shape, ``token_type``) is part of what is tested here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from typing import TypeVar
from urllib.parse import urljoin

import pytest
import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from django.conf import settings
from django.test import override_settings
from oauthlib.oauth2 import BackendApplicationClient
from oauthlib.oauth2.rfc6749.errors import InvalidClientError, InvalidGrantError
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session as RequestsOAuthlibSession

from tests.support.factories import ClientFactory, PublicClientFactory, UserFactory

from ..conftest import query_of

pytestmark = [pytest.mark.e2e]

PASSWORD = "correct horse battery staple"
CONF_REDIRECT = "https://rp.example/callback"
# RFC 8252 §7.3: a native app listens on the loopback interface, on a port of its choosing.
PUBLIC_REDIRECT = "http://127.0.0.1:53682/callback"
TIMEOUT = 10
S = TypeVar("S", bound=requests.Session)


# -- a browser, just enough of one --------------------------------------------------------------
class _Forms(HTMLParser):
    """Collects every <form> on a page: its action and the fields a browser would submit."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "fields": [], "buttons": []})
        elif self.forms and tag == "input" and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind == "submit":
                self.forms[-1]["buttons"].append((a["name"], a.get("value", "")))
            else:
                self.forms[-1]["fields"].append((a["name"], a.get("value", "")))
        elif self.forms and tag == "button" and a.get("name"):
            self.forms[-1]["buttons"].append((a["name"], a.get("value", "")))


def submit(session: requests.Session, page: requests.Response, *, has: str, button: str | None = None,
           **values: str) -> requests.Response:
    """Submit the form on ``page`` that has a field named ``has``, as a browser would: its
    hidden and checked fields, ``values`` typed in, and the named submit ``button``."""
    parser = _Forms()
    parser.feed(page.text)
    form = next((f for f in parser.forms if any(name == has for name, _ in f["fields"])), None)
    assert form is not None, f"no form with a {has!r} field on {page.url}:\n{page.text[:2000]}"
    data = [(name, values.pop(name, value)) for name, value in form["fields"]]
    data += list(values.items())
    if button is not None:
        data += [b for b in form["buttons"] if b[0] == button]
        assert any(name == button for name, _ in data), f"no {button!r} button on {page.url}"
    return session.post(urljoin(page.url, form["action"]), data=data, allow_redirects=False,
                        headers={"Referer": page.url}, timeout=TIMEOUT)


def authorize_in_browser(authorization_url: str, redirect_uri: str, username: str, password: str = PASSWORD) -> str:
    """Open ``authorization_url`` in a fresh browser, log in and press Allow; return the URL
    the provider finally redirects to (at ``redirect_uri``), without loading it."""
    with requests.Session() as browser:
        response = browser.get(authorization_url, allow_redirects=False, timeout=TIMEOUT)
        for _ in range(10):
            if response.is_redirect:
                location = urljoin(response.url, response.headers["Location"])
                if location.startswith(redirect_uri):
                    return location
                response = browser.get(location, allow_redirects=False, timeout=TIMEOUT)
            elif 'name="password"' in response.text:
                response = submit(browser, response, has="password", username=username, password=password)
            elif 'name="oauth_request"' in response.text:
                response = submit(browser, response, has="oauth_request", button="allow")
            else:
                pytest.fail(f"unexpected page {response.status_code} at {response.url}:\n{response.text[:2000]}")
    pytest.fail("too many steps before reaching the client's redirect URI")


# -- the provider -------------------------------------------------------------------------------
@pytest.fixture
def issuer(live_server, transactional_db) -> Iterator[str]:
    """The live server's issuer; OAUTH_PROVIDER points at it for the test's duration."""
    url = live_server.url + "/o"
    with override_settings(OAUTH_PROVIDER={**settings.OAUTH_PROVIDER, "ISSUER": url}):
        yield url


@pytest.fixture
def metadata(issuer: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The provider's RFC 8414 document, validated by Authlib's own metadata model. The live
    server speaks plain http, which both libraries refuse unless told it is a test."""
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    response = requests.get(issuer + "/.well-known/oauth-authorization-server", timeout=TIMEOUT)
    assert response.status_code == 200
    document = AuthorizationServerMetadata(response.json())
    document.validate()
    assert document["issuer"] == issuer
    assert "S256" in document["code_challenge_methods_supported"]
    return dict(document)


@pytest.fixture
def closing() -> Iterator[Callable[[S], S]]:
    """Registers client sessions to close after the test, so no keep-alive connection
    outlives the live server."""
    opened: list[requests.Session] = []

    def track(session: S) -> S:
        opened.append(session)
        return session

    yield track
    for session in opened:
        session.close()


@pytest.fixture
def resource_owner(transactional_db):
    return UserFactory(username="e2e-user", password=PASSWORD)


@pytest.fixture
def web_app(transactional_db):
    return ClientFactory(name="E2E web app", redirect_uris=CONF_REDIRECT)


@pytest.fixture
def native_app(transactional_db):
    return PublicClientFactory(name="E2E native app", redirect_uris="http://127.0.0.1/callback")


def assert_bearer(token: dict, scope: str) -> None:
    assert token["token_type"].lower() == "bearer"
    assert token["access_token"] and token["expires_in"] > 0
    # requests-oauthlib hands the scope back as a list, Authlib as the string sent
    granted = token["scope"]
    assert (granted if isinstance(granted, str) else " ".join(granted)) == scope


@pytest.mark.req("BCP-2.6-metadata")
@pytest.mark.req("8414-3 / DISC-4.3-issuer-identical")
def test_metadata_found_at_both_well_known_paths_and_valid_for_authlib(closing, metadata, live_server):
    """Authlib's RFC 8414 model accepted the document (fixture); the path-inserted form
    (RFC 8414 §3.1) serves the same one."""
    response = requests.get(live_server.url + "/.well-known/oauth-authorization-server/o", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.json() == metadata


# -- Authlib ------------------------------------------------------------------------------------
@pytest.mark.req("BCP-2.1.1-pkce-supported")
@pytest.mark.req("9207-2-iss-in-authz-response")
def test_authlib_code_flow_pkce_confidential_client_basic_then_refresh(closing, metadata, resource_owner, web_app):
    session = closing(AuthlibSession(
        web_app.client_id, web_app.raw_secret, scope="read write", redirect_uri=CONF_REDIRECT,
        code_challenge_method="S256", token_endpoint_auth_method="client_secret_basic",
    ))
    verifier = "v" * 20 + "-authlib-verifier-with-enough-entropy-" + web_app.client_id
    url, state = session.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier)
    assert f"code_challenge={create_s256_code_challenge(verifier)}" in url

    callback = authorize_in_browser(url, CONF_REDIRECT, resource_owner.username)
    params = query_of(callback)
    assert params["state"] == state
    assert params["iss"] == metadata["issuer"]

    token = session.fetch_token(
        metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    assert_bearer(token, "read write")
    first_refresh = token["refresh_token"]

    refreshed = session.refresh_token(metadata["token_endpoint"])
    assert_bearer(refreshed, "read write")
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] != first_refresh

    # the rotated-out refresh token is dead: reuse is refused
    with pytest.raises(OAuthError) as exc:
        session.refresh_token(metadata["token_endpoint"], refresh_token=first_refresh)
    assert exc.value.error == "invalid_grant"


@pytest.mark.req("BCP-2.1.1-pkce-supported")
@pytest.mark.req("9207-2-iss-in-authz-response")
@pytest.mark.req("BCP-4.14.2-public-replay-detection")
def test_authlib_code_flow_pkce_public_client(closing, metadata, resource_owner, native_app):
    session = closing(AuthlibSession(
        native_app.client_id, scope="read", redirect_uri=PUBLIC_REDIRECT,
        code_challenge_method="S256", token_endpoint_auth_method="none",
    ))
    verifier = "public-client-verifier-" + "x" * 40
    url, state = session.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier)

    callback = authorize_in_browser(url, PUBLIC_REDIRECT, resource_owner.username)
    assert query_of(callback)["iss"] == metadata["issuer"]

    token = session.fetch_token(
        metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    assert_bearer(token, "read")
    refreshed = session.refresh_token(metadata["token_endpoint"])
    assert_bearer(refreshed, "read")
    assert refreshed["refresh_token"] != token["refresh_token"]

    # replaying the first refresh token revokes the family: the new one dies with it
    with pytest.raises(OAuthError) as exc:
        session.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
    assert exc.value.error == "invalid_grant"
    with pytest.raises(OAuthError) as exc:
        session.refresh_token(metadata["token_endpoint"], refresh_token=refreshed["refresh_token"])
    assert exc.value.error == "invalid_grant"


@pytest.mark.req("BCP-2.1.1-pkce-supported")
def test_authlib_code_exchange_with_the_wrong_verifier_is_refused(closing, metadata, resource_owner, native_app):
    session = closing(AuthlibSession(
        native_app.client_id, scope="read", redirect_uri=PUBLIC_REDIRECT,
        code_challenge_method="S256", token_endpoint_auth_method="none",
    ))
    url, _ = session.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier="the-real-verifier-" + "a" * 40
    )
    callback = authorize_in_browser(url, PUBLIC_REDIRECT, resource_owner.username)
    with pytest.raises(OAuthError) as exc:
        session.fetch_token(metadata["token_endpoint"], authorization_response=callback,
                            code_verifier="an-attackers-verifier-" + "b" * 40)
    assert exc.value.error == "invalid_grant"


def test_authlib_client_credentials(closing, metadata, web_app):
    session = closing(AuthlibSession(web_app.client_id, web_app.raw_secret, scope="read"))
    token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert_bearer(token, "read")
    assert "refresh_token" not in token


# -- requests-oauthlib --------------------------------------------------------------------------
@pytest.mark.req("BCP-2.1.1-pkce-supported")
@pytest.mark.req("9207-2-iss-in-authz-response")
def test_requests_oauthlib_code_flow_pkce_then_refresh(closing, metadata, resource_owner, web_app):
    session = closing(RequestsOAuthlibSession(
        web_app.client_id, redirect_uri=CONF_REDIRECT, scope=["read", "write"], pkce="S256"
    ))
    url, state = session.authorization_url(metadata["authorization_endpoint"])
    assert "code_challenge_method=S256" in url

    callback = authorize_in_browser(url, CONF_REDIRECT, resource_owner.username)
    assert query_of(callback)["iss"] == metadata["issuer"]

    # with a client_secret, requests-oauthlib authenticates with HTTP Basic
    token = session.fetch_token(
        metadata["token_endpoint"], authorization_response=callback, client_secret=web_app.raw_secret
    )
    assert_bearer(token, "read write")

    refreshed = session.refresh_token(
        metadata["token_endpoint"], auth=HTTPBasicAuth(web_app.client_id, web_app.raw_secret)
    )
    assert_bearer(refreshed, "read write")
    assert refreshed["refresh_token"] != token["refresh_token"]

    with pytest.raises(InvalidGrantError):
        session.refresh_token(
            metadata["token_endpoint"], refresh_token=token["refresh_token"],
            auth=HTTPBasicAuth(web_app.client_id, web_app.raw_secret),
        )


def test_requests_oauthlib_backend_application_client(closing, metadata, web_app):
    session = closing(RequestsOAuthlibSession(client=BackendApplicationClient(client_id=web_app.client_id)))
    token = session.fetch_token(
        metadata["token_endpoint"], client_id=web_app.client_id, client_secret=web_app.raw_secret,
        scope=["read"],
    )
    assert_bearer(token, "read")
    assert "refresh_token" not in token


def test_requests_oauthlib_client_credentials_with_a_wrong_secret_is_invalid_client(closing, metadata, web_app):
    session = closing(RequestsOAuthlibSession(client=BackendApplicationClient(client_id=web_app.client_id)))
    with pytest.raises(InvalidClientError):
        session.fetch_token(metadata["token_endpoint"], client_id=web_app.client_id,
                            client_secret="not-the-secret", scope=["read"])

"""The device authorization grant (RFC 8628) end to end over real HTTP, without a browser: the
device talks to the live server with ``requests`` (metadata, device authorization, polling,
the API call); the user, on "another device", logs in through the real login form and types
the code with Django's test client. The same flow driven from outside against the example
project, with its device_client.py, is in test_example_project.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings
from django.test import Client as HttpClient
from django.test import override_settings

from tests.support.factories import DEVICE_GRANT, DeviceClientFactory, UserFactory

pytestmark = [pytest.mark.e2e]

PASSWORD = "correct horse battery staple"
TIMEOUT = 10


@pytest.fixture
def issuer(live_server, transactional_db) -> Iterator[str]:
    url = live_server.url + "/o"
    with override_settings(OAUTH_PROVIDER={**settings.OAUTH_PROVIDER, "ISSUER": url, "DEVICE_CODE_INTERVAL": 1}):
        yield url


def local(url: str) -> str:
    """The path and query of ``url``, for the test client."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.mark.req("8628-3.1-endpoint")
@pytest.mark.req("8628-3.3-user-code-entry")
@pytest.mark.req("8628-3.5-error-states")
def test_device_flow_from_metadata_to_api_call(issuer, live_server):
    device_client = DeviceClientFactory(name="Living-room TV")
    UserFactory(username="viewer", password=PASSWORD)

    # the device: metadata, then a code
    metadata = requests.get(issuer + "/.well-known/oauth-authorization-server", timeout=TIMEOUT).json()
    assert DEVICE_GRANT in metadata["grant_types_supported"]
    started = requests.post(metadata["device_authorization_endpoint"], timeout=TIMEOUT,
                            data={"client_id": device_client.client_id, "scope": "read"})
    assert started.status_code == 200 and started.headers["Cache-Control"] == "no-store"
    grant = started.json()
    assert grant["verification_uri"] == issuer + "/device/"

    def poll() -> requests.Response:
        return requests.post(metadata["token_endpoint"], timeout=TIMEOUT, data={
            "grant_type": DEVICE_GRANT, "device_code": grant["device_code"], "client_id": device_client.client_id})

    first = poll()
    assert first.status_code == 400 and first.json()["error"] == "authorization_pending"

    # the user, on a phone: the complete URI leads to the login page and back, pre-filled
    phone = HttpClient()
    login = phone.get(local(grant["verification_uri_complete"]))
    assert login.status_code == 302 and login["Location"].startswith("/accounts/login/")
    back = phone.post(login["Location"], {"username": "viewer", "password": PASSWORD,
                                          "next": local(grant["verification_uri_complete"])})
    assert back.status_code == 302, back.content[:500]
    form = phone.get(back["Location"])
    assert f'value="{grant["user_code"]}"' in form.content.decode()
    consent = phone.post("/o/device/", {"user_code": grant["user_code"]})
    assert consent.status_code == 200 and b"Living-room TV" in consent.content
    blob = consent.context["consent_blob"]
    done = phone.post("/o/device/", {"device_request": blob, "allow": "allow"})
    assert b"Device connected" in done.content

    # the device again: polls at its interval until the tokens come, then calls the API
    time.sleep(grant["interval"])
    tokens = poll()
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["scope"] == "read" and body["refresh_token"]
    api = requests.get(live_server.url + "/api/plain/", timeout=TIMEOUT,
                       headers={"Authorization": f"Bearer {body['access_token']}"})
    assert api.status_code == 200 and api.json()["user"] == "viewer"
    assert api.json()["client_id"] == device_client.client_id
    # the code is spent; the refresh token works like any other
    time.sleep(grant["interval"])
    assert poll().json()["error"] == "invalid_grant"
    refreshed = requests.post(metadata["token_endpoint"], timeout=TIMEOUT, data={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": device_client.client_id})
    assert refreshed.status_code == 200, refreshed.text

"""Helpers for the device authorization grant tests (RFC 8628): start a flow, enter its code
as a logged-in user, decide, poll."""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpResponse
from django.test import Client as HttpClient

from tests.conftest import basic_auth
from tests.support.factories import DEVICE_GRANT
from tests.support.token_helpers import post_form

DEVICE_AUTHORIZATION = "/o/device_authorization/"
VERIFICATION = "/o/device/"


def credentials(client) -> dict[str, Any]:
    """How ``client`` authenticates: Basic for a confidential one, client_id for a public one."""
    if client.is_public:
        return {"data": {"client_id": client.client_id}, "headers": {}}
    return {"data": {}, "headers": {"HTTP_AUTHORIZATION": basic_auth(client.client_id, client.raw_secret)}}


def start(api: HttpClient, client, **data: str) -> HttpResponse:
    auth = credentials(client)
    return post_form(api, {**auth["data"], **data}, DEVICE_AUTHORIZATION, **auth["headers"])


def started(api: HttpClient, client, **data: str) -> dict[str, Any]:
    """A started flow's response (scope ``read`` unless ``data`` says otherwise)."""
    response = start(api, client, **{"scope": "read", **data})
    assert response.status_code == 200, response.content
    return response.json()


def poll(api: HttpClient, client, device_code: str, **extra: str) -> HttpResponse:
    auth = credentials(client)
    body = {**auth["data"], "grant_type": DEVICE_GRANT, "device_code": device_code, **extra}
    return post_form(api, body, **auth["headers"])


def consent_blob(html: str) -> str:
    match = re.search(r'name="device_request" value="([^"]+)"', html)
    assert match, "no device consent form on the page:\n" + html[:2000]
    return match.group(1)


def enter(browser: HttpClient, user_code: str) -> HttpResponse:
    return browser.post(VERIFICATION, {"user_code": user_code})


def decide(browser: HttpClient, page: HttpResponse, allow: bool = True, **extra: Any) -> HttpResponse:
    data = {"device_request": consent_blob(page.content.decode()), **extra}
    data["allow" if allow else "deny"] = "allow" if allow else "deny"
    return browser.post(VERIFICATION, data)


def approve(browser: HttpClient, user_code: str) -> HttpResponse:
    page = enter(browser, user_code)
    assert page.status_code == 200, page.content.decode()[:2000]
    done = decide(browser, page)
    assert done.status_code == 200 and b"Device connected" in done.content, done.content.decode()[:2000]
    return done

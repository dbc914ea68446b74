"""Helpers shared by the token-endpoint, grant and client-authentication tests.

* :func:`assert_error` checks one RFC 6749 §5.2 error response completely (status, JSON,
  error code, legal ``error_description`` characters, no tokens, ``no-store``), so every
  negative test also proves the error shape.
* :func:`post_form` sends a raw ``application/x-www-form-urlencoded`` body (the test client
  would otherwise send multipart and cannot repeat a parameter).
* :class:`FrozenClock` drives :func:`oauth_provider.secrets.set_clock`; conftest restores
  the real clock after every test.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.http import HttpResponse
from django.test import Client as HttpClient
from django.utils import timezone

from oauth_provider.models import AccessToken, Authorization, RefreshToken
from oauth_provider.secrets import set_clock

TOKEN_URL = "/o/token/"
FORM = "application/x-www-form-urlencoded"

#: RFC 6749 §5.2 error codes the token endpoint may answer with.
TOKEN_ERRORS = frozenset({
    "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
    "unsupported_grant_type", "invalid_scope",
    "invalid_target",  # RFC 8707 §2, RFC 8693 §2.2.2
    "invalid_dpop_proof", "use_dpop_nonce",  # RFC 9449 §5, §8
})
#: RFC 6749 §5.2: error_description = 1*( %x20-21 / %x23-5B / %x5D-7E )
LEGAL_DESCRIPTION = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]+")


def assert_no_store(response: HttpResponse) -> None:
    """RFC 6749 §5.1 / OAuth 2.1 §3.2.3."""
    assert response["Cache-Control"] == "no-store", response.headers
    assert response["Pragma"] == "no-cache", response.headers


def assert_error(response: HttpResponse, error: str, status: int | None = None) -> dict[str, Any]:
    """Assert ``response`` is the RFC 6749 §5.2 error ``error``; return the JSON body."""
    expected = status if status is not None else (401 if error == "invalid_client" else 400)
    assert response.status_code == expected, (response.status_code, response.content)
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    body = response.json()
    assert body["error"] == error, body
    assert body["error"] in TOKEN_ERRORS
    assert "access_token" not in body and "refresh_token" not in body, body
    if "error_description" in body:
        assert LEGAL_DESCRIPTION.fullmatch(body["error_description"]), body["error_description"]
    assert_no_store(response)
    return body


def post_form(
    api: HttpClient, data: Mapping[str, str] | Sequence[tuple[str, str]] | str, path: str = TOKEN_URL,
    **extra: Any,
) -> HttpResponse:
    """POST ``data`` urlencoded (a str is sent as it is)."""
    body = data if isinstance(data, str) else urlencode(data)
    return api.post(path, body, content_type=FORM, **extra)


class FrozenClock:
    """A clock for :func:`set_clock` that only moves when told to. Installs itself."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or timezone.now()
        set_clock(self)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


def access_token_row(raw: str) -> AccessToken:
    return AccessToken.objects.by_value(raw).select_related("authorization").get()


def refresh_token_row(raw: str) -> RefreshToken:
    return RefreshToken.objects.by_value(raw).select_related("authorization").get()


def family_of_access_token(raw: str) -> Authorization:
    family = access_token_row(raw).authorization
    assert family is not None
    return family

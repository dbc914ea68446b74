"""Fuzzing dynamic client registration (RFC 7591) and client configuration (RFC 7592).

The form-parameter fuzzer (test_fuzz.py) cannot reach these endpoints' JSON bodies, so this
one generates them: JSON objects whose members are RFC 7591 names (and privileged or unknown
ones) with hostile values of every JSON type, nested, oversized, or not JSON at all, sent as
registrations and as updates of a registered client with its real registration access token.

Every answer: no 5xx and nothing logged at ERROR; an error is JSON with ``no-store``, an
``error`` from RFC 7591 §3.2.2 / RFC 6750 and a legal ``error_description``; a ``201`` or
``200`` never shows a privileged field, never an ``http`` redirect URI off loopback, never a
``javascript:`` or fragment URI, and the stored client never skips consent.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest
from django.core.cache import caches
from django.test import Client as HttpClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oauth_provider.models import get_client_model
from tests.support.fuzzing import NASTY
from tests.support.settings import override_oauth

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "400"))
ERRORS = frozenset({"invalid_redirect_uri", "invalid_client_metadata", "invalid_software_statement",
                    "unapproved_software_statement", "invalid_token", "access_denied", "invalid_request"})
DESCRIPTION = re.compile(r"^[\x20-\x21\x23-\x5b\x5d-\x7e]*$")
NAMES = (
    "redirect_uris", "token_endpoint_auth_method", "grant_types", "response_types", "client_name", "client_uri",
    "logo_uri", "scope", "contacts", "tos_uri", "policy_uri", "jwks_uri", "jwks", "software_id",
    "software_version", "software_statement", "application_type", "post_logout_redirect_uris",
    "token_endpoint_auth_signing_alg", "client_id", "client_secret", "registration_access_token",
    "skip_consent", "is_resource_server", "owner", "is_active", "client_type", "x" * 300, "",
)
URIS = ("https://rp.example/cb", "http://127.0.0.1:3030/cb", "http://rp.example/cb", "javascript:alert(1)",
        "https://rp.example/cb#f", "com.example.app:/cb", "https://*.rp.example/cb", "http://localhost/cb",
        "http://[::1]:80/cb", "//evil.example", "https://rp.example:99999/cb", "data:text/html,x")
SCALARS = st.one_of(
    st.sampled_from(NASTY + URIS + ("native", "web", "none", "client_secret_basic", "private_key_jwt")),
    st.text(max_size=60), st.integers(), st.floats(allow_nan=False), st.booleans(), st.none(),
)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                           st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                           max_leaves=12)
METADATA = st.dictionaries(st.sampled_from(NAMES), st.one_of(JSON_VALUES, st.lists(st.sampled_from(URIS), max_size=3)),
                           max_size=8)
BODIES = st.one_of(
    METADATA.map(json.dumps),
    JSON_VALUES.map(json.dumps),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.sampled_from(['{"redirect_uris": ', "[" * 5000, '{"a": ' * 3000, "\ufeff{}", "{}" * 1000]),
)
CONTENT_TYPES = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain",
                                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""])
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])
PRIVILEGED = ("skip_consent", "is_resource_server", "owner", "is_active", "client_type")


def check(response: Any) -> list[str]:
    problems = []
    if response.status_code >= 500:
        return [f"status {response.status_code}"]
    if response.status_code in (201, 200):
        info = response.json()
        problems += [f"privileged field {name} shown" for name in PRIVILEGED if name in info]
        for uri in info.get("redirect_uris", []):
            if uri.startswith("http://") and not re.match(r"^http://(127\.0\.0\.1|\[::1\]|localhost)[:/]", uri):
                problems.append(f"http redirect URI registered: {uri}")
            if uri.lower().startswith(("javascript:", "data:")) or "#" in uri or "*" in uri:
                problems.append(f"dangerous redirect URI registered: {uri}")
        if response["Cache-Control"] != "no-store":
            problems.append("no no-store on a registration answer")
        return problems
    if response.status_code in (400, 401, 403, 413, 429):
        if response.get("Content-Type") != "application/json":
            return [f"{response.status_code} is not JSON"]
        if response["Cache-Control"] != "no-store":
            problems.append("error without no-store")
        body = response.json()
        if body.get("error") not in ERRORS and not (response.status_code == 401 and body == {}):
            problems.append(f"error {body.get('error')!r}")
        if not DESCRIPTION.match(body.get("error_description", "")):
            problems.append("illegal error_description")
    return problems


@pytest.fixture
def registered(db) -> dict:
    caches["default"].clear()
    with override_oauth(DYNAMIC_REGISTRATION="open", REGISTRATION_THROTTLE={"enabled": False}):
        response = HttpClient().post("/o/register/", json.dumps({"redirect_uris": ["https://rp.example/cb"]}),
                                     content_type="application/json")
    assert response.status_code == 201
    return response.json()


@override_oauth(DYNAMIC_REGISTRATION="open", REGISTRATION_THROTTLE={"enabled": False})
def test_registration_and_update_survive_hostile_bodies(registered, figure):
    http = HttpClient()
    uri = registered["registration_client_uri"][len("https://testserver"):]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {registered['registration_access_token']}"}
    seen: set[str] = set()
    found: list[str] = []

    @FUZZ
    @given(body=BODIES, content_type=CONTENT_TYPES, update=st.booleans(), keep_id=st.booleans())
    def one(body: str, content_type: str, update: bool, keep_id: bool) -> None:
        nonlocal auth
        if update and keep_id:
            try:
                data = json.loads(body)
            except (ValueError, RecursionError):
                data = None
            if isinstance(data, dict):
                data["client_id"] = registered["client_id"]
                body = json.dumps(data)
        seen.add(f"{update}{content_type}{body}")
        if update:
            response = http.put(uri, body, content_type=content_type, **auth)
            if response.status_code == 200:  # the token rotated: follow it
                auth = {"HTTP_AUTHORIZATION": f"Bearer {response.json()['registration_access_token']}"}
        else:
            response = http.post("/o/register/", body, content_type=content_type)
        found.extend(f"{response.status_code} for {body[:120]!r}: {p}" for p in check(response))

    one()
    assert not found, "\n".join(found[:20])
    assert not get_client_model().objects.filter(skip_consent=True).exists()
    assert not get_client_model().objects.filter(is_resource_server=True).exists()
    figure("F4-registration", f"registration / RFC 7592 update: {len(seen)} distinct hostile requests, 0 problems")

"""The token endpoint as a whole (RFC 6749 §3.2 and §5, OAuth 2.1 §3.2): transport rules,
the error shape, no-store headers, and how codes and tokens are minted and stored."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from urllib.parse import urlencode

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client as HttpClient

from oauth_provider import secrets
from oauth_provider.issuing import issue_tokens, new_code
from oauth_provider.models import AccessToken
from oauth_provider.models.store import insert
from tests.support.factories import AuthorizationFactory, ClientFactory
from tests.support.token_helpers import (
    FORM,
    LEGAL_DESCRIPTION,
    TOKEN_URL,
    assert_error,
    assert_no_store,
    post_form,
)

from ..conftest import basic_auth

pytestmark = pytest.mark.django_db

BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


@pytest.fixture
def api_client() -> HttpClient:
    return HttpClient()


def code_exchange_body(client, code: str, verifier: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
        "redirect_uri": client.redirect_uri_list[0],
    }


# -- transport ---------------------------------------------------------------------------------


@pytest.mark.req("6749-3.2-token-post-only")
@pytest.mark.req("O21-3.2.3-no-store")
@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_only_post_is_accepted_and_the_code_survives(oauth, conf_client, method):
    code, verifier = oauth.get_code(conf_client)
    query = code_exchange_body(conf_client, code, verifier)
    auth = basic_auth(conf_client.client_id, conf_client.raw_secret)
    if method == "get":
        r = oauth.api.get(TOKEN_URL, query, HTTP_AUTHORIZATION=auth)
    else:
        r = getattr(oauth.api, method)(TOKEN_URL, urlencode(query), content_type=FORM, HTTP_AUTHORIZATION=auth)
    assert_error(r, "invalid_request", status=405)
    assert "POST" in r["Allow"]

    r = oauth.exchange(conf_client, code, verifier)
    assert r.status_code == 200, r.content
    assert r.json()["access_token"]


@pytest.mark.req("6749-5.2-error-shape")
def test_json_body_is_invalid_request(oauth, conf_client):
    code, verifier = oauth.get_code(conf_client)
    r = oauth.api.post(
        TOKEN_URL, code_exchange_body(conf_client, code, verifier), content_type="application/json",
        HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret),
    )
    assert_error(r, "invalid_request")
    # the refused request did not consume the code
    assert oauth.exchange(conf_client, code, verifier).status_code == 200


@pytest.mark.req("6749-5.2-error-shape")
def test_client_credentials_in_a_json_body_do_not_authenticate(api_client, conf_client):
    r = api_client.post(
        TOKEN_URL,
        {"grant_type": "client_credentials", "scope": "read", "client_id": conf_client.client_id,
         "client_secret": conf_client.raw_secret},
        content_type="application/json",
    )
    assert_error(r, "invalid_request")


@pytest.mark.req("O21-3.1-no-repeated-params")
@pytest.mark.parametrize("repeated", ["grant_type", "code", "code_verifier", "redirect_uri"])
def test_repeated_parameters_are_invalid_request(oauth, conf_client, repeated):
    code, verifier = oauth.get_code(conf_client)
    body = list(code_exchange_body(conf_client, code, verifier).items())
    body.append((repeated, dict(body)[repeated]))  # the same value twice: still a repeat
    r = post_form(oauth.api, body, HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret))
    assert_error(r, "invalid_request")
    assert oauth.exchange(conf_client, code, verifier).status_code == 200


@pytest.mark.req("O21-2.4.1-secret-not-in-uri")
def test_credentials_in_the_query_string_are_ignored(api_client, conf_client):
    query = f"client_id={conf_client.client_id}&client_secret={conf_client.raw_secret}"
    r = post_form(api_client, {"grant_type": "client_credentials", "scope": "read"}, path=f"{TOKEN_URL}?{query}")
    assert_error(r, "invalid_client")


@pytest.mark.req("O21-2.4.1-secret-not-in-uri")
def test_a_whole_request_in_the_query_string_is_not_read(api_client, conf_client):
    """Everything, grant_type included, in the URI and an empty body: nothing is read from
    the query, so the request lacks grant_type and gets no token."""
    query = (
        f"grant_type=client_credentials&scope=read&client_id={conf_client.client_id}"
        f"&client_secret={conf_client.raw_secret}"
    )
    r = post_form(api_client, "", path=f"{TOKEN_URL}?{query}")
    assert_error(r, "invalid_request")


@pytest.mark.req("6749-5.2-error-shape")
@pytest.mark.req("DERIVED-input-size")
def test_multipart_body_without_a_boundary_is_invalid_request(api_client, conf_client):
    r = api_client.post(
        TOKEN_URL, b"grant_type=client_credentials", content_type="multipart/form-data",
        HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret),
    )
    assert_error(r, "invalid_request")


class Unreadable:
    """A WSGI input stream that fails the test if anything reads it."""

    def read(self, *args: object) -> bytes:
        raise AssertionError("the body was read")

    readline = read


def unread_post(path: str, content_type: str, length: int, **meta: str):
    """``path`` answered for a POST whose body must not be read at all."""
    from django.core.handlers.wsgi import WSGIRequest
    from django.urls import resolve

    request = WSGIRequest({
        "REQUEST_METHOD": "POST", "PATH_INFO": path, "SERVER_NAME": "testserver", "SERVER_PORT": "443",
        "wsgi.url_scheme": "https", "wsgi.input": Unreadable(), "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(length), "REMOTE_ADDR": "127.0.0.1", **meta,
    })
    response = resolve(path).func(request)
    response.json = lambda: json.loads(response.content)  # as the test client's responses have
    return response


BACK_CHANNEL = ["/o/token/", "/o/introspect/", "/o/revoke/"]


@pytest.mark.parametrize("path", BACK_CHANNEL)
def test_a_small_multipart_form_is_read_as_a_form(api_client, conf_client, path):
    """Django's test client and some HTTP libraries send every form as multipart/form-data:
    a small one is read like the urlencoded body RFC 6749 §3.2 names."""
    data = {"grant_type": "client_credentials", "scope": "read", "token": "x" * 43}
    r = api_client.post(path, data, HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret))
    assert r.status_code == 200, r.content


@pytest.mark.req("DERIVED-input-size")
@pytest.mark.parametrize("path", BACK_CHANNEL)
def test_a_file_part_is_invalid_request(api_client, conf_client, path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = {"grant_type": "client_credentials", "token": "x" * 43, "f": SimpleUploadedFile("a.txt", b"x" * 100)}
    r = api_client.post(path, data, HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret))
    assert_error(r, "invalid_request")


@pytest.mark.parametrize("path", BACK_CHANNEL)
@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "application/xml"])
def test_a_body_that_is_not_a_form_is_invalid_request(api_client, conf_client, path, content_type):
    r = api_client.post(path, b'{"grant_type": "client_credentials"}', content_type=content_type,
                        HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret))
    body = assert_error(r, "invalid_request")
    assert body["error_description"] == f"The body must be {FORM}."


@pytest.mark.req("DERIVED-input-size")
@pytest.mark.parametrize("path", BACK_CHANNEL)
def test_a_20_mb_upload_is_refused_without_reading_it(conf_client, path):
    auth = basic_auth(conf_client.client_id, conf_client.raw_secret)
    r = unread_post(path, "multipart/form-data; boundary=xyz", 20 * 1024 * 1024, HTTP_AUTHORIZATION=auth)
    assert_error(r, "invalid_request")


@pytest.mark.req("DERIVED-input-size")
@pytest.mark.parametrize("path", BACK_CHANNEL)
def test_a_form_body_declared_too_large_is_refused_without_reading_it(conf_client, path):
    auth = basic_auth(conf_client.client_id, conf_client.raw_secret)
    r = unread_post(path, FORM, 20 * 1024 * 1024, HTTP_AUTHORIZATION=auth)
    body = assert_error(r, "invalid_request")
    assert body["error_description"] == "The request body is too large."
    # a malformed length neither
    assert_error(unread_post(path, FORM, -1, HTTP_AUTHORIZATION=auth), "invalid_request")


@pytest.mark.req("6749-5.2-error-shape")
@pytest.mark.req("DERIVED-input-size")
def test_too_many_fields_and_too_long_values_are_invalid_request(api_client, conf_client):
    auth = basic_auth(conf_client.client_id, conf_client.raw_secret)
    many = "grant_type=client_credentials&" + "&".join(f"x{i}=1" for i in range(5000))
    assert_error(post_form(api_client, many, HTTP_AUTHORIZATION=auth), "invalid_request")
    long_scope = {"grant_type": "client_credentials", "scope": "read " * 20_000}
    assert_error(post_form(api_client, long_scope, HTTP_AUTHORIZATION=auth), "invalid_request")


# -- the error shape ---------------------------------------------------------------------------

HOSTILE = 'x"\\\r\n\t\x7f<é€>'


@pytest.mark.req("6749-5.2-error-shape")
@pytest.mark.req("O21-4.1.2.1-error-charset")
@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"grant_type": HOSTILE}, "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "code": HOSTILE, "code_verifier": HOSTILE}, "invalid_grant"),
        ({"grant_type": "refresh_token", "refresh_token": HOSTILE}, "invalid_grant"),
        ({"grant_type": "client_credentials", "scope": HOSTILE}, "invalid_scope"),
        ({"grant_type": "client_credentials", "scope": "read nope\\x"}, "invalid_scope"),
        ({"grant_type": "client_credentials", "scope": "\x00"}, "invalid_request"),
        ({}, "invalid_request"),
    ],
)
def test_errors_are_json_with_legal_descriptions(api_client, conf_client, body, error):
    r = post_form(api_client, body, HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret))
    assert_error(r, error)


@pytest.mark.req("O21-4.1.2.1-error-charset")
def test_hostile_client_id_in_an_error_description_is_made_legal(api_client):
    r = post_form(api_client, {"grant_type": "client_credentials", "client_id": HOSTILE, "client_secret": HOSTILE})
    body = assert_error(r, "invalid_client")
    assert LEGAL_DESCRIPTION.fullmatch(body.get("error_description", "ok"))


# -- no-store on every answer --------------------------------------------------------------------


@pytest.mark.req("O21-3.2.3-no-store")
def test_every_token_response_is_no_store(oauth, conf_client, api_client):
    auth = basic_auth(conf_client.client_id, conf_client.raw_secret)
    code, verifier = oauth.get_code(conf_client)
    responses = {
        "code 200": oauth.exchange(conf_client, code, verifier),
        "code replay 400": oauth.exchange(conf_client, code, verifier),
    }
    code, verifier = oauth.get_code(conf_client)
    tokens = oauth.exchange(conf_client, code, verifier).json()
    responses["refresh 200"] = oauth.token(
        conf_client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    responses["client_credentials 200"] = post_form(
        api_client, {"grant_type": "client_credentials", "scope": "read"}, HTTP_AUTHORIZATION=auth
    )
    responses["bad secret 401"] = post_form(
        api_client, {"grant_type": "client_credentials"},
        HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, "wrong"),
    )
    responses["no auth 401"] = post_form(api_client, {"grant_type": "client_credentials"})
    responses["unsupported 400"] = post_form(api_client, {"grant_type": "password"}, HTTP_AUTHORIZATION=auth)
    responses["GET 405"] = api_client.get(TOKEN_URL)
    responses["json 400"] = api_client.post(TOKEN_URL, {}, content_type="application/json")
    statuses = {name: r.status_code for name, r in responses.items()}
    assert statuses == {
        "code 200": 200, "code replay 400": 400, "refresh 200": 200, "client_credentials 200": 200,
        "bad secret 401": 401, "no auth 401": 401, "unsupported 400": 400, "GET 405": 405, "json 400": 400,
    }
    for response in responses.values():
        assert_no_store(response)
        assert response["Content-Type"] == "application/json"


# -- minting and storage ------------------------------------------------------------------------


@pytest.mark.req("O21-7.7-entropy")
def test_a_thousand_codes_and_tokens_are_unique_and_long(rf):
    family = AuthorizationFactory()
    request = rf.post(TOKEN_URL)
    values: dict[str, list[str]] = {"code": [], "access": [], "refresh": [], "secret": []}
    for _ in range(1000):
        raw, code = new_code(authorization=family, redirect_uri="", code_challenge="x" * 43,
                             code_challenge_method="S256")
        insert(code)
        values["code"].append(raw)
        issued = issue_tokens(
            request, grant_type="refresh_token", client=family.client, user=family.user,
            scope="read", authorization=family, refresh_scope="read",
        )
        values["access"].append(issued.access_token)
        values["refresh"].append(issued.refresh_token or "")
        values["secret"].append(family.client.generate_secret())
    everything = [v for kind in values.values() for v in kind]
    assert len(set(everything)) == len(everything) == 4000
    for value in everything:
        assert len(value) >= 43 and BASE64URL.fullmatch(value), value
        # >= 256 bits of randomness behind each (RFC 6749 §10.10 asks for <= 2^-128 odds)
        assert len(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))) >= 32


def _database_dump() -> str:
    """Every value of every table, as text (white-box scan, RFC 6819 §5.1.4.1.3)."""
    chunks: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            chunks.extend(repr(row) for row in cursor.fetchall())
    chunks.extend(repr(s.get_decoded()) for s in Session.objects.all())
    return "\n".join(chunks)


@pytest.mark.req("6819-5.1.4.1.3-no-cleartext")
def test_nothing_is_stored_in_plaintext_after_a_full_flow(oauth, api_client):
    client = ClientFactory(raw_secret="a-client-secret-that-must-not-be-stored-0123456789")
    code, verifier = oauth.get_code(client, scope="read write")
    first = oauth.exchange(client, code, verifier).json()
    second = oauth.token(client, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}).json()
    cc = post_form(
        api_client, {"grant_type": "client_credentials", "scope": "read"},
        HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret),
    ).json()
    raw_values = {
        "code": code, "verifier": verifier, "client secret": client.raw_secret,
        "access 1": first["access_token"], "refresh 1": first["refresh_token"],
        "access 2": second["access_token"], "refresh 2": second["refresh_token"],
        "client_credentials access": cc["access_token"],
    }
    dump = _database_dump()
    # the scan sees the stored digests, so it would see the raw values too
    assert hashlib.sha256(first["access_token"].encode()).hexdigest() in dump
    assert hashlib.sha256(code.encode()).hexdigest() in dump
    leaked = [name for name, raw in raw_values.items() if raw in dump]
    assert leaked == []
    cookies = " ".join(c.value for c in oauth.browser.cookies.values())
    assert [name for name, raw in raw_values.items() if raw in cookies] == []


def test_stored_digest_is_sha256_of_the_value(oauth, conf_client):
    """The digest is the plain SHA-256 hex django-oauth-toolkit keeps as token_checksum, so
    migrated tokens keep working (DESIGN.md, storage rules)."""
    tokens = oauth.tokens(conf_client)
    digest = hashlib.sha256(tokens["access_token"].encode()).hexdigest()
    assert AccessToken.objects.filter(token_hash=digest).count() == 1
    assert secrets.hash_token(tokens["access_token"]) == digest

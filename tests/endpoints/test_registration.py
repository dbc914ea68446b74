"""Dynamic client registration (RFC 7591) and client configuration (RFC 7592), and how an
attacker would abuse them: flooding, redirect-URI tricks, privileged fields, software
statements, oversize and non-JSON bodies, another client's or a replaced registration
access token."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape
from io import StringIO
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.core.cache import caches
from django.core.management import CommandError, call_command
from django.test import Client as HttpClient

from oauth_provider import secrets
from oauth_provider.adapter import DefaultAdapter
from oauth_provider.models import ClientRegistration, Consent, InitialAccessToken, get_client_model
from oauth_provider.models.tokens import AccessToken
from tests.conftest import basic_auth, consent_blob, pkce_pair
from tests.support.endpoints import assert_error_page, assert_redirect_to
from tests.support.factories import ConsentFactory
from tests.support.resource_helpers import user_token
from tests.support.settings import override_oauth

pytestmark = pytest.mark.django_db

REGISTER = "/o/register/"
#: what the MCP Python SDK sends (mcp.client.auth: OAuthClientMetadata.model_dump)
MCP_CLIENT = {
    "redirect_uris": ["http://127.0.0.1:3030/callback"],
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "none",
    "client_name": "An MCP client",
    "scope": "read write",
    "application_type": "native",
}
WEB_CLIENT = {
    "redirect_uris": ["https://rp.example/cb"],
    "client_name": "A web app",
}

open_registration = override_oauth(DYNAMIC_REGISTRATION="open")


@pytest.fixture(autouse=True)
def _forget_throttle():
    caches["default"].clear()
    yield
    caches["default"].clear()


def register(data, *, token: str | None = None, client: HttpClient | None = None, **extra):
    if token is not None:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    body = data if isinstance(data, (str, bytes)) else json.dumps(data)
    return (client or HttpClient()).post(REGISTER, body, content_type="application/json", **extra)


def configure(method: str, uri: str, token: str | None, data=None, **extra):
    if token is not None:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    api = HttpClient()
    call = getattr(api, method)
    if data is None:
        return call(uri, **extra)
    return call(uri, json.dumps(data), content_type="application/json", **extra)


def path_of(uri: str) -> str:
    return uri[uri.index("/o/"):]


def assert_error(response, status: int, error: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["error"] == error, body
    return body


# -- off by default ------------------------------------------------------------------------------
@pytest.mark.req("MCP-2026-07-28-dcr-deprecated")
def test_off_by_default_not_mounted_nor_advertised(client):
    assert client.post(REGISTER, json.dumps(MCP_CLIENT), content_type="application/json").status_code == 404
    assert client.get(REGISTER + "anything").status_code == 404
    for url in ("/o/.well-known/oauth-authorization-server", "/o/.well-known/openid-configuration"):
        assert "registration_endpoint" not in client.get(url).json()
    assert get_client_model().objects.count() == 0


@pytest.mark.req("MCP-2026-07-28-dcr-deprecated")
@open_registration
def test_enabled_is_advertised_in_both_documents(client):
    for url in ("/o/.well-known/oauth-authorization-server", "/o/.well-known/openid-configuration"):
        assert client.get(url).json()["registration_endpoint"] == "https://testserver/o/register/"


# -- registration ----------------------------------------------------------------------------------
@pytest.mark.req("7591-3-endpoint")
@pytest.mark.req("7592-3-rat-issuance")
@open_registration
def test_mcp_client_registers_as_a_public_native_client():
    response = register(MCP_CLIENT)
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    assert response["Access-Control-Allow-Origin"] == "*"  # a browser-based client may register
    assert response["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    info = response.json()
    assert "client_secret" not in info and "client_secret_expires_at" not in info
    assert info["token_endpoint_auth_method"] == "none"
    assert info["application_type"] == "native"
    assert info["redirect_uris"] == MCP_CLIENT["redirect_uris"]
    assert info["grant_types"] == ["authorization_code", "refresh_token"]
    assert info["response_types"] == ["code"]
    assert info["client_name"] == "An MCP client"
    assert set(info["scope"].split()) == {"read", "write"}
    assert isinstance(info["client_id_issued_at"], int)
    assert info["registration_client_uri"] == f"https://testserver/o/register/{info['client_id']}"
    assert len(info["registration_access_token"]) >= 43
    stored = get_client_model().objects.get(client_id=info["client_id"])
    assert stored.is_public and not stored.client_secret_hash
    assert stored.registration_method == "dynamic"
    assert not stored.skip_consent and not stored.is_resource_server and stored.owner is None
    registration = ClientRegistration.objects.get(client=stored)
    # only a hash is stored (6819-5.1.4.1.3-no-cleartext)
    assert registration.token_hash == secrets.hash_token(info["registration_access_token"])
    assert info["registration_access_token"] not in json.dumps(list(ClientRegistration.objects.values()),
                                                               default=str)


@pytest.mark.req("7591-3-endpoint")
@open_registration
def test_confidential_client_gets_a_secret_once_and_it_authenticates():
    info = register(WEB_CLIENT).json()
    assert info["token_endpoint_auth_method"] == "client_secret_basic"
    assert info["client_secret_expires_at"] == 0
    stored = get_client_model().objects.get(client_id=info["client_id"])
    assert not stored.is_public
    assert stored.check_secret(info["client_secret"])
    assert info["client_secret"] not in stored.client_secret_hash
    read = configure("get", path_of(info["registration_client_uri"]), info["registration_access_token"])
    assert read.status_code == 200
    assert "client_secret" not in read.json() and "registration_access_token" not in read.json()


@pytest.mark.req("7591-6-server-assigns-id")
@pytest.mark.req("BCP-4.15.1-client-id-confusion")
@open_registration
def test_server_assigned_and_privileged_fields_are_ignored():
    chosen = {
        **MCP_CLIENT, "client_id": "admin", "client_secret": "mine", "client_id_issued_at": 1,
        "client_secret_expires_at": 1, "registration_access_token": "x" * 43,
        "registration_client_uri": "https://evil.example/", "skip_consent": True, "is_resource_server": True,
        "is_staff": True, "is_active": False, "owner": 1, "registration_method": "admin",
    }
    info = register(chosen).json()
    assert info["client_id"] not in ("admin",) and not info["client_id"].startswith("https://")
    assert info["registration_access_token"] != "x" * 43
    assert info["registration_client_uri"].startswith("https://testserver/o/register/")
    assert info["client_id_issued_at"] != 1
    for field in ("is_staff", "skip_consent", "is_resource_server", "owner", "is_active"):
        assert field not in info
    stored = get_client_model().objects.get(client_id=info["client_id"])
    assert not stored.skip_consent and not stored.is_resource_server and stored.is_active
    assert stored.registration_method == "dynamic"
    assert not stored.check_secret("mine")


@pytest.mark.req("7591-3-endpoint")
@pytest.mark.req("DERIVED-input-size")
@open_registration
@pytest.mark.parametrize("body,content_type", [
    ("redirect_uris=https://rp.example/cb", "application/x-www-form-urlencoded"),
    ('["https://rp.example/cb"]', "application/json"),
    ("{not json", "application/json"),
    ('"a string"', "application/json"),
    ("[" * 100_00 + "]" * 100_00, "application/json"),
    (json.dumps({**WEB_CLIENT, "client_name": "x" * 40_000}), "application/json"),
    (b"\xff\xfe{}", "application/json"),
])
def test_bodies_that_are_not_one_small_json_object_are_refused(client, body, content_type):
    response = client.post(REGISTER, body, content_type=content_type)
    assert_error(response, 400, "invalid_client_metadata")
    assert get_client_model().objects.count() == 0


@pytest.mark.req("DERIVED-input-size")
@open_registration
def test_a_body_of_32_kib_is_read_and_one_byte_more_is_not(client):
    """The bound is exact, and the declared length is checked before the body is read."""
    text = json.dumps(WEB_CLIENT)
    largest = text + " " * (32 * 1024 - len(text))
    assert client.post(REGISTER, largest, content_type="application/json").status_code == 201
    over = assert_error(client.post(REGISTER, largest + " ", content_type="application/json"),
                        400, "invalid_client_metadata")
    assert "at most 32768 bytes" in over["error_description"]
    from tests.endpoints.test_token import unread_post

    declared = unread_post(REGISTER, "application/json", 20 * 1024 * 1024)  # fails the test if read
    assert declared.status_code == 400 and declared.json()["error"] == "invalid_client_metadata"
    assert get_client_model().objects.count() == 1


@pytest.mark.req("DERIVED-input-size")
@open_registration
def test_a_body_sent_without_a_length_is_bounded_too():
    """Under ASGI a chunked body has no Content-Length, and Django reads it whole: the bound
    is then checked on what was read (32 KiB taken, one byte more refused)."""
    from io import BytesIO

    from django.core.handlers.asgi import ASGIRequest
    from django.urls import resolve

    def chunked_post(body: bytes):
        scope = {"type": "http", "method": "POST", "path": REGISTER, "query_string": b"", "scheme": "https",
                 "headers": [(b"content-type", b"application/json"), (b"host", b"testserver")],
                 "client": ("127.0.0.1", 40000), "server": ("testserver", 443)}
        return resolve(REGISTER).func(ASGIRequest(scope, BytesIO(body)))

    text = json.dumps(WEB_CLIENT).encode()
    largest = text + b" " * (32 * 1024 - len(text))
    assert chunked_post(largest).status_code == 201
    over = chunked_post(largest + b" ")
    assert over.status_code == 400 and json.loads(over.content)["error"] == "invalid_client_metadata"
    assert get_client_model().objects.count() == 1


@pytest.mark.req("7591-3-endpoint")
@open_registration
@pytest.mark.parametrize("content_type", ["text/plain", "application/jose", "application/x-www-form-urlencoded"])
def test_a_json_object_declared_as_another_type_is_refused(client, content_type):
    """RFC 7591 §3.1: the metadata is sent as application/json; the same object under another
    type (text/plain is what a cross-site form may send without a preflight) is refused."""
    response = client.post(REGISTER, json.dumps(WEB_CLIENT), content_type=content_type)
    body = assert_error(response, 400, "invalid_client_metadata")
    assert "application/json" in body["error_description"]
    assert get_client_model().objects.count() == 0


@pytest.mark.req("7591-3-endpoint")
@open_registration
def test_both_endpoints_need_no_csrf_cookie():
    """No ambient credential (a JSON body, a bearer token): a browser-based client registers,
    reads, updates and deletes from its own page, without Django's CSRF cookie."""
    strict = HttpClient(enforce_csrf_checks=True)
    info = register(WEB_CLIENT, client=strict)
    assert info.status_code == 201, info.content
    info = info.json()
    uri, token = path_of(info["registration_client_uri"]), info["registration_access_token"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert strict.get(uri, **auth).status_code == 200
    updated = strict.put(uri, json.dumps({**WEB_CLIENT, "client_id": info["client_id"]}),
                         content_type="application/json", **auth)
    assert updated.status_code == 200, updated.content
    new_auth = {"HTTP_AUTHORIZATION": f"Bearer {updated.json()['registration_access_token']}"}
    assert strict.delete(uri, **new_auth).status_code == 204


@open_registration
def test_only_post_and_options(client):
    response = client.get(REGISTER)
    assert response.status_code == 405
    assert response["Access-Control-Allow-Origin"] == "*"
    # a browser client is told what it may send here, as the preflight says
    assert response["Access-Control-Allow-Methods"] == response["Allow"] == "POST, OPTIONS"
    preflight = client.options(REGISTER, HTTP_ORIGIN="https://inspector.example",
                               HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert preflight.status_code == 204
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    assert "Content-Type" in preflight["Access-Control-Allow-Headers"]


@pytest.mark.req("7591-5-duplicate-software")
@open_registration
def test_software_statements_are_refused():
    statement = "eyJhbGciOiJub25lIn0.eyJjbGllbnRfbmFtZSI6Ikdvb2dsZSJ9."
    response = register({**MCP_CLIENT, "software_statement": statement})
    assert_error(response, 400, "invalid_software_statement")
    assert get_client_model().objects.count() == 0


@pytest.mark.req("7591-5-redirect-required")
@pytest.mark.req("O21-2.3.1-register-full-uri")
@pytest.mark.req("O21-2.3.1-no-fragment")
@pytest.mark.req("DERIVED-redirect-scheme-denylist")
@pytest.mark.req("OIDCREG-3.2-no-redirect-substitution")
@open_registration
@pytest.mark.parametrize("uris,application_type", [
    (["http://rp.example/cb"], "web"),
    (["https://rp.example/cb#frag"], "web"),
    (["https://*.rp.example/cb"], "web"),
    (["https://rp.example/*"], "web"),
    (["/cb"], "web"),
    (["javascript:alert(1)"], "web"),
    (["javascript:alert(1)"], "native"),
    (["data:text/html,hi"], "native"),
    (["https://rp.example/cb", "http://rp.example/cb"], "web"),
    (["http://127.0.0.1:3030/callback"], "web"),
    (["http://evil.example/callback"], "native"),
])
def test_redirect_uri_tricks_are_refused(uris, application_type):
    response = register({"redirect_uris": uris, "application_type": application_type,
                         "token_endpoint_auth_method": "none"})
    assert response.status_code == 400, response.content
    assert response.json()["error"] in ("invalid_redirect_uri", "invalid_client_metadata")
    assert get_client_model().objects.count() == 0


@pytest.mark.req("7591-5-redirect-required")
@open_registration
def test_a_redirect_grant_needs_redirect_uris():
    response = register({"grant_types": ["authorization_code"], "client_name": "no redirect"})
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_redirect_uri", "invalid_client_metadata")


@pytest.mark.req("MCP-2026-07-28-application-type")
@pytest.mark.req("OIDCREG-2-application-type")
@open_registration
def test_application_type_conflict_is_actionable_and_native_succeeds():
    web = register({**MCP_CLIENT, "application_type": "web"})
    body = assert_error(web, 400, "invalid_redirect_uri")
    assert "application_type" in body["error_description"]
    default = register({k: v for k, v in MCP_CLIENT.items() if k != "application_type"})
    assert default.status_code == 400  # web by default: loopback refused
    assert register(MCP_CLIENT).status_code == 201


@pytest.mark.req("7591-2.1-consistent-types")
@open_registration
@pytest.mark.parametrize("changes", [
    {"response_types": ["code"], "grant_types": ["implicit"]},
    {"grant_types": ["password"]},
    {"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]},
    {"token_endpoint_auth_method": "client_secret_jwt"},
])
def test_inconsistent_or_forbidden_grants_are_refused(changes):
    response = register({**MCP_CLIENT, **changes})
    assert response.status_code == 400, response.content


# -- flooding ---------------------------------------------------------------------------------------
@pytest.mark.req("7591-3-initial-access-token")
@override_oauth(DYNAMIC_REGISTRATION="open", REGISTRATION_THROTTLE={"registrations": 3, "window": 60})
def test_registrations_are_throttled_per_address():
    for _ in range(3):
        assert register(MCP_CLIENT).status_code == 201
    response = register(MCP_CLIENT)
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    # failures count too: the endpoint cannot be hammered with bad bodies either
    assert register("{").status_code == 429
    assert get_client_model().objects.count() == 3
    # another address is not affected
    assert register(MCP_CLIENT, REMOTE_ADDR="192.0.2.7").status_code == 201


# -- initial access tokens ("token" mode) -------------------------------------------------------------
def make_token(*args: str) -> str:
    out = StringIO()
    call_command("createregistrationtoken", *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


@pytest.mark.req("7591-3-initial-access-token")
@override_oauth(DYNAMIC_REGISTRATION="token")
def test_token_mode_needs_a_valid_initial_access_token():
    missing = register(MCP_CLIENT)
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"] == "Bearer"
    wrong = register(MCP_CLIENT, token="not-a-token")
    assert wrong.status_code == 401
    assert 'error="invalid_token"' in wrong["WWW-Authenticate"]
    token = make_token("--description", "partner")
    assert len(token) >= 43
    assert InitialAccessToken.objects.filter(token_hash=secrets.hash_token(token)).exists()
    assert not InitialAccessToken.objects.filter(token_hash=token).exists()
    ok = register(MCP_CLIENT, token=token)
    assert ok.status_code == 201
    row = ClientRegistration.objects.get(client__client_id=ok.json()["client_id"])
    assert row.initial_token.description == "partner"
    assert register(MCP_CLIENT, token=token).status_code == 201  # no --uses: any number


@pytest.mark.req("7591-3-initial-access-token")
def test_token_mode_read_from_the_environment_still_needs_a_token():
    """A mode built at run time (``os.environ``, a configuration file) is not the interned
    literal: it is the same mode all the same, and registration stays closed without a token."""
    mode = "".join(["to", "ken"])
    with override_oauth(DYNAMIC_REGISTRATION=mode):
        assert register(MCP_CLIENT).status_code == 401
        assert register(MCP_CLIENT, token=make_token()).status_code == 201
    assert get_client_model().objects.count() == 1


@pytest.mark.req("7591-3-initial-access-token")
@override_oauth(DYNAMIC_REGISTRATION="token")
def test_initial_access_token_uses_and_expiry():
    once = make_token("--uses", "1")
    assert register(MCP_CLIENT, token=once).status_code == 201
    spent = register(MCP_CLIENT, token=once)
    assert spent.status_code == 401 and 'error="invalid_token"' in spent["WWW-Authenticate"]
    # a refused body does not spend a use
    twice = make_token("--uses", "1")
    assert register({"redirect_uris": ["javascript:x"]}, token=twice).status_code == 400
    assert register(MCP_CLIENT, token=twice).status_code == 201
    brief = make_token("--expires", "60")
    later = secrets.now()
    secrets.set_clock(lambda: later + timedelta(seconds=61))
    assert register(MCP_CLIENT, token=brief).status_code == 401
    revoked = make_token()
    InitialAccessToken.objects.filter(token_hash=secrets.hash_token(revoked)).update(revoked_at=later)
    assert register(MCP_CLIENT, token=revoked).status_code == 401


@pytest.mark.req("7591-3-initial-access-token")
@override_oauth(DYNAMIC_REGISTRATION="token")
def test_an_expiring_token_works_until_its_last_second():
    """``--expires 60``: registrations are accepted for 60 seconds from its creation, and not
    at the 60th second itself."""
    start = secrets.now()
    secrets.set_clock(lambda: start)
    brief = make_token("--expires", "60")
    assert InitialAccessToken.objects.get().expires_at == start + timedelta(seconds=60)
    secrets.set_clock(lambda: start + timedelta(seconds=59))
    assert register(MCP_CLIENT, token=brief).status_code == 201
    secrets.set_clock(lambda: start + timedelta(seconds=60))
    assert register(MCP_CLIENT, token=brief).status_code == 401


@pytest.mark.req("7591-3-initial-access-token")
@override_oauth(DYNAMIC_REGISTRATION="token")
def test_a_token_good_for_n_registrations_counts_them_down_one_by_one():
    token = make_token("--uses", "3")
    for left in (2, 1, 0):
        assert register(MCP_CLIENT, token=token).status_code == 201
        assert InitialAccessToken.objects.get().uses_left == left
    assert register(MCP_CLIENT, token=token).status_code == 401
    assert get_client_model().objects.count() == 3


@pytest.mark.req("7591-3-initial-access-token")
def test_a_token_made_in_code_records_who_made_it(admin_user):
    """``create_token(created_by=...)``, for a host that hands out tokens from its own views: the
    admin shows who made each one."""
    row, raw = InitialAccessToken.objects.create_token(uses=2, description="partner", created_by=admin_user)
    stored = InitialAccessToken.objects.get(pk=row.pk)
    assert stored.created_by == admin_user and stored.uses_left == 2 and stored.description == "partner"
    assert stored.token_hash == secrets.hash_token(raw)


def test_two_registrations_racing_for_the_last_use_cannot_both_win():
    """Both requests read the token as usable before either spends it: the conditional UPDATE
    gives the last use to one of them only."""
    row, _raw = InitialAccessToken.objects.create_token(uses=1)
    first = InitialAccessToken.objects.usable().get(pk=row.pk)
    second = InitialAccessToken.objects.usable().get(pk=row.pk)
    bystander, _ = InitialAccessToken.objects.create_token(uses=5)
    assert InitialAccessToken.objects.spend(first) is True
    assert InitialAccessToken.objects.spend(second) is False
    assert InitialAccessToken.objects.get(pk=row.pk).uses_left == 0
    assert InitialAccessToken.objects.get(pk=bystander.pk).uses_left == 5  # another token keeps its uses


@pytest.mark.req("7591-3-initial-access-token")
@override_oauth(DYNAMIC_REGISTRATION="token")
def test_a_used_up_token_is_refused_before_the_metadata_is_looked_at():
    once = make_token("--uses", "1")
    assert register(MCP_CLIENT, token=once).status_code == 201
    assert not InitialAccessToken.objects.usable().exists()
    bad_body = register({"redirect_uris": ["javascript:x"]}, token=once)
    assert bad_body.status_code == 401 and 'error="invalid_token"' in bad_body["WWW-Authenticate"]


@pytest.mark.req("7591-3-initial-access-token")
def test_the_admin_shows_a_token_usable_exactly_when_registration_accepts_it():
    """The admin's "usable" column (``is_usable``) and the endpoint's lookup (``usable()``)
    agree at the instant given, on both sides of each bound."""
    start = secrets.now()
    make = InitialAccessToken.objects.create
    rows = {
        "forever": make(token_hash="a" * 64),
        "one minute": make(token_hash="b" * 64, expires_at=start + timedelta(seconds=60)),
        "one use": make(token_hash="c" * 64, uses_left=1),
        "used up": make(token_hash="d" * 64, uses_left=0),
        "revoked": make(token_hash="e" * 64, revoked_at=start),
    }
    for row in rows.values():
        row.refresh_from_db()
    live = {"forever", "one use"}
    expected = {
        start: live | {"one minute"},
        start + timedelta(seconds=59): live | {"one minute"},
        start + timedelta(seconds=60): live,
        start + timedelta(days=1): live,
    }
    for when, usable in expected.items():
        shown = {name for name, row in rows.items() if row.is_usable(when)}
        accepted = {name for name, row in rows.items()
                    if InitialAccessToken.objects.usable(when).filter(pk=row.pk).exists()}
        assert shown == accepted == usable, when


def test_createregistrationtoken_refuses_nonsense_and_warns_when_mode_is_not_token():
    err = StringIO()
    call_command("createregistrationtoken", stdout=StringIO(), stderr=err)
    assert "not 'token'" in err.getvalue()
    with pytest.raises(CommandError):
        call_command("createregistrationtoken", "--uses", "0", stdout=StringIO(), stderr=StringIO())


# -- host policy --------------------------------------------------------------------------------------
@override_oauth(DYNAMIC_REGISTRATION="adapter", ADAPTER="tests.endpoints.test_registration.OnlyExampleHosts")
def test_adapter_decides_in_adapter_mode():
    assert register(WEB_CLIENT).status_code == 201
    response = register({**WEB_CLIENT, "redirect_uris": ["https://other.example/cb"]})
    assert response.status_code == 403
    assert response.json()["error"] == "access_denied"


class OnlyExampleHosts(DefaultAdapter):
    def allow_registration(self, request, metadata):
        return all(uri.startswith("https://rp.example/") for uri in metadata.redirect_uris)


class FromTheOfficeOnly(DefaultAdapter):
    def allow_registration(self, request, metadata):
        return request.META.get("REMOTE_ADDR") == "203.0.113.7"


@override_oauth(DYNAMIC_REGISTRATION="adapter", ADAPTER="tests.endpoints.test_registration.FromTheOfficeOnly")
def test_the_adapter_decides_with_the_request_in_hand():
    assert register(WEB_CLIENT, REMOTE_ADDR="203.0.113.7").status_code == 201
    assert register(WEB_CLIENT, REMOTE_ADDR="198.51.100.1").status_code == 403


class OfficeAndExampleHosts(DefaultAdapter):
    def allow_registration(self, request, metadata):
        return (request.META.get("REMOTE_ADDR") == "203.0.113.7"
                and all(uri.startswith("https://rp.example/") for uri in metadata.redirect_uris))


@pytest.mark.req("7592-2.2-update")
@override_oauth(DYNAMIC_REGISTRATION="adapter", ADAPTER="tests.endpoints.test_registration.OfficeAndExampleHosts")
def test_the_adapter_decides_updates_too_with_the_request_and_the_new_metadata():
    """An update is a registration again (RFC 7592 §2.2): the host's hook sees who asks and
    what the client would become, and a refusal changes nothing."""
    info = register(WEB_CLIENT, REMOTE_ADDR="203.0.113.7").json()
    uri, token = path_of(info["registration_client_uri"]), info["registration_access_token"]
    elsewhere = {**WEB_CLIENT, "client_id": info["client_id"], "redirect_uris": ["https://other.example/cb"]}
    assert configure("put", uri, token, elsewhere, REMOTE_ADDR="203.0.113.7").status_code == 403
    renamed = {**WEB_CLIENT, "client_id": info["client_id"], "client_name": "Renamed"}
    assert configure("put", uri, token, renamed, REMOTE_ADDR="198.51.100.1").status_code == 403
    assert get_client_model().objects.get(client_id=info["client_id"]).name == "A web app"
    assert configure("put", uri, token, renamed, REMOTE_ADDR="203.0.113.7").status_code == 200


def test_in_development_the_configuration_uri_is_where_the_request_came_to(settings):
    """``DEBUG`` on and no ``ISSUER`` (a first try): the registration answer's
    ``registration_client_uri`` is on the origin the client registered at, and it works for
    reading and replacing (each answer names it again, not a 500 for the missing setting);
    an error answer says which methods a browser may use."""
    settings.DEBUG = True
    with override_oauth(DYNAMIC_REGISTRATION="open", ISSUER=None):
        info = register(WEB_CLIENT).json()
        assert info["registration_client_uri"] == "http://testserver/o/register/" + info["client_id"]
        read = configure("get", path_of(info["registration_client_uri"]), info["registration_access_token"])
        assert read.status_code == 200 and read.json()["registration_client_uri"] == info["registration_client_uri"]
        renamed = {**WEB_CLIENT, "client_id": info["client_id"], "client_name": "Renamed"}
        updated = configure("put", path_of(info["registration_client_uri"]), info["registration_access_token"], renamed)
        assert updated.status_code == 200, updated.content
        assert updated.json()["registration_client_uri"] == info["registration_client_uri"]
        refused = register({**WEB_CLIENT, "redirect_uris": "not a list"})
        assert refused.status_code == 400 and refused["Access-Control-Allow-Methods"] == "POST, OPTIONS"


@open_registration
def test_a_registration_records_the_address_it_came_from():
    """What the admin shows as "registered from": the caller's address as the throttles count
    it, the proxy header's last entry when one is configured."""
    info = register(WEB_CLIENT, REMOTE_ADDR="198.51.100.9").json()
    assert ClientRegistration.objects.get(client__client_id=info["client_id"]).registered_from == "198.51.100.9"
    with override_oauth(DYNAMIC_REGISTRATION="open", CLIENT_AUTH_THROTTLE={"ip_header": "HTTP_X_FORWARDED_FOR"}):
        info = register(WEB_CLIENT, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.50").json()
    assert ClientRegistration.objects.get(client__client_id=info["client_id"]).registered_from == "203.0.113.50"


# -- client configuration (RFC 7592) ------------------------------------------------------------------
@pytest.fixture
def registered():
    with override_oauth(DYNAMIC_REGISTRATION="open"):
        yield register(WEB_CLIENT).json()


@pytest.mark.req("7592-2-rat-scope")
@open_registration
def test_a_registration_access_token_opens_only_its_own_client(registered):
    other = register({**WEB_CLIENT, "client_name": "B"}).json()
    b_uri = path_of(other["registration_client_uri"])
    foreign = configure("get", b_uri, registered["registration_access_token"])
    assert foreign.status_code == 401
    assert foreign["Access-Control-Allow-Methods"] == "GET, PUT, DELETE, OPTIONS"  # a browser reads the error
    assert 'error="invalid_token"' in foreign["WWW-Authenticate"]
    assert other["client_id"] not in foreign.content.decode()
    for method in ("put", "delete"):
        data = {**WEB_CLIENT, "client_id": other["client_id"]} if method == "put" else None
        assert configure(method, b_uri, registered["registration_access_token"], data).status_code == 401
    assert get_client_model().objects.get(client_id=other["client_id"]).is_active
    # in the query string it is not a credential
    query = configure("get", b_uri + "?access_token=" + other["registration_access_token"], None)
    assert query.status_code == 401 and query["WWW-Authenticate"] == "Bearer"
    assert configure("get", b_uri, "garbage").status_code == 401
    assert configure("get", path_of(registered["registration_client_uri"]) + "x",
                     registered["registration_access_token"]).status_code == 401


@pytest.mark.req("7592-2-rat-scope")
@open_registration
def test_the_registration_access_token_is_read_only_as_a_bearer_token(registered):
    """RFC 7592 §2 / RFC 6750 §2.1: the scheme is Bearer (any case); the same token under
    another scheme, whichever side of "bearer" it sorts, opens nothing."""
    uri, token = path_of(registered["registration_client_uri"]), registered["registration_access_token"]
    for scheme in ("Basic", "DPoP", "Token", "Bearer:"):
        refused = configure("get", uri, None, HTTP_AUTHORIZATION=f"{scheme} {token}")
        assert refused.status_code == 401 and refused["WWW-Authenticate"] == "Bearer", scheme
    assert configure("get", uri, None, HTTP_AUTHORIZATION=f"bEaReR {token}").status_code == 200
    # RFC 6750 §2.1: "Bearer" 1*SP b64token
    assert configure("get", uri, None, HTTP_AUTHORIZATION=f"Bearer   {token}").status_code == 200


@pytest.mark.req("7592-2.2-update")
@open_registration
def test_update_replaces_metadata_and_rotates_the_token(registered):
    uri, token = path_of(registered["registration_client_uri"]), registered["registration_access_token"]
    new = {"client_id": registered["client_id"], "redirect_uris": ["https://rp.example/new"],
           "client_name": "Renamed"}
    registered_at = ClientRegistration.objects.get(client__client_id=registered["client_id"]).updated_at
    response = configure("put", uri, token, new)
    assert response.status_code == 200, response.content
    # the admin's "updated" says when the token was last replaced
    assert ClientRegistration.objects.get(client__client_id=registered["client_id"]).updated_at > registered_at
    assert response["Cache-Control"] == "no-store"
    assert response["Access-Control-Allow-Methods"] == "GET, PUT, DELETE, OPTIONS"
    info = response.json()
    assert info["redirect_uris"] == ["https://rp.example/new"] and info["client_name"] == "Renamed"
    assert info["registration_access_token"] != token
    assert "client_secret" not in info  # unchanged secret, not re-issued
    # the old token stopped working; the new one works
    assert configure("get", uri, token).status_code == 401
    read = configure("get", uri, info["registration_access_token"])
    assert read.status_code == 200 and read["Access-Control-Allow-Methods"] == "GET, PUT, DELETE, OPTIONS"
    stored = get_client_model().objects.get(client_id=registered["client_id"])
    assert stored.redirect_uri_list == ["https://rp.example/new"]
    assert stored.check_secret(registered["client_secret"])


@pytest.mark.req("7592-2.2-update")
@open_registration
def test_a_public_client_turning_confidential_is_given_its_first_secret_once():
    """RFC 7592 §2.2 / RFC 7591 §3.2.1: the update that makes a public client authenticate with
    a secret answers with that secret (and ``client_secret_expires_at``), once; it works."""
    info = register({**WEB_CLIENT, "token_endpoint_auth_method": "none"}).json()
    assert "client_secret" not in info
    uri, token = path_of(info["registration_client_uri"]), info["registration_access_token"]
    response = configure("put", uri, token, {**WEB_CLIENT, "client_id": info["client_id"],
                                             "token_endpoint_auth_method": "client_secret_basic"})
    assert response.status_code == 200, response.content
    updated = response.json()
    assert updated["client_secret_expires_at"] == 0
    stored = get_client_model().objects.get(client_id=info["client_id"])
    assert not stored.is_public and stored.check_secret(updated["client_secret"])
    again = configure("get", uri, updated["registration_access_token"]).json()
    assert "client_secret" not in again


@pytest.mark.req("7592-2.2-update")
@open_registration
@pytest.mark.parametrize("changes,error", [
    ({"redirect_uris": ["https://evil.example/cb", "javascript:x"]}, None),
    ({"client_id": "someone-else"}, "invalid_client_metadata"),
    ({"client_id": None}, "invalid_client_metadata"),
    ({"registration_access_token": "x"}, "invalid_client_metadata"),
    ({"registration_client_uri": "https://evil.example/"}, "invalid_client_metadata"),
    ({"client_id_issued_at": 1}, "invalid_client_metadata"),
    ({"client_secret_expires_at": 0}, "invalid_client_metadata"),
    ({"client_secret": "mine"}, "invalid_client_metadata"),
    ({"software_statement": "a.b.c"}, "invalid_software_statement"),
])
def test_bad_updates_change_nothing(registered, changes, error):
    uri, token = path_of(registered["registration_client_uri"]), registered["registration_access_token"]
    data = {**WEB_CLIENT, "client_id": registered["client_id"], **changes}
    data = {k: v for k, v in data.items() if v is not None}
    response = configure("put", uri, token, data)
    assert response.status_code == 400, response.content
    if error:
        assert response.json()["error"] == error
    stored = get_client_model().objects.get(client_id=registered["client_id"])
    assert stored.redirect_uri_list == WEB_CLIENT["redirect_uris"]
    assert stored.check_secret(registered["client_secret"]) and not stored.check_secret("mine")
    assert configure("get", uri, token).status_code == 200  # not rotated


@pytest.mark.req("7592-2.2-update")
@open_registration
@pytest.mark.parametrize("narrowed,asked,kept", [
    ("read", None, "read"), ("read", "read write profile", "read"), ("read", "read", "read"),
    ("read write", "read write profile", "read write"), ("read write", None, "read write"),
])
def test_an_update_never_widens_scopes_an_operator_narrowed(registered, narrowed, asked, kept):
    """The operator narrowed the client to ``read`` (or ``read write``) in admin; the client's
    next update (with every scope, or none named, which means every one) keeps it there."""
    get_client_model().objects.filter(client_id=registered["client_id"]).update(allowed_scopes=narrowed)
    uri, token = path_of(registered["registration_client_uri"]), registered["registration_access_token"]
    data = {**WEB_CLIENT, "client_id": registered["client_id"], **({"scope": asked} if asked else {})}
    response = configure("put", uri, token, data)
    assert response.status_code == 200, response.content
    assert response.json()["scope"] == kept
    assert get_client_model().objects.get(client_id=registered["client_id"]).allowed_scopes == kept


@pytest.mark.req("7592-2.2-update")
@open_registration
def test_an_update_asking_only_for_withheld_scopes_is_refused(registered):
    get_client_model().objects.filter(client_id=registered["client_id"]).update(allowed_scopes="read")
    uri, token = path_of(registered["registration_client_uri"]), registered["registration_access_token"]
    response = configure("put", uri, token, {**WEB_CLIENT, "client_id": registered["client_id"], "scope": "write"})
    body = assert_error(response, 400, "invalid_client_metadata")
    assert body["error_description"].startswith("scope:")  # the developer is told which member
    assert get_client_model().objects.get(client_id=registered["client_id"]).allowed_scopes == "read"


@pytest.mark.req("7592-2.2-update")
@open_registration
@pytest.mark.parametrize("change", [
    {"redirect_uris": ["https://evil.example/cb"]}, {"client_name": "Your bank"},
    {"logo_uri": "https://evil.example/bank.png"}, {"client_uri": "https://evil.example/"},
    {"policy_uri": "https://evil.example/policy"}, {"tos_uri": "https://evil.example/tos"},
], ids=["redirect_uris", "name", "logo", "client_uri", "policy", "tos"])
def test_an_update_of_what_users_approved_forgets_remembered_consents(registered, change):
    """With a leaked registration access token an attacker points the client at its own
    address, or renames "Notes" to "Your bank": users who had consent remembered must see the
    consent page again, showing the client as it now is. An update that changes none of it
    keeps their decisions."""
    client = get_client_model().objects.get(client_id=registered["client_id"])
    ConsentFactory(client=client, scope="read")
    uri, token = path_of(registered["registration_client_uri"]), registered["registration_access_token"]
    current = {k: v for k, v in registered.items() if k in WEB_CLIENT or k == "client_id"}
    same = configure("put", uri, token, current)
    assert same.status_code == 200 and Consent.objects.filter(client=client).count() == 1
    changed = configure("put", uri, same.json()["registration_access_token"], {**current, **change})
    assert changed.status_code == 200, changed.content
    assert not Consent.objects.filter(client=client).exists()


@pytest.mark.req("7592-2.2-update")
@open_registration
def test_update_is_a_replacement_and_can_send_the_current_secret(registered):
    uri, token = path_of(registered["registration_client_uri"]), registered["registration_access_token"]
    first = configure("put", uri, token, {**WEB_CLIENT, "client_id": registered["client_id"],
                                          "client_uri": "https://rp.example/",
                                          "client_secret": registered["client_secret"]})
    assert first.status_code == 200, first.content
    assert first.json()["client_uri"] == "https://rp.example/"
    # a member left out of the next update is gone: replace, not merge (RFC 7592 §2.2)
    second = configure("put", uri, first.json()["registration_access_token"],
                       {**WEB_CLIENT, "client_id": registered["client_id"]})
    assert second.status_code == 200
    assert "client_uri" not in second.json()
    assert get_client_model().objects.get(client_id=registered["client_id"]).client_uri == ""
    assert configure("put", uri, None, {**WEB_CLIENT}).status_code == 401


@pytest.mark.req("7592-2.3-delete")
@pytest.mark.req("7592-2-rat-scope")
@open_registration
def test_delete_disables_the_client_and_revokes_its_tokens(registered, user):
    uri, token = path_of(registered["registration_client_uri"]), registered["registration_access_token"]
    stored = get_client_model().objects.get(client_id=registered["client_id"])
    raw, _row = user_token(stored, user)
    response = configure("delete", uri, token)
    assert response.status_code == 204 and response["Cache-Control"] == "no-store"
    assert response["Access-Control-Allow-Methods"] == "GET, PUT, DELETE, OPTIONS"
    stored.refresh_from_db()
    assert not stored.is_active and not stored.client_secret_hash
    assert not AccessToken.objects.live().filter(client=stored).exists()
    assert configure("get", uri, token).status_code == 401
    assert configure("delete", uri, token).status_code == 401
    from oauth_provider import resource

    assert resource.lookup(raw) is None or not resource.is_live(resource.lookup(raw))
    # revoked, not merely hidden behind the inactive client: an operator who turns the client
    # on again in the admin does not bring its tokens back
    get_client_model().objects.filter(pk=stored.pk).update(is_active=True)
    assert not AccessToken.objects.live().filter(client=stored).exists()
    assert not resource.is_live(resource.lookup(raw))


# -- query budget ---------------------------------------------------------------------------------------
@open_registration
def test_registration_query_budgets(assert_num_queries):
    """open: INSERT client + INSERT registration; read: 1 SELECT (registration joined to its
    client); update: that SELECT + UPDATE token + the client read again under a row lock (an
    operator's change meanwhile stands) + UPDATE client; delete: SELECT + deactivate +
    revoke what its families' tokens obtained as actor tokens + revoke families + revoke loose
    tokens + DELETE registration."""
    with assert_num_queries(2):
        info = register(MCP_CLIENT).json()
    uri, token = path_of(info["registration_client_uri"]), info["registration_access_token"]
    with assert_num_queries(1):
        assert configure("get", uri, token).status_code == 200
    with assert_num_queries(4):
        update = configure("put", uri, token, {**MCP_CLIENT, "client_id": info["client_id"]})
    assert update.status_code == 200
    with assert_num_queries(6):
        assert configure("delete", uri, update.json()["registration_access_token"]).status_code == 204


@override_oauth(DYNAMIC_REGISTRATION="token")
def test_token_mode_query_budget(assert_num_queries):
    """SELECT the usable token, UPDATE its count, INSERT client, INSERT registration."""
    token = make_token("--uses", "3")
    with assert_num_queries(4):
        assert register(MCP_CLIENT, token=token).status_code == 201


# -- system checks ---------------------------------------------------------------------------------------
def test_checks_refuse_unknown_modes_and_warn_about_an_adapter_that_decides_nothing(settings):
    from oauth_provider.checks import check_dynamic_registration

    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, "DYNAMIC_REGISTRATION": True}
    assert [m.id for m in check_dynamic_registration()] == ["oauth_provider.E070"]
    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, "DYNAMIC_REGISTRATION": "adapter"}
    assert [m.id for m in check_dynamic_registration()] == ["oauth_provider.W070"]
    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, "DYNAMIC_REGISTRATION": "open",
                               "REGISTRATION_THROTTLE": {"registrations": 0, "nope": 1}}
    assert [m.id for m in check_dynamic_registration()] == ["oauth_provider.E071", "oauth_provider.E071"]
    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, "REGISTRATION_THROTTLE": {}}
    assert check_dynamic_registration() == []


# -- admin ------------------------------------------------------------------------------------------------
@open_registration
def test_admin_lists_registrations_and_revokes_initial_tokens(admin_client):
    info = register(MCP_CLIENT).json()
    token = make_token("--uses", "5", "--description", "for the partner")
    page = admin_client.get("/admin/oauth_provider/clientregistration/")
    assert page.status_code == 200 and "An MCP client" in page.content.decode()
    row = ClientRegistration.objects.get(client__client_id=info["client_id"])
    detail = admin_client.get(f"/admin/oauth_provider/clientregistration/{row.pk}/change/").content.decode()
    assert row.token_hash not in detail and info["registration_access_token"] not in detail
    listing = admin_client.get("/admin/oauth_provider/initialaccesstoken/").content.decode()
    assert "for the partner" in listing and token not in listing
    assert admin_client.get("/admin/oauth_provider/initialaccesstoken/add/").status_code == 403
    stored = InitialAccessToken.objects.get()
    response = admin_client.post("/admin/oauth_provider/initialaccesstoken/", {
        "action": "revoke", "_selected_action": [stored.pk]})
    assert response.status_code == 302
    stored.refresh_from_db()
    assert stored.revoked_at is not None and not stored.is_usable()
    # revoking it again keeps the time it was first revoked at, and says none was revoked now
    first = stored.revoked_at
    assert InitialAccessToken.objects.filter(pk=stored.pk).revoke(first + timedelta(hours=1)) == 0
    stored.refresh_from_db()
    assert stored.revoked_at == first
    with override_oauth(DYNAMIC_REGISTRATION="token"):
        assert register(MCP_CLIENT, token=token).status_code == 401
    clients = admin_client.get("/admin/oauth_provider/client/?registration_method__exact=dynamic")
    assert clients.status_code == 200 and "An MCP client" in clients.content.decode()
    assert "column-registration_method" in clients.content.decode()


# -- the consent page --------------------------------------------------------------------------------------
@pytest.mark.req("O21-7.9-consent-phishing")
@pytest.mark.req("BCP-4.11.2-authenticate-before-redirect")
@open_registration
def test_consent_page_marks_self_registered_clients_and_never_skips(oauth, conf_client):
    info = register({**WEB_CLIENT, "client_name": "<b>Google</b>", "scope": "read"}).json()
    stored = get_client_model().objects.get(client_id=info["client_id"])
    params, _verifier = oauth.authorize_params(stored)
    # a fresh browser meets the login page, not a redirect to the self-registered client
    anonymous = HttpClient().get("/o/authorize/", {**params, "scope": "nonexistent"})
    assert anonymous.status_code == 302 and not anonymous["Location"].startswith("https://rp.example")
    page = oauth.browser.get("/o/authorize/", params)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'class="notice unverified"' in html
    assert "&lt;b&gt;Google&lt;/b&gt;" in html and "<b>Google</b>" not in html
    # an admin-registered client shows no marker
    assert not stored.skip_consent
    admin_page = oauth.browser.get("/o/authorize/", oauth.authorize_params(conf_client)[0]).content.decode()
    assert 'class="notice unverified"' not in admin_page


@open_registration
def test_the_consent_page_loads_no_logo_a_client_chose_for_itself(oauth):
    """A self-registered client's ``logo_uri`` may name any host: loaded by the consent page, it
    would tell that host who is shown the page and when, those who deny included. Shown as a
    monogram, like a metadata document's client (draft §6.7); a client the site registered
    shows its logo (here the same row, as if registered by the site)."""
    info = register({**WEB_CLIENT, "client_name": "Notes", "scope": "read",
                     "logo_uri": "https://tracker.example/pixel.png?campaign=42"}).json()
    stored = get_client_model().objects.get(client_id=info["client_id"])
    html = oauth.browser.get("/o/authorize/", oauth.authorize_params(stored)[0]).content.decode()
    assert "tracker.example" not in html and 'class="monogram"' in html
    vetted = get_client_model().objects.filter(pk=stored.pk)
    vetted.update(registration_method="admin")
    html = oauth.browser.get("/o/authorize/", oauth.authorize_params(vetted.get())[0]).content.decode()
    assert 'src="https://tracker.example/pixel.png?campaign=42"' in html


def _attacker_client(uri: str = "https://attacker.example/cb"):
    info = register({**WEB_CLIENT, "redirect_uris": [uri], "scope": "read"}).json()
    return get_client_model().objects.get(client_id=info["client_id"])


def assert_link_back(response, error: str, state: str) -> dict[str, str]:
    """An error page (no redirect) whose one way on is a link the user chooses, to the error
    response the client would have got: ``error``, ``state`` and ``iss`` (RFC 9207)."""
    assert_error_page(response)
    html = response.content.decode()
    found = re.findall(r'<a class="button" id="oauth-provider-back" href="([^"]*)" rel="noreferrer">', html)
    assert len(found) == 1, html
    url = unescape(found[0])
    assert url.startswith("https://attacker.example/cb?")
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["error"] == error and query["state"] == state
    assert query["iss"] == "https://testserver/o"
    assert "<strong>https://attacker.example/cb</strong>" in html  # where it leads, named before the click
    return query


@pytest.mark.req("BCP-4.11.2-authenticate-before-redirect")
@pytest.mark.parametrize(("logged_in", "changes", "error"), [
    (False, {"prompt": "none"}, "login_required"),  # OIDC Core §3.1.2.6: answered with no login page
    (True, {"prompt": "none"}, "consent_required"),
    (True, {"scope": "nonexistent"}, "invalid_scope"),
    (True, {"code_challenge": None}, "invalid_request"),  # PKCE missing
    (False, {"prompt": "none", "scope": "nonexistent"}, "invalid_scope"),
])
@open_registration
def test_a_self_registered_clients_error_is_a_link_back_never_a_bounce(oauth, logged_in, changes, error):
    """Anyone can register a client whose redirect URI is their own page. A link to our
    authorization endpoint with a request that fails before the user has seen our consent page
    (a bad scope, no PKCE, prompt=none) would bounce whoever follows it, logged in or not,
    from this site straight on to that page: an open redirector on the provider's domain
    (RFC 9700 §4.11.2: redirect automatically only to URIs the server trusts, else inform the
    user and let them decide). The error is a page naming where the link back goes."""
    stored = _attacker_client()
    params, _verifier = oauth.authorize_params(stored, redirect_uri="https://attacker.example/cb", **changes)
    response = (oauth.browser if logged_in else HttpClient()).get("/o/authorize/", params)
    assert_link_back(response, error, params["state"])


@open_registration
@pytest.mark.parametrize(("field", "value"), [
    ("subject_type", "pairwise"), ("id_token_encrypted_response_alg", "RSA-OAEP-256"),
    ("id_token_encrypted_response_enc", "A128CBC-HS256"), ("userinfo_encrypted_response_alg", "RSA-OAEP-256"),
    ("request_object_encryption_alg", "RSA-OAEP-256"), ("id_token_signed_response_alg", "PS512"),
    ("id_token_signed_response_alg", "none"), ("userinfo_signed_response_alg", "RS256"),
])
def test_oidc_metadata_asking_for_what_is_not_done_is_refused_not_dropped(field, value):
    """OIDC Registration 1.0 §2, §3.2: a relying party asking for pairwise subjects or
    encrypted ID tokens got 201 with the member left out, then public subjects and plain
    signed tokens without a word (outside OIDC review F3)."""
    r = register({**WEB_CLIENT, field: value})
    assert r.status_code == 400 and r.json()["error"] == "invalid_client_metadata", r.content
    assert field in r.json()["error_description"]


@open_registration
def test_oidc_metadata_asking_for_what_is_done_is_accepted():
    r = register({**WEB_CLIENT, "subject_type": "public", "id_token_signed_response_alg": "RS256",
                  "id_token_encrypted_response_alg": None})
    assert r.status_code == 201, r.content


@open_registration
def test_a_self_registered_clients_links_show_only_on_the_host_it_sends_users_to(oauth):
    """RFC 7591 §5: a client's ``client_uri``, ``policy_uri`` and ``tos_uri`` should share the
    host of its redirect URIs. "Claude" registered with client_uri https://claude.ai and a
    redirect to evil.example showed a "claude.ai" link under its heading (outside MCP review)."""
    def page(metadata: dict) -> str:
        info = register({**WEB_CLIENT, **metadata}).json()
        client = get_client_model().objects.get(client_id=info["client_id"])
        return oauth.browser.get("/o/authorize/", oauth.authorize_params(client)[0]).content.decode()

    foreign = page({"client_name": "Claude", "client_uri": "https://claude.ai/",
                    "policy_uri": "https://anthropic.example/privacy", "tos_uri": "https://anthropic.example/tos",
                    "redirect_uris": ["https://evil.example/cb"]})
    assert "claude.ai" not in foreign and "anthropic.example" not in foreign
    assert "Privacy policy" not in foreign and "Terms of service" not in foreign
    own = page({"client_name": "Notes", "client_uri": "https://notes.example/",
                "policy_uri": "https://notes.example/privacy", "redirect_uris": ["https://notes.example/cb"]})
    assert 'href="https://notes.example/"' in own and 'href="https://notes.example/privacy"' in own


@pytest.mark.req("MCP-2026-07-28-localhost-warning")
@open_registration
def test_a_self_registered_loopback_client_gets_the_on_this_device_warning(oauth, conf_client):
    """Any program on the user's computer can register a loopback client named "Claude
    Desktop" (what the MCP SDK registers): the page warns, as it does for a metadata document
    client; an operator's client and a self-registered web client do not get the warning."""
    native = register({"client_name": "Claude Desktop", "redirect_uris": ["http://127.0.0.1:33418/callback"],
                       "application_type": "native", "token_endpoint_auth_method": "none"}).json()
    client = get_client_model().objects.get(client_id=native["client_id"])
    params, _verifier = oauth.authorize_params(client)
    page = oauth.browser.get("/o/authorize/", params).content.decode()
    assert 'class="warning loopback-warning"' in page and "127.0.0.1" in page
    web, _ = oauth.authorize_params(_attacker_client())
    assert "loopback-warning" not in oauth.browser.get("/o/authorize/", web).content.decode()
    assert "loopback-warning" not in oauth.browser.get(
        "/o/authorize/", oauth.authorize_params(conf_client)[0]).content.decode()


@pytest.mark.req("BCP-4.11.2-authenticate-before-redirect")
@open_registration
def test_a_self_registered_client_is_answered_by_redirect_once_the_user_has_decided(oauth, user):
    """The consent page names the client and where it sends the user; once they press Deny,
    the answer goes back as usual. A consent row never stands in for the page of a client that
    registered itself (it is asked every time), so ``prompt=none`` still gets the error page."""
    stored = _attacker_client()
    params, _verifier = oauth.authorize_params(stored, redirect_uri="https://attacker.example/cb")
    denied = oauth.browser.post("/o/authorize/", {"oauth_request": consent_blob(
        oauth.browser.get("/o/authorize/", params).content.decode())})
    assert assert_redirect_to(denied, "https://attacker.example/cb")["error"] == "access_denied"
    ConsentFactory(user=user, client=stored, scope="read")
    silent = oauth.browser.get("/o/authorize/", {**params, "prompt": "none"})
    assert silent.status_code == 400 and b"consent_required" in silent.content


@pytest.mark.req("BCP-4.11.2-authenticate-before-redirect")
@pytest.mark.parametrize("changes", [{"prompt": "none"}, {"scope": "nonexistent"}])
def test_an_operator_registered_clients_errors_still_redirect(oauth, conf_client, changes):
    """Only self-registered clients get the page: an operator vouched for these URIs."""
    params, _verifier = oauth.authorize_params(conf_client, **changes)
    response = oauth.browser.get("/o/authorize/", params)
    assert assert_redirect_to(response, conf_client.redirect_uri_list[0])["state"] == params["state"]


class TrustsEveryRedirectURI(DefaultAdapter):
    """A host that vets every registration (say, behind initial access tokens it hands out)."""

    def redirects_errors(self, client):
        return True


@pytest.mark.parametrize("changes", [{"prompt": "none"}, {"scope": "nonexistent"}])
@open_registration
def test_a_host_that_vets_registrations_may_let_their_errors_redirect(oauth, changes):
    stored = _attacker_client()
    params, _verifier = oauth.authorize_params(stored, redirect_uri="https://attacker.example/cb", **changes)
    with override_oauth(ADAPTER="tests.endpoints.test_registration.TrustsEveryRedirectURI"):
        response = oauth.browser.get("/o/authorize/", params)
    assert assert_redirect_to(response, "https://attacker.example/cb")["state"] == params["state"]


@open_registration
def test_a_native_apps_private_use_redirect_uri_is_offered_as_a_link_back(oauth):
    """A self-registered native app's redirect URI is its own scheme (RFC 8252 §7.1), which
    only a public client may register: the link back opens the app."""
    native = {**MCP_CLIENT, "redirect_uris": ["com.example.notes:/cb"]}
    stored = get_client_model().objects.get(client_id=register(native).json()["client_id"])
    params, _verifier = oauth.authorize_params(stored, scope="nonexistent")
    response = oauth.browser.get("/o/authorize/", params)
    assert_error_page(response)
    assert b'id="oauth-provider-back" href="com.example.notes:/cb?error=invalid_scope&amp;' in response.content


@open_registration
def test_a_redirect_uri_written_past_validation_is_never_offered_as_a_link(oauth):
    """A Location header with javascript: does nothing; the same URI in an href runs on this
    site's origin. A row written straight to the database can hold one: no link then."""
    stored = _attacker_client()
    uri = "javascript:alert(document.domain)//"
    get_client_model().objects.filter(pk=stored.pk).update(redirect_uris=uri)
    params, _verifier = oauth.authorize_params(stored, redirect_uri=uri, scope="nonexistent")
    response = oauth.browser.get("/o/authorize/", params)
    assert_error_page(response)
    assert b'href="javascript' not in response.content
    assert b'id="oauth-provider-back"' not in response.content


@pytest.mark.req("O21-7.9-consent-phishing")
@pytest.mark.parametrize("control", ["\u202e", "\u202d", "\u2067", "\u2069", "\u200f", "\u061c"])
@open_registration
def test_a_self_chosen_name_cannot_reorder_the_consent_page(control):
    """Bidirectional controls in client_name (RLO, isolates, marks) would make the browser
    show the page's own words around the name, and the host after it, in another order:
    "Google (\u202eelpmaxe.live)" reads "Google (evil.example)" backwards. Refused as
    invalid_client_metadata; right-to-left names themselves are fine."""
    refused = register({**WEB_CLIENT, "client_name": f"Google{control} (accounts.google.com)"})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_client_metadata"
    assert "client_name" in refused.json()["error_description"]
    assert register({**WEB_CLIENT, "client_name": "מחברת Notes 👩\u200d💻"}).status_code == 201


@pytest.mark.req("O21-7.9-consent-phishing")
@open_registration
def test_the_address_a_user_is_sent_back_to_never_reads_as_a_look_alike(oauth):
    """The consent page tells the user to trust "the address you are sent back to". A
    self-registered redirect URI on "gоogle.com" (a Cyrillic "о") is shown as the name the
    browser will contact (IDNA), not as google.com."""
    # with a port too: the port is part of where the user goes
    for port in ("", ":8443"):
        uri = f"https://g\u043eogle.com{port}/cb"
        info = register({**WEB_CLIENT, "redirect_uris": [uri], "scope": "read"}).json()
        stored = get_client_model().objects.get(client_id=info["client_id"])
        params, _verifier = oauth.authorize_params(stored, redirect_uri=uri)
        html = oauth.browser.get("/o/authorize/", params).content.decode()
        assert f"You will be sent back to https://xn--gogle-jye.com{port}/cb" in html
        assert "g\u043eogle" not in html


@open_registration
def test_private_key_jwt_client_registers_its_keys_and_gets_no_secret():
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    public = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key()))
    response = register({**WEB_CLIENT, "token_endpoint_auth_method": "private_key_jwt",
                         "jwks": {"keys": [{**public, "kid": "k1", "use": "sig"}]}})
    assert response.status_code == 201, response.content
    info = response.json()
    assert info["token_endpoint_auth_method"] == "private_key_jwt" and "client_secret" not in info
    assert info["jwks"]["keys"][0]["kid"] == "k1"
    stored = get_client_model().objects.get(client_id=info["client_id"])
    assert not stored.is_public and not stored.client_secret_hash
    # a private key is refused (OIDC Registration §2: public keys only)
    private = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1())))
    refused = register({**WEB_CLIENT, "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [private]}})
    assert refused.status_code == 400


@open_registration
@pytest.mark.parametrize("keys", [{}, {"jwks": None, "jwks_uri": None}, {"jwks_uri": ""}])
def test_a_private_key_jwt_client_without_keys_is_refused(keys):
    """RFC 7523 §2.2: the server verifies the client's assertions with its registered public
    keys; a private_key_jwt client with neither jwks nor jwks_uri could never authenticate.
    Sent over HTTP, as a registering client does: the method is a string parsed from JSON."""
    response = register({**WEB_CLIENT, "token_endpoint_auth_method": "private_key_jwt", **keys})
    body = assert_error(response, 400, "invalid_client_metadata")
    assert "jwks" in body["error_description"]
    assert get_client_model().objects.count() == 0


@pytest.mark.parametrize("field", ["logo_uri", "client_uri", "policy_uri", "tos_uri", "jwks_uri",
                                   "backchannel_logout_uri"])
@open_registration
def test_urls_longer_than_their_columns_are_invalid_metadata_not_a_database_error(field):
    """Each stored URL has a 500-character column. A longer one is the client's mistake
    (RFC 7591 §3.2.2 invalid_client_metadata), whichever database is behind: PostgreSQL and
    MariaDB refuse the INSERT, SQLite would silently keep it."""
    long_url = "https://client.example/" + "a" * 600
    data = {**MCP_CLIENT, field: long_url}
    if field in ("jwks_uri", "backchannel_logout_uri"):
        data.update(token_endpoint_auth_method="private_key_jwt" if field == "jwks_uri" else "client_secret_basic",
                    application_type="web", redirect_uris=["https://client.example/cb"])
    response = register(data)
    body = assert_error(response, 400, "invalid_client_metadata")
    assert field in body["error_description"]
    assert get_client_model().objects.count() == 0


@pytest.mark.req("9449-5.2-dpop-required")
@open_registration
def test_a_client_may_register_to_always_use_dpop():
    info = register({**MCP_CLIENT, "dpop_bound_access_tokens": True}).json()
    assert info["dpop_bound_access_tokens"] is True
    assert get_client_model().objects.get(client_id=info["client_id"]).dpop_bound_access_tokens
    assert "dpop_bound_access_tokens" not in register(MCP_CLIENT).json()


@pytest.mark.req("O21-7.12-input-is-malicious")
@open_registration
@pytest.mark.parametrize("changes", [
    {"client_name": "\ud800 app"},
    {"software_id": "\udfff"},
    {"software_version": "1\ud800"},
    {"redirect_uris": ["https://rp.example/\ud800"]},
    {"post_logout_redirect_uris": ["https://rp.example/\ud800"]},
    {"client_uri": "https://rp.example/\ud800"},
    {"logo_uri": "https://rp.example/\ud800.png"},
    {"jwks_uri": "https://rp.example/\ud800"},
    {"backchannel_logout_uri": "https://rp.example/\ud800"},
    {"frontchannel_logout_uri": "https://rp.example/\ud800"},
    {"client_uri": "https://rp.example/a\x00b"},
    {"tos_uri": "https://rp.example/a\x00b"},
    {"jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "\ud800", "y": "a"}]}},
    {"jwks": "a valid key with a member named \ud800"},  # a member's name, not only its value
])
def test_metadata_that_is_not_storable_unicode_is_invalid_not_a_500(changes):
    """RFC 7591 §3.2.2: metadata the server cannot take is ``invalid_client_metadata``. JSON's
    ``\\ud800`` escape parses to a lone surrogate, which has no UTF-8 form (every database
    driver raises on it: a 500), and PostgreSQL refuses a NUL; RFC 7493 §2.1 (I-JSON) calls such
    a text invalid. Members we do not read are still ignored (RFC 7591 §2)."""
    if changes.get("jwks", {}) == "a valid key with a member named \ud800":
        from cryptography.hazmat.primitives.asymmetric import ec
        from jwt.algorithms import ECAlgorithm

        public = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key()))
        changes = {"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{**public, "\ud800": "x"}]}}
    data = {**WEB_CLIENT, **changes}
    response = register(json.dumps(data))
    body = assert_error(response, 400, "invalid_client_metadata")
    assert "\ud800" not in body["error_description"]
    assert get_client_model().objects.count() == 0
    # an update carrying it is refused the same way, and changes nothing
    info = register(WEB_CLIENT).json()
    uri, token = path_of(info["registration_client_uri"]), info["registration_access_token"]
    update = configure("put", uri, token, {**data, "client_id": info["client_id"]})
    assert_error(update, 400, "invalid_client_metadata")
    assert configure("get", uri, token).json()["client_name"] == WEB_CLIENT["client_name"]
    assert register({**WEB_CLIENT, "x-ignored": "\ud800"}).status_code == 201


@pytest.mark.req("7592-2.2-update")
@pytest.mark.parametrize("member", ["client_id", "client_secret"])
@open_registration
def test_an_update_naming_its_client_or_secret_in_unstorable_text_is_invalid_metadata(member):
    """RFC 7592 §2.2: an update carries ``client_id`` (and may carry ``client_secret``), which
    the server compares with its own: text with a lone surrogate is ``invalid_client_metadata``
    like any other member's, before any comparison, and changes nothing."""
    info = register({**WEB_CLIENT, "token_endpoint_auth_method": "client_secret_basic"}).json()
    uri, token = path_of(info["registration_client_uri"]), info["registration_access_token"]
    body = {**WEB_CLIENT, "client_id": info["client_id"], member: "\ud800"}
    update = configure("put", uri, token, json.loads(json.dumps(body)))
    assert_error(update, 400, "invalid_client_metadata")
    assert configure("get", uri, token).status_code == 200  # the token was not spent


@pytest.mark.req("7592-2.2-update")
@pytest.mark.req("7592-2.3-delete")
@open_registration
def test_two_requests_with_the_same_registration_access_token_cannot_both_win(registered, rf):
    """RFC 7592 §2.2: an update replaces the registration access token, and the old one stops
    working. Two requests holding the same token (the client and a thief who copied it, or a
    retry) are both read as valid; only the first to replace it may change the registration.
    The loser gets 401 ``invalid_token`` and changes nothing: no second live token, no metadata
    written over the winner's, no deleted client brought back (and no 500)."""
    from oauth_provider import dynamic_registration
    from oauth_provider.errors import InvalidToken

    client_id, token = registered["client_id"], registered["registration_access_token"]

    def put(data):
        return rf.put("/", json.dumps({**WEB_CLIENT, "client_id": client_id, **data}),
                      content_type="application/json")

    owner = ClientRegistration.objects.authenticate(client_id, token)
    thief = ClientRegistration.objects.authenticate(client_id, token)
    won = dynamic_registration.update(put({"client_name": "Owner"}), owner)
    with pytest.raises(InvalidToken):
        dynamic_registration.update(put({"redirect_uris": ["https://thief.example/cb"]}), thief)
    stored = get_client_model().objects.get(client_id=client_id)
    assert stored.name == "Owner" and stored.redirect_uri_list == WEB_CLIENT["redirect_uris"]
    assert ClientRegistration.objects.authenticate(client_id, won.registration_access_token) is not None
    # a delete racing an update: whichever comes second is refused and undoes nothing
    current = won.registration_access_token
    deleting = ClientRegistration.objects.authenticate(client_id, current)
    updating = ClientRegistration.objects.authenticate(client_id, current)
    dynamic_registration.delete(deleting)
    with pytest.raises(InvalidToken):
        dynamic_registration.update(put({"client_name": "Back"}), updating)
    stored.refresh_from_db()
    assert not stored.is_active and stored.name == "Owner"
    # and an update first: a delete with the replaced token deletes nothing
    info = register(WEB_CLIENT).json()
    stale = ClientRegistration.objects.authenticate(info["client_id"], info["registration_access_token"])
    fresh = ClientRegistration.objects.authenticate(info["client_id"], info["registration_access_token"])
    dynamic_registration.update(
        rf.put("/", json.dumps({**WEB_CLIENT, "client_id": info["client_id"]}), content_type="application/json"),
        fresh)
    with pytest.raises(InvalidToken):
        dynamic_registration.delete(stale)
    assert get_client_model().objects.get(client_id=info["client_id"]).is_active


@pytest.mark.req("7591-2-metadata")
def test_self_registered_clients_get_only_the_scopes_the_site_offers_them(browser, user):
    """``SELF_REGISTERED_SCOPES``: a registration naming no scope gets that set (RFC 7591 §2,
    the server's default), one naming a scope outside it is refused, and an authorization
    request for a withheld scope is ``invalid_scope``: anyone can register, and a user can be
    talked into approving whatever a client may ask for."""
    with override_oauth(DYNAMIC_REGISTRATION="open", SELF_REGISTERED_SCOPES=["read"]):
        info = register(WEB_CLIENT).json()
        assert info["scope"] == "read"
        client = get_client_model().objects.get(client_id=info["client_id"])
        assert client.allowed_scope_tuple == ("read",)
        assert_error(register({**WEB_CLIENT, "scope": "read write"}), 400, "invalid_client_metadata")
        assert register({**WEB_CLIENT, "scope": "read"}).json()["scope"] == "read"
        verifier, challenge = pkce_pair()
        asked = browser.get("/o/authorize/", {
            "response_type": "code", "client_id": info["client_id"], "redirect_uri": WEB_CLIENT["redirect_uris"][0],
            "scope": "write", "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"})
        assert "invalid_scope" in (asked.get("Location", "") + asked.content.decode())
    # clients the site registers are not limited by it
    with override_oauth(SELF_REGISTERED_SCOPES=["read"]):
        call_command("createclient", "Operator's", "--redirect-uri", "https://rp.example/cb",
                     "--scope", "read", "write", stdout=StringIO())
        assert get_client_model().objects.get(name="Operator's").allowed_scope_tuple == ("read", "write")


@pytest.mark.req("7592-2-rat-scope")
@open_registration
def test_a_client_an_operator_deactivated_cannot_be_read_or_revived_with_its_token(registered):
    """An operator switches off a self-registered client in the admin (its registration row
    stays): its registration access token opens nothing, and an update, which makes the client
    safe again (``is_active`` on), cannot switch it back on."""
    uri, token = path_of(registered["registration_client_uri"]), registered["registration_access_token"]
    get_client_model().objects.filter(client_id=registered["client_id"]).update(is_active=False)
    assert configure("get", uri, token).status_code == 401
    assert configure("put", uri, token, {**WEB_CLIENT, "client_id": registered["client_id"]}).status_code == 401
    assert not get_client_model().objects.get(client_id=registered["client_id"]).is_active


@open_registration
@pytest.mark.parametrize("uri", ["http://127.0.0.1/bye", "https://localhost/bye"])
def test_a_self_registered_web_clients_post_logout_uris_follow_the_web_rules(uri):
    """Self-registered web clients get the web rules for their post-logout URIs as for their
    redirect URIs: no loopback (another program on the user's machine would receive them)."""
    r = register({**WEB_CLIENT, "post_logout_redirect_uris": [uri]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_redirect_uri", r.content


@open_registration
def test_an_update_to_private_key_jwt_drops_the_old_secret(registered):
    """A client that moves to key-based authentication (RFC 7592 update) loses its secret: the
    stored hash is cleared and the old secret authenticates nothing at the token endpoint."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    from tests.support.token_helpers import post_form

    secret = registered["client_secret"]
    public = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key()))
    uri, token = path_of(registered["registration_client_uri"]), registered["registration_access_token"]
    updated = configure("put", uri, token, {**WEB_CLIENT, "client_id": registered["client_id"],
                                            "token_endpoint_auth_method": "private_key_jwt",
                                            "jwks": {"keys": [{**public, "kid": "k1"}]}})
    assert updated.status_code == 200, updated.content
    assert "client_secret" not in updated.json()
    assert get_client_model().objects.get(client_id=registered["client_id"]).client_secret_hash == ""
    r = post_form(HttpClient(), {"grant_type": "refresh_token", "refresh_token": "x" * 43},
                  HTTP_AUTHORIZATION=basic_auth(registered["client_id"], secret))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.content


@pytest.mark.req("7592-2.2-update")
@open_registration
def test_an_update_never_gives_back_a_grant_type_an_operator_took_away(registered):
    """As with scopes: an operator took ``refresh_token`` away from a self-registered client in
    the admin; the client's next update asking for it again does not get it (the answer says
    what it has), and an update naming no grant types keeps those it has."""
    client_id = registered["client_id"]
    get_client_model().objects.filter(client_id=client_id).update(grant_types="authorization_code")
    uri, token = path_of(registered["registration_client_uri"]), registered["registration_access_token"]
    r = configure("put", uri, token, {**WEB_CLIENT, "client_id": client_id,
                                      "grant_types": ["authorization_code", "refresh_token"]})
    assert r.status_code == 200, r.content
    assert r.json()["grant_types"] == ["authorization_code"]
    assert get_client_model().objects.get(client_id=client_id).grant_type_list == ["authorization_code"]
    unnamed = {k: v for k, v in WEB_CLIENT.items() if k != "grant_types"}
    r = configure("put", uri, r.json()["registration_access_token"], {**unnamed, "client_id": client_id})
    assert r.status_code == 200 and r.json()["grant_types"] == ["authorization_code"], r.content
    refused = configure("put", uri, r.json()["registration_access_token"],
                        {**WEB_CLIENT, "client_id": client_id, "grant_types": ["refresh_token"]})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_client_metadata"
    # what it has it keeps, every one of them, as the grant types it may use
    get_client_model().objects.filter(client_id=client_id).update(grant_types="authorization_code refresh_token")
    kept = configure("put", uri, r.json()["registration_access_token"],
                     {**WEB_CLIENT, "client_id": client_id, "grant_types": ["authorization_code", "refresh_token"]})
    assert kept.status_code == 200 and kept.json()["grant_types"] == ["authorization_code", "refresh_token"]
    client = get_client_model().objects.get(client_id=client_id)
    assert client.allows_grant("authorization_code") and client.allows_grant("refresh_token")


@pytest.mark.parametrize("value", ["opne", "Open", True, "on"])
def test_a_registration_mode_this_version_does_not_know_keeps_registration_off(value, client):
    """A misspelt ``DYNAMIC_REGISTRATION`` (check E070 says so at startup) fails closed: nothing is
    registered and the metadata advertises no registration endpoint, rather than running as
    some mode the operator did not choose."""
    with override_oauth(DYNAMIC_REGISTRATION=value):
        r = client.post("/o/register/", json.dumps(WEB_CLIENT), content_type="application/json")
        assert r.status_code == 404
        assert "registration_endpoint" not in client.get("/o/.well-known/oauth-authorization-server").json()
    assert not get_client_model().objects.exists()


# -- an operator's change made while an update runs stands ---------------------------------------
class DeactivatedMeanwhile(DefaultAdapter):
    """The adapter is asked while the update runs: the operator deactivates the client then."""

    def allow_registration(self, request, metadata):
        if request.method == "PUT":
            get_client_model().objects.update(is_active=False)
        return True


@override_oauth(DYNAMIC_REGISTRATION="open", ADAPTER="tests.endpoints.test_registration.DeactivatedMeanwhile")
def test_an_update_never_turns_on_a_client_an_operator_deactivated_meanwhile():
    info = register(MCP_CLIENT).json()
    answer = configure("put", path_of(info["registration_client_uri"]), info["registration_access_token"],
                       {**MCP_CLIENT, "client_id": info["client_id"], "client_name": "Renamed"})
    assert_error(answer, 401, "invalid_token")
    stored = get_client_model().objects.get(client_id=info["client_id"])
    assert not stored.is_active and stored.name == "An MCP client"  # nothing of the update landed


@open_registration
def test_an_update_takes_back_what_only_an_operator_gives():
    """An operator vetted a self-registered client and ticked skip_consent (and made it a
    resource server, gave it an owner); the registration access token's holder then points its
    redirect URIs elsewhere: the update puts them back to their safe values, or the next
    authorization would go to the new address without a consent page."""
    from django.contrib.auth import get_user_model

    info = register({**MCP_CLIENT, "token_endpoint_auth_method": "client_secret_basic",
                     "application_type": "web", "redirect_uris": ["https://rp.example/cb"]}).json()
    owner = get_user_model().objects.create_user("operator")
    get_client_model().objects.filter(client_id=info["client_id"]).update(
        skip_consent=True, is_resource_server=True, owner=owner)
    answer = configure("put", path_of(info["registration_client_uri"]), info["registration_access_token"],
                       {**MCP_CLIENT, "client_id": info["client_id"], "client_secret": info["client_secret"],
                        "token_endpoint_auth_method": "client_secret_basic", "application_type": "web",
                        "redirect_uris": ["https://elsewhere.example/cb"]})
    assert answer.status_code == 200, answer.content
    stored = get_client_model().objects.get(client_id=info["client_id"])
    assert (stored.skip_consent, stored.is_resource_server, stored.owner) == (False, False, None)
    assert stored.is_active

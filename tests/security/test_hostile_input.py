"""Hostile input against every endpoint, on each real database (an outside review's tests):
NUL bytes, 4-byte UTF-8, overlong and out-of-range values, MariaDB's case- and space-insensitive
comparisons, non-ASCII digits where a number is parsed. The review found a fetched document's
``Cache-Control: max-age=²`` and a registration's ``Content-Length: ²`` answered with a 500
(``str.isdigit()`` takes "²", ``int()`` refuses it), and two metadata-document URLs differing
only in case unable to both exist on MariaDB.

Every test states the attack it tries. The rule: bad input gets the RFC's error, never a 500,
and loses nothing (no code consumed, nothing revoked, no half-written row).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import quote, urlencode

import jwt as pyjwt
import pytest
from django.core.cache import caches
from django.core.signals import got_request_exception
from django.test import Client as HttpClient

from oauth_provider.models import (
    AccessToken,
    PushedAuthorization,
    RefreshToken,
    get_client_model,
)
from tests.conftest import basic_auth, consent_blob, pkce_pair
from tests.support.factories import REDIRECT_URI, ClientFactory
from tests.support.par_helpers import ISSUER, keyed_client, request_object, request_params
from tests.support.settings import override_oauth

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def no_500():
    """Fails the test if any request raised an unhandled exception (a 500)."""
    seen: list[Any] = []

    def on_exception(sender: Any, request: Any = None, **kwargs: Any) -> None:
        import sys

        seen.append((getattr(request, "path", "?"), repr(sys.exc_info()[1])[:400]))

    got_request_exception.connect(on_exception)
    yield seen
    got_request_exception.disconnect(on_exception)
    assert not seen, f"unhandled exceptions (500s): {seen}"


def api() -> HttpClient:
    # raise_request_exception=False: a 500 is a response we assert on, not an exception
    return HttpClient(raise_request_exception=False)


def post_form(path: str, body: str, **extra: Any):
    return api().post(path, body, content_type=FORM, **extra)


def assert_json_4xx(response, *errors: str, status: int | None = None) -> dict:
    assert response.status_code < 500, (response.status_code, response.content[:400])
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:400])
    if status is not None:
        assert response.status_code == status, (response.status_code, response.content[:400])
    body = response.json()
    if errors:
        assert body.get("error") in errors, body
    return body


# =============================================================================================
# 1. NUL in a parameter *name* (flatten checks values only)
# =============================================================================================

def test_par_with_a_nul_in_an_unknown_parameter_name_is_not_a_500(no_500, signing_key):
    """Attack: push an otherwise valid request with a parameter named ``x\\x00y``. If the name is
    kept and stored in the pushed request's JSON, PostgreSQL's jsonb refuses it (a DataError,
    a 500): anyone with client credentials takes the PAR endpoint down at will."""
    client = ClientFactory()
    body = urlencode({**request_params(client), "x\x00y": "1"})
    r = post_form("/o/par/", body, HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret))
    assert r.status_code in (201, 400), (r.status_code, r.content[:300])


def test_authorize_with_a_nul_in_a_parameter_name_is_not_a_500(no_500, browser, conf_client, signing_key):
    """Attack: an authorization request carrying ``a\\x00=b``: the consent form and the stored
    grant must not choke on it (PostgreSQL)."""
    _, challenge = pkce_pair()
    params = {"response_type": "code", "client_id": conf_client.client_id, "redirect_uri": REDIRECT_URI,
              "scope": "read", "state": "s", "code_challenge": challenge, "code_challenge_method": "S256",
              "a\x00": "b"}
    browser.raise_request_exception = False
    r = browser.get("/o/authorize/?" + urlencode(params))
    assert r.status_code in (200, 302, 400), r.status_code
    if r.status_code == 200:
        r2 = browser.post("/o/authorize/", {"oauth_request": consent_blob(r.content.decode()), "allow": "allow"})
        assert r2.status_code in (302, 400), r2.status_code


# =============================================================================================
# 2. Request objects: claims the client signed, but whose contents are hostile
# =============================================================================================

@pytest.fixture
def jar_client():
    return keyed_client()


def _push(client, **params: Any):
    return post_form("/o/par/", urlencode(params, doseq=True),
                     HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret))


@pytest.mark.parametrize("claims", [
    {"x\u0000y": "1"},                               # NUL in an unknown claim's name
    {"state": "a\u0000b"},                           # NUL in a known claim's value
    {"ext": {"k\u0000": "v"}},                       # NUL in a nested member name
    {"nonce": "\U0001F600" * 10},                   # 4-byte UTF-8
    {"max_age": 10 ** 30},                           # integer out of any column's range
    {"max_age": 1e308},                              # float at the edge
    {"exp": 1e308},                                  # time far in the future
    {"login_hint": "x" * 5000},                      # longer than MAX_PARAMETER_LENGTH
], ids=["nul-name", "nul-value", "nul-nested-name", "emoji", "huge-int", "huge-float", "huge-exp",
        "long"])
def test_request_object_with_hostile_claims_is_refused_not_a_500(no_500, jar_client, signing_key, claims):
    """Attack: a client (or whoever holds its key) pushes a signed request object whose claims
    carry a NUL, a 4-byte character, an out-of-range number or an overlong value; the
    server must answer 201 or a 400 error, never store what a database refuses."""
    token = request_object(jar_client, claims=claims)
    with override_oauth(REQUEST_OBJECTS=True):
        r = _push(jar_client, client_id=jar_client.client_id, request=token)
    assert r.status_code in (201, 400), (r.status_code, r.content[:300])
    if r.status_code == 201:
        # what was stored is readable again, and the authorization endpoint takes it
        row = PushedAuthorization.objects.get()
        assert isinstance(row.parameters, dict)


def test_request_object_by_value_with_nul_claim_name_is_not_a_500(no_500, browser, jar_client, signing_key):
    """Attack: the same request object sent by value to the authorization endpoint, then
    approved: the consent blob and the stored grant must survive it on PostgreSQL."""
    token = request_object(jar_client, claims={"x\u0000y": "1"})
    browser.raise_request_exception = False
    with override_oauth(REQUEST_OBJECTS=True):
        r = browser.get("/o/authorize/", {"client_id": jar_client.client_id, "request": token})
        assert r.status_code in (200, 302, 400), r.status_code
        if r.status_code == 200:
            r2 = browser.post("/o/authorize/", {"oauth_request": consent_blob(r.content.decode()),
                                                "allow": "allow"})
            assert r2.status_code in (302, 400), r2.status_code


# =============================================================================================
# 3. Collation: MariaDB's utf8mb4_general_ci is case-insensitive and PAD SPACE
# =============================================================================================

VARIANTS = [str.upper, lambda s: s + " ", lambda s: s + "\t", lambda s: s.swapcase()]
VARIANT_IDS = ["upper", "trailing-space", "trailing-tab", "swapcase"]


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
def test_token_endpoint_client_id_compares_exactly(no_500, variant):
    """Attack: authenticate as ``conf-client`` by sending ``CONF-CLIENT`` (or ``conf-client ``)
    with its secret. On MariaDB the row is found; if the library trusted the database's
    comparison, identifiers that differ would name the same client (and a client the
    operator created as ``Acme`` could be used as ``acme``)."""
    client = ClientFactory(client_id="conf-client")
    for auth in ({"HTTP_AUTHORIZATION": basic_auth(variant(client.client_id), client.raw_secret)},):
        r = post_form("/o/token/", urlencode({"grant_type": "client_credentials"}), **auth)
        assert_json_4xx(r, "invalid_client", status=401)
    r = post_form("/o/token/", urlencode({"grant_type": "client_credentials", "client_id": variant(client.client_id),
                                          "client_secret": client.raw_secret}))
    assert_json_4xx(r, "invalid_client", status=401)
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
def test_public_client_id_compares_exactly_at_authorize_and_token(no_500, browser, oauth, variant, signing_key):
    """Attack: a public client's code redeemed under a client_id differing only in case or by a
    trailing space (MariaDB would find the same row)."""
    from tests.support.factories import PublicClientFactory

    public = PublicClientFactory(client_id="public-client")
    code, verifier = oauth.get_code(public)
    r = post_form("/o/token/", urlencode({"grant_type": "authorization_code", "code": code,
                                          "redirect_uri": "http://127.0.0.1/cb", "code_verifier": verifier,
                                          "client_id": variant(public.client_id)}))
    assert_json_4xx(r, "invalid_client", "invalid_grant")
    # the code was not spent by the failed attempt: the real client still redeems it
    r = post_form("/o/token/", urlencode({"grant_type": "authorization_code", "code": code,
                                          "redirect_uri": "http://127.0.0.1/cb", "code_verifier": verifier,
                                          "client_id": public.client_id}))
    assert r.status_code == 200, r.content


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
def test_authorize_client_id_compares_exactly(no_500, browser, variant, signing_key):
    """Attack: ``client_id=CONF-CLIENT`` at the authorization endpoint: an error page, never
    the consent page of ``conf-client`` (which would then send its code)."""
    client = ClientFactory(client_id="conf-client")
    _, challenge = pkce_pair()
    browser.raise_request_exception = False
    r = browser.get("/o/authorize/", {"response_type": "code", "client_id": variant(client.client_id),
                                      "redirect_uri": REDIRECT_URI, "scope": "read", "state": "s",
                                      "code_challenge": challenge, "code_challenge_method": "S256"})
    assert r.status_code == 400 and not r.has_header("Location"), r.status_code


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
def test_registration_management_path_compares_client_id_exactly(no_500, variant):
    """Attack: RFC 7592 read/update/delete at ``/register/CONF-CLIENT`` with the right
    registration access token. MariaDB would match the path's client_id; the library must
    not (the token alone does not decide the URL)."""
    with override_oauth(DYNAMIC_REGISTRATION="open"):
        r = api().post("/o/register/", json.dumps({"redirect_uris": [REDIRECT_URI], "client_name": "x"}),
                       content_type="application/json")
        assert r.status_code == 201, r.content
        info = r.json()
        cid, token = info["client_id"], info["registration_access_token"]
        bad = variant(cid)
        if bad == cid:
            pytest.skip("variant equal to the original")
        r = api().get(f"/o/register/{quote(bad)}", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert r.status_code in (401, 404), r.status_code
        r = api().delete(f"/o/register/{quote(bad)}", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert r.status_code in (401, 404), r.status_code
        assert get_client_model()._default_manager.get(client_id=cid).is_active


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
def test_revoke_and_introspect_client_id_compares_exactly(no_500, oauth, conf_client, variant, signing_key):
    """Attack: revoke another client's tokens, or introspect, as ``CONF-CLIENT``: 401,
    nothing revoked."""
    tokens = oauth.tokens(conf_client)
    auth = basic_auth(variant(conf_client.client_id), conf_client.raw_secret)
    r = post_form("/o/revoke/", urlencode({"token": tokens["refresh_token"]}), HTTP_AUTHORIZATION=auth)
    assert_json_4xx(r, "invalid_client", status=401)
    r = post_form("/o/introspect/", urlencode({"token": tokens["access_token"]}), HTTP_AUTHORIZATION=auth)
    assert r.status_code == 401, r.status_code
    assert not RefreshToken.objects.filter(revoked_at__isnull=False).exists()
    assert not AccessToken.objects.filter(revoked_at__isnull=False).exists()


# =============================================================================================
# 4. Client ID metadata documents: two URLs differing only in case
# =============================================================================================

CIMD = {"CLIENT_ID_METADATA_DOCUMENTS": True, "ALLOW_INSECURE_LOOPBACK_FETCH": True,
        "FETCH": {"timeout": 1, "connect_timeout": 1}}
CALLBACK = "http://127.0.0.1:3000/callback"


def test_cimd_urls_differing_in_case_are_two_clients(browser, user):
    """Attack: two documents whose URLs differ only in the case of their path (``/App.json``
    and ``/app.json``: different resources on any case-sensitive host, possibly of different
    owners). On MariaDB the client_id column's unique index is case-insensitive, so once one
    is stored the other can never be: whoever first presents ``/APP.json`` locks the real
    ``/app.json`` client out (an unknown-client page every time, refetched on every try)."""
    from tests.support.http_servers import json_route, local_server

    caches["default"].clear()
    with local_server() as server, override_oauth(**CIMD):
        first, second = server.url("/App.json"), server.url("/app.json")
        for path, url in (("/App.json", first), ("/app.json", second)):
            server.routes[path] = json_route({
                "client_id": url, "client_name": "Doc " + url[-8:], "redirect_uris": [CALLBACK],
                "application_type": "native", "grant_types": ["authorization_code"],
                "response_types": ["code"], "token_endpoint_auth_method": "none"})
        _, challenge = pkce_pair()
        base = {"response_type": "code", "redirect_uri": CALLBACK, "scope": "read", "state": "s",
                "code_challenge": challenge, "code_challenge_method": "S256"}
        browser.raise_request_exception = False
        r1 = browser.get("/o/authorize/", {**base, "client_id": first})
        assert r1.status_code == 200, r1.content[:300]
        r2 = browser.get("/o/authorize/", {**base, "client_id": second})
        assert r2.status_code == 200, (r2.status_code, r2.content[:600])
        assert get_client_model()._default_manager.filter(registration_method="metadata_document").count() == 2
    caches["default"].clear()


# =============================================================================================
# 5. Digits that are not ASCII digits: str.isdigit() accepts "²", int() refuses it
# =============================================================================================

def test_cimd_document_with_a_superscript_max_age_is_an_error_page_not_a_500(no_500, browser, user):
    """Attack: anyone may name their own https URL as a client_id (CIMD). The document host
    answers ``Cache-Control: max-age=²`` (a Latin-1 byte http.client reads as "²"):
    :func:`oauth_provider.fetch.cache_seconds` tests ``isdigit()`` (True for "²") then calls
    ``int()`` (ValueError), outside the fetcher's error handling: every authorization request
    naming that client_id is a 500 (a log/alert flood at will)."""
    from tests.support.http_servers import json_route, local_server

    caches["default"].clear()
    with local_server() as server, override_oauth(**CIMD):
        url = server.url("/doc.json")
        server.routes["/doc.json"] = json_route({
            "client_id": url, "client_name": "Doc", "redirect_uris": [CALLBACK], "application_type": "native",
            "grant_types": ["authorization_code"], "response_types": ["code"],
            "token_endpoint_auth_method": "none"}, headers={"Cache-Control": "max-age=\u00b2"})
        _, challenge = pkce_pair()
        browser.raise_request_exception = False
        r = browser.get("/o/authorize/", {"response_type": "code", "client_id": url, "redirect_uri": CALLBACK,
                                          "scope": "read", "state": "s", "code_challenge": challenge,
                                          "code_challenge_method": "S256"})
        assert r.status_code in (200, 400), r.status_code
    caches["default"].clear()


def test_jwks_uri_with_a_superscript_max_age_is_read_as_no_max_age_not_a_500(no_500):
    """Attack: a private_key_jwt client whose ``jwks_uri`` (its own server: registrable by anyone
    with open dynamic registration) answers ``Cache-Control: max-age=³``. The token endpoint
    fetches the key set to check an assertion: ``int("³")`` escapes as a 500 on every try."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    from oauth_provider.client_assertions import ASSERTION_TYPE
    from tests.support.http_servers import json_route, local_server

    caches["default"].clear()
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = {**ECAlgorithm.to_jwk(private.public_key(), as_dict=True), "kid": "k1"}
    with local_server() as server, override_oauth(ALLOW_INSECURE_LOOPBACK_FETCH=True,
                                                 FETCH={"timeout": 1, "connect_timeout": 1}):
        server.routes["/jwks.json"] = json_route({"keys": [jwk]}, headers={"Cache-Control": "max-age=\u00b3"})
        client = ClientFactory(token_endpoint_auth_method="private_key_jwt", grant_types="client_credentials",
                               redirect_uris="", jwks=json.dumps({"keys": [jwk]}))
        type(client)._default_manager.filter(pk=client.pk).update(jwks="", jwks_uri=server.url("/jwks.json"))
        now = int(time.time())
        assertion = pyjwt.encode({"iss": client.client_id, "sub": client.client_id, "aud": ISSUER, "iat": now,
                                  "exp": now + 60, "jti": uuid.uuid4().hex}, private, algorithm="ES256",
                                 headers={"kid": "k1"})
        r = post_form("/o/token/", urlencode({"grant_type": "client_credentials", "client_assertion_type":
                                              ASSERTION_TYPE, "client_assertion": assertion,
                                              "scope": "read"}))
        # the key set is read (its odd max-age taken as none) and the assertion verified with it
        assert r.status_code == 200, (r.status_code, r.content[:300])
    caches["default"].clear()


def test_registration_with_a_superscript_content_length_is_invalid_client_metadata(no_500):
    """Attack: ``Content-Length: ²`` on a registration (Latin-1 header byte 0xB2, passed on by
    servers that do not validate the header themselves, e.g. wsgiref/runserver):
    ``parse_body`` checks ``isdigit()`` then calls ``int()``: a 500 instead of 400."""
    with override_oauth(DYNAMIC_REGISTRATION="open"):
        r = api().post("/o/register/", b"{}", content_type="application/json", CONTENT_LENGTH="\u00b2")
    assert r.status_code == 400, r.status_code
    assert r.json()["error"] == "invalid_client_metadata"


# =============================================================================================
# 6. The rest of the endpoints: hostile values that reach a lookup or a write
# =============================================================================================

HOSTILE = ["a\x00b", "\U0001F600" * 8, "x" * 4096, "9" * 40, "-1", "%00", "\u202e", "A" * 300]


@pytest.mark.parametrize("value", HOSTILE)
def test_token_endpoint_hostile_grant_values(no_500, oauth, conf_client, value, signing_key):
    """Attack: every credential-bearing parameter of every grant with a NUL, 4-byte text, an
    overlong or numeric value, after real client authentication (so the grant's lookup
    runs): an RFC 6749 §5.2 error, and the real code / refresh token still work."""
    code, verifier = oauth.get_code(conf_client)
    auth = {"HTTP_AUTHORIZATION": basic_auth(conf_client.client_id, conf_client.raw_secret)}
    for body in (
        {"grant_type": "authorization_code", "code": value, "redirect_uri": REDIRECT_URI, "code_verifier": verifier},
        {"grant_type": "authorization_code", "code": code, "redirect_uri": value, "code_verifier": verifier},
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": value},
        {"grant_type": "refresh_token", "refresh_token": value},
        {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": value},
        {"grant_type": "client_credentials", "scope": value},
        {"grant_type": "client_credentials", "resource": value},
        {"grant_type": value},
    ):
        r = post_form("/o/token/", urlencode(body), **auth)
        assert r.status_code in (400, 401), (body, r.status_code, r.content[:200])
    # nothing was lost: the code is still good once (a wrong redirect_uri/verifier did not spend it
    # unless the library spends on failure by design: then invalid_grant, never a 500)
    r = oauth.exchange(conf_client, code, verifier)
    assert r.status_code in (200, 400), r.content


@pytest.mark.parametrize("value", HOSTILE)
def test_revoke_introspect_userinfo_hostile_tokens(no_500, oauth, conf_client, value, signing_key):
    tokens = oauth.tokens(conf_client)
    auth = {"HTTP_AUTHORIZATION": basic_auth(conf_client.client_id, conf_client.raw_secret)}
    r = post_form("/o/revoke/", urlencode({"token": value, "token_type_hint": value}), **auth)
    assert r.status_code in (200, 400), r.status_code
    r = post_form("/o/introspect/", urlencode({"token": value}), **auth)
    assert r.status_code in (200, 400), r.status_code
    if r.status_code == 200:
        assert r.json() == {"active": False}
    r = post_form("/o/userinfo/", urlencode({"access_token": value}))
    assert r.status_code in (400, 401), r.status_code
    r = api().get("/api/drf/read/", HTTP_AUTHORIZATION="Bearer " + value.encode("utf-8").decode("latin-1"))
    assert r.status_code in (400, 401, 403), r.status_code
    # the real token was not revoked by any of it
    r = api().get("/o/userinfo/", HTTP_AUTHORIZATION="Bearer " + tokens["access_token"])
    assert r.status_code in (200, 403), r.status_code
    assert not AccessToken.objects.filter(revoked_at__isnull=False).exists()


@pytest.mark.parametrize("value", HOSTILE + ["wdjbm-khtxz", "WDJBM KHTXZ "])
def test_device_page_hostile_user_codes(no_500, browser, value):
    browser.raise_request_exception = False
    r = browser.post("/o/device/", {"user_code": value})
    assert r.status_code in (200, 400, 429), r.status_code
    r = browser.get("/o/device/", {"user_code": value})
    assert r.status_code in (200, 400, 429), r.status_code
    r = browser.post("/o/device/", {"device_request": value, "allow": "allow"})
    assert r.status_code in (200, 400, 403), r.status_code


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
def test_end_session_and_connected_apps_compare_client_id_exactly(no_500, oauth, browser, variant, signing_key):
    """Attack (MariaDB): ``client_id=CONF-CLIENT`` at end-session to be redirected to
    conf-client's post-logout URI, or at connected apps to revoke."""
    client = ClientFactory(client_id="conf-client", post_logout_redirect_uris="https://rp.example/bye")
    oauth.tokens(client)
    browser.raise_request_exception = False
    import re

    page = browser.get("/o/connected-apps/").content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    r = browser.post("/o/connected-apps/", {"client_id": variant(client.client_id), "csrfmiddlewaretoken": csrf})
    assert r.status_code == 200, r.status_code
    assert not AccessToken.objects.filter(revoked_at__isnull=False).exists()
    r = browser.get("/o/logout/", {"client_id": variant(client.client_id),
                                   "post_logout_redirect_uri": "https://rp.example/bye"})
    assert r.status_code in (200, 400), r.status_code
    assert "rp.example" not in r.get("Location", "")


@pytest.mark.parametrize("value", HOSTILE)
def test_registration_hostile_member_values(no_500, value):
    """Attack: every string member of a registration with a NUL, 4-byte text, overlong text or
    digits, on each database (PostgreSQL refuses NUL, MariaDB strict mode refuses overlong)."""
    with override_oauth(DYNAMIC_REGISTRATION="open"):
        for member in ("client_name", "software_id", "software_version", "client_uri", "logo_uri", "tos_uri",
                       "policy_uri", "jwks_uri", "backchannel_logout_uri", "scope", "token_endpoint_auth_method",
                       "application_type", "subject_type"):
            r = api().post("/o/register/", json.dumps({"redirect_uris": [REDIRECT_URI], member: value}),
                           content_type="application/json")
            assert r.status_code in (201, 400), (member, r.status_code, r.content[:200])
        for member in ("redirect_uris", "contacts", "grant_types", "post_logout_redirect_uris"):
            r = api().post("/o/register/", json.dumps({"redirect_uris": [REDIRECT_URI], member: [value]}),
                           content_type="application/json")
            assert r.status_code in (201, 400), (member, r.status_code, r.content[:200])

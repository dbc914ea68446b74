"""Signed request objects (JAR, RFC 9101) by value at the authorization endpoint and pushed to
the PAR endpoint, attacked with the JWT corpus: unsigned, HMAC with the secret, another
client's key or kid, the wrong algorithm, typ confusion, another server's aud, expired,
not yet valid, nested, and a request object used as a client assertion. Checklist section V."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from urllib.parse import urlencode

import jwt as pyjwt
import pytest
from django.test import Client as HttpClient
from django.test import override_settings

from oauth_provider import request_objects
from oauth_provider.client_assertions import ASSERTION_TYPE
from oauth_provider.errors import InvalidRequestObject
from oauth_provider.models import AuthorizationCode, PushedAuthorization
from tests.support.endpoints import assert_error_page, assert_error_redirect, assert_redirect_to, minted
from tests.support.factories import REDIRECT_URI, ClientFactory
from tests.support.par_helpers import (
    AUTHORIZE,
    FORM,
    ISSUER,
    PAR,
    assert_json_error,
    ec_key,
    jwk_of,
    keyed_client,
    push,
    request_object,
    request_params,
    rsa_key,
    unsigned,
)
from tests.support.settings import oauth_settings, override_oauth
from tests.support.token_helpers import FrozenClock

pytestmark = pytest.mark.django_db
METADATA = "/o/.well-known/oauth-authorization-server"


@pytest.fixture
def browser(user):
    http = HttpClient()
    http.force_login(user)
    return http


@pytest.fixture
def client_a(db):
    return keyed_client(skip_consent=True)


def by_value(browser, client, token: str, **query):
    return browser.get(AUTHORIZE, {"client_id": client.client_id, "request": token, **query})


def refused_at_authorize(browser, client, token: str) -> None:
    r = by_value(browser, client, token)
    assert_error_page(r)
    assert b"invalid_request_object" in r.content or b"request object" in r.content, r.content[:500]
    assert minted() == 0


def refused_at_par(client, token: str, error: str = "invalid_request_object") -> None:
    assert_json_error(push(client, client_id=client.client_id, request=token), error)
    assert not PushedAuthorization.objects.exists()


# -- it works --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make_key,alg", [(ec_key, "ES256"), (rsa_key, "PS256"), (rsa_key, "RS256")])
def test_a_signed_request_object_by_value_is_the_request(make_key, alg, browser):
    client = keyed_client(make_key(), skip_consent=True)
    token = request_object(client, alg=alg, state="from-jwt", scope="read")
    # RFC 9101 §6.3: only the request object's parameters count, not the query's
    r = by_value(browser, client, token, state="from-query", redirect_uri="https://evil.example/cb", scope="write")
    query = assert_redirect_to(r, REDIRECT_URI)
    assert query["state"] == "from-jwt" and "code" in query
    assert AuthorizationCode.objects.get().authorization.scope == "read"


@pytest.mark.req("9126-3-request-object")
def test_a_signed_request_object_pushed_to_par(client_a, browser):
    token = request_object(client_a, state="pushed-jwt")
    r = push(client_a, client_id=client_a.client_id, request=token, state="ignored", scope="write")
    assert r.status_code == 201, r.content
    r = browser.get(AUTHORIZE, {"client_id": client_a.client_id, "request_uri": r.json()["request_uri"]})
    assert assert_redirect_to(r, REDIRECT_URI)["state"] == "pushed-jwt"
    assert AuthorizationCode.objects.get().authorization.scope == "read"


def test_in_development_a_pushed_request_object_is_for_the_issuer_the_request_names(client_a, browser):
    """DEBUG with no ISSUER: the issuer comes from the request (``http://testserver/o``), and
    the request object's ``aud`` is checked against it at PAR, not a 500 for the missing setting."""
    with override_settings(DEBUG=True), override_oauth(ISSUER=None):
        refused_at_par(client_a, request_object(client_a, aud=ISSUER))  # the https one is not us here
        r = push(client_a, client_id=client_a.client_id, request=request_object(
            client_a, aud="http://testserver/o", state="dev"))
        assert r.status_code == 201, r.content
        r = browser.get(AUTHORIZE, {"client_id": client_a.client_id, "request_uri": r.json()["request_uri"]})
    assert assert_redirect_to(r, REDIRECT_URI)["state"] == "dev"


def test_claims_of_json_types_become_parameters():
    data = request_objects.parameters({"iss": "c", "aud": ISSUER, "exp": 1, "max_age": 0, "state": "s",
                                       "claims": {"id_token": {"acr": None}}, "resource": ["https://a/", "https://b/"]})
    assert data["max_age"] == "0" and data["state"] == "s"
    assert json.loads(data["claims"]) == {"id_token": {"acr": None}}
    assert data.getlist("resource") == ["https://a/", "https://b/"]
    assert "iss" not in data and "exp" not in data
    with pytest.raises(InvalidRequestObject):
        request_objects.parameters({"scope": ["read", "write"]})


def test_booleans_and_numbers_become_their_json_text():
    """RFC 9101 §4: a claim's JSON value is the parameter's value as it would be sent: true and
    false as such, an integral number without a fraction, another number as written."""
    data = request_objects.parameters({"a": True, "b": False, "c": 2.0, "d": 1.5, "e": 7})
    assert (data["a"], data["b"], data["c"], data["d"], data["e"]) == ("true", "false", "2", "1.5", "7")


def test_the_forced_login_marker_is_never_taken_from_a_request_object():
    """``login_after`` is our own marker, added on the way back from a forced login (and
    re-added by expand from the query): a client cannot set it in the claims it signs."""
    claims = json.loads('{"state": "s", "login_after": "chosen-by-the-client"}')  # as a JWT's claims come
    data = request_objects.parameters(claims)
    assert "login_after" not in data and data["state"] == "s"


def test_only_repeatable_parameters_take_a_list_and_only_of_strings():
    with pytest.raises(InvalidRequestObject, match="wrong type"):
        request_objects.parameters({"resource": ["https://a/", 7]})
    with pytest.raises(InvalidRequestObject, match="wrong type"):
        request_objects.parameters({"state": ["a", "b"]})


@pytest.mark.req("O21-7.12-input-is-malicious")
def test_a_claim_name_is_never_written_on_our_error_page(client_a, browser):
    """A request object's claim names are the client's choice (a self-registered client signs
    with its own key): the error page names no claim the server does not know."""
    token = request_object(client_a, **{"Your account is suspended. Call 555-0100 now": [1, 2]})
    r = by_value(browser, client_a, token)
    assert_error_page(r)
    assert b"wrong type" in r.content and b"555-0100" not in r.content


@pytest.mark.req("FAPI2-5.3.2.1-13-clock-skew")
def test_iat_and_nbf_ten_seconds_ahead_are_accepted_sixty_one_refused(client_a, browser):
    now = int(time.time())
    refused_at_authorize(browser, client_a, request_object(client_a, nbf=now + 61 + 60))
    refused_at_authorize(browser, client_a, request_object(client_a, iat=now + 61 + 60))
    assert "code" in assert_redirect_to(by_value(browser, client_a, request_object(
        client_a, iat=now + 10, nbf=now + 10)), REDIRECT_URI)


# -- 9101-5-client-id -----------------------------------------------------------------------------------
@pytest.mark.req("9101-5-client-id")
def test_client_id_is_required_beside_the_request_object(client_a, browser):
    r = browser.get(AUTHORIZE, {"request": request_object(client_a)})
    assert_error_page(r)
    assert b"The client_id parameter is required with request or request_uri" in r.content
    assert minted() == 0


@pytest.mark.req("9101-5-client-id", "9126-3-request-object")
def test_the_request_objects_client_id_is_the_requests(client_a, browser):
    other = keyed_client(skip_consent=True)
    refused_at_authorize(browser, client_a, request_object(client_a, client_id=other.client_id))
    refused_at_authorize(browser, client_a, request_object(client_a, client_id=None))
    refused_at_authorize(browser, client_a, request_object(client_a, iss=other.client_id))
    # C1 pushes a request object naming C2
    refused_at_par(client_a, request_object(client_a, client_id=other.client_id))
    # C2's own request object sent with C1's client_id
    r = by_value(browser, client_a, request_object(other))
    assert_error_page(r)


# -- 9101-6.2-signature -------------------------------------------------------------------------------------
@pytest.mark.req("9101-6.2-signature")
def test_a_request_object_signed_with_another_clients_key_is_refused(client_a, browser):
    other = keyed_client()
    # C2's key, with C2's kid and with C1's kid
    refused_at_authorize(browser, client_a, request_object(client_a, key=other.private_key, headers={"kid": other.kid}))
    refused_at_authorize(browser, client_a, request_object(client_a, key=other.private_key))
    refused_at_authorize(browser, client_a, request_object(client_a, key=other.private_key, headers={"kid": None}))
    refused_at_par(client_a, request_object(client_a, key=other.private_key, headers={"kid": other.kid}))


@pytest.mark.req("9101-6.2-signature")
def test_hmac_with_the_client_secret_and_an_unregistered_algorithm_are_refused(browser):
    key = rsa_key()
    client = keyed_client(key, skip_consent=True, request_object_signing_alg="PS256")
    hs256 = request_object(client, key=client.raw_secret, alg="HS256")
    refused_at_authorize(browser, client, hs256)
    refused_at_par(client, hs256)
    refused_at_authorize(browser, client, request_object(client, alg="RS256"))
    assert "code" in assert_redirect_to(by_value(browser, client, request_object(client, alg="PS256")), REDIRECT_URI)


def test_hmac_with_the_public_key_is_refused(client_a, browser):
    """RFC 8725 §2.1: the classic algorithm confusion, the public key as an HMAC secret."""
    import base64
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import serialization

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    claims = {**request_params(client_a), "iss": client_a.client_id, "exp": int(time.time()) + 60}
    header = json.dumps({"alg": "HS256", "kid": client_a.kid}).encode()
    signing_input = b64(header) + "." + b64(json.dumps(claims).encode())
    for secret in (json.dumps(jwk_of(client_a.private_key, client_a.kid)).encode(),
                   client_a.private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                  serialization.PublicFormat.SubjectPublicKeyInfo)):
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        refused_at_authorize(browser, client_a, signing_input + "." + b64(mac))


@pytest.mark.req("9101-6.2-signature")
def test_a_client_without_keys_cannot_send_request_objects(browser):
    client = ClientFactory(skip_consent=True)
    token = pyjwt.encode({"iss": client.client_id, "client_id": client.client_id, "exp": int(time.time()) + 60},
                         ec_key(), algorithm="ES256")
    refused_at_authorize(browser, client, token)
    body = assert_json_error(push(client, client_id=client.client_id, request=token), "invalid_request_object")
    assert body["error_description"].startswith("This client has registered no keys")


def test_key_headers_that_would_choose_the_key_are_refused(client_a, browser):
    jwk = jwk_of(client_a.private_key, client_a.kid)
    for header in ({"jwk": jwk}, {"jku": "https://evil.example/jwks"}, {"x5u": "https://evil.example/c"},
                   {"crit": ["exp"]}):
        refused_at_authorize(browser, client_a, request_object(client_a, headers=header))


# -- 9101-10.1-signed-only --------------------------------------------------------------------------------
@pytest.mark.req("9101-10.1-signed-only")
@pytest.mark.parametrize("header", [{"alg": "none"}, {"alg": "None"}, {"alg": "none", "typ": "oauth-authz-req+jwt"}])
def test_unsigned_request_objects_are_refused(header, client_a, browser):
    claims = {**request_params(client_a), "iss": client_a.client_id, "aud": ISSUER, "exp": int(time.time()) + 60}
    token = unsigned(claims, header)
    refused_at_authorize(browser, client_a, token)
    refused_at_par(client_a, token)
    client_a.require_signed_request_object = True
    client_a.save()
    refused_at_authorize(browser, client_a, token)


def test_encrypted_request_objects_are_refused(client_a, browser):
    refused_at_authorize(browser, client_a, "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d")


def test_an_encrypted_request_object_is_told_apart_from_a_malformed_one(client_a):
    """A JWE (five segments) gets its own answer, so its client learns that encryption is
    what is not supported here (RFC 9101 §6.1: encryption is optional), not that it sent garbage."""
    body = assert_json_error(push(client_a, client_id=client_a.client_id, request="eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d"),
                             "invalid_request_object")
    assert body["error_description"].startswith("Encrypted request objects are not supported")
    body = assert_json_error(push(client_a, client_id=client_a.client_id, request="a.b.c.d.e.f"),
                             "invalid_request_object")
    assert "not a compact JWS" in body["error_description"]
    assert not PushedAuthorization.objects.exists()


# -- require_signed_request_object ------------------------------------------------------------------------
def test_require_signed_request_object_refuses_plain_requests(client_a, browser):
    client_a.require_signed_request_object = True
    client_a.save()
    r = browser.get(AUTHORIZE, request_params(client_a, state="s"))
    assert_error_redirect(r, REDIRECT_URI, "invalid_request", "s", ISSUER)
    assert_json_error(push(client_a), "invalid_request")
    assert "code" in assert_redirect_to(by_value(browser, client_a, request_object(client_a)), REDIRECT_URI)
    r = push(client_a, client_id=client_a.client_id, request=request_object(client_a))
    assert r.status_code == 201
    r = browser.get(AUTHORIZE, {"client_id": client_a.client_id, "request_uri": r.json()["request_uri"]})
    assert "code" in assert_redirect_to(r, REDIRECT_URI)


def test_require_signed_request_object_survives_the_consent_page(browser):
    client = keyed_client(require_signed_request_object=True)
    page = by_value(browser, client, request_object(client))
    assert page.status_code == 200
    from tests.conftest import consent_blob

    r = browser.post(AUTHORIZE, {"oauth_request": consent_blob(page.content.decode()), "allow": "allow"})
    assert "code" in assert_redirect_to(r, REDIRECT_URI)


def test_the_server_flag_is_advertised_and_applies_to_every_client(client_a, browser):
    with override_settings(OAUTH_PROVIDER=oauth_settings(REQUIRE_SIGNED_REQUEST_OBJECT=True)):
        document = HttpClient().get(METADATA).json()
        assert document["require_signed_request_object"] is True
        r = browser.get(AUTHORIZE, request_params(client_a, state="s"))
        assert_error_redirect(r, REDIRECT_URI, "invalid_request", "s", ISSUER)


def test_metadata_lists_request_object_support(db):
    document = HttpClient().get("/o/.well-known/openid-configuration").json()
    assert document["request_parameter_supported"] is True
    assert "none" not in document["request_object_signing_alg_values_supported"]
    assert not any(alg.startswith("HS") for alg in document["request_object_signing_alg_values_supported"])
    assert "require_signed_request_object" not in document
    with override_settings(OAUTH_PROVIDER=oauth_settings(REQUEST_OBJECTS=False)):
        document = HttpClient().get(METADATA).json()
        assert document["request_parameter_supported"] is False
        assert "request_object_signing_alg_values_supported" not in document


def test_off_request_is_request_not_supported(client_a, browser):
    with override_settings(OAUTH_PROVIDER=oauth_settings(REQUEST_OBJECTS=False)):
        r = browser.get(AUTHORIZE, {**request_params(client_a, state="s"), "request": request_object(client_a)})
        assert_error_redirect(r, REDIRECT_URI, "request_not_supported", "s", ISSUER)
        assert_json_error(push(client_a, client_id=client_a.client_id, request=request_object(client_a)),
                          "request_not_supported")


# -- 9101-4-no-nesting ---------------------------------------------------------------------------------------
@pytest.mark.req("9101-4-no-nesting")
def test_nested_request_objects_are_refused(client_a, browser):
    inner = request_object(client_a)
    refused_at_authorize(browser, client_a, request_object(client_a, request=inner))
    refused_at_authorize(browser, client_a, request_object(client_a, request_uri="https://evil.example/r"))
    refused_at_par(client_a, request_object(client_a, request=inner))
    refused_at_par(client_a, request_object(client_a, request_uri="urn:ietf:params:oauth:request_uri:x"))


@pytest.mark.req("9101-4-no-nesting")
def test_request_and_request_uri_together_are_refused(client_a, browser):
    r = browser.get(AUTHORIZE, {"client_id": client_a.client_id, "request": request_object(client_a),
                                "request_uri": "urn:ietf:params:oauth:request_uri:x"})
    assert_error_page(r)
    assert_json_error(push(client_a, client_id=client_a.client_id, request=request_object(client_a),
                           request_uri="urn:ietf:params:oauth:request_uri:x"), "invalid_request")


# -- 9101-10.8-typ ------------------------------------------------------------------------------------------
@pytest.mark.req("9101-10.8-typ")
@pytest.mark.parametrize("typ", ["dpop+jwt", "at+jwt", "application/at+jwt", "logout+jwt",
                                 "client-authentication+jwt", "secevent+jwt", "application/"])
def test_request_objects_typed_as_other_jwts_are_refused(typ, client_a, browser):
    refused_at_authorize(browser, client_a, request_object(client_a, headers={"typ": typ}))


@pytest.mark.req("9101-10.8-typ")
@pytest.mark.parametrize("typ", ["oauth-authz-req+jwt", "application/oauth-authz-req+jwt", "JWT", None])
def test_typed_and_untyped_request_objects_are_accepted(typ, client_a, browser):
    r = by_value(browser, client_a, request_object(client_a, headers={"typ": typ}))
    assert "code" in assert_redirect_to(r, REDIRECT_URI)


@pytest.mark.req("9101-10.8-typ")
def test_a_request_object_is_never_a_client_assertion(db):
    key = ec_key()
    client = keyed_client(key, token_endpoint_auth_method="private_key_jwt")
    token = request_object(client, sub=client.client_id, aud=ISSUER)  # iss and sub = client, aud = issuer
    form = {**request_params(client), "client_assertion_type": ASSERTION_TYPE, "client_assertion": token}
    r = HttpClient().post(PAR, urlencode(form), content_type=FORM)
    assert_json_error(r, "invalid_client", 401)


# -- 9101-4-aud-iss -------------------------------------------------------------------------------------------
@pytest.mark.req("9101-4-aud-iss")
@pytest.mark.parametrize("claims", [
    {"aud": "https://other-as.example"},
    {"aud": ISSUER + "/"},
    {"aud": ISSUER + "/authorize/"},
    {"aud": ["https://other-as.example"]},
    {"iss": "someone-else"},
    {"iss": ""},
    {"exp": None},
    {"exp": "soon"},
    {"exp": -200},
    {"nbf": 121},
    {"iat": -100, "exp": 7200},
])
def test_aud_iss_and_times_are_enforced(claims, client_a, browser):
    """Times are given relative to now (seconds), converted when the test runs."""
    now = int(time.time())
    claims = {k: now + v if k in ("exp", "nbf", "iat") and isinstance(v, int) else v for k, v in claims.items()}
    refused_at_authorize(browser, client_a, request_object(client_a, **claims))


@pytest.mark.req("9101-4-aud-iss")
def test_aud_and_iss_may_be_absent_and_aud_may_name_us_in_a_list(client_a, browser):
    """RFC 9101 §4: iss and aud SHOULD be present; when they are, they must be right."""
    for claims in ({"aud": None}, {"aud": [ISSUER]}, {"aud": ISSUER}, {"iss": None}, {"iss": None, "aud": None}):
        r = by_value(browser, client_a, request_object(client_a, **claims))
        assert "code" in assert_redirect_to(r, REDIRECT_URI)


@pytest.fixture
def at_t0():
    """Our clock frozen at a whole second ``t0`` (returned), so time claims can sit exactly on a bound."""
    t0 = int(time.time())
    FrozenClock(datetime.fromtimestamp(t0, tz=timezone.utc))
    return t0


def verified(client, **claims) -> dict:
    return request_objects.verify(client, request_object(client, **claims), ISSUER)


def refused_by_verify(client, match: str, **claims) -> None:
    with pytest.raises(InvalidRequestObject, match=match) as caught:
        verified(client, **claims)
    assert caught.value.error == "invalid_request_object" and caught.value.status == 400


@pytest.mark.req("9101-4-aud-iss")
def test_a_request_object_is_accepted_until_sixty_seconds_past_its_exp_and_not_one_more(client_a, at_t0):
    """exp is checked with 60 seconds of clock skew (LEEWAY), and not a second more: an expired
    request object is not replayed later."""
    assert verified(client_a, iat=at_t0 - 120, exp=at_t0 - 60)["state"]
    refused_by_verify(client_a, "expired", iat=at_t0 - 120, exp=at_t0 - 61)


@pytest.mark.req("9101-4-aud-iss")
def test_a_request_object_lives_at_most_an_hour_counted_from_its_iat(client_a, at_t0):
    """MAX_LIFETIME: one hour (plus the 60 s leeway) from iat to exp, or from now without iat;
    a long-lived request object is a replayable one (RFC 9101 §10.2)."""
    assert verified(client_a, iat=at_t0, exp=at_t0 + 3660)["state"]
    refused_by_verify(client_a, "too long", iat=at_t0, exp=at_t0 + 3661)
    assert verified(client_a, iat=None, exp=at_t0 + 3660)["state"]
    refused_by_verify(client_a, "too long", iat=None, exp=at_t0 + 3661)
    # made 1000 s ago to live 4000 s: refused though it has 3000 s left
    refused_by_verify(client_a, "too long", iat=at_t0 - 1000, exp=at_t0 + 3000)


@pytest.mark.req("FAPI2-5.3.2.1-13-clock-skew")
def test_nbf_and_iat_may_be_sixty_seconds_ahead_and_not_one_more(client_a, at_t0):
    assert verified(client_a, iat=at_t0 + 60, nbf=at_t0 + 60, exp=at_t0 + 300)["state"]
    refused_by_verify(client_a, "nbf", iat=at_t0, nbf=at_t0 + 61, exp=at_t0 + 300)
    refused_by_verify(client_a, "future", iat=at_t0 + 61, exp=at_t0 + 300)


def test_an_expired_request_object_is_refused_with_our_clock(client_a, browser):
    token = request_object(client_a)
    clock = FrozenClock()
    clock.advance(300 + 61)
    refused_at_authorize(browser, client_a, token)


def test_a_request_object_with_a_published_key_set(settings, browser):
    """jwks_uri keys come through the provider's fetcher: nothing is fetched for a client
    with a registered set, and a failing fetch is invalid_request_object, never a 500."""
    client = keyed_client(skip_consent=True)
    token = request_object(client)
    client.jwks, client.jwks_uri = "", "https://127.0.0.1:1/jwks.json"
    client.save()
    refused_at_authorize(browser, client, token)


@pytest.mark.req("DERIVED-jwks-refresh-bounded")
def test_a_published_key_set_is_read_through_the_fetch_cache(monkeypatch, client_a):
    """A request object whose kid the client publishes costs no fresh fetch of its jwks_uri:
    the key set comes through fetch's cache, and only an unknown kid forces a new copy (at
    most once per interval), so request objects cannot make us fetch on every request."""
    from oauth_provider import fetch

    url = "https://rp.example/jwks.json"
    calls = []

    def fake_fetch_json(target, *, max_bytes=100_000, use_cache=True):
        calls.append((target, use_cache))
        return {"keys": [jwk_of(client_a.private_key, client_a.kid)]}

    monkeypatch.setattr(fetch, "fetch_json", fake_fetch_json)
    client_a.jwks, client_a.jwks_uri = "", url
    client_a.save()
    for _ in range(2):
        assert request_objects.verify(client_a, request_object(client_a), ISSUER)["client_id"] == client_a.client_id
    assert calls == [(url, True), (url, True)]


@pytest.mark.req("DERIVED-jwks-refresh-bounded")
def test_a_request_object_signed_with_a_rotated_key_gets_the_key_set_fetched_afresh(monkeypatch, client_a):
    """The client rotated its keys at its jwks_uri; the copy in the fetch cache is older. A kid
    it does not hold makes one fresh fetch (OIDC Core §10.1.1), so the request object verifies."""
    from django.core.cache import cache

    from oauth_provider import fetch

    url, rotated = "https://rp.example/jwks.json", ec_key()
    calls = []

    def fake_fetch_json(target, *, max_bytes=100_000, use_cache=True):
        calls.append((target, use_cache))
        keys = [jwk_of(client_a.private_key, client_a.kid)] + ([] if use_cache else [jwk_of(rotated, "rotated")])
        return {"keys": keys}

    monkeypatch.setattr(fetch, "fetch_json", fake_fetch_json)
    cache.clear()
    client_a.jwks, client_a.jwks_uri = "", url
    client_a.save()
    token = request_object(client_a, key=rotated, headers={"kid": "rotated"})
    assert request_objects.verify(client_a, token, ISSUER)["client_id"] == client_a.client_id
    assert calls == [(url, True), (url, False)]


def test_a_request_object_of_an_unknown_or_disabled_client_is_refused_on_our_page(client_a, browser):
    """RFC 9101 §6: the request object is verified with the keys of the client client_id names;
    with no usable client there is no redirect URI to trust, so the answer is our error page."""
    token = request_object(client_a)
    r = browser.get(AUTHORIZE, {"client_id": "no-such-client", "request": token})
    assert_error_page(r)
    assert b"The client is unknown or disabled" in r.content
    client_a.is_active = False
    client_a.save()
    r = by_value(browser, client_a, token)
    assert_error_page(r)
    assert b"The client is unknown or disabled" in r.content
    assert minted() == 0


def test_a_client_id_url_that_cannot_be_used_is_refused_on_our_page(client_a, browser):
    """With client ID metadata documents on, a URL client_id that cannot name a document (here
    one with a query string) is refused, saying why, before any request object is read."""
    with override_oauth(CLIENT_ID_METADATA_DOCUMENTS=True):
        r = browser.get(AUTHORIZE, {"client_id": "https://rp.example/client.json?x=1",
                                    "request": request_object(client_a)})
    assert_error_page(r)
    assert b"must not have a query string" in r.content
    assert minted() == 0


def test_request_uri_is_bounded_before_any_lookup(client_a, browser):
    """MAX_PARAMETER_LENGTH (4096 characters) holds for client_id, request and request_uri
    before anything is looked up or verified (bounded work for hostile input): one of exactly
    that length is read (and not found); one character more, or a NUL, is malformed."""
    prefix = "urn:ietf:params:oauth:request_uri:"
    longest = prefix + "x" * (4096 - len(prefix))
    r = browser.get(AUTHORIZE, {"client_id": client_a.client_id, "request_uri": longest})
    assert_error_page(r)
    assert b"The request_uri is unknown" in r.content
    for hostile in (longest + "x", prefix + "x\x00y"):
        r = browser.get(AUTHORIZE, {"client_id": client_a.client_id, "request_uri": hostile})
        assert_error_page(r)
        assert b"The request_uri parameter is malformed" in r.content
    assert minted() == 0


def test_login_then_back_with_the_same_request_object(client_a, user):
    """The login page brings the browser back with the request object as it was sent."""
    token = request_object(client_a, state="jar")
    r = HttpClient().get(AUTHORIZE, {"client_id": client_a.client_id, "request": token})
    assert r.status_code == 302
    from tests.conftest import query_of

    browser = HttpClient()
    browser.force_login(user)
    r = browser.get(query_of(r["Location"])["next"])
    assert assert_redirect_to(r, REDIRECT_URI)["state"] == "jar"


@pytest.mark.req("FAPI2-5.4.1-algorithms")
def test_under_fapi2_request_objects_use_ps256_es256_or_eddsa_only(browser, settings):
    key = rsa_key()
    client = keyed_client(key, skip_consent=True, token_endpoint_auth_method="private_key_jwt")
    with override_settings(OAUTH_PROVIDER=oauth_settings(PROFILE="fapi2", REQUIRE_PUSHED_AUTHORIZATION_REQUESTS=False,
                                                         REQUIRE_DPOP=False)):
        assert HttpClient().get(METADATA).json()["request_object_signing_alg_values_supported"] == ["PS256", "ES256",
                                                                                                      "EdDSA"]
        refused_at_authorize(browser, client, request_object(client, alg="RS256"))
        r = by_value(browser, client, request_object(client, alg="PS256"))
        assert "code" in assert_redirect_to(r, REDIRECT_URI)


def test_the_login_page_gets_the_request_objects_login_hint_not_the_querys(client_a):
    """RFC 9101 §6.3: only the request object's parameters count; a ``login_hint`` added to the
    query beside it never pre-fills the login page."""
    from tests.conftest import query_of

    token = request_object(client_a, login_hint="alice@rp.example")
    r = HttpClient().get(AUTHORIZE, {"client_id": client_a.client_id, "request": token,
                                     "login_hint": "mallory@evil.example"})
    assert r.status_code == 302
    assert query_of(r["Location"]).get("login_hint") == "alice@rp.example"


def test_an_authorization_by_value_reads_its_client_once(client_a, browser):
    """A request object names its client, which is read to find the keys that verify it; the
    authorization then uses that row, not a second read: the whole authorization costs the
    statements of the same request sent plainly."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.conftest import real_queries

    params = request_params(client_a)
    browser.get(AUTHORIZE, params)  # warm-up: session, prepared statements
    with CaptureQueriesContext(connection) as plain:
        assert_redirect_to(browser.get(AUTHORIZE, request_params(client_a)), REDIRECT_URI)
    with CaptureQueriesContext(connection) as signed:
        assert_redirect_to(by_value(browser, client_a, request_object(client_a)), REDIRECT_URI)
    assert len(real_queries(signed)) == len(real_queries(plain)), real_queries(signed)


def test_a_claims_object_in_a_request_object_is_the_claims_parameter(client_a, browser):
    """OIDC Core §6.1: in a request object, ``claims`` is a JSON object, not a string; it is
    the authorization request's ``claims`` parameter as if sent as JSON text (§5.5), so a
    request with members for both the ID token and UserInfo goes through like its plain form."""
    claims = {"userinfo": {"email": None, "name": {"essential": True}},
              "id_token": {"auth_time": {"essential": True}, "acr": {"values": ["1"]}}}
    r = by_value(browser, client_a, request_object(client_a, scope="openid read", nonce="n-1",
                                                   claims={"claims": claims}))
    assert "code" in assert_redirect_to(r, REDIRECT_URI)
    malformed = by_value(browser, client_a, request_object(client_a, scope="openid read", nonce="n-2",
                                                           claims={"claims": {"id_token": ["auth_time"]}}))
    assert assert_redirect_to(malformed, REDIRECT_URI)["error"] == "invalid_request"


@pytest.mark.parametrize("how", ["max_age_passed_while_the_page_was_open", "logged_out_while_the_page_was_open"])
def test_a_login_the_decision_needs_takes_the_request_object_back_as_sent(how, browser, user, signing_key,
                                                                          settings):
    """The user is on the consent page of a request sent as a signed object by a client that
    requires them (RFC 9101 §10.5); before they decide, a login is needed again. The login
    takes the request back as it came (``client_id`` and the object), never the object's
    parameters as a plain query: the client would refuse that, and the user could never
    finish; and the parameters would sit in the login URL, which JAR keeps them out of."""
    from datetime import timedelta
    from urllib.parse import parse_qs, urlsplit

    from oauth_provider import secrets
    from tests.conftest import consent_blob
    from tests.support.audience_urls import RESOURCES, RS_A, SCOPES

    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=RESOURCES, REQUEST_OBJECTS=True)
    client = keyed_client(require_signed_request_object=True)
    page = browser.get(AUTHORIZE, {"client_id": client.client_id,
                                   "request": request_object(client, scope="openid read", max_age=60, state="s",
                                                             resource=RS_A)})
    assert page.status_code == 200, page.content[:300]
    if how == "max_age_passed_while_the_page_was_open":
        base = secrets.now()
        secrets.set_clock(lambda: base + timedelta(seconds=120))
    else:
        browser.logout()
    r = browser.post(AUTHORIZE, {"oauth_request": consent_blob(page.content.decode()), "allow": "allow"})
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/"), r.get("Location")
    back = parse_qs(urlsplit(parse_qs(urlsplit(r["Location"]).query)["next"][0]).query)
    assert set(back) <= {"client_id", "request", "login_after"} and "request" in back
    browser.force_login(user)
    r = browser.get(parse_qs(urlsplit(r["Location"]).query)["next"][0])
    assert r.status_code == 200 and b'name="oauth_request"' in r.content  # the consent page again
    r = browser.post(AUTHORIZE, {"oauth_request": consent_blob(r.content.decode()), "allow": "allow"})
    assert "code" in assert_redirect_to(r, REDIRECT_URI)

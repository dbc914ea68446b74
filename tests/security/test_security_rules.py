"""Checklist rules that no endpoint's own test file proved yet (docs/security-checklist.md).

Black-box through the endpoints, one test per rule, named by its ID: PKCE cannot be
downgraded and native clients cannot skip it; an ID token comes exactly with ``openid``; its
``at_hash`` is right for every key type; it is never unsigned; no HMAC key exists that could be
weak or empty, and HS256 tokens made with empty or public keys are refused everywhere; a login
gets a fresh session, and a second user's login never lands in the first user's session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from django.contrib.sessions.backends.db import SessionStore
from django.core.checks import run_checks
from django.test import Client as HttpClient
from django.test import override_settings
from jwt.algorithms import RSAAlgorithm

from oauth_provider.keys import create_key
from oauth_provider.models import AuthorizationCode
from tests.conftest import OAuthDriver, basic_auth, query_of
from tests.support.endpoints import provider_settings
from tests.support.factories import AuthorizationCodeFactory, PublicClientFactory, UserFactory
from tests.support.token_helpers import assert_error, post_form

pytestmark = pytest.mark.django_db
ISS = "https://testserver/o"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jose_header(token: str) -> dict[str, Any]:
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


def jose_claims(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


# -- PKCE ----------------------------------------------------------------------------------------
@pytest.mark.req("BCP-4.8.2-pkce-downgrade")
def test_a_code_without_a_challenge_cannot_be_redeemed_with_any_verifier(oauth, conf_client):
    """No request can make a code without a challenge; a row without one (say, imported from
    another server) is redeemed by no verifier at all."""
    params, _ = oauth.authorize_params(conf_client, code_challenge=None, code_challenge_method=None)
    response = oauth.browser.get("/o/authorize/", params)
    assert query_of(response["Location"])["error"] == "invalid_request"
    assert AuthorizationCode.objects.count() == 0
    code = AuthorizationCodeFactory(authorization__client=conf_client, code_challenge="", raw="c" * 43)
    for verifier in (None, "v" * 43, "x" * 128):
        body = {"grant_type": "authorization_code", "code": "c" * 43, "redirect_uri": code.redirect_uri}
        if verifier:
            body["code_verifier"] = verifier
        assert_error(oauth.token(conf_client, body), "invalid_grant")


@pytest.mark.req("8252-8.1-native-pkce")
@pytest.mark.parametrize("pkce", [
    {"code_challenge": None, "code_challenge_method": None},
    {"code_challenge": "x" * 43, "code_challenge_method": "plain"},
    {"code_challenge": None, "code_challenge_method": "S256"},
], ids=["absent", "plain", "method-only"])
def test_a_native_public_client_cannot_skip_or_weaken_pkce(oauth, pkce):
    native = PublicClientFactory()
    params, _ = oauth.authorize_params(native, **pkce)
    query = query_of(oauth.browser.get("/o/authorize/", params)["Location"])
    assert query["error"] == "invalid_request" and "code" not in query
    assert query["state"] == params["state"] and query["iss"] == ISS
    assert AuthorizationCode.objects.count() == 0


# -- ID tokens -----------------------------------------------------------------------------------
@pytest.mark.req("OIDC-3.1.2.1-openid-scope")
def test_an_id_token_comes_exactly_with_the_openid_scope(oauth, conf_client, signing_key):
    with_openid = oauth.tokens(conf_client, scope="openid read")
    without = oauth.tokens(conf_client, scope="read")
    assert jose_claims(with_openid["id_token"])["aud"] == conf_client.client_id
    assert "id_token" not in without
    refreshed = oauth.token(conf_client, {"grant_type": "refresh_token", "refresh_token": without["refresh_token"]})
    assert "id_token" not in refreshed.json()
    service = oauth.token(conf_client, {"grant_type": "client_credentials", "scope": "openid read"})
    assert "id_token" not in service.json()


@pytest.mark.req("OIDC-3.3.2.11-c-hash / at-hash")
@pytest.mark.parametrize(("algorithm", "digest"), [
    ("RS256", hashlib.sha256), ("ES256", hashlib.sha256), ("EdDSA", hashlib.sha512),
])
def test_at_hash_is_the_left_half_of_the_algorithms_hash(oauth, conf_client, algorithm, digest):
    create_key(algorithm, prepublish=False)
    tokens = oauth.tokens(conf_client, scope="openid read")
    refreshed = oauth.token(conf_client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    for issued in (tokens, refreshed.json()):
        assert jose_header(issued["id_token"])["alg"] == algorithm
        full = digest(issued["access_token"].encode("ascii")).digest()
        assert jose_claims(issued["id_token"])["at_hash"] == b64(full[: len(full) // 2])
        assert "c_hash" not in jose_claims(issued["id_token"])  # no code beside it: code flow only


@pytest.mark.req("OIDC-2-no-none")
def test_id_tokens_are_never_unsigned(oauth, conf_client, signing_key, api_client):
    metadata = api_client.get("/o/.well-known/openid-configuration").json()
    assert "none" not in metadata["id_token_signing_alg_values_supported"]
    tokens = oauth.tokens(conf_client, scope="openid read")
    refreshed = oauth.token(conf_client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    keys = {k["kid"]: k for k in api_client.get("/o/jwks/").json()["keys"]}
    for token in (tokens["id_token"], refreshed.json()["id_token"]):
        header = jose_header(token)
        assert header["alg"].lower() != "none" and header["kid"] in keys
        assert token.split(".")[2]


# -- HMAC keys -----------------------------------------------------------------------------------
def hs256(claims: dict[str, Any], key: bytes, typ: str = "JWT") -> str:
    head = b64(json.dumps({"alg": "HS256", "typ": typ}).encode())
    body = b64(json.dumps(claims).encode())
    return f"{head}.{body}.{b64(hmac.new(key, f'{head}.{body}'.encode(), hashlib.sha256).digest())}"


@pytest.fixture
def api_client() -> HttpClient:
    return HttpClient()


@pytest.mark.req("8725-3.5-key-entropy")
@pytest.mark.parametrize("keys", [[""], ["short"], ["x" * 31], [b"y" * 40], ["z" * 43, ""]])
def test_empty_or_short_key_encryption_keys_are_refused_at_configuration(keys):
    with override_settings(OAUTH_PROVIDER=provider_settings(KEY_ENCRYPTION_KEYS=keys)):
        assert "oauth_provider.E013" in [m.id for m in run_checks()]
    with override_settings(OAUTH_PROVIDER=provider_settings(KEY_ENCRYPTION_KEYS=["k" * 43])):
        assert "oauth_provider.E013" not in [m.id for m in run_checks()]


def public_key_forms(jwk: dict[str, Any]) -> list[bytes]:
    """Our published RSA key in every form a confused verifier might take as an HMAC secret."""
    key = RSAAlgorithm.from_jwk(json.dumps(jwk))
    encodings = [
        (serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        (serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
        (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        (serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH),
    ]
    return [key.public_bytes(e, f) for e, f in encodings] + [json.dumps(jwk).encode(), jwk["n"].encode()]


@pytest.mark.req("8725-3.5-key-entropy")
@pytest.mark.req("OIDC-16.19-hs-secret-entropy")
@pytest.mark.req("8725-3.1-one-alg-per-key")
@pytest.mark.cve("CVE-2017-11424")
@pytest.mark.cve("CVE-2022-29217")
@pytest.mark.cve("CVE-2024-33663")
@pytest.mark.cve("CVE-2024-37568")
def test_hs256_tokens_with_empty_or_public_keys_are_refused_everywhere(oauth, conf_client, user, signing_key,
                                                                      api_client):
    """No HMAC key exists here to be weak: nothing verifies HS256. Tokens MACed with an empty
    key, a short one, or our public key in PEM, PKCS#1, DER, OpenSSH and JWK form (the RS/HS
    confusion of PyJWT, python-jose and Authlib) are refused as bearer tokens at UserInfo and
    at the API, and as id_token_hint at authorize and logout."""
    jwks = api_client.get("/o/jwks/").json()
    claims = {"iss": ISS, "sub": str(user.pk), "aud": [conf_client.client_id, "https://testserver"],
              "client_id": conf_client.client_id, "scope": "openid read", "exp": 4102444800, "iat": 1700000000}
    keys = [b"", b"k", *public_key_forms(jwks["keys"][0])]
    for key in keys:
        for typ in ("JWT", "at+jwt"):
            forged = hs256(claims, key, typ)
            assert api_client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {forged}").status_code == 401
            assert api_client.get("/api/drf/read/", HTTP_AUTHORIZATION=f"Bearer {forged}").status_code == 401
            params, _ = oauth.authorize_params(conf_client, scope="openid read", id_token_hint=forged)
            answer = query_of(oauth.browser.get("/o/authorize/", params)["Location"])
            assert answer.get("error") == "invalid_request" and "code" not in answer
            # at logout the hint is not used (RP-Initiated Logout §4): the user is only asked
            logout = oauth.browser.get("/o/logout/", {"id_token_hint": forged})
            assert logout.status_code == 200 and "Location" not in logout
            assert "_auth_user_id" in oauth.browser.session and b"asks to log you out" not in logout.content
    metadata = api_client.get("/o/.well-known/openid-configuration").json()
    assert not [a for a in metadata["id_token_signing_alg_values_supported"] if a.startswith("HS")]
    assert "client_secret_jwt" not in metadata["token_endpoint_auth_methods_supported"]
    # the secrets we issue are 32 random octets: the HS256 key size, were they ever used as one
    assert len(base64.urlsafe_b64decode(conf_client.raw_secret + "=")) == 32


@pytest.mark.req("OIDC-16.19-hs-secret-entropy")
def test_a_client_assertion_is_never_taken_as_authentication(conf_client):
    assertion = hs256({"iss": conf_client.client_id, "sub": conf_client.client_id, "aud": ISS,
                       "exp": 4102444800, "jti": "j1"}, conf_client.raw_secret.encode())
    body = {"grant_type": "client_credentials", "client_id": conf_client.client_id, "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    assert_error(post_form(HttpClient(), body), "invalid_client")


# -- sessions ------------------------------------------------------------------------------------
def log_in(browser: HttpClient, authorize_response: Any, username: str, password: str) -> Any:
    location = authorize_response["Location"]
    assert location.startswith("/accounts/login/"), location
    response = browser.post("/accounts/login/", {"username": username, "password": password,
                                                 "next": query_of(location)["next"]})
    assert response.status_code == 302, response.content[:300]
    return browser.get(response["Location"])


def session_user(session_key: str) -> Any:
    """Who a browser holding only this session cookie is, to the connected-apps page."""
    other = HttpClient()
    other.cookies["sessionid"] = session_key
    response = other.get("/o/connected-apps/")
    return None if response.status_code == 302 else response.context["user"].username


@pytest.mark.req("DERIVED-session-fixation")
@pytest.mark.cve("CVE-2023-6787")
def test_login_rotates_the_session_and_another_login_never_inherits_it(conf_client, signing_key):
    UserFactory(username="ursula", password="ursula-password")
    UserFactory(username="victor", password="victor-password")
    planted = SessionStore()
    planted["by"] = "attacker"
    planted.create()
    browser = HttpClient()
    browser.cookies["sessionid"] = planted.session_key
    oauth = OAuthDriver(browser, HttpClient())

    params, _ = oauth.authorize_params(conf_client, scope="openid read")
    log_in(browser, browser.get("/o/authorize/", params), "ursula", "ursula-password")
    ursula_key = browser.cookies["sessionid"].value
    assert ursula_key != planted.session_key
    assert session_user(planted.session_key) is None
    assert session_user(ursula_key) == "ursula"

    # prompt=login: the login page comes; "cancel" (nothing is sent), then Victor logs in.
    params, verifier = oauth.authorize_params(conf_client, scope="openid read", prompt="login")
    response = log_in(browser, browser.get("/o/authorize/", params), "victor", "victor-password")
    if response.status_code == 200:
        response = oauth.approve(response)
    victor_key = browser.cookies["sessionid"].value
    assert victor_key not in (ursula_key, planted.session_key)
    assert session_user(ursula_key) is None  # flushed, never Victor's
    assert session_user(victor_key) == "victor"
    tokens = oauth.exchange(conf_client, query_of(response["Location"])["code"], verifier).json()
    info = post_form(HttpClient(), {"token": tokens["access_token"]}, path="/o/introspect/",
                     HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret)).json()
    assert info["username"] == "victor"


# -- native apps ---------------------------------------------------------------------------------
@pytest.mark.req("8252-8.3-no-localhost")
def test_localhost_redirects_draw_a_deploy_warning_and_are_matched_exactly(oauth):
    """RFC 8252 §8.3: ``localhost`` is NOT RECOMMENDED. Registering it stays possible (local
    development) but ``check --deploy --database default`` warns (W005), and it gets none of
    the loopback IP literal's any-port leniency."""
    def warnings() -> list[str]:
        return [m.id for m in run_checks(include_deployment_checks=True, databases=["default"])]

    PublicClientFactory(redirect_uris="http://127.0.0.1/cb https://localhost.example/cb")
    assert "oauth_provider.W005" not in warnings()
    native = PublicClientFactory(client_id="dev-app", redirect_uris="http://localhost/cb")
    assert "oauth_provider.W005" in warnings()
    params, _ = oauth.authorize_params(native, redirect_uri="http://localhost:5000/cb")
    response = oauth.browser.get("/o/authorize/", params)
    assert response.status_code == 400 and not response.has_header("Location")

"""``OAUTH_PROVIDER["PROFILE"] = "fapi2"``: the FAPI 2.0 Security Profile preset.

The settings layer (DEFAULTS < profile < host), the checks that refuse a host setting that
breaks it (E130-E139, W130-W134), the refusal of clients that break it at every registration
door (admin, ``createclient``, dynamic registration), and what the profile changes at the
endpoints, attacked as a client that does not follow it would."""

from __future__ import annotations

import io
import json
import time
from typing import Any
from urllib.parse import urlencode

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.checks import run_checks
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client as HttpClient
from django.test import override_settings
from jwt.algorithms import RSAAlgorithm

from oauth_provider import client_metadata, keys, profiles
from oauth_provider.conf import DEFAULTS, Setting, provider_settings
from oauth_provider.profiles import FAPI2_ALGORITHMS, FAPI2_RULES
from tests.support.factories import ClientFactory, PublicClientFactory
from tests.support.fapi import FAPI, ISSUER, assertion, fapi_client
from tests.support.fapi import token as fapi_token
from tests.support.settings import override_oauth as provider
from tests.support.token_helpers import FrozenClock, assert_error, post_form

from .conftest import query_of

BASE = {"ISSUER": "https://id.example.com/o", "SCOPES": {"read": "Read", "write": "Write"}}
CC = {"grant_type": "client_credentials", "scope": "read"}


def ids(*, databases: Any = None, **extra: Any) -> list[str]:
    with override_settings(OAUTH_PROVIDER={**BASE, **extra}):
        messages = run_checks(databases=databases)
    return sorted(m.id for m in messages if m.id.startswith("oauth_provider."))


# -- the settings layer -------------------------------------------------------------------------


def test_the_fapi2_table_is_what_the_docs_say():
    assert profiles.values("fapi2") == {
        "CLIENT_AUTH_METHODS": {"private_key_jwt": "oauth_provider.client_assertions.PrivateKeyJWT"},
        "REQUIRE_DPOP": True,
        "CLIENT_ASSERTION_LEGACY_AUDIENCE": False,
        "REFRESH_TOKEN_ROTATION": "public_clients",
        "AUTHORIZATION_CODE_LIFETIME": 60,
        "REQUIRE_PUSHED_AUTHORIZATION_REQUESTS": True,
        "PUSHED_AUTHORIZATION_REQUEST_LIFETIME": 60,
        "SIGNING_KEY_ALGORITHM": "ES256",
        "DPOP_SIGNING_ALGORITHMS": ["PS256", "ES256", "EdDSA"],
        "MULTI_AUDIENCE_TOKENS": False,
    }
    assert profiles.values(None) == profiles.values("nonsense") == {}


def test_the_profile_sits_between_the_defaults_and_the_hosts_settings():
    with provider(PROFILE="fapi2"):
        for rule in FAPI2_RULES:
            if rule.setting in DEFAULTS:
                assert getattr(provider_settings, rule.setting) == rule.value
            else:  # a later feature's setting (DPoP, PAR): left out until the library defines it
                with pytest.raises(AttributeError):
                    getattr(provider_settings, rule.setting)
        assert provider_settings.ACCESS_TOKEN_LIFETIME == DEFAULTS["ACCESS_TOKEN_LIFETIME"].default
    with provider(PROFILE="fapi2", AUTHORIZATION_CODE_LIFETIME=30, SIGNING_KEY_ALGORITHM="EdDSA"):
        assert provider_settings.AUTHORIZATION_CODE_LIFETIME == 30
        assert provider_settings.SIGNING_KEY_ALGORITHM == "EdDSA"
    with provider(PROFILE=None):
        assert provider_settings.SIGNING_KEY_ALGORITHM == "RS256"
        assert "client_secret_basic" in provider_settings.CLIENT_AUTH_METHODS


def test_a_profile_key_the_library_defines_later_is_taken_once_it_does(monkeypatch):
    monkeypatch.setitem(DEFAULTS, "REQUIRE_DPOP", Setting(False, (bool,), "DPoP for every client."))
    with provider(PROFILE="fapi2"):
        assert provider_settings.REQUIRE_DPOP is True
    with provider(PROFILE="fapi2", REQUIRE_DPOP=False):
        assert provider_settings.REQUIRE_DPOP is False


def test_the_profiles_values_cannot_be_changed_through_the_settings():
    with provider(PROFILE="fapi2"):
        provider_settings.CLIENT_AUTH_METHODS["none"] = "x"
    with provider(PROFILE="fapi2"):
        assert "none" not in provider_settings.CLIENT_AUTH_METHODS


# -- the checks ----------------------------------------------------------------------------------


def test_the_profile_alone_is_silent_but_for_what_this_version_lacks():
    missing = [rule.setting for rule in FAPI2_RULES if rule.setting not in DEFAULTS]
    assert ids(PROFILE="fapi2") == (["oauth_provider.W130"] if missing else [])
    assert ids(PROFILE=None) == []


def test_e130_unknown_profile():
    assert "oauth_provider.E130" in ids(PROFILE="fapi1")


@pytest.mark.req("FAPI2-5.3.2.1-11-code-60s")
def test_e131_a_longer_code_lifetime_fails_the_check():
    assert "oauth_provider.E131" in ids(PROFILE="fapi2", AUTHORIZATION_CODE_LIFETIME=61)
    assert "oauth_provider.E131" not in ids(PROFILE="fapi2", AUTHORIZATION_CODE_LIFETIME=60)  # "at most 60"
    assert "oauth_provider.E131" not in ids(PROFILE="fapi2", AUTHORIZATION_CODE_LIFETIME=30)
    assert "oauth_provider.E131" not in ids(AUTHORIZATION_CODE_LIFETIME=300)  # no profile, no claim


@pytest.mark.req("FAPI2-5.3.2.1-6-client-auth")
@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "none"])
def test_e132_secret_or_no_client_authentication(method):
    methods = {"private_key_jwt": "oauth_provider.client_assertions.PrivateKeyJWT",
               method: DEFAULTS["CLIENT_AUTH_METHODS"].default[method]}
    assert "oauth_provider.E132" in ids(PROFILE="fapi2", CLIENT_AUTH_METHODS=methods)


@pytest.mark.req("FAPI2-5.3.2.1-6-client-auth")
def test_e132_not_for_private_key_jwt_alone():
    """The profile's own value passes its rule: a host that names private_key_jwt (its own
    class path) and nothing else gets no E132."""
    methods = {"private_key_jwt": "oauth_provider.client_assertions.PrivateKeyJWT"}
    assert "oauth_provider.E132" not in ids(PROFILE="fapi2", CLIENT_AUTH_METHODS=methods)


def test_a_profile_name_read_at_run_time_is_the_profile():
    """PROFILE read from the environment or a file is a string built at run time, not the
    interned literal: it must switch the profile on all the same (never fapi2() False while
    the settings layer applies the profile)."""
    name = "".join(["fa", "pi2"])
    assert name == "fapi2" and name is not profiles.FAPI2
    with provider(PROFILE=name):
        assert profiles.active() == "fapi2" and profiles.fapi2()
        assert profiles.allowed_algorithms(("RS256", "ES256")) == ("ES256",)


@pytest.mark.req("FAPI2-5.3.2.1-8-aud-issuer-string")
def test_e133_legacy_assertion_audience():
    assert "oauth_provider.E133" in ids(PROFILE="fapi2", CLIENT_ASSERTION_LEGACY_AUDIENCE=True)
    assert "oauth_provider.E133" not in ids(PROFILE="fapi2", CLIENT_ASSERTION_LEGACY_AUDIENCE=False)


@pytest.mark.req("FAPI2-5.4.1-algorithms")
def test_e134_rs256_signing_keys():
    assert "oauth_provider.E134" in ids(PROFILE="fapi2", SIGNING_KEY_ALGORITHM="RS256")
    assert "oauth_provider.E134" not in ids(PROFILE="fapi2", SIGNING_KEY_ALGORITHM="EdDSA")


@pytest.mark.parametrize(("setting", "default", "bad", "good", "check"), [
    ("REQUIRE_DPOP", False, False, True, "E135"),
    ("REQUIRE_PUSHED_AUTHORIZATION_REQUESTS", False, False, True, "E136"),
    ("PUSHED_AUTHORIZATION_REQUEST_LIFETIME", 60, 600, 599, "E137"),
    ("DPOP_SIGNING_ALGORITHMS", ["ES256", "PS256", "EdDSA", "RS256"], ["ES256", "RS256"], ["ES256"], "E134"),
])
def test_rules_on_settings_of_dpop_and_par(setting, default, bad, good, check):
    """FAPI2-5.3.2.1-4 (DPoP), 5.3.2.2-3 (PAR), 5.3.2.2-12 (request_uri < 600 s), 5.4.1."""
    assert DEFAULTS[setting].default == default
    assert f"oauth_provider.{check}" in ids(PROFILE="fapi2", **{setting: bad})
    assert f"oauth_provider.{check}" not in ids(PROFILE="fapi2", **{setting: good})


@pytest.mark.req("FAPI2-5.3.2.1-2-no-ropc")
@pytest.mark.parametrize("grant", ["password", "implicit"])
def test_e138_password_and_implicit_grants(grant):
    grants = {**DEFAULTS["GRANT_TYPES"].default, grant: "tests.test_conf.OtherAdapter"}
    assert "oauth_provider.E138" in ids(PROFILE="fapi2", GRANT_TYPES=grants)


@pytest.mark.req("FAPI2-5.3.2.1-9-no-rt-rotation")
def test_e139_w131_rotation_needs_the_retry_window():
    assert {"oauth_provider.E139", "oauth_provider.W131"} <= set(ids(PROFILE="fapi2", REFRESH_TOKEN_ROTATION="always"))
    found = ids(PROFILE="fapi2", REFRESH_TOKEN_ROTATION="always", REFRESH_TOKEN_GRACE_PERIOD=30)
    assert "oauth_provider.W131" in found and "oauth_provider.E139" not in found
    assert not {"oauth_provider.E139", "oauth_provider.W131"} & set(
        ids(PROFILE="fapi2", REFRESH_TOKEN_ROTATION="public_clients"))  # the profile's own value
    # a value read at run time (an environment variable) is no interned literal: still "always"
    assert "oauth_provider.W131" in ids(PROFILE="fapi2", REFRESH_TOKEN_ROTATION="".join(["al", "ways"]))


def test_e010_rotation_values():
    assert "oauth_provider.E010" in ids(REFRESH_TOKEN_ROTATION="never")
    assert "oauth_provider.E010" not in ids(REFRESH_TOKEN_ROTATION="public_clients")


@pytest.mark.req("FAPI2-5.3.2.1-14-least-privilege")
def test_w134_multi_audience_tokens():
    assert "oauth_provider.W134" in ids(PROFILE="fapi2", MULTI_AUDIENCE_TOKENS=True)
    assert "oauth_provider.W134" not in ids(PROFILE="fapi2", MULTI_AUDIENCE_TOKENS=False)


@pytest.mark.django_db
def test_w132_names_the_clients_in_the_database_that_break_the_profile():
    public, secret = PublicClientFactory(), ClientFactory()
    web_loopback = ClientFactory(redirect_uris="http://127.0.0.1/cb")
    compliant = fapi_client()
    assert "oauth_provider.W132" not in ids(PROFILE="fapi2")  # without --database: no query
    with override_settings(OAUTH_PROVIDER={**BASE, "PROFILE": "fapi2"}):
        messages = [m for m in run_checks(databases=["default"]) if m.id == "oauth_provider.W132"]
    assert len(messages) == 1
    for client in (public, secret, web_loopback):
        assert client.client_id in messages[0].msg
    assert compliant.client_id not in messages[0].msg  # not its name: a random client_id may hold "F1"


@pytest.mark.django_db
@pytest.mark.req("FAPI2-5.4.1-algorithms")
def test_w133_and_an_rs256_key_signs_nothing_under_the_profile():
    old = keys.create_key("RS256", prepublish=False)
    try:
        assert "oauth_provider.W133" in ids(PROFILE="fapi2", databases=["default"])
        with provider(PROFILE="fapi2"):
            with pytest.raises(keys.NoSigningKey):
                keys.signing_key()
            keys.create_key(prepublish=False)  # SIGNING_KEY_ALGORITHM: the profile's ES256
            assert keys.signing_key().algorithm == "ES256"
        assert old.kid
    finally:
        keys.clear_cache()


# -- registration --------------------------------------------------------------------------------


def _problems(data: dict, source: str = "admin") -> dict[str, str]:
    with provider(PROFILE="fapi2"):
        try:
            client_metadata.validate(data, source=source)
        except client_metadata.InvalidClientMetadata as exc:
            return {p.field or "": p.error for p in exc.errors}
    return {}


JWKS = {"keys": [{"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                  "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "kid": "a"}]}
F1 = {"redirect_uris": ["https://rp.example/cb"], "token_endpoint_auth_method": "private_key_jwt", "jwks": JWKS}


@pytest.mark.django_db
@pytest.mark.req("FAPI2-5.3.2.1-3-confidential-only")
@pytest.mark.parametrize("source", ["admin", "command", "dynamic", "metadata_document"])
def test_a_public_client_is_refused_however_it_registers(source):
    assert _problems({**F1, "token_endpoint_auth_method": "none"}, source)["token_endpoint_auth_method"] \
        == "invalid_client_metadata"
    assert _problems(F1, source) == {}


@pytest.mark.django_db
@pytest.mark.req("FAPI2-5.3.2.1-6-client-auth")
@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "client_secret_jwt"])
def test_secret_based_client_authentication_is_refused(method):
    assert "token_endpoint_auth_method" in _problems({**F1, "token_endpoint_auth_method": method})


@pytest.mark.django_db
def test_private_key_jwt_is_the_default_method_under_the_profile():
    data = {k: v for k, v in F1.items() if k != "token_endpoint_auth_method"}
    with provider(PROFILE="fapi2"):
        assert client_metadata.validate(data, source="dynamic").token_endpoint_auth_method == "private_key_jwt"


@pytest.mark.django_db
@pytest.mark.req("FAPI2-5.3.2.2-8-no-http-redirect")
@pytest.mark.parametrize(("application_type", "uri", "refused"), [
    ("web", "http://127.0.0.1/cb", True),
    ("web", "http://localhost:8000/cb", True),
    ("native", "http://localhost/cb", True),  # RFC 8252 §8.3: the loopback IP literal
    ("native", "http://127.0.0.1/cb", False),
    ("native", "http://[::1]/cb", False),
    ("web", "https://rp.example/cb", False),
    ("native", "com.example.app:/cb", False),  # FAPI 2.0 §5.3.2.2-8 is about http only
])
def test_plain_http_redirect_uris_only_for_native_loopback(application_type, uri, refused):
    found = _problems({**F1, "application_type": application_type, "redirect_uris": [uri]})
    assert (found.get("redirect_uris") == "invalid_redirect_uri") is refused
    # the type as a string read at run time (parsed JSON, a database row), not the literal
    found = _problems({**F1, "application_type": "".join(application_type), "redirect_uris": [uri]})
    assert (found.get("redirect_uris") == "invalid_redirect_uri") is refused


@pytest.mark.django_db
@pytest.mark.req("FAPI2-5.4.1-algorithms")
def test_an_rs256_assertion_algorithm_is_refused_at_registration():
    found = _problems({**F1, "token_endpoint_auth_signing_alg": "RS256"})
    assert found["token_endpoint_auth_signing_alg"] == "invalid_client_metadata"  # RFC 7591 §3.2.2
    assert _problems({**F1, "token_endpoint_auth_signing_alg": "PS256"}) == {}


@pytest.mark.req("FAPI2-5.3.2.1-3-confidential-only")
def test_profile_problems_names_each_field_with_its_rfc_7591_error():
    """What the W132 check reports of clients already stored (registration refuses the
    authentication method earlier, as unsupported under the profile)."""
    found = client_metadata.profile_problems("client_secret_basic", "web", ["http://127.0.0.1/cb"], "RS256")
    assert [(field, error) for field, _description, error in found] == [
        ("token_endpoint_auth_method", "invalid_client_metadata"),
        ("token_endpoint_auth_signing_alg", "invalid_client_metadata"),
        ("redirect_uris", "invalid_redirect_uri"),
    ]
    assert "client_secret_basic" in found[0][1] and "http://127.0.0.1/cb" in found[2][1]
    assert client_metadata.profile_problems("private_key_jwt", "native", ["http://127.0.0.1/cb"], "PS256") == []


@pytest.mark.django_db
def test_the_admin_refuses_a_client_that_breaks_the_profile():
    client = PublicClientFactory.build()
    with provider(PROFILE="fapi2"), pytest.raises(ValidationError) as caught:
        client.full_clean()
    assert "token_endpoint_auth_method" in caught.value.message_dict


@pytest.mark.django_db
@pytest.mark.req("FAPI2-5.3.2.1-3-confidential-only")
def test_createclient_refuses_public_and_secret_clients():
    with provider(PROFILE="fapi2"):
        for extra in (["--public"], []):
            with pytest.raises(CommandError):
                call_command("createclient", "X", "--redirect-uri", "https://rp.example/cb", *extra,
                             stdout=io.StringIO())
        out = io.StringIO()
        call_command("createclient", "F1", "--redirect-uri", "https://rp.example/cb", "--auth-method",
                     "private_key_jwt", "--jwks", json.dumps(JWKS), "--json", stdout=out)
        assert json.loads(out.getvalue())["client_secret"] is None


@pytest.mark.django_db
@pytest.mark.req("FAPI2-5.3.2.1-3-confidential-only")
def test_dynamic_registration_refuses_a_public_client():
    with provider(PROFILE="fapi2", DYNAMIC_REGISTRATION="open"):
        r = HttpClient().post("/o/register/", json.dumps({**F1, "token_endpoint_auth_method": "none"}),
                              content_type="application/json")
        assert r.status_code == 400 and r.json()["error"] == "invalid_client_metadata"
        r = HttpClient().post("/o/register/", json.dumps(F1), content_type="application/json")
        assert r.status_code == 201, r.content


# -- the endpoints under the profile -------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.req("FAPI2-5.3.2.1-6-client-auth")
def test_a_secret_is_no_client_authentication_under_the_profile():
    client = ClientFactory()
    with provider(**FAPI):
        r = post_form(HttpClient(), {**CC, "client_id": client.client_id, "client_secret": client.raw_secret})
        assert_error(r, "invalid_client", 401)


@pytest.mark.django_db
@pytest.mark.req("FAPI2-5.3.2.1-8-aud-issuer-string")
@pytest.mark.parametrize(("aud", "accepted"), [
    (ISSUER, True), ([ISSUER], False), ("https://testserver/o/token/", False), (["https://testserver/o/token/"], False),
])
def test_assertion_audience_is_the_issuer_string_whatever_the_legacy_setting(aud, accepted):
    client = fapi_client(grant_types="client_credentials", redirect_uris="")
    with provider(**FAPI, CLIENT_ASSERTION_LEGACY_AUDIENCE=True):
        r = fapi_token(HttpClient(), client, CC, aud=aud)
    if accepted:
        assert r.status_code == 200, r.content
    else:
        assert_error(r, "invalid_client", 401)


def _rsa_client() -> Any:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**RSAAlgorithm.to_jwk(private.public_key(), as_dict=True), "kid": "f1"}
    client = fapi_client(grant_types="client_credentials", redirect_uris="", jwks=json.dumps({"keys": [jwk]}))
    client.private_key = private
    return client


@pytest.mark.django_db
@pytest.mark.req("FAPI2-5.4.1-algorithms")
def test_an_rs256_client_assertion_is_refused_ps256_is_accepted():
    client = _rsa_client()
    with provider(**FAPI):
        assert_error(_rsa_token(client, "RS256"), "invalid_client", 401)
        assert _rsa_token(client, "PS256").status_code == 200
    assert _rsa_token(client, "RS256").status_code == 200  # the same assertion without the profile


@pytest.mark.django_db
@pytest.mark.req("FAPI2-5.4.1-algorithms")
@pytest.mark.parametrize("curve", ["Ed25519", "Ed448"])
def test_eddsa_is_accepted_only_as_ed25519_under_the_profile(curve):
    """FAPI 2.0 §5.4.1 allows EdDSA "using the Ed25519 variant": a client whose key is Ed448
    signs its assertions as EdDSA too, and is refused under the profile (not without it)."""
    from cryptography.hazmat.primitives.asymmetric import ed448, ed25519
    from jwt.algorithms import OKPAlgorithm

    private = (ed25519.Ed25519PrivateKey if curve == "Ed25519" else ed448.Ed448PrivateKey).generate()
    jwk = {**OKPAlgorithm.to_jwk(private.public_key(), as_dict=True), "kid": "f1"}
    client = fapi_client(grant_types="client_credentials", redirect_uris="", jwks=json.dumps({"keys": [jwk]}))
    client.private_key = private
    with provider(**FAPI):
        r = _rsa_token(client, "EdDSA")
        if curve == "Ed25519":
            assert r.status_code == 200, r.content
        else:
            assert_error(r, "invalid_client", 401)
    assert _rsa_token(client, "EdDSA").status_code == 200  # outside the profile Ed448 is a key like any other


def _rsa_token(client: Any, alg: str) -> Any:
    from oauth_provider.client_assertions import ASSERTION_TYPE

    return post_form(HttpClient(), {**CC, "client_assertion_type": ASSERTION_TYPE,
                                    "client_assertion": assertion(client, alg=alg)})


@pytest.mark.django_db
@pytest.mark.req("FAPI2-5.3.2.1-13-clock-skew")
@pytest.mark.parametrize("claim", ["iat", "nbf"])
@pytest.mark.parametrize(("ahead", "accepted"), [(10, True), (61, False), (120, False)])
def test_client_assertion_clock_skew(claim, ahead, accepted):
    client = fapi_client(grant_types="client_credentials", redirect_uris="")
    now = int(FrozenClock()().timestamp())  # the server's clock, frozen: no race with the second hand
    with provider(**FAPI):
        r = fapi_token(HttpClient(), client, CC, **{claim: now + ahead, "exp": now + ahead + 60})
    if accepted:
        assert r.status_code == 200, r.content
    else:
        assert_error(r, "invalid_client", 401)


@pytest.mark.django_db
@pytest.mark.req("FAPI2-5.3.2.1-1-metadata")
@pytest.mark.req("FAPI2-5.4.1-algorithms")
def test_metadata_under_the_profile():
    keys.create_key("ES256", prepublish=False)
    try:
        with provider(**FAPI):
            api = HttpClient()
            oauth = api.get("/o/.well-known/oauth-authorization-server").json()
            oidc = api.get("/o/.well-known/openid-configuration").json()
    finally:
        keys.clear_cache()
    assert {k: v for k, v in oidc.items() if k in oauth} == oauth
    assert oauth["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert oauth["code_challenge_methods_supported"] == ["S256"]
    assert oauth["response_types_supported"] == ["code"]
    assert oauth["authorization_response_iss_parameter_supported"] is True
    assert "password" not in oauth["grant_types_supported"]
    for name in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
        assert set(oauth[f"{name}_auth_signing_alg_values_supported"]) == set(FAPI2_ALGORITHMS)
    assert set(oidc["id_token_signing_alg_values_supported"]) <= set(FAPI2_ALGORITHMS)
    assert "tls_client_certificate_bound_access_tokens" not in oauth  # no mTLS here


@pytest.fixture
def es256_key(db):
    keys.create_key("ES256", prepublish=False)
    yield
    keys.clear_cache()


def _authorize(browser: HttpClient, client: Any, **params: str) -> dict[str, str]:
    query = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri_list[0],
             "scope": "read", "state": "s1", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGcSGFdXFc",
             "code_challenge_method": "S256", **params}
    r = browser.get("/o/authorize/?" + urlencode({k: v for k, v in query.items() if v}))
    assert r.status_code == 302, r.content[:300]
    return query_of(r["Location"])


@pytest.mark.req("FAPI2-5.3.2.1-3-confidential-only")
@pytest.mark.parametrize("factory", [PublicClientFactory, ClientFactory])
def test_a_public_or_secret_client_gets_no_code_under_the_profile(browser, factory):
    client = factory()
    with provider(**FAPI):
        answer = _authorize(browser, client)
    assert answer["error"] == "unauthorized_client" and "code" not in answer
    assert answer["iss"] == ISSUER and answer["state"] == "s1"


@pytest.mark.req("FAPI2-5.3.2.2-1-code-only")
@pytest.mark.req("FAPI2-5.3.2.2-5-pkce-s256")
@pytest.mark.parametrize(("params", "error"), [
    ({"response_type": "code id_token"}, "unsupported_response_type"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"code_challenge": ""}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
])
def test_only_code_with_s256_pkce(browser, params, error):
    client = fapi_client()
    with provider(**FAPI):
        answer = _authorize(browser, client, **params)
    assert answer["error"] == error and "code" not in answer


@pytest.mark.req("FAPI2-5.3.2.2-7-iss")
@pytest.mark.req("FAPI2-5.4.1-algorithms")
@pytest.mark.req("FAPI2-5.3.2.2-14-nonce-64")
def test_f1_flow_iss_in_the_response_es256_id_token_and_a_64_character_nonce(oauth, es256_key):
    client = fapi_client()
    with provider(**FAPI):
        params, verifier = oauth.authorize_params(client, scope="openid read", nonce="n" * 64)
        r = oauth.browser.get("/o/authorize/", params)
        if r.status_code == 200:
            r = oauth.approve(r)
        answer = query_of(r["Location"])
        assert answer["iss"] == ISSUER
        r = fapi_token(oauth.api, client, {"grant_type": "authorization_code", "code": answer["code"],
                                           "redirect_uri": client.redirect_uri_list[0], "code_verifier": verifier})
    assert r.status_code == 200, r.content
    id_token = r.json()["id_token"]
    assert pyjwt.get_unverified_header(id_token)["alg"] == "ES256"
    assert pyjwt.decode(id_token, options={"verify_signature": False})["nonce"] == "n" * 64


@pytest.mark.req("FAPI2-5.3.2.1-11-code-60s")
def test_a_code_redeemed_at_61_seconds_is_refused(oauth):
    client = fapi_client()
    with provider(**FAPI):
        clock = FrozenClock()
        code, verifier = oauth.get_code(client)
        clock.advance(61)
        r = fapi_token(oauth.api, client, {"grant_type": "authorization_code", "code": code,
                                           "redirect_uri": client.redirect_uri_list[0], "code_verifier": verifier})
    assert_error(r, "invalid_grant")


@pytest.mark.req("FAPI2-5.3.2.2-9-code-reuse")
def test_a_used_code_is_refused_under_the_profile(oauth):
    client = fapi_client()
    with provider(**FAPI):
        code, verifier = oauth.get_code(client)
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uri_list[0],
                "code_verifier": verifier}
        assert fapi_token(oauth.api, client, data).status_code == 200
        assert_error(fapi_token(oauth.api, client, data), "invalid_grant")


@pytest.mark.django_db
@pytest.mark.req("FAPI2-5.3.2.1-2-no-ropc")
def test_the_password_grant_is_unsupported():
    client = fapi_client(grant_types="client_credentials", redirect_uris="")
    with provider(**FAPI):
        r = fapi_token(HttpClient(), client, {"grant_type": "password", "username": "u", "password": "p"})
    assert_error(r, "unsupported_grant_type")


@pytest.mark.django_db
@pytest.mark.req("FAPI2-5.4.1-algorithms")
def test_every_jwt_processed_uses_a_profile_algorithm(es256_key):
    """Our own RS256 tokens (signed before the switch) and others' RS256 JWTs (JWT bearer
    assertions, and any later input through jwt.foreign_header) are refused under the profile."""
    from oauth_provider import jwt

    rs256 = keys.verification_key(keys.create_key("RS256", prepublish=False).kid)
    now = int(time.time())
    ours = jwt.encode({"iss": ISSUER, "iat": now, "exp": now + 60}, key=rs256)
    foreign = pyjwt.encode({"iss": "x"}, rsa.generate_private_key(public_exponent=65537, key_size=2048),
                           algorithm="RS256")
    assert jwt.decode(ours, typ=None, issuer=ISSUER)["iss"] == ISSUER
    assert jwt.foreign_header(foreign, ("RS256", "ES256"))["alg"] == "RS256"
    with provider(PROFILE="fapi2"):
        with pytest.raises(jwt.InvalidJWT):
            jwt.decode(ours, typ=None, issuer=ISSUER)
        with pytest.raises(jwt.InvalidJWT):
            jwt.foreign_header(foreign, ("RS256", "ES256"))


@pytest.mark.parametrize(("uri", "application_type", "allowed"), [
    ("http://localhost:8080/cb", "web", False),
    ("http://127.0.0.1:8080/cb", "web", False),
    ("http://localhost:8080/cb", "native", False),  # a host name, not a loopback IP (RFC 8252 §8.3)
    ("http://127.0.0.1:8080/cb", "native", True),
    ("http://[::1]:8080/cb", "native", True),
    ("https://rp.example/cb", "web", True),
    ("com.example.app:/cb", "native", True),  # a private-use scheme (RFC 8252 §7.1): not http
])
def test_a_stored_redirect_uri_the_profile_forbids_gets_no_authorization_response(user, uri, application_type,
                                                                                  allowed):
    """FAPI 2.0 §5.3.2.2 item 8: registration refuses such a redirect URI under the profile, but
    a client stored before the profile was switched on (or past validation) is held to it at
    the authorization endpoint too: an error page, never a code sent over plain http. Without
    the profile the same client works (its URIs follow registration's rules then)."""
    from oauth_provider.client_assertions import ASSERTION_TYPE
    from tests.conftest import pkce_pair
    from tests.support.par_helpers import AUTHORIZE, FORM, PAR, request_params

    client = fapi_client(redirect_uris=uri, application_type=application_type, skip_consent=True)
    browser = HttpClient()
    browser.force_login(user)

    def authorize() -> Any:
        _verifier, challenge = pkce_pair()
        form = {**request_params(client, code_challenge=challenge), "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion(client)}
        pushed = HttpClient().post(PAR, urlencode(form), content_type=FORM)
        if pushed.status_code != 201:
            return pushed
        return browser.get(AUTHORIZE, {"client_id": client.client_id, "request_uri": pushed.json()["request_uri"]})

    with provider(PROFILE="fapi2", REQUIRE_DPOP=False):
        answer = authorize()
    coded = answer.status_code == 302 and answer["Location"].startswith(uri + "?code=")
    assert coded is allowed, (answer.status_code, answer.get("Location"), answer.content[:300])
    if not allowed:
        assert answer.status_code == 400 and "Location" not in answer
        assert b"FAPI 2.0" in answer.content
        with provider(REQUIRE_DPOP=False):  # no profile: registration's rules, which stored it
            assert authorize()["Location"].startswith(uri + "?code=")


@pytest.mark.parametrize("uri", ["http://[::1/cb", "http://[127.0.0.1]/cb", "HTTP://[::1/cb"])
def test_an_http_redirect_uri_that_does_not_parse_fits_no_profile_rule(uri):
    """The FAPI 2.0 redirect-URI rule on a value that slipped past validation: an http URI
    whose host cannot be read is no loopback IP, so it is refused (never a 500), even for a
    native app."""
    assert profiles.fapi2_redirect_uri(uri, "native") is False
    assert profiles.fapi2_redirect_uri("http://[::1]:8080/cb", "native") is True


@pytest.mark.req("FAPI2-5.3.2.2-2-3-par-required")
@pytest.mark.req("FAPI2-5.3.2.2-4-par-client-auth")
@pytest.mark.req("FAPI2-5.3.2.1-12-dpop-code-binding")
@pytest.mark.req("FAPI2-5.3.2.1-4-sender-constrained")
def test_the_whole_profile_at_once_par_dpop_and_private_key_jwt_end_to_end(oauth, es256_key):
    """The profile with nothing turned off (the other tests here lift PAR and DPoP to test the
    rest): a request pushed with a client assertion and a DPoP proof, the user's approval of
    the ``request_uri``, the code redeemed with a new assertion and a proof by the same key, a
    DPoP-bound token used at UserInfo, and a refresh. On the way, what an attacker holding the
    code but not the key tries: no proof, another key, a plain authorization request; none
    gets a token, and none spends the code for its owner."""
    from oauth_provider.client_assertions import ASSERTION_TYPE
    from oauth_provider.models import AuthorizationCode
    from tests.support.dpop import DPoPKey

    client, key, thief = fapi_client(), DPoPKey("EC"), DPoPKey("EC")
    authenticated = {"client_assertion_type": ASSERTION_TYPE}
    with provider(PROFILE="fapi2"):
        params, verifier = oauth.authorize_params(client, scope="openid read", nonce="n" * 64)
        plain = oauth.browser.get("/o/authorize/", params)  # FAPI 2.0 §5.3.2.2-2: only through PAR
        assert "code=" not in plain.get("Location", "")
        pushed = post_form(oauth.api, {**params, **authenticated, "client_assertion": assertion(client)}, "/o/par/",
                           HTTP_DPOP=key.proof("POST", f"{ISSUER}/par/"))
        assert pushed.status_code == 201, pushed.content
        page = oauth.browser.get("/o/authorize/", {"client_id": client.client_id,
                                                   "request_uri": pushed.json()["request_uri"]})
        answer = query_of(oauth.approve(page)["Location"])
        assert answer["iss"] == ISSUER and answer["state"] == params["state"]
        redeem = {"grant_type": "authorization_code", "code": answer["code"],
                  "redirect_uri": client.redirect_uri_list[0], "code_verifier": verifier}
        for proof in ({}, {"HTTP_DPOP": thief.proof("POST", f"{ISSUER}/token/")}):
            refused = post_form(oauth.api, {**redeem, **authenticated, "client_assertion": assertion(client)},
                                **proof)
            assert refused.status_code in (400, 401) and "access_token" not in refused.json()
        assert AuthorizationCode.objects.filter(consumed_at__isnull=True).count() == 1
        r = post_form(oauth.api, {**redeem, **authenticated, "client_assertion": assertion(client)},
                      HTTP_DPOP=key.proof("POST", f"{ISSUER}/token/"))
        assert r.status_code == 200, r.content
        tokens = r.json()
        assert tokens["token_type"] == "DPoP"
        access = tokens["access_token"]
        userinfo = oauth.api.get("/o/userinfo/", HTTP_AUTHORIZATION=f"DPoP {access}",
                                 HTTP_DPOP=key.proof("GET", f"{ISSUER}/userinfo/", access_token=access))
        assert userinfo.status_code == 200, userinfo.content
        stolen = oauth.api.get("/o/userinfo/", HTTP_AUTHORIZATION=f"DPoP {access}",
                               HTTP_DPOP=thief.proof("GET", f"{ISSUER}/userinfo/", access_token=access))
        assert stolen.status_code == 401
        refreshed = post_form(oauth.api, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                          **authenticated, "client_assertion": assertion(client)},
                              HTTP_DPOP=key.proof("POST", f"{ISSUER}/token/"))
        assert refreshed.status_code == 200, refreshed.content
        assert refreshed.json()["token_type"] == "DPoP"

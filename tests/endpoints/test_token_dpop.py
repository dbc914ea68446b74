"""DPoP at the token endpoint (RFC 9449 §5, §6, §8, §10), attacked: bound tokens for every
grant, invalid proofs, nonces, codes bound by ``dpop_jkt``, public clients' refresh tokens
bound to the key, clients that must use DPoP, exchanges that would strip the binding."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.test import Client as HttpClient

from oauth_provider import dpop, jwt
from oauth_provider.grants.token_exchange import ACCESS_TOKEN_TYPE
from oauth_provider.grants.token_exchange import GRANT_TYPE as EXCHANGE
from oauth_provider.models import AccessToken, AuthorizationCode, RefreshToken
from tests.support.dpop import DPoPKey
from tests.support.factories import ClientFactory
from tests.support.settings import oauth_settings
from tests.support.token_helpers import access_token_row, assert_error, assert_no_store, post_form, refresh_token_row

from ..conftest import basic_auth

pytestmark = pytest.mark.django_db
HTU = "https://testserver/o/token/"
CC = {"grant_type": "client_credentials", "scope": "read"}


@pytest.fixture(scope="module")
def k1() -> DPoPKey:
    return DPoPKey("EC")


@pytest.fixture(scope="module")
def k2() -> DPoPKey:
    return DPoPKey("OKP")


@pytest.fixture
def api() -> HttpClient:
    return HttpClient()


@pytest.fixture
def service(db):
    return ClientFactory(name="Service", grant_types=f"authorization_code refresh_token client_credentials {EXCHANGE}")


def with_proof(key: DPoPKey | None, **claims) -> dict[str, str]:
    return {"HTTP_DPOP": key.proof("POST", HTU, **claims)} if key is not None else {}


def cc(api, client, key: DPoPKey | None = None, **extra):
    return post_form(api, CC, HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret),
                     **with_proof(key), **extra)


def code_exchange(oauth, client, code, verifier, key: DPoPKey | None):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uri_list[0],
            "code_verifier": verifier}
    return oauth.token(client, data, **with_proof(key))


def refresh(oauth, client, refresh_token, key: DPoPKey | None):
    return oauth.token(client, {"grant_type": "refresh_token", "refresh_token": refresh_token}, **with_proof(key))


# -- §5: binding, token_type, cnf, introspection -----------------------------------------------

@pytest.mark.req("9449-5-token-binding")
def test_client_credentials_with_a_proof_gives_a_bound_token(api, service, k1, assert_num_queries):
    with assert_num_queries(2):  # the bearer budget: client, INSERT (the proof costs no query)
        r = cc(api, service, k1)
    assert r.status_code == 200, r.content
    assert_no_store(r)
    body = r.json()
    assert body["token_type"] == "DPoP"
    assert access_token_row(body["access_token"]).dpop_jkt == k1.jkt
    assert "DPoP-Nonce" not in r


def test_without_an_issuer_setting_htu_is_the_token_endpoint_as_this_request_reaches_it(api, service, k1,
                                                                                        settings):
    """§4.3 item 9: ``htu`` is checked against the token endpoint's URL as the metadata
    advertises it; with no ``ISSUER`` configured (development) that URL comes from the
    request's own scheme and host, so a proof for ``http://testserver/o/token/`` is the one."""
    settings.DEBUG = True  # an issuer taken from the request is for development only
    settings.OAUTH_PROVIDER = oauth_settings(ISSUER=None)
    assert api.get("/o/.well-known/oauth-authorization-server").json()["token_endpoint"] == \
        "http://testserver/o/token/"
    r = post_form(api, CC, HTTP_AUTHORIZATION=basic_auth(service.client_id, service.raw_secret),
                  HTTP_DPOP=k1.proof("POST", "http://testserver/o/token/"))
    assert r.status_code == 200, r.content
    assert r.json()["token_type"] == "DPoP"
    r = post_form(api, CC, HTTP_AUTHORIZATION=basic_auth(service.client_id, service.raw_secret),
                  HTTP_DPOP=k1.proof("POST", HTU))  # the https URL of the test settings' issuer
    assert_error(r, "invalid_dpop_proof")


def test_without_a_proof_the_token_is_a_bearer_token(api, service):
    r = cc(api, service)
    assert r.json()["token_type"] == "Bearer"
    assert access_token_row(r.json()["access_token"]).dpop_jkt == ""


@pytest.mark.req("9449-5-token-binding")
def test_jwt_access_token_carries_cnf_jkt(api, service, k1, signing_key, assert_num_queries):
    service.access_token_format = "jwt"
    service.save()
    bearer = jwt.decode(cc(api, service).json()["access_token"], typ="at+jwt", issuer="https://testserver/o",
                        audience=None)
    assert "cnf" not in bearer
    with assert_num_queries(2):  # as many as the bearer token once the signing key is cached
        r = cc(api, service, k1)
    body = r.json()
    assert body["token_type"] == "DPoP"
    claims = jwt.decode(body["access_token"], typ="at+jwt", issuer="https://testserver/o", audience=None)
    assert claims["cnf"] == {"jkt": k1.jkt}


@pytest.mark.req("9449-5-token-binding")
def test_introspection_reports_the_binding(api, service, k1):
    bound = cc(api, service, k1).json()["access_token"]
    bearer = cc(api, service).json()["access_token"]
    auth = {"HTTP_AUTHORIZATION": basic_auth(service.client_id, service.raw_secret)}
    seen = post_form(api, {"token": bound}, "/o/introspect/", **auth).json()
    assert seen["active"] is True and seen["token_type"] == "DPoP" and seen["cnf"] == {"jkt": k1.jkt}
    plain = post_form(api, {"token": bearer}, "/o/introspect/", **auth).json()
    assert plain["token_type"] == "Bearer" and "cnf" not in plain


@pytest.mark.req("9449-4.3-single-header")
@pytest.mark.req("9449-5-token-binding")
def test_invalid_proofs_get_no_token(api, service, k1, k2):
    auth = {"HTTP_AUTHORIZATION": basic_auth(service.client_id, service.raw_secret)}
    good = k1.proof("POST", HTU)
    forged = k2.proof("POST", HTU, header={"jwk": k1.jwk})
    for proof in (f"{good}, {good}", "garbage", k1.proof("GET", HTU), k1.proof("POST", "https://testserver/o/x/"),
                  k1.proof("POST", HTU, header={"typ": "JWT"}), forged, k1.proof("POST", HTU, iat=1)):
        r = post_form(api, CC, HTTP_DPOP=proof, **auth)
        assert_error(r, "invalid_dpop_proof")
    assert not AccessToken.objects.exists()


@pytest.mark.req("9449-11.1-jti-replay")
def test_a_replayed_proof_gets_no_token(api, service, k1):
    proof = k1.proof("POST", HTU)
    auth = {"HTTP_AUTHORIZATION": basic_auth(service.client_id, service.raw_secret)}
    assert post_form(api, CC, HTTP_DPOP=proof, **auth).status_code == 200
    assert_error(post_form(api, CC, HTTP_DPOP=proof, **auth), "invalid_dpop_proof")
    assert AccessToken.objects.count() == 1


def test_client_authentication_comes_first(api, service, k1):
    """An unauthenticated caller learns nothing about its proof (and spends no jti)."""
    proof = k1.proof("POST", HTU)
    r = post_form(api, CC, HTTP_DPOP=proof, HTTP_AUTHORIZATION=basic_auth(service.client_id, "wrong"))
    assert_error(r, "invalid_client")
    assert post_form(api, CC, HTTP_DPOP=proof, HTTP_AUTHORIZATION=basic_auth(
        service.client_id, service.raw_secret)).status_code == 200


@pytest.mark.req("9449-4.3-typ-alg")
def test_metadata_lists_the_algorithms(api, settings):
    assert api.get("/o/.well-known/oauth-authorization-server").json()[
        "dpop_signing_alg_values_supported"] == ["ES256", "PS256", "EdDSA", "RS256"]
    settings.OAUTH_PROVIDER = oauth_settings(DPOP_SIGNING_ALGORITHMS=["PS256", "ES256", "EdDSA"])
    assert api.get("/o/.well-known/openid-configuration").json()[
        "dpop_signing_alg_values_supported"] == ["PS256", "ES256", "EdDSA"]


@pytest.mark.req("9449-4.3-typ-alg")
def test_the_algorithms_advertised_are_those_a_proof_is_checked_against(api, settings):
    """Under the FAPI 2.0 profile a host's own list naming RS256 (check E134 says so) does not
    make RS256 usable (§5.4.1), so neither the metadata nor the resource's ``algs`` challenge
    may offer it: a client picking the first offered algorithm would be refused every time."""
    from oauth_provider import dpop

    settings.OAUTH_PROVIDER = oauth_settings(PROFILE="fapi2", DPOP_SIGNING_ALGORITHMS=["RS256", "ES256", "HS256"])
    assert dpop.signing_algorithms() == ("ES256",)
    assert api.get("/o/.well-known/oauth-authorization-server").json()[
        "dpop_signing_alg_values_supported"] == ["ES256"]
    from oauth_provider.sender_constraint import challenges

    assert 'algs="ES256"' in challenges(None, by_dpop=True, realm="api", scope=None, resource_metadata="")
    settings.OAUTH_PROVIDER = oauth_settings(PROFILE=None, DPOP_SIGNING_ALGORITHMS=["RS256", "ES256"])
    assert dpop.signing_algorithms() == ("RS256", "ES256")


def test_browsers_may_send_a_proof_and_read_the_nonce(api):
    r = api.options("/o/token/", HTTP_ORIGIN="https://app.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
                    HTTP_ACCESS_CONTROL_REQUEST_HEADERS="dpop, content-type")
    assert "DPoP" in r["Access-Control-Allow-Headers"]
    assert "DPoP-Nonce" in r["Access-Control-Expose-Headers"]


# -- §5.2: clients that must use DPoP; REQUIRE_DPOP -------------------------------------------

@pytest.mark.req("9449-5.2-dpop-required")
def test_a_dpop_bound_client_gets_no_token_without_a_proof(api, service, k1):
    service.dpop_bound_access_tokens = True
    service.save()
    assert_error(cc(api, service), "invalid_dpop_proof")
    assert not AccessToken.objects.exists()
    assert cc(api, service, k1).json()["token_type"] == "DPoP"


@pytest.mark.req("9449-5.2-dpop-required")
@pytest.mark.req("FAPI2-5.3.2.1-4-sender-constrained")
def test_require_dpop_site_wide(api, service, k1, settings, oauth, public_client):
    settings.OAUTH_PROVIDER = oauth_settings(REQUIRE_DPOP=True)
    assert_error(cc(api, service), "invalid_dpop_proof")
    code, verifier = oauth.get_code(public_client)
    assert_error(code_exchange(oauth, public_client, code, verifier, None), "invalid_dpop_proof")
    assert code_exchange(oauth, public_client, code, verifier, k1).json()["token_type"] == "DPoP"
    assert not AccessToken.objects.filter(dpop_jkt="").exists()


# -- §8: nonces --------------------------------------------------------------------------------

@pytest.mark.req("9449-8-as-nonce")
@pytest.mark.req("FAPI2-5.3.2.1-10-dpop-nonce")
def test_nonce_round_trip(api, service, k1, settings):
    settings.OAUTH_PROVIDER = oauth_settings(DPOP_NONCE=True)
    first = cc(api, service, k1)
    assert_error(first, "use_dpop_nonce")
    assert first["Cache-Control"] == "no-store"
    nonce = first["DPoP-Nonce"]
    assert dpop.nonce_valid(nonce, "token")
    second = post_form(
        api, CC, HTTP_AUTHORIZATION=basic_auth(service.client_id, service.raw_secret),
        HTTP_DPOP=k1.proof("POST", HTU, nonce=nonce))
    assert second.status_code == 200, second.content
    assert second.json()["token_type"] == "DPoP"
    assert dpop.nonce_valid(second["DPoP-Nonce"], "token")  # §8.2: a fresh one for the next request
    assert second["Cache-Control"] == "no-store"
    assert AccessToken.objects.count() == 1


@pytest.mark.req("9449-8-as-nonce")
@pytest.mark.req("9449-9-rs-nonce")
def test_wrong_or_foreign_nonce(api, service, k1, settings):
    settings.OAUTH_PROVIDER = oauth_settings(DPOP_NONCE=True)
    for nonce in ("made-up", dpop.issue_nonce("resource")):
        r = post_form(api, CC, HTTP_AUTHORIZATION=basic_auth(service.client_id, service.raw_secret),
                      HTTP_DPOP=k1.proof("POST", HTU, nonce=nonce))
        assert_error(r, "use_dpop_nonce")
        assert r["DPoP-Nonce"] != nonce


@pytest.mark.req("9449-8-as-nonce")
def test_in_nonce_mode_a_header_that_is_no_proof_is_refused_as_such(api, service, settings):
    """Nonce mode asks for the nonce before anything else, but only of a proof it can read: no
    ``DPoP`` header is a bearer request as usual, and a header that is no compact JWS (or too
    long, or with a payload that is no JSON) is ``invalid_dpop_proof``, never a nonce to retry
    with, and never a server error."""
    from oauth_provider import jwt as our_jwt

    settings.OAUTH_PROVIDER = oauth_settings(DPOP_NONCE=True)
    assert cc(api, service).json()["token_type"] == "Bearer"
    import base64

    long_payload = base64.urlsafe_b64encode(json.dumps({"pad": "x" * our_jwt.MAX_LENGTH}).encode()).decode()
    for header in ("abc", "e30.YQ.c2ln", "e30." + long_payload.rstrip("=") + ".c2ln"):
        r = post_form(api, CC, HTTP_AUTHORIZATION=basic_auth(service.client_id, service.raw_secret),
                      HTTP_DPOP=header)
        assert_error(r, "invalid_dpop_proof")
        assert "DPoP-Nonce" not in r


@pytest.mark.req("9449-8-as-nonce")
@pytest.mark.parametrize("path", ["/o/token/", "/o/par/"])
def test_a_nonce_challenge_spends_no_client_assertion(api, k1, settings, path):
    """A ``private_key_jwt`` client that resends its request with the nonce (§8), the same
    client assertion included, is not refused as replaying it: the nonce is asked for before
    the client authenticates, and so before the assertion's ``jti`` is spent. A proof with a
    current nonce still needs a valid assertion, and one assertion still serves once."""
    from oauth_provider.client_assertions import ASSERTION_TYPE
    from tests.support.fapi import ISSUER, assertion, fapi_client
    from tests.support.par_helpers import request_params

    settings.OAUTH_PROVIDER = oauth_settings(DPOP_NONCE=True)
    client = fapi_client(grant_types="authorization_code client_credentials")
    form = {**(CC if path == "/o/token/" else request_params(client)),
            "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion(client)}
    url = f"{ISSUER}{path[2:]}"
    first = post_form(api, form, path, HTTP_DPOP=k1.proof("POST", url))
    assert_error(first, "use_dpop_nonce")
    nonce = first["DPoP-Nonce"]
    retry = post_form(api, form, path, HTTP_DPOP=k1.proof("POST", url, nonce=nonce))
    assert retry.status_code in (200, 201), retry.content
    replay = post_form(api, form, path, HTTP_DPOP=k1.proof("POST", url, nonce=nonce))
    assert_error(replay, "invalid_client")
    forged = post_form(api, {**form, "client_assertion": "e30.e30.c2ln"}, path,
                       HTTP_DPOP=k1.proof("POST", url, nonce=nonce))
    assert_error(forged, "invalid_client")


@pytest.mark.req("9449-8-as-nonce")
def test_a_nonce_challenge_spends_no_code(oauth, public_client, k1, settings):
    """The code is not consumed by a request answered use_dpop_nonce (the client retries)."""
    settings.OAUTH_PROVIDER = oauth_settings(DPOP_NONCE=True)
    code, verifier = oauth.get_code(public_client)
    first = code_exchange(oauth, public_client, code, verifier, k1)
    assert_error(first, "use_dpop_nonce")
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": public_client.redirect_uri_list[0],
            "code_verifier": verifier, "client_id": public_client.client_id}
    retry = oauth.api.post("/o/token/", urlencode(data), content_type="application/x-www-form-urlencoded",
                           HTTP_DPOP=k1.proof("POST", HTU, nonce=first["DPoP-Nonce"]))
    assert retry.status_code == 200, retry.content
    assert retry.json()["token_type"] == "DPoP"


# -- §10: dpop_jkt binds the code --------------------------------------------------------------

@pytest.mark.req("9449-10-dpop-jkt")
@pytest.mark.req("FAPI2-5.3.2.1-12-dpop-code-binding")
def test_dpop_jkt_binds_the_code(oauth, public_client, k1, k2, assert_max_queries):
    code, verifier = oauth.get_code(public_client, dpop_jkt=k1.jkt)
    assert AuthorizationCode.objects.get().dpop_jkt == k1.jkt
    other_key = assert_error(code_exchange(oauth, public_client, code, verifier, k2), "invalid_dpop_proof")
    assert other_key["error_description"] == (
        "The authorization code is bound to another DPoP key than this proof's (RFC 9449).")
    no_proof = assert_error(code_exchange(oauth, public_client, code, verifier, None), "invalid_dpop_proof")
    assert no_proof["error_description"] == (
        "The authorization code is DPoP-bound: send a DPoP proof made with its key (RFC 9449).")
    assert not AccessToken.objects.exists()
    with assert_max_queries(5):  # the code exchange's budget, DPoP or not
        r = code_exchange(oauth, public_client, code, verifier, k1)
    assert r.status_code == 200, r.content
    assert access_token_row(r.json()["access_token"]).dpop_jkt == k1.jkt


@pytest.mark.req("9449-10-dpop-jkt")
def test_dpop_jkt_through_the_consent_page(oauth, conf_client, k1):
    """The consent form carries dpop_jkt to the POST that issues the code."""
    code, verifier = oauth.get_code(conf_client, dpop_jkt=k1.jkt)
    assert AuthorizationCode.objects.get().dpop_jkt == k1.jkt
    assert code_exchange(oauth, conf_client, code, verifier, k1).json()["token_type"] == "DPoP"


@pytest.mark.req("9449-10-dpop-jkt")
@pytest.mark.parametrize("value", ["short", "x" * 43 + "=", "a+b/" * 11, "é" * 43])
def test_malformed_dpop_jkt_is_refused(oauth, public_client, value):
    params, _ = oauth.authorize_params(public_client, dpop_jkt=value)
    r = oauth.browser.get("/o/authorize/", params)
    assert r.status_code == 302
    assert "error=invalid_request" in r["Location"]
    assert not AuthorizationCode.objects.exists()


def test_a_code_without_dpop_jkt_may_be_redeemed_with_any_proof(oauth, public_client, k2):
    code, verifier = oauth.get_code(public_client)
    r = code_exchange(oauth, public_client, code, verifier, k2)
    assert access_token_row(r.json()["access_token"]).dpop_jkt == k2.jkt


# -- §5: refresh tokens ------------------------------------------------------------------------

@pytest.mark.req("9449-5-public-rt-binding")
def test_public_clients_refresh_token_is_bound(oauth, public_client, k1, k2, assert_max_queries):
    code, verifier = oauth.get_code(public_client)
    first = code_exchange(oauth, public_client, code, verifier, k1).json()
    assert refresh_token_row(first["refresh_token"]).dpop_jkt == k1.jkt
    no_proof = assert_error(refresh(oauth, public_client, first["refresh_token"], None), "invalid_dpop_proof")
    assert no_proof["error_description"] == (
        "The refresh token is DPoP-bound: send a DPoP proof made with its key (RFC 9449).")
    assert_error(refresh(oauth, public_client, first["refresh_token"], k2), "invalid_dpop_proof")
    with assert_max_queries(5):
        second = refresh(oauth, public_client, first["refresh_token"], k1)
    assert second.status_code == 200, second.content
    body = second.json()
    assert body["token_type"] == "DPoP"
    assert access_token_row(body["access_token"]).dpop_jkt == k1.jkt
    # kept across rotation
    assert refresh_token_row(body["refresh_token"]).dpop_jkt == k1.jkt
    assert_error(refresh(oauth, public_client, body["refresh_token"], None), "invalid_dpop_proof")
    assert refresh(oauth, public_client, body["refresh_token"], k1).status_code == 200


@pytest.mark.req("9449-5-public-rt-binding")
def test_refused_refresh_does_not_rotate(oauth, public_client, k1, k2):
    code, verifier = oauth.get_code(public_client)
    first = code_exchange(oauth, public_client, code, verifier, k1).json()
    assert_error(refresh(oauth, public_client, first["refresh_token"], k2), "invalid_dpop_proof")
    assert refresh_token_row(first["refresh_token"]).rotated_at is None


def test_confidential_clients_refresh_token_is_not_bound(oauth, conf_client, k1, k2):
    code, verifier = oauth.get_code(conf_client)
    first = code_exchange(oauth, conf_client, code, verifier, k1).json()
    assert first["token_type"] == "DPoP"
    assert refresh_token_row(first["refresh_token"]).dpop_jkt == ""
    # a new key binds the new access token (the client authenticated itself)
    second = refresh(oauth, conf_client, first["refresh_token"], k2).json()
    assert second["token_type"] == "DPoP"
    assert access_token_row(second["access_token"]).dpop_jkt == k2.jkt
    third = refresh(oauth, conf_client, second["refresh_token"], None).json()
    assert third["token_type"] == "Bearer"


def test_dpop_bound_confidential_client_must_refresh_with_a_proof(oauth, conf_client, k1):
    conf_client.dpop_bound_access_tokens = True
    conf_client.save()
    code, verifier = oauth.get_code(conf_client)
    first = code_exchange(oauth, conf_client, code, verifier, k1).json()
    assert_error(refresh(oauth, conf_client, first["refresh_token"], None), "invalid_dpop_proof")
    assert refresh(oauth, conf_client, first["refresh_token"], k1).json()["token_type"] == "DPoP"


@pytest.mark.req("9449-5-public-rt-binding")
def test_grace_period_retry_keeps_the_binding(oauth, public_client, k1, k2, settings):
    settings.OAUTH_PROVIDER = oauth_settings(REFRESH_TOKEN_GRACE_PERIOD=30)
    code, verifier = oauth.get_code(public_client)
    first = code_exchange(oauth, public_client, code, verifier, k1).json()
    second = refresh(oauth, public_client, first["refresh_token"], k1).json()
    assert_error(refresh(oauth, public_client, first["refresh_token"], k2), "invalid_dpop_proof")
    retry = refresh(oauth, public_client, first["refresh_token"], k1).json()
    assert retry["refresh_token"] == second["refresh_token"]
    assert access_token_row(retry["access_token"]).dpop_jkt == k1.jkt


# -- token exchange (checklist DERIVED-exchange-sender-constrained) ----------------------------

@pytest.mark.req("DERIVED-exchange-sender-constrained")
def test_a_bound_subject_token_is_exchanged_only_with_its_key(api, service, k1, k2):
    subject = cc(api, service, k1).json()["access_token"]
    payload = {"grant_type": EXCHANGE, "subject_token": subject, "subject_token_type": ACCESS_TOKEN_TYPE,
               "scope": "read"}
    auth = {"HTTP_AUTHORIZATION": basic_auth(service.client_id, service.raw_secret)}
    assert_error(post_form(api, payload, **auth), "invalid_dpop_proof")
    assert_error(post_form(api, payload, HTTP_DPOP=k2.proof("POST", HTU), **auth), "invalid_dpop_proof")
    assert AccessToken.objects.count() == 1
    r = post_form(api, payload, HTTP_DPOP=k1.proof("POST", HTU), **auth)
    assert r.status_code == 200, r.content
    assert r.json()["token_type"] == "DPoP"
    assert access_token_row(r.json()["access_token"]).dpop_jkt == k1.jkt


def test_a_bearer_subject_token_may_be_bound_by_exchange(api, service, k2):
    subject = cc(api, service).json()["access_token"]
    payload = {"grant_type": EXCHANGE, "subject_token": subject, "subject_token_type": ACCESS_TOKEN_TYPE}
    r = post_form(api, payload, HTTP_DPOP=k2.proof("POST", HTU),
                  HTTP_AUTHORIZATION=basic_auth(service.client_id, service.raw_secret))
    assert access_token_row(r.json()["access_token"]).dpop_jkt == k2.jkt


def test_rows_never_hold_the_proof(api, service, k1):
    """Only the thumbprint is stored: no proof, no key material."""
    cc(api, service, k1)
    for model in (AccessToken, RefreshToken):
        for row in model.objects.all():
            assert k1.jwk["x"] not in json.dumps({f.name: str(getattr(row, f.name, "")) for f in model._meta.fields})


def test_a_kept_refresh_token_binds_each_new_access_token_to_the_proofs_key(oauth, conf_client, k1, k2, settings):
    """A confidential client that keeps its refresh token (no rotation) still gets sender-
    constrained access tokens: each refresh's access token is bound to that request's proof."""
    settings.OAUTH_PROVIDER = oauth_settings(REFRESH_TOKEN_ROTATION="public_clients")
    code, verifier = oauth.get_code(conf_client)
    first = code_exchange(oauth, conf_client, code, verifier, k1).json()
    again = refresh(oauth, conf_client, first["refresh_token"], k2).json()
    assert again["refresh_token"] == first["refresh_token"]  # kept
    assert again["token_type"] == "DPoP"
    assert access_token_row(again["access_token"]).dpop_jkt == k2.jkt

"""DPoP-bound access tokens at our protected resources (RFC 9449 §7, §9): the DRF classes, the
decorator and mixin, Django Ninja and UserInfo accept ``Authorization: DPoP`` only with a proof
for the very request by the key the token is bound to, refuse a bound token presented as a
bearer token, and answer with ``Bearer`` and ``DPoP`` challenges (checklist section U).

Every proof is signed with a real key (tests/support/dpop.py, independent of the code under
test). How an attacker would abuse the feature, and the test that stops each:

* steal a bound token and use it as a bearer token (with or without a proof he has): 401;
* replay a proof he saw, or use it at another URL, method or host: 401;
* sign a fresh proof with his own key (K2) for the stolen token (bound to K1): 401;
* reuse a proof made for another token (``ath``): 401;
* pick the ``Host`` header so a proof made for his own host matches: the URL is built from the
  configured identifiers, never from ``Host``;
* send an unbound token with the DPoP scheme, hoping the proof's key is taken as the binding:
  401.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client as HttpClient
from django.test import override_settings

from oauth_provider import dpop, keys, resource, secrets
from oauth_provider import jwt as our_jwt
from oauth_provider.errors import InvalidDPoPProof, InvalidToken
from tests.support.dpop import DPoPKey
from tests.support.resource_helpers import (
    RESOURCE,
    assert_challenge,
    bearer,
    challenges,
    provider_settings,
    user_token,
)

pytestmark = pytest.mark.django_db
ISSUER = "https://testserver/o"
FORM = "application/x-www-form-urlencoded"
#: surface -> (path, the scope it requires); the views are in tests/support/resource_views.py
#: and ninja_views.py, UserInfo is the provider's own
SURFACES = {
    "drf": "/api/drf/read/",
    "decorator": "/api/plain/",
    "mixin": "/api/mixin/",
    "ninja": "/api/ninja/read",
    "userinfo": "/o/userinfo/",
}
EVERY_SURFACE = pytest.mark.parametrize("surface", list(SURFACES))
K1, K2 = DPoPKey("EC"), DPoPKey("EC")


@pytest.fixture(autouse=True)
def _ninja_installed(request):
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("surface") == "ninja":
        pytest.importorskip("ninja")  # the "test" extra installs it; tests/urls.py mounts it then


@pytest.fixture
def api():
    # enforce_csrf_checks: a DPoP client sends no CSRF token either
    return HttpClient(enforce_csrf_checks=True)


@pytest.fixture
def bound(conf_client, user):
    """An opaque access token bound to K1 (its ``dpop_jkt``), good for every surface."""
    return user_token(conf_client, user, scope="openid read write", dpop_jkt=K1.jkt)[0]


@pytest.fixture
def warm_keys(signing_key):
    keys.signing_key()
    return signing_key


def jwt_token(client, user, *, cnf: Any = None, scope: str = "openid read write") -> str:
    """An RFC 9068 access token of ours, bound by ``cnf`` (RFC 9449 §6.1) when given, with its
    row stored as issuing stores it (UserInfo, on the authorization server, reads it)."""
    from datetime import datetime, timezone

    from oauth_provider.models import AccessToken

    now = int(secrets.now().timestamp())
    claims: dict[str, Any] = {
        "iss": ISSUER, "sub": str(user.pk), "aud": RESOURCE, "client_id": client.client_id, "iat": now,
        "exp": now + 300, "jti": secrets.generate_token(), "scope": scope,
    }
    if cnf is not None:
        claims["cnf"] = cnf
    token = our_jwt.encode(claims, typ=our_jwt.ACCESS_TOKEN_TYP)
    jkt = cnf["jkt"] if isinstance(cnf, dict) and isinstance(cnf.get("jkt"), str) else ""
    AccessToken.objects.create(
        token_hash=secrets.hash_token(token), client=client, user=user, scope=scope, audience=RESOURCE,
        dpop_jkt=jkt, created_at=datetime.fromtimestamp(now, tz=timezone.utc),
        expires_at=datetime.fromtimestamp(now + 300, tz=timezone.utc))
    return token


def url(path: str, origin: str = RESOURCE) -> str:
    return origin + path


def with_proof(raw: str, proof: str | None, scheme: str = "DPoP") -> dict[str, str]:
    headers = {"HTTP_AUTHORIZATION": f"{scheme} {raw}"}
    if proof is not None:
        headers["HTTP_DPOP"] = proof
    return headers


def call(api, surface: str, raw: str, proof: str | None, *, method: str = "GET", scheme: str = "DPoP", **extra):
    return getattr(api, method.lower())(SURFACES[surface], **with_proof(raw, proof, scheme), **extra)


def good_proof(surface: str, raw: str, key: DPoPKey = K1, method: str = "GET", **kwargs: Any) -> str:
    return key.proof(method, url(SURFACES[surface]), access_token=raw, **kwargs)


# -- what a DPoP client gets ----------------------------------------------------------------
@pytest.mark.req("9449-7.1-rs-checks")
@EVERY_SURFACE
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_bound_token_with_its_proof_is_accepted(api, surface, method, bound):
    r = call(api, surface, bound, good_proof(surface, bound, method=method), method=method)
    assert r.status_code == 200, r.content
    if surface != "userinfo":
        assert r.json()["user"] == "alice"


@pytest.mark.req("9449-7.1-rs-checks")
@EVERY_SURFACE
def test_a_bound_jwt_access_token_with_its_proof_is_accepted(api, surface, conf_client, user, warm_keys):
    token = jwt_token(conf_client, user, cnf={"jkt": K1.jkt})
    r = call(api, surface, token, good_proof(surface, token))
    assert r.status_code == 200, r.content


@pytest.mark.req("9449-7.1-rs-checks")
def test_the_view_sees_the_binding(bound):
    from django.test import RequestFactory

    request = RequestFactory().get("/api/x", **with_proof(bound, K1.proof("GET", url("/api/x"), access_token=bound)))
    token = resource.require(request, ["read"])
    assert token.jkt == K1.jkt
    assert resource.authenticate(request) is token  # asked again: the same answer, proof not spent twice


# -- query budgets (DESIGN.md): the binding is read by the one statement; JWT: none ------------
@pytest.mark.parametrize("surface", ["drf", "decorator", "ninja"])
def test_opaque_bound_token_costs_one_statement(api, surface, bound, assert_num_queries):
    proof = good_proof(surface, bound)
    with assert_num_queries(1):
        r = call(api, surface, bound, proof)
    assert r.status_code == 200, r.content


def test_bound_jwt_costs_no_statement(api, conf_client, user, warm_keys, assert_num_queries):
    path = "/api/ninja/scope-only"
    token = jwt_token(conf_client, user, cnf={"jkt": K1.jkt})
    with assert_num_queries(0):
        r = api.get(path, **with_proof(token, K1.proof("GET", url(path), access_token=token)))
    assert r.status_code == 200, r.content


@pytest.mark.urls("tests.support.jwt_urls")
@pytest.mark.parametrize("path", ["/api/scope-only/", "/api/plain-scope-only/"])
def test_bound_jwt_costs_no_statement_at_drf_and_decorator(path, conf_client, user, warm_keys, assert_num_queries):
    token = jwt_token(conf_client, user, cnf={"jkt": K1.jkt})
    with assert_num_queries(0):
        r = HttpClient().get(path, **with_proof(token, K1.proof("GET", url(path), access_token=token)))
    assert r.status_code == 200, r.content


# -- forgeries ----------------------------------------------------------------------------
@pytest.mark.req("9449-7.1-rs-checks")
@EVERY_SURFACE
def test_no_proof_is_refused(api, surface, bound):
    r = call(api, surface, bound, None)
    assert_challenge(r, 401, "invalid_dpop_proof", scheme="DPoP")


@pytest.mark.req("9449-7.2-no-bearer-downgrade")
@EVERY_SURFACE
@pytest.mark.parametrize("with_a_proof", [False, True])
def test_a_bound_token_presented_as_bearer_is_refused(api, surface, bound, with_a_proof):
    proof = good_proof(surface, bound) if with_a_proof else None
    r = call(api, surface, bound, proof, scheme="Bearer")
    assert_challenge(r, 401, "invalid_token")  # the error in the Bearer challenge, the DPoP one bare


@pytest.mark.req("9449-7.2-no-bearer-downgrade")
@pytest.mark.parametrize("surface", ["drf", "decorator"])
def test_a_bound_jwt_presented_as_bearer_is_refused(api, surface, conf_client, user, warm_keys):
    token = jwt_token(conf_client, user, cnf={"jkt": K1.jkt})
    assert_challenge(call(api, surface, token, good_proof(surface, token), scheme="Bearer"), 401, "invalid_token")


@pytest.mark.req("9449-7.2-no-bearer-downgrade")
def test_a_bound_token_in_a_form_body_is_refused(api, bound):
    with override_settings(OAUTH_PROVIDER=provider_settings(BEARER_FORM_BODY=True)):
        r = api.post("/api/plain/", urlencode({"access_token": bound}), content_type=FORM)
    assert_challenge(r, 401, "invalid_token")


@pytest.mark.req("9449-7.1-rs-checks")
@EVERY_SURFACE
def test_an_unbound_token_with_the_dpop_scheme_is_refused(api, surface, conf_client, user):
    raw = user_token(conf_client, user, scope="openid read write")[0]
    r = call(api, surface, raw, good_proof(surface, raw))
    assert_challenge(r, 401, "invalid_token", scheme="DPoP")


@pytest.mark.req("9449-7.1-rs-checks")
@EVERY_SURFACE
def test_a_proof_by_another_key_is_refused(api, surface, bound):
    r = call(api, surface, bound, good_proof(surface, bound, key=K2))
    params = assert_challenge(r, 401, "invalid_token", scheme="DPoP")
    assert "key binding" in params["error_description"]


@pytest.mark.req("9449-7.1-rs-checks")
@EVERY_SURFACE
def test_the_ath_of_another_token_is_refused(api, surface, bound, conf_client, user):
    other = user_token(conf_client, user, scope="openid read write", dpop_jkt=K1.jkt)[0]
    r = call(api, surface, bound, good_proof(surface, other))
    assert_challenge(r, 401, "invalid_dpop_proof", scheme="DPoP")


@pytest.mark.req("9449-7.1-rs-checks")
@EVERY_SURFACE
def test_a_proof_without_ath_is_refused(api, surface, bound):
    r = call(api, surface, bound, K1.proof("GET", url(SURFACES[surface])))
    assert_challenge(r, 401, "invalid_dpop_proof", scheme="DPoP")


@pytest.mark.req("9449-4.3-claims")
@EVERY_SURFACE
def test_a_proof_for_another_url_is_refused(api, surface, bound):
    other = "/api/drf/write/" if surface != "drf" else "/api/plain/"
    r = call(api, surface, bound, K1.proof("GET", url(other), access_token=bound))
    assert_challenge(r, 401, "invalid_dpop_proof", scheme="DPoP")


@pytest.mark.req("9449-4.3-claims")
@EVERY_SURFACE
def test_a_proof_for_another_method_is_refused(api, surface, bound):
    r = call(api, surface, bound, good_proof(surface, bound, method="POST"), method="GET")
    assert_challenge(r, 401, "invalid_dpop_proof", scheme="DPoP")


@pytest.mark.req("9449-11.1-jti-replay")
@EVERY_SURFACE
def test_a_replayed_proof_is_refused(api, surface, bound):
    proof = good_proof(surface, bound)
    assert call(api, surface, bound, proof).status_code == 200
    assert_challenge(call(api, surface, bound, proof), 401, "invalid_dpop_proof", scheme="DPoP")


@pytest.mark.req("9449-11.1-time-window")
def test_an_old_proof_is_refused(api, bound):
    old = good_proof("drf", bound, iat=int(secrets.now().timestamp()) - 300)
    assert_challenge(call(api, "drf", bound, old), 401, "invalid_dpop_proof", scheme="DPoP")


@pytest.mark.req("9449-4.3-single-header")
@EVERY_SURFACE
@pytest.mark.parametrize("mangle", ["two", "garbage", "empty"])
def test_not_one_well_formed_proof_is_refused(api, surface, bound, mangle):
    proof = good_proof(surface, bound)
    header = {"two": f"{proof}, {good_proof(surface, bound)}", "garbage": "not-a-jwt", "empty": ""}[mangle]
    r = call(api, surface, bound, header)
    assert_challenge(r, 401, "invalid_dpop_proof", scheme="DPoP")


@pytest.mark.req("9449-4.3-typ-alg")
@pytest.mark.parametrize("header", [{"typ": "JWT"}, {"alg": "none"}])
def test_a_proof_of_the_wrong_type_or_algorithm_is_refused(api, bound, header):
    from tests.support.dpop import unsigned

    claims = {"jti": "x", "htm": "GET", "htu": url(SURFACES["drf"]), "iat": int(secrets.now().timestamp()),
              "ath": dpop.access_token_hash(bound)}
    forged = unsigned({"typ": "dpop+jwt", "alg": "ES256", "jwk": K1.jwk, **header}, claims)
    assert_challenge(call(api, "drf", bound, forged), 401, "invalid_dpop_proof", scheme="DPoP")


def test_a_jwt_bound_in_a_way_we_cannot_check_is_refused(api, conf_client, user, warm_keys):
    for cnf in ({"x5t#S256": "abc"}, "K1", {"jkt": 7}):
        token = jwt_token(conf_client, user, cnf=cnf)
        for scheme in ("DPoP", "Bearer"):
            r = call(api, "drf", token, good_proof("drf", token), scheme=scheme)
            assert r.status_code == 401, (cnf, scheme)


# -- htu: our configured origin, never the Host header ------------------------------------
@pytest.mark.req("9449-4.3-claims")
def test_htu_ignores_the_host_header(api, bound):
    """An attacker choosing ``Host`` cannot make a proof for his own host count here, and a
    proxy that forwards another Host or plain http does not break good proofs."""
    path = SURFACES["drf"]
    forged = K1.proof("GET", url(path, "https://evil.example"), access_token=bound)
    refused = api.get(path, HTTP_HOST="evil.example", **with_proof(bound, forged))
    assert refused.status_code == 401
    good = K1.proof("GET", url(path), access_token=bound)
    assert api.get(path, HTTP_HOST="internal:8000", **with_proof(bound, good)).status_code == 200


@pytest.mark.req("9449-4.3-claims")
@pytest.mark.parametrize("htu", ["https://TESTSERVER:443/api/drf/read/", "https://testserver/api/drf/%72ead/"])
def test_htu_is_compared_after_normalisation(api, bound, htu):
    assert api.get("/api/drf/read/", **with_proof(bound, K1.proof("GET", htu, access_token=bound))).status_code == 200


def test_htu_has_no_query(api, bound):
    proof = K1.proof("GET", url("/api/drf/read/"), access_token=bound)
    assert api.get("/api/drf/read/?page=2", **with_proof(bound, proof)).status_code == 200


@pytest.mark.req("9449-4.3-claims")
def test_htu_follows_the_resource_identifier_and_userinfo_the_issuer(api, bound):
    """With ``RESOURCE_IDENTIFIER`` on another origin than the issuer, the API's views are
    reached there, and the provider's own UserInfo at the issuer's origin."""
    with override_settings(OAUTH_PROVIDER=provider_settings(RESOURCE_IDENTIFIER="https://api.example")):
        token = bound  # stored with the default audience: it follows RESOURCE_IDENTIFIER
        at_api = K1.proof("GET", "https://api.example/api/drf/read/", access_token=token)
        assert api.get("/api/drf/read/", **with_proof(token, at_api)).status_code == 200
        at_issuer = K1.proof("GET", "https://testserver/o/userinfo/", access_token=token)
        assert api.get("/o/userinfo/", **with_proof(token, at_issuer)).status_code == 200
        elsewhere = K1.proof("GET", "https://other.example/api/drf/read/", access_token=token)
        assert api.get("/api/drf/read/", **with_proof(token, elsewhere)).status_code == 401


def test_in_development_htu_is_the_url_the_request_came_to(api, bound):
    """``DEBUG`` on and no ``ISSUER`` (a first try with ``python3 dev.py serve``): the resource
    and the provider are where the request came to, so a proof naming that URL is good at
    the API and at UserInfo, and one naming the production origin is not."""
    with override_settings(DEBUG=True, OAUTH_PROVIDER=provider_settings(ISSUER=None, RESOURCE_IDENTIFIER=None)):
        for path in ("/api/drf/read/", "/o/userinfo/"):
            here = K1.proof("GET", "http://testserver" + path, access_token=bound)
            assert api.get(path, **with_proof(bound, here)).status_code == 200, path
            there = K1.proof("GET", "https://testserver" + path, access_token=bound)
            assert api.get(path, **with_proof(bound, there)).status_code == 401, path


@pytest.mark.req("9449-4.3-claims")
@pytest.mark.parametrize("spelling", ["https://TESTSERVER:443", "HTTPS://testserver", "https://testserver:443"])
def test_the_issuers_origin_is_recognised_in_any_spelling_rfc_3986_equates(api, bound, spelling):
    """The default resource is reached on two origins (its identifier's and the issuer's); the
    proof's ``htu`` picks one, and picks it after normalisation (RFC 9449 §4.3 item 9: RFC 3986
    §6.2.2-6.2.3), so a good proof naming the issuer's origin with an explicit default port or
    upper-case letters is not checked against the other origin and refused."""
    with override_settings(OAUTH_PROVIDER=provider_settings(RESOURCE_IDENTIFIER="https://api.example")):
        proof = K1.proof("GET", spelling + "/o/userinfo/", access_token=bound)
        assert api.get("/o/userinfo/", **with_proof(bound, proof)).status_code == 200
        at_api = K1.proof("GET", "https://API.example:443/api/drf/read/", access_token=bound)
        assert api.get("/api/drf/read/", **with_proof(bound, at_api)).status_code == 200


@pytest.mark.req("9449-7.1-rs-checks")
@pytest.mark.parametrize("proof", [
    None,  # no DPoP header at all
    # one compact JWT whose claims segment is base64url of "not json" (and of a JSON list)
    "eyJ0eXAiOiJkcG9wK2p3dCJ9.bm90IGpzb24.c2ln",
    "eyJ0eXAiOiJkcG9wK2p3dCJ9.WzFd.c2ln",
    # claims nested deeper than Python's JSON parser recurses (RecursionError, no ValueError)
    "eyJ0eXAiOiJkcG9wK2p3dCJ9." + base64.urlsafe_b64encode(b"[" * 1200 + b"]" * 1200).decode().rstrip("=") + ".c2ln",
    # an htu that is no string: a number, a list of URLs, an object
    *("eyJ0eXAiOiJkcG9wK2p3dCJ9." + base64.urlsafe_b64encode(json.dumps({"htu": htu}).encode()).decode().rstrip("=")
      + ".c2ln" for htu in (5, ["https://api.example/api/drf/read/"], {"url": "https://testserver/"})),
], ids=["no-proof", "claims-not-json", "claims-a-list", "claims-nested-past-the-parser",
        "htu-a-number", "htu-a-list", "htu-an-object"])
@pytest.mark.parametrize("path", ["/api/drf/read/", "/o/userinfo/"])
def test_a_missing_or_unreadable_proof_is_refused_where_the_resource_has_two_origins(api, bound, proof, path):
    """With ``RESOURCE_IDENTIFIER`` on another origin than the issuer, the proof's claimed
    ``htu`` chooses between two origins before the proof is verified: a request without a proof,
    or with claims that are not a JSON object, still gets the RFC 9449 §7.1 answer (401,
    ``invalid_dpop_proof`` in the DPoP challenge), never a 500."""
    with override_settings(OAUTH_PROVIDER=provider_settings(RESOURCE_IDENTIFIER="https://api.example")):
        response = api.get(path, **with_proof(bound, proof))
    assert response.status_code == 401, response.content[:300]
    assert challenges(response)["DPoP"]["error"] == "invalid_dpop_proof"


# -- challenges -------------------------------------------------------------------------
@pytest.mark.req("9728-5.1-www-authenticate")
@pytest.mark.req("9449-7.1-rs-checks")
@EVERY_SURFACE
def test_no_token_gets_both_bare_challenges(api, surface):
    r = api.get(SURFACES[surface])
    assert_challenge(r, 401, None)
    assert challenges(r)["DPoP"]["algs"] == "ES256 PS256 EdDSA RS256"


@EVERY_SURFACE
def test_a_missing_scope_with_dpop_is_insufficient_scope_in_the_dpop_challenge(api, surface, conf_client, user):
    raw = user_token(conf_client, user, scope="profile", dpop_jkt=K1.jkt)[0]
    r = call(api, surface, raw, good_proof(surface, raw))
    assert_challenge(r, 403, "insufficient_scope", scheme="DPoP")


@pytest.mark.parametrize(("surface", "needed"), [("drf", "read"), ("decorator", "read"), ("userinfo", "openid")])
def test_the_dpop_challenge_names_the_scope_the_request_lacked(api, surface, needed, conf_client, user):
    """RFC 6750 §3 (which RFC 9449 §7.1 keeps for the DPoP scheme): an ``insufficient_scope``
    answer names the scope needed, in the challenge of the scheme the client used, which a DPoP
    client reads to ask for a token with that scope."""
    raw = user_token(conf_client, user, scope="profile", dpop_jkt=K1.jkt)[0]
    r = call(api, surface, raw, good_proof(surface, raw))
    assert_challenge(r, 403, "insufficient_scope", needed, scheme="DPoP")


@pytest.mark.req("9449-7.2-no-bearer-downgrade")
@pytest.mark.parametrize("surface", ["drf", "decorator", "ninja", "userinfo"])
def test_require_dpop_refuses_bearer_tokens_and_drops_the_bearer_challenge(api, surface, conf_client, user, bound):
    raw = user_token(conf_client, user, scope="openid read write")[0]
    with override_settings(OAUTH_PROVIDER=provider_settings(REQUIRE_DPOP=True)):
        refused = api.get(SURFACES[surface], **bearer(raw))
        missing = api.get(SURFACES[surface])
        accepted = call(api, surface, bound, good_proof(surface, bound))
    assert refused.status_code == 401 and list(challenges(refused)) == ["DPoP"]
    assert challenges(refused)["DPoP"]["error"] == "invalid_token"
    assert missing.status_code == 401 and list(challenges(missing)) == ["DPoP"]
    assert "error" not in challenges(missing)["DPoP"]
    assert accepted.status_code == 200, accepted.content


# -- nonces (RFC 9449 §9) ------------------------------------------------------------------
@pytest.mark.req("9449-9-rs-nonce")
@EVERY_SURFACE
def test_resource_nonce_round_trip(api, surface, bound):
    with override_settings(OAUTH_PROVIDER=provider_settings(DPOP_NONCE=True)):
        asked = call(api, surface, bound, good_proof(surface, bound))
        assert_challenge(asked, 401, "use_dpop_nonce", scheme="DPoP")
        nonce = asked["DPoP-Nonce"]
        assert dpop.nonce_valid(nonce, "resource") and not dpop.nonce_valid(nonce, "token")
        assert asked["Cache-Control"] == "no-store"
        r = call(api, surface, bound, good_proof(surface, bound, nonce=nonce))
    assert r.status_code == 200, r.content


@pytest.mark.req("9449-9-rs-nonce")
@pytest.mark.parametrize("surface", ["drf", "decorator"])
def test_a_token_endpoint_nonce_is_not_good_at_a_resource(api, surface, bound):
    with override_settings(OAUTH_PROVIDER=provider_settings(DPOP_NONCE=True)):
        r = call(api, surface, bound, good_proof(surface, bound, nonce=dpop.issue_nonce("token")))
    assert_challenge(r, 401, "use_dpop_nonce", scheme="DPoP")
    assert dpop.nonce_valid(r["DPoP-Nonce"], "resource")


@pytest.mark.req("9449-9-rs-nonce")
def test_a_resource_nonce_is_not_good_at_the_token_endpoint(api, conf_client):
    from tests.conftest import basic_auth

    token_url = "https://testserver/o/token/"
    with override_settings(OAUTH_PROVIDER=provider_settings(DPOP_NONCE=True)):
        r = api.post(
            "/o/token/", urlencode({"grant_type": "client_credentials", "scope": "read"}),
            content_type=FORM,
            HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret),
            HTTP_DPOP=K1.proof("POST", token_url, nonce=dpop.issue_nonce("resource")),
        )
    assert r.status_code == 400 and r.json()["error"] == "use_dpop_nonce", r.content


# -- the core, async twins and the middleware ----------------------------------------------
def test_each_layer_asking_again_spends_the_proof_once(bound):
    """DRF's authenticate, then authenticate_header, then the middleware: one proof check."""
    from django.test import RequestFactory

    request = RequestFactory().get("/api/x", **with_proof(bound, K1.proof("GET", url("/api/x"), access_token=bound)))
    first = resource.authenticate(request)
    assert resource.outcome(request) is None and resource.get_token(request) is first


def test_proof_errors_are_401_at_the_resource(bound):
    from django.test import RequestFactory

    request = RequestFactory().get("/api/x", **with_proof(bound, None))
    with pytest.raises(InvalidDPoPProof) as caught:
        resource.require(request)
    response = resource.error_response(request, caught.value)
    assert response.status_code == 401 and json.loads(response.content)["error"] == "invalid_dpop_proof"
    downgraded = RequestFactory().get("/api/x", **bearer(bound))
    with pytest.raises(InvalidToken):
        resource.require(downgraded)


def test_an_async_view_checks_the_proof_off_the_event_loop(bound, monkeypatch):
    """RFC 9449 §11.1: checking a proof records its ``jti`` in the shared cache, which may be
    a database cache; ``aauthenticate`` runs that check in a worker thread, never on the event
    loop, where Django refuses database access (and where it would block every other request),
    and in the one thread that holds the request's database connections (``thread_sensitive``:
    here the test's own thread), not in a pool thread with a connection of its own."""
    import asyncio
    import threading

    from asgiref.sync import async_to_sync
    from django.test import RequestFactory

    from oauth_provider import sender_constraint

    where: list[str] = []
    check, caller = sender_constraint.proof_error, threading.get_ident()

    def recording(*args: Any, **kwargs: Any) -> Any:
        try:
            asyncio.get_running_loop()
            where.append("event loop")
        except RuntimeError:
            where.append("worker thread" if threading.get_ident() == caller else "another thread")
        return check(*args, **kwargs)

    monkeypatch.setattr(sender_constraint, "proof_error", recording)
    request = RequestFactory().get("/api/x", **with_proof(bound, K1.proof("GET", url("/api/x"), access_token=bound)))
    assert async_to_sync(resource.aauthenticate)(request) is not None
    assert where == ["worker thread"]


@pytest.mark.req("9449-7.1-rs-checks")
@pytest.mark.urls("tests.support.audience_urls")
def test_async_views_check_the_proof_once(bound, settings):
    from tests.support.audience_urls import RESOURCES, RS_A, SCOPES
    from tests.support.settings import oauth_settings

    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=RESOURCES)
    from oauth_provider.models import AccessToken

    AccessToken.objects.filter(token_hash=secrets.hash_token(bound)).update(audience=RS_A)
    api = HttpClient()
    for path in ("/api/a-async/", "/api/a-async-mixin/"):
        proof = K1.proof("GET", RS_A.rstrip("/") + path, access_token=bound)
        assert api.get(path, **with_proof(bound, proof)).status_code == 200, path
        replayed = api.get(path, **with_proof(bound, proof))
        assert replayed.status_code == 401 and challenges(replayed)["DPoP"]["error"] == "invalid_dpop_proof"


@pytest.mark.req("9449-4.3-claims")
@pytest.mark.urls("tests.support.audience_urls")
def test_a_proof_for_rs_b_is_refused_at_rs_a(bound, settings):
    """Two resources served by one site: a proof's ``htu`` names the one it was made for."""
    from tests.support.audience_urls import RESOURCES, RS_A, RS_B, SCOPES
    from tests.support.settings import oauth_settings

    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=RESOURCES)
    from oauth_provider.models import AccessToken

    AccessToken.objects.filter(token_hash=secrets.hash_token(bound)).update(audience=f"{RS_A} {RS_B}")
    api = HttpClient()
    for path in ("/api/a/", "/api/a-drf/"):
        for wrong in (RS_B, "https://testserver/"):  # another resource; the issuer's origin
            r = api.get(path, **with_proof(bound, K1.proof("GET", wrong.rstrip("/") + path, access_token=bound)))
            assert r.status_code == 401, (path, wrong)
        r = api.get(path, **with_proof(bound, K1.proof("GET", RS_A.rstrip("/") + path, access_token=bound)))
        assert r.status_code == 200, (path, r.content)


def test_the_middleware_exposes_a_bound_token_only_with_its_proof(bound):
    with override_settings(MIDDLEWARE=[*settings.MIDDLEWARE, "oauth_provider.middleware.OAuth2TokenMiddleware"]):
        api = HttpClient()
        good = api.get("/api/probe/", **with_proof(bound, K1.proof("GET", url("/api/probe/"), access_token=bound)))
        bare = api.get("/api/probe/", **with_proof(bound, None))
        downgraded = api.get("/api/probe/", **bearer(bound))
    assert good.json()["token"] is True and good.json()["user"] == "alice"
    assert bare.json()["token"] is False and downgraded.json()["token"] is False


def test_an_async_view_asking_twice_gets_the_same_token_with_its_proof_spent_once(bound):
    """``aauthenticate`` keeps its answer on the request as ``authenticate`` does: a second
    call (a permission after the authentication class) neither queries again nor checks the
    proof again (its ``jti`` is spent: a second check would refuse it as replayed)."""
    from asgiref.sync import async_to_sync
    from django.db import connection
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    request = RequestFactory().get("/api/x", **with_proof(bound, K1.proof("GET", url("/api/x"), access_token=bound)))
    first = async_to_sync(resource.aauthenticate)(request)
    with CaptureQueriesContext(connection) as captured:
        second = async_to_sync(resource.aauthenticate)(request)
    assert first is not None and second is first and len(captured) == 0


def test_an_async_view_may_take_the_token_from_a_form_body_when_it_says_so(conf_client, user):
    from asgiref.sync import async_to_sync
    from django.test import RequestFactory

    raw = user_token(conf_client, user, scope="read")[0]
    request = RequestFactory().post("/api/x", urlencode({"access_token": raw}),
                                    content_type="application/x-www-form-urlencoded")
    token = async_to_sync(resource.arequire)(request, ["read"], form_body=True)
    assert token.client == conf_client
    request = RequestFactory().post("/api/x", urlencode({"access_token": raw}),
                                    content_type="application/x-www-form-urlencoded")
    with override_settings(OAUTH_PROVIDER={**settings.OAUTH_PROVIDER, "BEARER_FORM_BODY": True}):
        with pytest.raises(Exception) as refused:
            async_to_sync(resource.arequire)(request, ["read"], form_body=False)
    assert type(refused.value).__name__ == "MissingToken"


def test_the_outcome_is_for_the_resource_asked_about(conf_client, user):
    """``outcome(request, resource=...)``: a token good at the default resource is an error
    for another resource it was not issued for."""
    from django.test import RequestFactory

    raw = user_token(conf_client, user, scope="read")[0]
    request = RequestFactory().get("/api/x", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert resource.outcome(request) is None
    other = "https://other.example/api"
    with override_settings(OAUTH_PROVIDER={**settings.OAUTH_PROVIDER,
                                           "RESOURCES": {other: {"name": "Other"}}}):
        assert isinstance(resource.outcome(RequestFactory().get("/api/x", HTTP_AUTHORIZATION=f"Bearer {raw}"),
                                           resource=other), InvalidToken)


def test_a_jwt_access_tokens_fields_as_the_view_sees_them(conf_client, user, warm_keys):
    """What a view reads from a JWT access token without a query: its scopes, its expiry as an
    aware UTC datetime (comparable with ``timezone.now()``), the actor of a delegated token
    (RFC 8693 §4.1 ``act``); a ``scope`` claim that is no string grants nothing (not a 500)."""
    from datetime import datetime, timezone

    from django.test import RequestFactory

    def seen(claims_extra: dict) -> Any:
        now = int(secrets.now().timestamp())
        claims = {"iss": ISSUER, "sub": str(user.pk), "aud": RESOURCE, "client_id": conf_client.client_id,
                  "iat": now, "exp": now + 300, "jti": secrets.generate_token(), **claims_extra}
        raw = our_jwt.encode(claims, typ=our_jwt.ACCESS_TOKEN_TYP)
        return resource.authenticate(RequestFactory().get("/api/x", HTTP_AUTHORIZATION=f"Bearer {raw}")), now

    token, now = seen({"scope": "read write", "act": {"sub": "agent-7"}})
    assert token.scopes == {"read", "write"}
    assert token.expires_at == datetime.fromtimestamp(now + 300, tz=timezone.utc)
    assert token.expires_at.tzinfo is not None
    assert token.act == {"sub": "agent-7"}
    token, _ = seen({"scope": ["read"], "act": "agent-7"})
    assert token.scopes == frozenset() and token.act is None
    token, _ = seen({})
    assert token.scopes == frozenset()


def test_each_refused_token_says_why(conf_client, user):
    """The ``error_description`` a resource answers with (in ``WWW-Authenticate``, RFC 6750 §3)
    names what is wrong with the token: the client's developer reads it."""
    from django.test import RequestFactory

    from oauth_provider.errors import InvalidRequest
    from oauth_provider.models import AccessToken

    def refusal(request, **kwargs) -> str:
        with pytest.raises((InvalidToken, InvalidRequest)) as refused:
            resource.authenticate(request, **kwargs)
        return refused.value.description

    get = RequestFactory().get
    assert refusal(get("/api/x", HTTP_AUTHORIZATION="Bearer not a token")) == "The access token is malformed."
    raw = user_token(conf_client, user, scope="read")[0]
    both = RequestFactory().post("/api/x", urlencode({"access_token": raw}),
                                 content_type="application/x-www-form-urlencoded", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert refusal(both) == "The access token was sent by more than one method."
    other = "https://other.example/api"
    with override_settings(OAUTH_PROVIDER={**settings.OAUTH_PROVIDER, "RESOURCES": {other: {"name": "Other"}}}):
        assert refusal(get("/api/x", HTTP_AUTHORIZATION=f"Bearer {raw}"), resource=other) == (
            "The access token is not meant for this resource.")
    AccessToken.objects.by_value(raw).update(revoked_at=secrets.now())
    assert refusal(get("/api/x", HTTP_AUTHORIZATION=f"Bearer {raw}")) == (
        "The access token is invalid, expired or revoked.")  # an opaque token's states are not told apart


def test_a_denied_jwt_access_token_says_it_was_revoked(conf_client, user, warm_keys):
    from datetime import timedelta

    from django.test import RequestFactory

    from oauth_provider import denylist

    raw = jwt_token(conf_client, user, scope="read")
    with override_settings(OAUTH_PROVIDER={**settings.OAUTH_PROVIDER, "JWT_ACCESS_TOKEN_DENYLIST": True}):
        denylist._write([(secrets.hash_token(raw), secrets.now() + timedelta(minutes=5))])
        with pytest.raises(InvalidToken) as refused:
            resource.authenticate(RequestFactory().get("/api/x", HTTP_AUTHORIZATION=f"Bearer {raw}"))
    assert refused.value.description == "The access token was revoked."


def test_an_insufficient_scope_challenge_names_every_scope_needed():
    """RFC 6750 §3: ``scope`` in the challenge is the space-delimited list the request needs."""
    from django.test import RequestFactory

    from oauth_provider.errors import InsufficientScope

    answer = resource.error_response(RequestFactory().get("/api/x"), InsufficientScope(scopes=["read", "write"]),
                                     ["read", "write"])
    assert answer.status_code == 403 and 'scope="read write"' in answer["WWW-Authenticate"]

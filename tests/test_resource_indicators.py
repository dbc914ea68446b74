"""Resource indicators (RFC 8707) and audience-restricted tokens, end to end: the ``resource``
parameter at the authorization and token endpoints, the audience stored (opaque) or signed
(JWT ``aud``), narrowed on refresh, reported by introspection, and checked by every
protection the library offers (decorator, mixin, DRF, middleware; sync and async), with the
RFC 9728 metadata of each resource. Checklist section R (shared/specs/security-checklist-wave2.md).

Views: tests/support/audience_urls.py."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.core.exceptions import SynchronousOnlyOperation
from django.test import AsyncClient, RequestFactory
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from oauth_provider import jwt, keys, resource, secrets
from oauth_provider.errors import InvalidToken
from oauth_provider.models import AccessToken
from tests.support.audience_urls import DEFAULT, MCP, RESOURCES, RS_A, RS_B, SCOPES
from tests.support.factories import ClientFactory
from tests.support.resource_helpers import challenge
from tests.support.settings import oauth_settings

from .conftest import basic_auth, query_of

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.support.audience_urls")]
ISS = "https://testserver/o"
RS_C = "https://rs-c.example/"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(autouse=True)
def resources_on(settings):
    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=RESOURCES)


@pytest.fixture
def multi(settings):
    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=RESOURCES, MULTI_AUDIENCE_TOKENS=True)


@pytest.fixture
def jwt_client(db, signing_key):
    keys.signing_key()
    return ClientFactory(access_token_format="jwt", name="JWT RP")


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def authorize(oauth, client, resources=(), **params):
    """The authorization request with ``resource`` repeated as given; returns the response."""
    query, verifier = oauth.authorize_params(client, **params)
    pairs = [*query.items(), *(("resource", r) for r in resources)]
    return oauth.browser.get("/o/authorize/?" + urlencode(pairs)), verifier, query


def code_for(oauth, client, resources=(), **params) -> tuple[str, str]:
    r, verifier, _ = authorize(oauth, client, resources, **params)
    if r.status_code == 200:
        r = oauth.approve(r)
    assert r.status_code == 302, r.content[:400]
    q = query_of(r["Location"])
    assert "code" in q, r["Location"]
    return q["code"], verifier


def token_request(oauth, client, data: dict, resources=()):
    pairs = [*data.items(), *(("resource", r) for r in resources)]
    return oauth.api.post("/o/token/", urlencode(pairs), content_type=FORM,
                          HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret))


def exchange(oauth, client, code, verifier, resources=()):
    return token_request(oauth, client, {
        "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
        "redirect_uri": client.redirect_uri_list[0],
    }, resources)


def refresh(oauth, client, refresh_token, resources=(), **data):
    return token_request(oauth, client, {"grant_type": "refresh_token", "refresh_token": refresh_token, **data},
                         resources)


def tokens(oauth, client, resources=(), token_resources=(), **params) -> dict:
    code, verifier = code_for(oauth, client, resources, **params)
    r = exchange(oauth, client, code, verifier, token_resources)
    assert r.status_code == 200, r.content
    return r.json()


def introspect(oauth, client, token):
    return oauth.api.post("/o/introspect/", urlencode({"token": token}), content_type=FORM,
                          HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret)).json()


def jwt_claims(oauth, token):
    keyset = KeySet.import_key_set(oauth.api.get("/o/jwks/").json())
    return jose_jwt.decode(token, keyset, algorithms=["RS256"]).claims


def assert_refused_at(response, resource_id: str, metadata: str):
    """401 invalid_token with the challenge of the resource that refused (RFC 6750 §3.1,
    RFC 9728 §5.1)."""
    assert response.status_code == 401, response.content
    params = challenge(response)
    assert params["error"] == "invalid_token"
    assert params["resource_metadata"] == metadata
    assert params["realm"] == resource_id


# -- the audience is stored, signed, reported ----------------------------------------------
@pytest.mark.req("8707-2-audience-restrict")
def test_opaque_token_for_a_resource_works_there_only(oauth, conf_client):
    body = tokens(oauth, conf_client, [RS_A], scope="rs-a:read")
    assert body["scope"] == "rs-a:read"
    token = body["access_token"]
    assert AccessToken.objects.by_value(token).get().audience == RS_A
    r = oauth.api.get("/api/a/", **bearer(token))
    assert r.status_code == 200 and r.json()["audience"] == [RS_A]
    assert_refused_at(oauth.api.get("/api/b/", **bearer(token)), RS_B,
                      "https://rs-b.example/.well-known/oauth-protected-resource")
    assert_refused_at(oauth.api.get("/api/default/", **bearer(token)), DEFAULT,
                      "https://testserver/.well-known/oauth-protected-resource")
    info = introspect(oauth, conf_client, token)
    assert info["active"] is True and info["aud"] == RS_A


@pytest.mark.req("8707-2-audience-restrict")
@pytest.mark.req("9068-4-rs-aud")
def test_jwt_for_a_resource_carries_aud_and_works_there_only(oauth, jwt_client):
    token = tokens(oauth, jwt_client, [RS_A], scope="rs-a:read read")["access_token"]
    claims = jwt_claims(oauth, token)
    assert claims["aud"] == RS_A  # RFC 9068 §3: a string for one audience
    assert claims["aud"] not in (jwt_client.client_id, ISS)
    assert oauth.api.get("/api/a/", **bearer(token)).status_code == 200
    assert oauth.api.get("/api/a-drf/", **bearer(token)).status_code == 200
    assert_refused_at(oauth.api.get("/api/b/", **bearer(token)), RS_B,
                      "https://rs-b.example/.well-known/oauth-protected-resource")
    assert_refused_at(oauth.api.get("/api/b-mixin/", **bearer(token)), RS_B,
                      "https://rs-b.example/.well-known/oauth-protected-resource")
    assert oauth.api.get("/api/default-drf/", **bearer(token)).status_code == 401


def test_without_resource_the_token_is_for_the_default_resource(oauth, conf_client, jwt_client):
    """What existed before resource indicators keeps working: no ``resource``, the host's views."""
    opaque = tokens(oauth, conf_client, scope="read")["access_token"]
    assert AccessToken.objects.by_value(opaque).get().audience == ""
    assert oauth.api.get("/api/default/", **bearer(opaque)).json()["audience"] == [DEFAULT]
    assert oauth.api.get("/api/default-drf/", **bearer(opaque)).status_code == 200
    assert introspect(oauth, conf_client, opaque)["aud"] == DEFAULT
    signed = tokens(oauth, jwt_client, scope="read")["access_token"]
    assert jwt_claims(oauth, signed)["aud"] == DEFAULT


@pytest.mark.req("MCP-2026-07-28-no-passthrough")
@pytest.mark.parametrize("kind", ["opaque", "jwt"])
def test_default_resource_token_is_refused_by_the_other_resources(oauth, conf_client, jwt_client, kind):
    client = conf_client if kind == "opaque" else jwt_client
    token = tokens(oauth, client, scope="read")["access_token"]
    for path in ("/api/a/", "/api/a-drf/", "/api/b-mixin/", "/api/mcp/"):
        assert oauth.api.get(path, **bearer(token)).status_code == 401, path


@pytest.mark.req("9068-5-distinct-aud")
@pytest.mark.req("8707-3-single-audience")
def test_several_resources_need_the_multi_audience_policy(oauth, conf_client, jwt_client, multi):
    body = tokens(oauth, jwt_client, [RS_A, RS_B], scope="read")
    claims = jwt_claims(oauth, body["access_token"])
    assert claims["aud"] == [RS_A, RS_B]  # RFC 9068 §3: a list for several
    assert oauth.api.get("/api/a/", **bearer(body["access_token"])).status_code == 200
    assert oauth.api.get("/api/b/", **bearer(body["access_token"])).status_code == 200
    assert oauth.api.get("/api/default/", **bearer(body["access_token"])).status_code == 401
    opaque = tokens(oauth, conf_client, [RS_A, RS_B], scope="read")["access_token"]
    assert introspect(oauth, conf_client, opaque)["aud"] == [RS_A, RS_B]


# -- introspection by resource servers (RFC 7662 §4) ------------------------------------------
def _resource_server(name: str, *served: str):
    return ClientFactory(name=name, is_resource_server=True, grant_types="client_credentials", redirect_uris="",
                         served_resources="\n".join(served))


@pytest.mark.req("7662-4-state-checks")
@pytest.mark.parametrize("kind", ["opaque", "jwt"])
def test_a_resource_server_sees_only_tokens_meant_for_a_resource_it_serves(oauth, conf_client, jwt_client, kind):
    """RFC 7662 §4: the server "MUST determine whether or not the token can be used at the
    protected resource making the introspection call". Resource B must not learn (nor
    confirm as live) a token it could be replaying from resource A."""
    client = conf_client if kind == "opaque" else jwt_client
    token = tokens(oauth, client, [RS_A], scope="read")["access_token"]
    serves_a = _resource_server("A", RS_A)
    serves_a_and_mcp = _resource_server("A+MCP", MCP, RS_A)
    serves_b = _resource_server("B", RS_B)
    serves_default = _resource_server("Default")  # lists none: the default resource
    for caller in (serves_a, serves_a_and_mcp):
        info = introspect(oauth, caller, token)
        assert info["active"] is True and info["aud"] == RS_A and info["client_id"] == client.client_id
    for caller in (serves_b, serves_default):
        assert introspect(oauth, caller, token) == {"active": False}
    assert introspect(oauth, client, token)["active"] is True  # its own client always may


@pytest.mark.req("7662-4-state-checks")
def test_a_default_resource_token_is_seen_by_a_resource_server_of_the_default_resource_only(oauth, conf_client):
    token = tokens(oauth, conf_client, scope="read")["access_token"]
    assert introspect(oauth, _resource_server("Default"), token)["aud"] == DEFAULT
    assert introspect(oauth, _resource_server("Named default", DEFAULT), token)["aud"] == DEFAULT
    assert introspect(oauth, _resource_server("A", RS_A), token) == {"active": False}


def test_a_token_for_several_resources_is_seen_by_each(oauth, conf_client, multi):
    token = tokens(oauth, conf_client, [RS_A, RS_B], scope="read")["access_token"]
    assert introspect(oauth, _resource_server("A", RS_A), token)["aud"] == [RS_A, RS_B]
    assert introspect(oauth, _resource_server("B", RS_B), token)["aud"] == [RS_A, RS_B]
    assert introspect(oauth, _resource_server("MCP", MCP), token) == {"active": False}


def test_served_resources_without_the_resource_server_flag_grant_nothing(oauth, conf_client):
    """A client that is not a resource server sees only its own tokens, whatever the column
    holds (a row written by hand or by an older form)."""
    token = tokens(oauth, conf_client, [RS_A], scope="read")["access_token"]
    not_rs = ClientFactory(name="Not an RS", grant_types="client_credentials", redirect_uris="")
    type(not_rs).objects.filter(pk=not_rs.pk).update(served_resources=RS_A)  # clean() would refuse it
    assert introspect(oauth, not_rs, token) == {"active": False}


def test_introspection_by_a_resource_server_still_costs_two_statements(oauth, conf_client, assert_num_queries):
    token = tokens(oauth, conf_client, [RS_A], scope="read")["access_token"]
    serves_a, serves_b = _resource_server("A", RS_A), _resource_server("B", RS_B)
    with assert_num_queries(2):
        assert introspect(oauth, serves_a, token)["active"] is True
    with assert_num_queries(2):
        assert introspect(oauth, serves_b, token) == {"active": False}


@pytest.mark.req("8707-3-single-audience")
def test_several_resources_are_invalid_target_by_default(oauth, conf_client):
    r, _, query = authorize(oauth, conf_client, [RS_A, RS_B], scope="read")
    assert r.status_code == 302
    q = query_of(r["Location"])
    assert q["error"] == "invalid_target" and q["state"] == query["state"] and q["iss"] == ISS
    r = token_request(oauth, conf_client, {"grant_type": "client_credentials", "scope": "read"}, [RS_A, RS_B])
    assert r.status_code == 400 and r.json()["error"] == "invalid_target"


def test_the_same_resource_twice_counts_once(oauth, jwt_client):
    token = tokens(oauth, jwt_client, [RS_A, RS_A], scope="rs-a:read")["access_token"]
    assert jwt_claims(oauth, token)["aud"] == RS_A


# -- bad resource values ---------------------------------------------------------------------
@pytest.mark.req("8707-2-resource-syntax")
@pytest.mark.req("8707-2.1-unknown-resource")
@pytest.mark.parametrize("value", [
    "/api", "https://rs-a.example/#x", "not a uri", "rs-a.example", RS_C, "https://rs-a.example",
    "https://RS-A.example/", "https://rs-a.example/%00",
])
def test_malformed_or_unknown_resource_is_invalid_target(oauth, conf_client, value):
    r, _, query = authorize(oauth, conf_client, [value], scope="read")
    assert r.status_code == 302, r.content[:300]
    q = query_of(r["Location"])
    assert q["error"] == "invalid_target" and q["state"] == query["state"] and q["iss"] == ISS
    assert value not in q.get("error_description", "")  # fixed text, never the value
    r = token_request(oauth, conf_client, {"grant_type": "client_credentials", "scope": "read"}, [value])
    assert r.status_code == 400 and r.json()["error"] == "invalid_target"
    assert r["Cache-Control"] == "no-store"


def test_resource_repeated_too_often_is_invalid_request(oauth, conf_client):
    r = token_request(oauth, conf_client, {"grant_type": "client_credentials"}, [RS_A] * 11)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_other_parameters_still_may_not_repeat(oauth, conf_client):
    r = oauth.api.post("/o/token/", "grant_type=client_credentials&scope=read&scope=write", content_type=FORM,
                       HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


@pytest.mark.req("8707-2.1-unknown-resource")
def test_required_resource(oauth, conf_client, settings):
    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=RESOURCES, REQUIRE_RESOURCE=True)
    r, _, _ = authorize(oauth, conf_client, scope="read")
    assert query_of(r["Location"])["error"] == "invalid_target"
    # a code is redeemed for what it was granted for: no second resource needed
    body = tokens(oauth, conf_client, [RS_A], scope="rs-a:read")
    assert body["scope"] == "rs-a:read"



@pytest.mark.req("8707-2.2-refresh-narrowing")
def test_a_refresh_naming_no_resource_gets_its_grant_even_when_resources_are_required(oauth, conf_client, settings):
    """RFC 8707 §2.2: a refresh token is redeemed for the resources of its grant, named when it
    was authorized; ``REQUIRE_RESOURCE`` applies to new grants, not to their refreshes."""
    body = tokens(oauth, conf_client, [RS_A], scope="rs-a:read")
    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=RESOURCES, REQUIRE_RESOURCE=True)
    r = refresh(oauth, conf_client, body["refresh_token"])
    assert r.status_code == 200, r.content
    assert AccessToken.objects.by_value(r.json()["access_token"]).get().audience == RS_A

class OnlyResourceA:
    """An adapter letting clients have tokens for RS_A (and the default resource) only; the
    "Trusted RP" for RS_B too (it decides by the client, as a host's policy does)."""

    def __new__(cls):
        from oauth_provider.adapter import DefaultAdapter

        class Adapter(DefaultAdapter):
            def allows_resource(self, client, resource):
                return resource != RS_B or client.name == "Trusted RP"

        return Adapter()


@pytest.mark.req("8707-2.1-unknown-resource")
def test_adapter_refuses_a_resource_for_a_client(oauth, conf_client, settings):
    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=RESOURCES,
                                             ADAPTER="tests.test_resource_indicators.OnlyResourceA")
    r, _, _ = authorize(oauth, conf_client, [RS_B], scope="read")
    assert query_of(r["Location"])["error"] == "invalid_target"
    assert tokens(oauth, conf_client, [RS_A], scope="read")["scope"] == "read"
    trusted = ClientFactory(name="Trusted RP")
    assert tokens(oauth, trusted, [RS_B], scope="read")["scope"] == "read"
    # and at the token endpoint, for a grant that names its resource there
    for client, status in ((conf_client, 400), (trusted, 200)):
        r = oauth.api.post("/o/token/", urlencode({"grant_type": "client_credentials", "scope": "read",
                                                   "resource": RS_B}), content_type=FORM,
                           HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret))
        assert r.status_code == status, (client.name, r.content)
    # naming no resource, with a scope only RS_B accepts (the default resource listed with its
    # own scopes): RS_B is inferred (RFC 9068 §3), and the policy is asked about it for this
    # client as if it had been named
    settings.OAUTH_PROVIDER = oauth_settings(
        SCOPES=SCOPES, RESOURCES={**RESOURCES, DEFAULT: {"name": "The API", "scopes": ["read", "write"]}},
        ADAPTER="tests.test_resource_indicators.OnlyResourceA")
    for client, status in ((conf_client, 400), (trusted, 200)):
        r = oauth.api.post("/o/token/", urlencode({"grant_type": "client_credentials", "scope": "rs-b:read"}),
                           content_type=FORM, HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret))
        assert r.status_code == status, (client.name, r.content)
    assert AccessToken.objects.by_value(r.json()["access_token"]).get().audience == RS_B
    # and at the authorization endpoint: the inferred RS_B put to the policy for this client
    r, _, _ = authorize(oauth, conf_client, scope="rs-b:read")
    assert query_of(r["Location"])["error"] == "invalid_target"
    assert tokens(oauth, trusted, scope="rs-b:read")["scope"] == "rs-b:read"


# -- scopes follow the audience (RFC 8707 §2.2) ---------------------------------------------
@pytest.mark.req("8707-2.2-downscope")
def test_scopes_outside_the_resource_are_dropped_and_reported(oauth, jwt_client):
    body = tokens(oauth, jwt_client, [RS_A], scope="rs-a:read rs-b:read")
    assert body["scope"] == "rs-a:read"
    assert jwt_claims(oauth, body["access_token"])["scope"] == "rs-a:read"


def test_no_scope_the_resource_accepts_is_invalid_scope(oauth, conf_client):
    r, _, _ = authorize(oauth, conf_client, [RS_A], scope="rs-b:read")
    assert query_of(r["Location"])["error"] == "invalid_scope"


def test_openid_is_kept_whatever_the_resource(oauth, conf_client, signing_key):
    body = tokens(oauth, conf_client, [MCP], scope="openid mcp:tools")
    assert body["scope"] == "openid mcp:tools" and "id_token" in body


# -- the grant binds the resources: code, refresh -------------------------------------------
@pytest.mark.req("8707-2.1-grant-bound")
def test_code_redeemed_for_a_resource_not_authorized(oauth, jwt_client):
    code, verifier = code_for(oauth, jwt_client, [RS_A], scope="read")
    r = exchange(oauth, jwt_client, code, verifier, [RS_B])
    assert r.status_code == 400 and r.json()["error"] == "invalid_target"
    r = exchange(oauth, jwt_client, code, verifier, [RS_A])  # the code was not spent by the refusal
    assert r.status_code == 200
    assert jwt_claims(oauth, r.json()["access_token"])["aud"] == RS_A


@pytest.mark.req("8707-2.1-grant-bound")
def test_code_for_the_default_resource_cannot_be_redeemed_for_another(oauth, conf_client):
    code, verifier = code_for(oauth, conf_client, scope="read")
    r = exchange(oauth, conf_client, code, verifier, [RS_A])
    assert r.status_code == 400 and r.json()["error"] == "invalid_target"


def test_code_redeemed_for_part_of_its_resources(oauth, jwt_client, multi):
    code, verifier = code_for(oauth, jwt_client, [RS_A, RS_B], scope="rs-a:read rs-b:read")
    r = exchange(oauth, jwt_client, code, verifier, [RS_B])
    assert r.status_code == 200
    body = r.json()
    assert body["scope"] == "rs-b:read"
    assert jwt_claims(oauth, body["access_token"])["aud"] == RS_B
    # the refresh token keeps the whole grant: A is still reachable
    r = refresh(oauth, jwt_client, body["refresh_token"], [RS_A])
    assert r.status_code == 200 and r.json()["scope"] == "rs-a:read"
    assert jwt_claims(oauth, r.json()["access_token"])["aud"] == RS_A


@pytest.mark.req("8707-2.2-refresh-narrowing")
def test_refresh_narrows_never_widens(oauth, jwt_client, multi):
    body = tokens(oauth, jwt_client, [RS_A, RS_B], scope="read")
    r = refresh(oauth, jwt_client, body["refresh_token"], [RS_B])
    assert r.status_code == 200
    assert jwt_claims(oauth, r.json()["access_token"])["aud"] == RS_B
    r = refresh(oauth, jwt_client, r.json()["refresh_token"], [RS_A])
    assert r.status_code == 200
    assert jwt_claims(oauth, r.json()["access_token"])["aud"] == RS_A
    current = r.json()["refresh_token"]
    for target in ([RS_C], [DEFAULT], ["https://rs-a.example/#f"]):
        r = refresh(oauth, jwt_client, current, target)
        assert r.status_code == 400 and r.json()["error"] == "invalid_target", target
    # without resource: the whole grant again
    r = refresh(oauth, jwt_client, current)
    assert r.status_code == 200
    assert jwt_claims(oauth, r.json()["access_token"])["aud"] == [RS_A, RS_B]


@pytest.mark.req("8707-2.2-refresh-narrowing")
def test_a_kept_refresh_token_narrows_the_audience_too(oauth, jwt_client, settings):
    """``REFRESH_TOKEN_ROTATION = "public_clients"``: a confidential client's refresh token is
    kept, and what it gives is narrowed the same way (RFC 8707 §2.2): the resource named, else
    the whole grant; receivers of ``token_issued`` are told it was a refresh."""
    from oauth_provider.signals import token_issued

    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=RESOURCES, MULTI_AUDIENCE_TOKENS=True,
                                             REFRESH_TOKEN_ROTATION="public_clients")
    body = tokens(oauth, jwt_client, [RS_A, RS_B], scope="read")
    seen: list[str] = []

    def receiver(sender, grant_type, **kwargs):
        seen.append(grant_type)

    token_issued.connect(receiver)
    try:
        r = refresh(oauth, jwt_client, body["refresh_token"], [RS_B])
        assert r.status_code == 200, r.content
        assert r.json()["refresh_token"] == body["refresh_token"]  # kept
        assert jwt_claims(oauth, r.json()["access_token"])["aud"] == RS_B
        assert AccessToken.objects.by_value(r.json()["access_token"]).get().audience == RS_B
        r = refresh(oauth, jwt_client, body["refresh_token"])
        assert r.status_code == 200, r.content
        assert jwt_claims(oauth, r.json()["access_token"])["aud"] == [RS_A, RS_B]
    finally:
        token_issued.disconnect(receiver)
    assert seen == ["refresh_token", "refresh_token"]


def test_a_refresh_drops_scopes_its_resource_no_longer_accepts_whether_or_not_it_names_it(oauth, conf_client,
                                                                                         settings):
    """A host that takes a scope away from a resource (``RESOURCES``) takes it from tokens
    minted by refresh from then on, as a scope taken from the client is: naming no resource
    (the grant's audience) gets no more than naming it."""
    body = tokens(oauth, conf_client, [RS_A], scope="read rs-a:write")
    narrower = {**RESOURCES, RS_A: {"name": "Resource A", "scopes": ["rs-a:read", "read"]}}
    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=narrower)
    for named in ((), [RS_A]):
        r = refresh(oauth, conf_client, body["refresh_token"], named)
        assert r.status_code == 200, r.content
        body = {**body, **r.json()}
        assert r.json()["scope"] == "read", named
        assert AccessToken.objects.by_value(body["access_token"]).get().scope == "read"
    settings.OAUTH_PROVIDER = oauth_settings(
        SCOPES=SCOPES, RESOURCES={**RESOURCES, RS_A: {"name": "Resource A", "scopes": ["rs-a:read"]}})
    r = refresh(oauth, conf_client, body["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


def test_in_development_a_refresh_narrows_its_scopes_by_the_resources_without_an_issuer_setting(
        oauth, conf_client, settings):
    """DEBUG with no ISSUER (the default resource then comes from the request's origin): the
    refresh still drops scopes its resource no longer accepts, and the token works at that
    resource, not a 500 for the missing setting."""
    body = tokens(oauth, conf_client, [RS_A], scope="read rs-a:write")
    narrower = {**RESOURCES, RS_A: {"name": "Resource A", "scopes": ["rs-a:read", "read"]}}
    settings.DEBUG = True
    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=narrower, ISSUER=None, RESOURCE_IDENTIFIER=None)
    r = refresh(oauth, conf_client, body["refresh_token"])
    assert r.status_code == 200, r.content
    assert r.json()["scope"] == "read"
    assert oauth.api.get("/api/a/", **bearer(r.json()["access_token"])).status_code == 200


@pytest.mark.req("8707-2.2-refresh-narrowing")
def test_refresh_asking_to_widen_the_audience(oauth, conf_client):
    body = tokens(oauth, conf_client, [RS_A], scope="read")
    r = refresh(oauth, conf_client, body["refresh_token"], [RS_B])
    assert r.status_code == 400 and r.json()["error"] == "invalid_target"
    r = refresh(oauth, conf_client, body["refresh_token"])  # the refusal spent nothing
    assert r.status_code == 200
    token = r.json()["access_token"]
    assert AccessToken.objects.by_value(token).get().audience == RS_A  # the audience survives refresh
    assert oauth.api.get("/api/a/", **bearer(token)).status_code == 200
    assert oauth.api.get("/api/b/", **bearer(token)).status_code == 401


def test_client_credentials_with_a_resource(oauth, conf_client):
    r = token_request(oauth, conf_client, {"grant_type": "client_credentials", "scope": "rs-a:read rs-b:read"},
                      [RS_A])
    assert r.status_code == 200 and r.json()["scope"] == "rs-a:read"
    token = r.json()["access_token"]
    assert oauth.api.get("/api/a/", **bearer(token)).status_code == 200
    assert oauth.api.get("/api/default/", **bearer(token)).status_code == 401
    assert introspect(oauth, conf_client, token)["aud"] == RS_A


# -- forged and foreign JWTs ---------------------------------------------------------------
def _signed(signing_key, **claims):
    now = int(secrets.now().timestamp())
    base = {"iss": ISS, "sub": "1", "client_id": "x", "iat": now, "exp": now + 60, "jti": secrets.generate_token()}
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, typ=jwt.ACCESS_TOKEN_TYP)


@pytest.mark.req("9068-4-rs-aud")
@pytest.mark.parametrize("aud", ["CLIENT", None, "https://rs-b.example", [RS_A], 7, [RS_B, 7]])
def test_jwt_whose_audience_is_not_this_resource(oauth, jwt_client, aud):
    aud = jwt_client.client_id if aud == "CLIENT" else aud
    token = _signed(None, aud=aud, client_id=jwt_client.client_id)
    for path in ("/api/b/", "/api/default/", "/api/b-mixin/"):
        r = oauth.api.get(path, **bearer(token))
        assert r.status_code == 401 and challenge(r)["error"] == "invalid_token", (aud, path)


def test_jwt_with_this_resource_among_its_audiences(oauth, jwt_client):
    token = _signed(None, aud=[RS_C, RS_B], client_id=jwt_client.client_id)
    assert oauth.api.get("/api/b/", **bearer(token)).status_code == 200


@pytest.mark.req("8707-3-tenant-aud")
def test_audience_compared_as_exact_strings():
    tok = resource.ResourceToken(id=None, client=None, user=None, scopes=frozenset(), expires_at=secrets.now(),
                                 audience=("https://rs.example/t1/",))
    assert tok.is_for("https://rs.example/t1/")
    for other in ("https://rs.example/t2/", "https://rs.example/t1", "https://RS.example/t1/", "https://rs.example/"):
        assert not tok.is_for(other)


# -- query budgets ------------------------------------------------------------------------------
@pytest.mark.req("BCP-2.3-audience")
def test_audience_checked_requests_cost_one_query_opaque_zero_jwt(oauth, conf_client, jwt_client, assert_num_queries):
    opaque = tokens(oauth, conf_client, [RS_A], scope="read")["access_token"]
    signed = tokens(oauth, jwt_client, [RS_A], scope="read")["access_token"]
    with assert_num_queries(1):
        assert oauth.api.get("/api/a/", **bearer(opaque)).status_code == 200
    with assert_num_queries(1):
        assert oauth.api.get("/api/b/", **bearer(opaque)).status_code == 401
    with assert_num_queries(0):
        assert oauth.api.get("/api/a/", **bearer(signed)).status_code == 200
    with assert_num_queries(0):
        assert oauth.api.get("/api/b/", **bearer(signed)).status_code == 401


def test_token_endpoint_budgets_with_resources(oauth, conf_client, assert_max_queries, assert_num_queries):
    code, verifier = code_for(oauth, conf_client, [RS_A], scope="read")
    with assert_max_queries(5):
        body = exchange(oauth, conf_client, code, verifier, [RS_A]).json()
    with assert_max_queries(5):
        assert refresh(oauth, conf_client, body["refresh_token"], [RS_A]).status_code == 200
    with assert_num_queries(2):
        r = token_request(oauth, conf_client, {"grant_type": "client_credentials", "scope": "read"}, [RS_A])
        assert r.status_code == 200


# -- async views -------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/a-async/", "/api/a-async-mixin/"])
def test_async_view_through_asyncclient(oauth, conf_client, path):
    good = tokens(oauth, conf_client, [RS_A], scope="read")["access_token"]
    other = tokens(oauth, conf_client, [MCP], scope="mcp:tools")["access_token"]
    client = AsyncClient()
    r = async_to_sync(client.get)(path, headers={"Authorization": f"Bearer {good}"})
    assert r.status_code == 200 and json.loads(r.content)["audience"] == [RS_A]
    r = async_to_sync(client.get)(path, headers={"Authorization": f"Bearer {other}"})
    assert r.status_code == 401 and challenge(r)["error"] == "invalid_token"
    r = async_to_sync(client.get)(path)
    assert r.status_code == 401 and "error" not in challenge(r)


def test_async_view_checks_scopes(oauth, conf_client):
    token = tokens(oauth, conf_client, [RS_A], scope="rs-a:read")["access_token"]
    r = async_to_sync(AsyncClient().get)("/api/a-async-write/", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and challenge(r)["error"] == "insufficient_scope"


def test_a_drf_403_names_the_resource_of_the_authentication_class(oauth, conf_client):
    """RFC 9728 §5.1: the challenge names the resource that refused the token. With the
    resource set on an ``OAuth2Authentication`` subclass (documented), the 401 named it but
    the 403 ``insufficient_scope`` named the default resource's realm and metadata, so a
    client following it asked for a token for the wrong audience (outside review R2)."""
    missing = async_to_sync(AsyncClient().get)("/api/a-by-authentication/")
    assert missing.status_code == 401 and challenge(missing)["realm"] == RS_A
    token = tokens(oauth, conf_client, [RS_A], scope="rs-a:read")["access_token"]
    r = oauth.api.get("/api/a-by-authentication/", HTTP_AUTHORIZATION=f"Bearer {token}")
    found = challenge(r)
    assert r.status_code == 403 and found["error"] == "insufficient_scope" and found["scope"] == "rs-a:write"
    assert found["realm"] == RS_A
    assert found["resource_metadata"] == "https://rs-a.example/.well-known/oauth-protected-resource"


def test_aauthenticate_never_queries_on_the_event_loop(conf_client, user):
    """Django refuses a query from the event loop's thread (SynchronousOnlyOperation): the
    synchronous core would fail here; the twin runs its query in a worker thread."""
    from tests.support.resource_helpers import user_token

    raw, row = user_token(conf_client, user, scope="read")
    rf = RequestFactory()

    async def check():
        with pytest.raises(SynchronousOnlyOperation):
            resource.authenticate(rf.get("/", **bearer(raw)))
        found = await resource.aauthenticate(rf.get("/", **bearer(raw)))
        assert found is not None and found.id == row.pk
        with pytest.raises(InvalidToken):
            await resource.aauthenticate(rf.get("/", **bearer(raw)), resource=RS_A)
        return found

    assert async_to_sync(check)().audience == (DEFAULT,)


# -- middleware -------------------------------------------------------------------------------
def test_middleware_binds_the_token_to_the_views_resource(oauth, conf_client, settings):
    settings.MIDDLEWARE = [*django_settings.MIDDLEWARE, "oauth_provider.middleware.OAuth2TokenMiddleware"]
    for_a = tokens(oauth, conf_client, [RS_A], scope="read")["access_token"]
    for_default = tokens(oauth, conf_client, scope="read")["access_token"]
    assert oauth.api.get("/api/a-middleware/", **bearer(for_a)).json()["audience"] == [RS_A]
    assert oauth.api.get("/api/a-middleware/", **bearer(for_default)).json()["audience"] is None


# -- consent page ------------------------------------------------------------------------------
def test_consent_page_names_the_resource_and_the_decision_keeps_it(oauth, conf_client):
    r, verifier, _ = authorize(oauth, conf_client, [RS_A], scope="rs-a:read")
    assert r.status_code == 200
    html = r.content.decode()
    assert "Resource A" in html and RS_A in html
    r = oauth.approve(r)
    code = query_of(r["Location"])["code"]
    body = exchange(oauth, conf_client, code, verifier).json()
    assert AccessToken.objects.by_value(body["access_token"]).get().audience == RS_A


def test_remembered_consent_never_covers_another_resource(oauth, conf_client):
    tokens(oauth, conf_client, scope="read")  # remembered for the default resource
    r, _, _ = authorize(oauth, conf_client, scope="read")
    assert r.status_code == 302  # skipped, as before
    r, _, _ = authorize(oauth, conf_client, [RS_A], scope="read")
    assert r.status_code == 200  # the page again, naming Resource A


# -- RFC 9728 metadata -------------------------------------------------------------------------
@pytest.mark.req("9728-3-prm-location")
def test_metadata_of_a_resource_with_a_path(oauth):
    r = oauth.api.get("/.well-known/oauth-protected-resource/mcp")
    assert r.status_code == 200
    assert r.json() == {
        "resource": MCP, "resource_name": "Notes MCP server", "authorization_servers": [ISS],
        "scopes_supported": ["mcp:tools"], "bearer_methods_supported": ["header"],
    }
    assert oauth.api.get("/.well-known/oauth-protected-resource/mcp/").status_code == 404


@pytest.mark.req("9728-3-prm-location")
def test_metadata_of_resources_on_other_hosts(oauth):
    r = oauth.api.get("/.well-known/oauth-protected-resource", HTTP_HOST="rs-a.example")
    assert r.status_code == 200 and r.json()["resource"] == RS_A
    assert r.json()["scopes_supported"] == ["rs-a:read", "rs-a:write", "read"]
    assert r.json()["resource_name"] == "Resource A"
    r = oauth.api.get("/.well-known/oauth-protected-resource")
    assert r.json()["resource"] == DEFAULT and "resource_name" not in r.json()


@pytest.mark.req("9728-7.6-as-consistency")
def test_authorization_server_metadata_lists_every_resource(oauth):
    document = oauth.api.get("/.well-known/oauth-authorization-server/o").json()
    assert document["protected_resources"] == [DEFAULT, RS_A, RS_B, MCP]
    for identifier in (RS_A, MCP):
        host_path = identifier.split("://", 1)[1]
        host, _, path = host_path.partition("/")
        r = oauth.api.get("/.well-known/oauth-protected-resource" + (f"/{path}" if path else ""), HTTP_HOST=host)
        assert r.json()["authorization_servers"] == [ISS]


@pytest.mark.req("9728-5.1-www-authenticate")
def test_challenge_points_at_the_resources_metadata(oauth):
    r = oauth.api.get("/api/mcp/")
    params = challenge(r)
    assert r.status_code == 401 and "error" not in params
    assert params["resource_metadata"] == "https://testserver/.well-known/oauth-protected-resource/mcp"
    r = oauth.api.get("/api/a-drf/")
    assert challenge(r)["resource_metadata"] == "https://rs-a.example/.well-known/oauth-protected-resource"


# -- no resource named: the audience inferred from the scopes (RFC 9068 §3) --------------------
@pytest.fixture
def default_listed(settings):
    """The default resource listed with its own scopes, so scopes can tell resources apart."""
    listed = {DEFAULT: {"name": "This site", "scopes": ["read", "write", "profile"]}, **RESOURCES}
    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=listed)


@pytest.mark.req("9068-3-default-aud")
def test_audience_inferred_from_the_scopes(oauth, jwt_client, default_listed):
    assert jwt_claims(oauth, tokens(oauth, jwt_client, scope="rs-a:read")["access_token"])["aud"] == RS_A
    assert jwt_claims(oauth, tokens(oauth, jwt_client, scope="read")["access_token"])["aud"] == DEFAULT
    r, _, _ = authorize(oauth, jwt_client, scope="rs-a:read rs-b:read")
    assert query_of(r["Location"])["error"] == "invalid_scope"
    r = token_request(oauth, jwt_client, {"grant_type": "client_credentials", "scope": "rs-b:read"})
    assert r.status_code == 200 and jwt_claims(oauth, r.json()["access_token"])["aud"] == RS_B
    r = token_request(oauth, jwt_client, {"grant_type": "client_credentials", "scope": "rs-a:read rs-b:read"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


@pytest.mark.req("9068-3-default-aud")
def test_scopes_no_single_resource_accepts_are_refused_not_dropped(oauth, jwt_client, default_listed):
    """``read`` alone would go to the default resource, but with ``rs-a:read rs-b:read`` no one
    resource accepts the three: invalid_scope, not a token for the default resource that
    silently drops the other two."""
    r = token_request(oauth, jwt_client, {"grant_type": "client_credentials", "scope": "read rs-a:read rs-b:read"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    r, _, _ = authorize(oauth, jwt_client, scope="read rs-a:read rs-b:read")
    assert query_of(r["Location"])["error"] == "invalid_scope"


@pytest.mark.req("9068-3-default-aud")
@pytest.mark.parametrize("multi_audience", [False, True])
def test_scopes_two_resources_accept_make_no_two_audience_token(oauth, jwt_client, settings, multi_audience):
    """RFC 9068 §3: a request naming no resource gets one audience. When the default resource
    does not take ``read`` and two others do, the client must name one (invalid_scope), even
    where multi-audience tokens are allowed for requests that name several."""
    listed = {DEFAULT: {"name": "This site", "scopes": ["profile"]}, **RESOURCES}
    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=listed, MULTI_AUDIENCE_TOKENS=multi_audience)
    r = token_request(oauth, jwt_client, {"grant_type": "client_credentials", "scope": "read"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    named = token_request(oauth, jwt_client, {"grant_type": "client_credentials", "scope": "read"}, [RS_B])
    assert named.status_code == 200 and jwt_claims(oauth, named.json()["access_token"])["aud"] == RS_B


def test_unlisted_default_resource_takes_every_scope(oauth, jwt_client):
    """Without the default resource in RESOURCES, no resource named means the host's own API,
    whatever the scopes: what a site had before resource indicators keeps its meaning."""
    token = tokens(oauth, jwt_client, scope="rs-a:read")["access_token"]
    assert jwt_claims(oauth, token)["aud"] == DEFAULT


def test_login_round_trip_keeps_every_resource(conf_client, multi):
    """The login page sends the user back to the same request: both resources survive."""
    from urllib.parse import parse_qs, urlsplit

    from django.test import Client

    pairs = [("response_type", "code"), ("client_id", conf_client.client_id), ("scope", "read"),
             ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"), ("code_challenge_method", "S256"),
             ("resource", RS_A), ("resource", RS_B)]
    r = Client().get("/o/authorize/?" + urlencode(pairs))
    assert r.status_code == 302
    next_url = parse_qs(urlsplit(r["Location"]).query)["next"][0]
    assert parse_qs(urlsplit(next_url).query)["resource"] == [RS_A, RS_B]


def test_userinfo_takes_tokens_for_the_default_resource_only(oauth, conf_client, signing_key, multi):
    """UserInfo is the provider's own endpoint, at the default resource: a token a client got
    for an MCP server cannot be replayed there by that server to read the user's profile."""
    mcp_only = tokens(oauth, conf_client, [MCP], scope="openid profile mcp:tools")["access_token"]
    r = oauth.api.get("/o/userinfo/", **bearer(mcp_only))
    assert r.status_code == 401 and challenge(r)["error"] == "invalid_token"
    both = tokens(oauth, conf_client, [DEFAULT, MCP], scope="openid profile mcp:tools")["access_token"]
    assert oauth.api.get("/o/userinfo/", **bearer(both)).status_code == 200
    assert oauth.api.get("/api/mcp/", **bearer(both)).status_code == 200


def test_debug_without_issuer(oauth, conf_client, settings):
    """In DEBUG the issuer (and so the default resource) comes from the request: naming a
    resource or inferring one needs it at every step, never a 500."""
    settings.DEBUG = True
    listed = {"http://testserver": {"name": "This site", "scopes": ["read"]}, **RESOURCES}
    settings.OAUTH_PROVIDER = {"SCOPES": SCOPES, "RESOURCES": listed}
    body = tokens(oauth, conf_client, [RS_A], scope="rs-a:read")
    assert AccessToken.objects.by_value(body["access_token"]).get().audience == RS_A
    body = tokens(oauth, conf_client, scope="rs-b:read")  # inferred
    assert AccessToken.objects.by_value(body["access_token"]).get().audience == RS_B
    assert oauth.api.get("/api/b/", **bearer(body["access_token"])).status_code == 200


@pytest.mark.parametrize("kind", ["opaque", "jwt"])
def test_async_view_reads_client_and_user_without_blocking(oauth, conf_client, jwt_client, user, kind):
    """A JWT's client and user load lazily, by queries an async view must not run on the event
    loop (Django would raise SynchronousOnlyOperation): auser() and aclient() run them in a thread."""
    client = conf_client if kind == "opaque" else jwt_client
    token = tokens(oauth, client, [RS_A], scope="read")["access_token"]
    r = async_to_sync(AsyncClient().get)("/api/a-async-who/", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.content
    assert json.loads(r.content) == {"user": "alice", "client_id": client.client_id}


def test_a_grace_period_retry_keeps_the_audience_of_the_refresh_it_repeats(oauth, conf_client, settings):
    """The retry of a refresh whose answer was lost gets what the first answer had: the
    access token for the same resource, not one for the default resource."""
    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=RESOURCES, REFRESH_TOKEN_GRACE_PERIOD=30)
    body = tokens(oauth, conf_client, [RS_A], scope="rs-a:read")
    first = refresh(oauth, conf_client, body["refresh_token"])
    assert first.status_code == 200, first.content
    retry = refresh(oauth, conf_client, body["refresh_token"])
    assert retry.status_code == 200, retry.content
    assert retry.json()["refresh_token"] == first.json()["refresh_token"]
    for answer in (first, retry):
        row = AccessToken.objects.by_value(answer.json()["access_token"]).get()
        assert (row.audience, row.scope) == (RS_A, "rs-a:read")


def test_a_code_exchange_naming_a_resource_the_policy_now_refuses_the_client_is_invalid_target(oauth, settings):
    """The resource policy is asked at the token endpoint too, with the client redeeming the
    code: a client that lost the right to a resource between the authorization and the
    exchange gets no token for it."""
    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=RESOURCES,
                                             ADAPTER="tests.test_resource_indicators.OnlyResourceA")
    trusted = ClientFactory(name="Trusted RP")
    code, verifier = code_for(oauth, trusted, [RS_B], scope="rs-b:read")
    type(trusted).objects.filter(pk=trusted.pk).update(name="No longer trusted")
    trusted.refresh_from_db()
    r = exchange(oauth, trusted, code, verifier, [RS_B])
    assert r.status_code == 400 and r.json()["error"] == "invalid_target", r.content


def test_in_development_a_code_exchange_narrows_its_scopes_by_the_resources_without_an_issuer_setting(
        oauth, conf_client, settings):
    """As for a refresh: DEBUG with no ISSUER, the code's grant is redeemed for its resource
    with the scopes that resource accepts now, and the token works there (not a 500)."""
    code, verifier = code_for(oauth, conf_client, [RS_A], scope="read rs-a:write")
    narrower = {**RESOURCES, RS_A: {"name": "Resource A", "scopes": ["rs-a:read", "read"]}}
    settings.DEBUG = True
    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=narrower, ISSUER=None, RESOURCE_IDENTIFIER=None)
    r = exchange(oauth, conf_client, code, verifier, [RS_A])
    assert r.status_code == 200, r.content
    assert r.json()["scope"] == "read"
    assert oauth.api.get("/api/a/", **bearer(r.json()["access_token"])).status_code == 200


def test_in_development_a_code_exchange_may_name_the_default_resource_the_request_came_to(oauth, conf_client,
                                                                                         settings):
    """DEBUG with no ISSUER: the default resource is the origin the request came to, and a
    token request naming it is within a grant made for it (RFC 8707 §2.2), not a 500."""
    settings.DEBUG = True
    settings.OAUTH_PROVIDER = oauth_settings(ISSUER=None, RESOURCE_IDENTIFIER=None)
    code, verifier = code_for(oauth, conf_client, scope="read")
    r = exchange(oauth, conf_client, code, verifier, ["http://testserver"])
    assert r.status_code == 200, r.content
    assert AccessToken.objects.by_value(r.json()["access_token"]).get().audience in ("", "http://testserver")


def test_a_refresh_naming_a_resource_the_policy_now_refuses_the_client_is_invalid_target(oauth, settings):
    """The same at the refresh: the policy is asked with the client presenting the token."""
    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=RESOURCES,
                                             ADAPTER="tests.test_resource_indicators.OnlyResourceA")
    trusted = ClientFactory(name="Trusted RP")
    body = tokens(oauth, trusted, [RS_B], scope="rs-b:read")
    first = refresh(oauth, trusted, body["refresh_token"], [RS_B])
    assert first.status_code == 200, first.content
    type(trusted).objects.filter(pk=trusted.pk).update(name="No longer trusted")
    trusted.refresh_from_db()
    r = refresh(oauth, trusted, first.json()["refresh_token"], [RS_B])
    assert r.status_code == 400 and r.json()["error"] == "invalid_target", r.content


def test_in_development_a_refresh_may_name_the_default_resource_the_request_came_to(oauth, conf_client, settings):
    settings.DEBUG = True
    settings.OAUTH_PROVIDER = oauth_settings(ISSUER=None, RESOURCE_IDENTIFIER=None)
    body = tokens(oauth, conf_client, scope="read")
    r = refresh(oauth, conf_client, body["refresh_token"], ["http://testserver"])
    assert r.status_code == 200, r.content


class MultiForTrusted:
    def __new__(cls):
        from oauth_provider.adapter import DefaultAdapter

        class Adapter(DefaultAdapter):
            def allows_resource(self, client, resource):
                return resource != RS_B or client.name == "Trusted RP"

            def allows_multiple_resources(self, client):
                return client.name == "Trusted RP"

        return Adapter()


def test_each_refused_resource_says_why(settings):
    """RFC 8707 §2: ``invalid_target`` with fixed texts (never the value: it may be redirected
    to the client), one per rule; the multiple-resource policy is asked per client."""
    from oauth_provider import resources
    from oauth_provider.errors import InvalidScope, InvalidTarget

    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=RESOURCES, REQUIRE_RESOURCE=True,
                                             ADAPTER="tests.test_resource_indicators.MultiForTrusted")
    client, trusted = ClientFactory(), ClientFactory(name="Trusted RP")
    cases = [
        ((), client, "The resource parameter is required."),
        (("rs-a.example",), client,
         "The resource parameter must be an absolute URI without a fragment (RFC 8707 section 2)."),
        (("https://unknown.example/",), client, "The requested resource is unknown."),
        ((RS_B,), client, "This client may not request a token for the requested resource."),
        ((RS_A, MCP), client, "Request one resource per token."),
    ]
    for values, who, message in cases:
        with pytest.raises(InvalidTarget) as refused:
            resources.requested(values, who)
        assert refused.value.description == message, values
    assert resources.requested((RS_A, MCP), trusted) == (RS_A, MCP)
    with pytest.raises(InvalidTarget) as refused:
        resources.within((RS_B,), RS_A)
    assert refused.value.description == "The requested resource was not part of the authorization grant."
    settings.OAUTH_PROVIDER = oauth_settings(
        SCOPES=SCOPES, RESOURCES={**RESOURCES, DEFAULT: {"name": "The API", "scopes": ["read", "write"]}})
    with pytest.raises(InvalidScope) as refused:
        resources.inferred(("rs-a:write", "rs-b:read"), trusted)
    assert refused.value.description == (
        "The requested scopes belong to different resources: name one with the resource parameter.")

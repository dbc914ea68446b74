"""Token revocation (RFC 7009) at /o/revoke/, checked from the outside: after a 200 the
protected API answers 401 and introspection says inactive."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient

from oauth_provider.models import AccessToken, Authorization
from tests.support.factories import ClientFactory, PublicClientFactory
from tests.support.resource_helpers import bearer, refresh_token, user_token
from tests.support.token_helpers import assert_no_store, post_form

from ..conftest import basic_auth

pytestmark = pytest.mark.django_db
URL = "/o/revoke/"
API = "/api/drf/read/"


def credentials(client) -> dict:
    if client.is_public:
        return {"data": {"client_id": client.client_id}, "extra": {}}
    return {"data": {}, "extra": {"HTTP_AUTHORIZATION": basic_auth(client.client_id, client.raw_secret)}}


def revoke(client, token: str, **data):
    creds = credentials(client)
    return post_form(HttpClient(), {"token": token, **creds["data"], **data}, URL, **creds["extra"])


def api_status(raw: str) -> int:
    return HttpClient().get(API, **bearer(raw)).status_code


def introspect_active(client, raw: str) -> bool:
    r = post_form(HttpClient(), {"token": raw}, "/o/introspect/",
                  HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret))
    return r.json()["active"]


def refresh(client, raw_rt: str):
    return post_form(HttpClient(), {"grant_type": "refresh_token", "refresh_token": raw_rt}, "/o/token/",
                     HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret))


@pytest.fixture
def family(conf_client, user):
    """A user's grant: two access tokens and a refresh token in one family."""
    raw_at, at = user_token(conf_client, user)
    raw_at2, _ = user_token(conf_client, user, authorization=at.authorization)
    raw_rt, _ = refresh_token(at.authorization)
    return raw_at, raw_at2, raw_rt


# -- what gets revoked ----------------------------------------------------------------------
@pytest.mark.req("DERIVED-revocation-durable")
def test_revoking_an_access_token(conf_client, family, assert_num_queries):
    raw_at, raw_at2, raw_rt = family
    assert api_status(raw_at) == 200
    # client; the token and what was exchanged from it; the same again in a new statement, for
    # what an exchange racing the revocation stored while the first waited for it
    with assert_num_queries(3):
        r = revoke(conf_client, raw_at, token_type_hint="access_token")
    assert r.status_code == 200 and r.content == b""
    assert_no_store(r)
    assert api_status(raw_at) == 401
    assert not introspect_active(conf_client, raw_at)
    # only that token: its sibling and its refresh token live on
    assert api_status(raw_at2) == 200
    assert refresh(conf_client, raw_rt).status_code == 200


@pytest.mark.req("7009-2.1-cascade")
@pytest.mark.req("DERIVED-revocation-durable")
def test_revoking_a_refresh_token_revokes_its_family(conf_client, family, assert_max_queries):
    raw_at, raw_at2, raw_rt = family
    with assert_max_queries(3):
        r = revoke(conf_client, raw_rt, token_type_hint="refresh_token")
    assert r.status_code == 200
    for raw in (raw_at, raw_at2):
        assert api_status(raw) == 401
        assert not introspect_active(conf_client, raw)
    assert not introspect_active(conf_client, raw_rt)
    assert refresh(conf_client, raw_rt).json()["error"] == "invalid_grant"


def test_real_flow(oauth, conf_client):
    tokens = oauth.tokens(conf_client, scope="read")
    assert api_status(tokens["access_token"]) == 200
    assert revoke(conf_client, tokens["refresh_token"]).status_code == 200
    assert api_status(tokens["access_token"]) == 401


@pytest.mark.req("7009-2.1-hint-fallback")
def test_wrong_hint_still_finds_the_token(conf_client, family):
    raw_at, raw_at2, raw_rt = family
    assert revoke(conf_client, raw_rt, token_type_hint="access_token").status_code == 200
    assert not introspect_active(conf_client, raw_rt)
    assert api_status(raw_at) == 401


@pytest.mark.req("7009-2.1-hint-fallback")
def test_refresh_hint_on_an_access_token(conf_client, family):
    raw_at, raw_at2, raw_rt = family
    assert revoke(conf_client, raw_at, token_type_hint="refresh_token").status_code == 200
    assert api_status(raw_at) == 401 and api_status(raw_at2) == 200


@pytest.mark.req("7009-2.1-hint-fallback")
def test_unknown_hint_is_unsupported_token_type(conf_client, family):
    raw_at = family[0]
    r = revoke(conf_client, raw_at, token_type_hint="id_token")
    assert r.status_code == 400 and r.json()["error"] == "unsupported_token_type"
    assert_no_store(r)
    assert api_status(raw_at) == 200


def test_public_client_revokes_by_client_id(public_client, user):
    raw_at, at = user_token(public_client, user)
    raw_rt, _ = refresh_token(at.authorization)
    assert revoke(public_client, raw_rt).status_code == 200
    assert api_status(raw_at) == 401


# -- whose tokens -----------------------------------------------------------------------------
@pytest.mark.req("7009-2.1-owner-only")
def test_another_confidential_client_changes_nothing(conf_client, family):
    raw_at, _, raw_rt = family
    intruder = ClientFactory(name="C2", is_resource_server=True)
    for raw in (raw_at, raw_rt):
        assert revoke(intruder, raw).status_code == 200
    assert api_status(raw_at) == 200
    assert introspect_active(conf_client, raw_at) and introspect_active(conf_client, raw_rt)
    assert not AccessToken.objects.filter(revoked_at__isnull=False).exists()
    assert not Authorization.objects.filter(revoked_at__isnull=False).exists()


@pytest.mark.req("7009-2.1-owner-only")
def test_another_public_client_changes_nothing(public_client, user):
    raw_at, at = user_token(public_client, user)
    raw_rt, _ = refresh_token(at.authorization)
    intruder = PublicClientFactory(name="P2")
    assert revoke(intruder, raw_at).status_code == 200
    assert revoke(intruder, raw_rt).status_code == 200
    assert api_status(raw_at) == 200
    assert not Authorization.objects.filter(revoked_at__isnull=False).exists()


# -- authentication and transport -----------------------------------------------------------
@pytest.mark.req("7009-2.1-authenticate")
def test_no_credentials_is_401(conf_client, family):
    raw_at = family[0]
    r = post_form(HttpClient(), {"token": raw_at}, URL)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert api_status(raw_at) == 200


@pytest.mark.req("7009-2.1-authenticate")
def test_wrong_secret_is_401(conf_client, family):
    raw_at = family[0]
    r = post_form(HttpClient(), {"token": raw_at}, URL, HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, "x"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert r["WWW-Authenticate"].startswith("Basic")
    assert api_status(raw_at) == 200


@pytest.mark.req("7009-2.1-authenticate")
def test_confidential_client_cannot_pose_as_public(conf_client, family):
    raw_at = family[0]
    r = post_form(HttpClient(), {"token": raw_at, "client_id": conf_client.client_id}, URL)
    assert r.status_code == 401
    assert api_status(raw_at) == 200


@pytest.mark.req("7009-2.2-invalid-token-200")
@pytest.mark.parametrize("token", ["garbage", "x" * 600, "\u00e9t\u00e9", "a" * 43])
def test_unknown_tokens_get_200(conf_client, token):
    r = revoke(conf_client, token)
    assert r.status_code == 200
    assert_no_store(r)


def test_missing_token_is_invalid_request(conf_client):
    creds = credentials(conf_client)
    r = post_form(HttpClient(), {}, URL, **creds["extra"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_get_is_405(conf_client, family):
    r = HttpClient().get(URL, {"token": family[0]})
    assert r.status_code == 405
    assert api_status(family[0]) == 200


def test_cors_preflight():
    r = HttpClient().options(URL)
    assert r.status_code == 204 and r["Access-Control-Allow-Origin"] == "*"
    assert "POST" in r["Access-Control-Allow-Methods"]


def test_token_revoked_signal(db):
    from django.test import Client as HttpClient

    from oauth_provider.signals import token_revoked
    from tests.support.factories import ClientFactory, UserFactory
    from tests.support.resource_helpers import user_token

    from ..conftest import basic_auth

    rp = ClientFactory()
    raw, _row = user_token(rp, UserFactory())
    seen = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)

    token_revoked.connect(receiver)
    try:
        r = post_form(HttpClient(), {"token": raw}, "/o/revoke/",
                      HTTP_AUTHORIZATION=basic_auth(rp.client_id, rp.raw_secret))
    finally:
        token_revoked.disconnect(receiver)
    assert r.status_code == 200
    assert len(seen) == 1 and seen[0]["client"] == rp and seen[0]["token_type"] == "access_token"
    assert seen[0]["reason"] == "revocation_endpoint"

"""Token introspection (RFC 7662) at /o/introspect/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client as HttpClient

from oauth_provider import secrets
from oauth_provider.models import AccessToken, Authorization, RefreshToken
from tests.support.factories import ClientFactory
from tests.support.resource_helpers import ISSUER, RESOURCE, client_token, expired, refresh_token, user_token
from tests.support.settings import override_oauth
from tests.support.token_helpers import FrozenClock, assert_no_store, post_form

from ..conftest import basic_auth

pytestmark = pytest.mark.django_db
URL = "/o/introspect/"
INACTIVE = {"active": False}


@pytest.fixture
def other_client(db):
    return ClientFactory(name="Other RP")


@pytest.fixture
def resource_server(db):
    return ClientFactory(name="API", is_resource_server=True, grant_types="client_credentials", redirect_uris="")


def introspect(client, token: str, api=None, **data):
    api = api or HttpClient()
    return post_form(api, {"token": token, **data}, URL,
                     HTTP_AUTHORIZATION=basic_auth(client.client_id, client.raw_secret))


def assert_inactive(response) -> None:
    assert response.status_code == 200, response.content
    assert response.json() == INACTIVE
    assert_no_store(response)


# -- active tokens ----------------------------------------------------------------------------
def test_active_user_token(conf_client, user, assert_num_queries):
    raw, row = user_token(conf_client, user, scope="read write")
    with assert_num_queries(2):
        r = introspect(conf_client, raw)
    assert r.status_code == 200
    assert_no_store(r)
    assert r.json() == {
        "active": True,
        "scope": "read write",
        "client_id": conf_client.client_id,
        "token_type": "Bearer",
        "exp": int(row.expires_at.timestamp()),
        "iat": int(row.created_at.timestamp()),
        "iss": ISSUER,
        "aud": RESOURCE,
        "sub": str(user.pk),
        "username": "alice",
    }


@pytest.mark.req("BCP-4.15.1-client-id-confusion")
def test_client_credentials_token_has_no_subject(conf_client):
    """A client's own token carries no ``sub``/``username``: nothing a resource server could
    take for a user, whatever the client_id looks like."""
    conf_client.client_id = "1"  # the primary key of the first user, as a string
    conf_client.save()
    raw, _ = client_token(conf_client, scope="read")
    body = introspect(conf_client, raw).json()
    assert body["active"] is True and body["client_id"] == "1"
    assert "sub" not in body and "username" not in body


def test_resource_server_sees_access_tokens_for_the_default_resource(conf_client, user, resource_server,
                                                                    assert_num_queries):
    raw, _ = user_token(conf_client, user)
    with assert_num_queries(2):
        body = introspect(resource_server, raw).json()
    assert body["active"] is True and body["client_id"] == conf_client.client_id


@pytest.mark.req("7662-4-scanning")
def test_a_resource_server_cannot_introspect_a_refresh_token(conf_client, user, resource_server, other_client):
    """Refresh tokens are for their own client only: a resource server (or any other client)
    holding one holds a leaked credential and learns nothing from it (issue 12, item 12)."""
    _raw_at, at = user_token(conf_client, user)
    raw_rt, _ = refresh_token(at.authorization)
    for caller in (resource_server, other_client):
        for hint in ({}, {"token_type_hint": "refresh_token"}):
            assert introspect(caller, raw_rt, **hint).json() == INACTIVE
    assert introspect(conf_client, raw_rt).json()["active"] is True


def test_real_flow_tokens(oauth, conf_client):
    tokens = oauth.tokens(conf_client, scope="read")
    body = introspect(conf_client, tokens["access_token"]).json()
    assert body["active"] is True and body["username"] == "alice" and body["scope"] == "read"
    body = introspect(conf_client, tokens["refresh_token"]).json()
    assert body["active"] is True and body["token_type"] == "refresh_token"


def test_refresh_token(conf_client, user):
    raw_at, at = user_token(conf_client, user)
    raw_rt, rt = refresh_token(at.authorization)
    body = introspect(conf_client, raw_rt).json()
    assert body == {
        "active": True,
        "scope": "read",
        "client_id": conf_client.client_id,
        "token_type": "refresh_token",
        "exp": int(rt.expires_at.timestamp()),
        "iat": int(rt.created_at.timestamp()),
        "iss": ISSUER,
        "sub": str(user.pk),
        "username": "alice",
    }


@pytest.mark.parametrize("hint", ["access_token", "refresh_token", "mac_token", None])
def test_hint_is_not_trusted(conf_client, user, hint):
    raw_at, at = user_token(conf_client, user)
    raw_rt, _ = refresh_token(at.authorization)
    extra = {"token_type_hint": hint} if hint else {}
    assert introspect(conf_client, raw_at, **extra).json()["token_type"] == "Bearer"
    assert introspect(conf_client, raw_rt, **extra).json()["token_type"] == "refresh_token"


def test_client_secret_post(user):
    client = ClientFactory(token_endpoint_auth_method="client_secret_post")
    raw, _ = user_token(client, user)
    r = post_form(HttpClient(), {"token": raw, "client_id": client.client_id,
                                 "client_secret": client.raw_secret}, URL)
    assert r.json()["active"] is True


# -- inactive ----------------------------------------------------------------------------------
@pytest.mark.req("7662-2.2-inactive")
@pytest.mark.req("7662-4-state-checks")
@pytest.mark.parametrize("state", [
    "unknown", "malformed", "expired", "revoked", "family_revoked", "client_inactive", "user_inactive",
])
def test_inactive_access_tokens(conf_client, user, state, assert_max_queries):
    raw, row = user_token(conf_client, user)
    if state == "unknown":
        raw = secrets.generate_token()
    elif state == "malformed":
        raw = "x" * 2000
    elif state == "expired":
        AccessToken.objects.filter(pk=row.pk).update(**expired())
    elif state == "revoked":
        AccessToken.objects.filter(pk=row.pk).update(revoked_at=secrets.now())
    elif state == "family_revoked":
        Authorization.objects.filter(pk=row.authorization_id).revoke()
    elif state == "client_inactive":
        other = ClientFactory(is_active=False)
        raw, _ = user_token(other, user)
        conf_client.is_resource_server = True
        conf_client.save()
    else:
        user.is_active = False
        user.save()
    with assert_max_queries(3):
        assert_inactive(introspect(conf_client, raw))


@pytest.mark.req("7662-4-state-checks")
def test_expiry_by_the_clock(conf_client, user):
    clock = FrozenClock()
    raw, row = user_token(conf_client, user, expires_at=secrets.now() + timedelta(seconds=60))
    assert introspect(conf_client, raw).json()["active"] is True
    clock.advance(60)
    assert_inactive(introspect(conf_client, raw))


@pytest.mark.req("7662-2.2-inactive")
@pytest.mark.parametrize("state", ["expired", "revoked", "rotated", "family_revoked"])
def test_inactive_refresh_tokens(conf_client, user, state):
    _, at = user_token(conf_client, user)
    raw, rt = refresh_token(at.authorization)
    now = secrets.now()
    if state == "expired":
        RefreshToken.objects.filter(pk=rt.pk).update(expires_at=now - timedelta(seconds=1))
    elif state == "revoked":
        RefreshToken.objects.filter(pk=rt.pk).update(revoked_at=now)
    elif state == "rotated":
        RefreshToken.objects.filter(pk=rt.pk).update(rotated_at=now)
    else:
        Authorization.objects.filter(pk=at.authorization_id).revoke()
    assert_inactive(introspect(conf_client, raw))


@pytest.mark.req("7662-2.2-inactive")
@pytest.mark.req("7662-2.1-authorization")
def test_other_clients_tokens_are_not_visible(conf_client, other_client, user):
    raw_at, at = user_token(conf_client, user)
    raw_rt, _ = refresh_token(at.authorization)
    assert_inactive(introspect(other_client, raw_at))
    assert_inactive(introspect(other_client, raw_rt))
    # still active for its own client: the answer above was not a side effect
    assert introspect(conf_client, raw_at).json()["active"] is True


# -- who may call, and how --------------------------------------------------------------------
@pytest.mark.req("7662-2.1-authorization")
def test_no_credentials_is_401(client, conf_client, user):
    raw, _ = user_token(conf_client, user)
    r = post_form(client, {"token": raw}, URL)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert r["WWW-Authenticate"].startswith("Basic")
    assert "active" not in r.json()


@pytest.mark.req("7662-2.1-authorization")
def test_public_client_is_refused(client, public_client, user):
    raw, _ = user_token(public_client, user)
    r = post_form(client, {"token": raw, "client_id": public_client.client_id}, URL)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


@pytest.mark.req("7662-2.3-bad-credentials-401")
def test_wrong_secret_is_401(client, conf_client, user):
    raw, _ = user_token(conf_client, user)
    r = post_form(client, {"token": raw}, URL, HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, "wrong"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert r["WWW-Authenticate"].startswith("Basic")
    assert_no_store(r)


def test_inactive_client_is_401(client, conf_client, user):
    raw, _ = user_token(conf_client, user)
    conf_client.is_active = False
    conf_client.save()
    assert introspect(conf_client, raw).status_code == 401


@pytest.mark.req("7662-2.1-post")
def test_get_is_refused(client, conf_client, user):
    raw, _ = user_token(conf_client, user)
    r = client.get(URL, {"token": raw}, HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret))
    assert r.status_code == 405 and r["Allow"] == "POST"
    assert raw.encode() not in r.content


@pytest.mark.req("7662-2.1-post")
def test_json_body_is_refused(client, conf_client, user):
    raw, _ = user_token(conf_client, user)
    r = client.post(URL, {"token": raw}, content_type="application/json",
                    HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_missing_token_is_invalid_request(client, conf_client):
    r = post_form(client, {}, URL, HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_repeated_token_is_invalid_request(client, conf_client, user):
    raw, _ = user_token(conf_client, user)
    r = post_form(client, f"token={raw}&token={raw}", URL,
                  HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_introspection_gives_a_resource_server_the_subject_the_tokens_client_sees(user):
    """The sub of an introspected token is the one in the token (its client's), whoever asks:
    the same as the JWT form's sub and the ID token's."""
    rp = ClientFactory(name="RP")
    rs = ClientFactory(name="API", is_resource_server=True, grant_types="client_credentials", redirect_uris="")
    raw, _ = user_token(rp, user)
    with override_oauth(ADAPTER="tests.test_adapter_client_hooks.PerClientAdapter"):
        body = post_form(HttpClient(), {"token": raw}, "/o/introspect/",
                         HTTP_AUTHORIZATION=basic_auth(rs.client_id, rs.raw_secret)).json()
    assert body["active"] is True and body["sub"] == f"{rp.client_id}:{user.pk}"

"""``REFRESH_TOKEN_ROTATION = "public_clients"`` (FAPI 2.0 §5.3.2.1-9): a confidential client
keeps its refresh token, a public client's still rotates with reuse detection."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from oauth_provider.models import Authorization, RefreshToken
from tests.conftest import basic_auth
from tests.support.fapi import FAPI, code_tokens, fapi_client
from tests.support.fapi import token as fapi_token
from tests.support.settings import override_oauth as provider
from tests.support.token_helpers import (
    FrozenClock,
    access_token_row,
    assert_error,
    family_of_access_token,
    refresh_token_row,
)

pytestmark = pytest.mark.django_db
KEPT = provider(REFRESH_TOKEN_ROTATION="public_clients")


def refresh(oauth, client, refresh_token: str, **extra: str):
    return oauth.token(client, {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra})


@KEPT
def test_a_confidential_client_gets_its_refresh_token_back_and_new_access_tokens(oauth, conf_client):
    first = oauth.tokens(conf_client)
    seen = {first["access_token"]}
    for _ in range(3):
        r = refresh(oauth, conf_client, first["refresh_token"])
        assert r.status_code == 200, r.content
        body = r.json()
        assert body["refresh_token"] == first["refresh_token"]
        assert body["access_token"] not in seen
        seen.add(body["access_token"])
    assert RefreshToken.objects.filter(authorization=family_of_access_token(first["access_token"])).count() == 1
    assert refresh_token_row(first["refresh_token"]).rotated_at is None


@KEPT
def test_a_kept_refresh_token_gives_the_users_access_token_in_its_grant(oauth, conf_client, user):
    """What the refresh gives is the same grant's: the user's token (never one that stands for
    the client alone), in the family the refresh token belongs to, for the grant's audience
    and scope; introspection says so."""
    first = oauth.tokens(conf_client, scope="read write")
    family = family_of_access_token(first["access_token"])
    body = refresh(oauth, conf_client, first["refresh_token"], scope="read").json()
    row = access_token_row(body["access_token"])
    assert (row.user, row.client, row.authorization_id) == (user, conf_client, family.pk)
    assert (row.scope, row.audience) == ("read", access_token_row(first["access_token"]).audience)
    assert body["scope"] == "read" and body["token_type"] == "Bearer"
    introspected = oauth.api.post("/o/introspect/", {"token": body["access_token"]},
                                  HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret))
    assert introspected.json()["active"] is True and introspected.json()["sub"] == str(user.pk)


def test_a_rotation_setting_read_from_a_file_keeps_the_confidential_clients_token(oauth, conf_client):
    """FAPI 2.0 §5.3.2.1-9: the setting is compared by value. A value parsed from JSON or an
    environment variable is not the interned literal, and an identity test rotated every
    client's token whatever the setting said."""
    value = json.loads('"public_clients"')
    with provider(REFRESH_TOKEN_ROTATION=value):
        first = oauth.tokens(conf_client)
        r = refresh(oauth, conf_client, first["refresh_token"])
        assert r.status_code == 200, r.content
        assert r.json()["refresh_token"] == first["refresh_token"]
    assert refresh_token_row(first["refresh_token"]).rotated_at is None


@KEPT
def test_a_public_client_still_rotates_and_a_replay_revokes_the_grant(oauth, public_client):
    first = oauth.tokens(public_client)
    r = refresh(oauth, public_client, first["refresh_token"])
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert_error(refresh(oauth, public_client, first["refresh_token"]), "invalid_grant")
    assert family_of_access_token(second["access_token"]).revoked_at is not None


@KEPT
def test_a_kept_refresh_token_costs_four_statements(oauth, conf_client, assert_num_queries):
    from django.db import connection

    first = oauth.tokens(conf_client)
    # client, token with its family and user, UPDATE, INSERT access token (UPDATE and INSERT
    # one statement on PostgreSQL)
    with assert_num_queries(3 if connection.vendor == "postgresql" else 4):
        assert refresh(oauth, conf_client, first["refresh_token"]).status_code == 200


@pytest.mark.req("BCP-4.14.2-idle-expiry")
@provider(REFRESH_TOKEN_ROTATION="public_clients", REFRESH_TOKEN_IDLE_TIMEOUT=60, REFRESH_TOKEN_LIFETIME=200)
def test_each_use_restarts_the_idle_timeout_never_the_absolute_lifetime(oauth, conf_client):
    clock = FrozenClock()
    granted = clock()
    tokens = oauth.tokens(conf_client)
    for _ in range(3):
        clock.advance(59)
        assert refresh(oauth, conf_client, tokens["refresh_token"]).status_code == 200
    assert refresh_token_row(tokens["refresh_token"]).expires_at == granted + timedelta(seconds=200)
    clock.advance(59)  # 236 s after the grant: past the absolute lifetime
    assert_error(refresh(oauth, conf_client, tokens["refresh_token"]), "invalid_grant")


@provider(REFRESH_TOKEN_ROTATION="public_clients", REFRESH_TOKEN_IDLE_TIMEOUT=60)
def test_an_idle_kept_token_expires(oauth, conf_client):
    clock = FrozenClock()
    tokens = oauth.tokens(conf_client)
    clock.advance(59)
    assert refresh(oauth, conf_client, tokens["refresh_token"]).status_code == 200
    clock.advance(61)
    assert_error(refresh(oauth, conf_client, tokens["refresh_token"]), "invalid_grant")


@KEPT
def test_a_revoked_kept_token_is_refused(oauth, conf_client):
    tokens = oauth.tokens(conf_client)
    Authorization.objects.filter(pk=family_of_access_token(tokens["access_token"]).pk).revoke()
    assert_error(refresh(oauth, conf_client, tokens["refresh_token"]), "invalid_grant")


def test_a_token_rotated_before_the_switch_is_still_reuse(oauth, conf_client):
    first = oauth.tokens(conf_client)
    assert refresh(oauth, conf_client, first["refresh_token"]).status_code == 200  # rotated ("always")
    with KEPT:
        assert_error(refresh(oauth, conf_client, first["refresh_token"]), "invalid_grant")
    assert family_of_access_token(first["access_token"]).revoked_at is not None


@KEPT
def test_another_client_cannot_use_a_kept_token(oauth, conf_client):
    from tests.support.factories import ClientFactory

    tokens = oauth.tokens(conf_client)
    assert_error(refresh(oauth, ClientFactory(), tokens["refresh_token"]), "invalid_grant")


# -- under the FAPI 2.0 profile ------------------------------------------------------------------


@pytest.mark.req("FAPI2-5.3.2.1-9-no-rt-rotation")
def test_fapi2_confidential_refresh_returns_the_same_refresh_token(oauth):
    client = fapi_client()
    with provider(**FAPI):
        tokens = code_tokens(oauth, client)
        for _ in range(2):
            r = fapi_token(oauth.api, client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
            assert r.status_code == 200, r.content
            assert r.json()["refresh_token"] == tokens["refresh_token"]


@pytest.mark.req("FAPI2-5.3.2.1-9-no-rt-rotation")
def test_fapi2_with_rotation_switched_on_the_old_token_works_inside_the_window_only(oauth):
    """The profile's migration path: rotation "always" with a grace period (W131)."""
    client = fapi_client()
    with provider(**FAPI, REFRESH_TOKEN_ROTATION="always", REFRESH_TOKEN_GRACE_PERIOD=10):
        clock = FrozenClock()
        first = code_tokens(oauth, client)
        data = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
        rotated = fapi_token(oauth.api, client, data)
        assert rotated.status_code == 200 and rotated.json()["refresh_token"] != first["refresh_token"]
        clock.advance(5)
        retry = fapi_token(oauth.api, client, data)
        assert retry.status_code == 200, retry.content  # the client lost the answer and retries
        assert retry.json()["refresh_token"] == rotated.json()["refresh_token"]

    client = fapi_client()
    with provider(**FAPI, REFRESH_TOKEN_ROTATION="always", REFRESH_TOKEN_GRACE_PERIOD=10):
        clock = FrozenClock()
        first = code_tokens(oauth, client)
        data = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
        assert fapi_token(oauth.api, client, data).status_code == 200
        clock.advance(11)
        assert_error(fapi_token(oauth.api, client, data), "invalid_grant")


@KEPT
def test_a_kept_token_revoked_between_its_lookup_and_its_use_gets_nothing(oauth, conf_client, monkeypatch):
    """The kept token's expiry is moved only while it is unrevoked, and the new access token is
    stored only under that UPDATE: a revocation landing between this request's lookup and its
    UPDATE (made deterministic by revoking right after the lookup) leaves it ``invalid_grant``
    with no new token, and the revocation stands."""
    from oauth_provider.grants import refresh_token as grant
    from oauth_provider.models import AccessToken
    from oauth_provider.secrets import now

    first = oauth.tokens(conf_client)
    real_lookup = grant.refresh_token_by_value

    def lookup_then_revoked(raw, **kwargs):
        row = real_lookup(raw, **kwargs)
        RefreshToken.objects.filter(pk=row.pk).update(revoked_at=now())  # a revocation meanwhile
        return row

    monkeypatch.setattr(grant, "refresh_token_by_value", lookup_then_revoked)
    expires_at = refresh_token_row(first["refresh_token"]).expires_at
    refused = assert_error(refresh(oauth, conf_client, first["refresh_token"]), "invalid_grant")
    assert refused["error_description"] == "The refresh token was revoked."
    assert AccessToken.objects.count() == 1
    row = refresh_token_row(first["refresh_token"])
    assert row.revoked_at is not None and row.expires_at == expires_at

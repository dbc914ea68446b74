"""The DRF classes, called the way a third-party client calls a DRF API: with good, expired,
revoked, family-revoked, under-scoped and garbage tokens, none, one in the query, one sent
twice, and a client_credentials token. Views: tests/support/resource_views.py (``/api/drf/...``)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from rest_framework.test import APIClient

from oauth_provider import secrets
from oauth_provider.contrib.rest_framework import OAuth2Authentication, TokenHasScope
from oauth_provider.models import AccessToken, Authorization
from tests.support.factories import UserFactory
from tests.support.resource_helpers import (
    assert_challenge,
    bearer,
    client_token,
    expired,
    provider_settings,
    user_token,
)

pytestmark = pytest.mark.django_db
READ = "/api/drf/read/"


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def token(conf_client, user):
    return user_token(conf_client, user, scope="read")


def test_good_token(api, token, conf_client, assert_num_queries):
    raw, _ = token
    with assert_num_queries(1):
        r = api.get(READ, **bearer(raw))
    assert r.status_code == 200, r.content
    assert r.json() == {"user": "alice", "client_id": conf_client.client_id, "scope": "read"}


def test_garbage_token_costs_one_query(api, assert_num_queries):
    with assert_num_queries(1):
        r = api.get(READ, **bearer("garbage-token-value"))
    assert_challenge(r, 401, "invalid_token")


@pytest.mark.req("6750-3-challenges")
def test_no_token_is_a_bare_challenge(api):
    r = api.get(READ)
    assert_challenge(r, 401, None)


@pytest.mark.req("6750-3-challenges")
@pytest.mark.parametrize("value", ["not a token", "x" * 8193, "\u00fcber", ""])
def test_malformed_token_without_a_query(api, value, assert_num_queries):
    with assert_num_queries(0):
        r = api.get(READ, HTTP_AUTHORIZATION=f"Bearer {value}")
    assert_challenge(r, 401, "invalid_token")


@pytest.mark.req("6750-3-challenges")
@pytest.mark.req("DERIVED-revocation-visible")
@pytest.mark.parametrize("state", ["expired", "revoked", "family_revoked"])
def test_dead_token_is_invalid_token(api, conf_client, user, state):
    raw, row = user_token(conf_client, user)
    assert api.get(READ, **bearer(raw)).status_code == 200
    if state == "expired":
        AccessToken.objects.filter(pk=row.pk).update(**expired())
    elif state == "revoked":
        AccessToken.objects.filter(pk=row.pk).update(revoked_at=secrets.now())
    else:
        Authorization.objects.filter(pk=row.authorization_id).revoke()
    r = api.get(READ, **bearer(raw))
    assert_challenge(r, 401, "invalid_token")
    assert "detail" in r.json()


@pytest.mark.req("6750-3-challenges")
def test_wrong_scope_is_403_insufficient_scope(api, conf_client, user):
    raw, _ = user_token(conf_client, user, scope="read")
    r = api.post("/api/drf/write/", **bearer(raw))
    assert_challenge(r, 403, "insufficient_scope", scope="write")
    assert r.json()["detail"] == TokenHasScope.message


@pytest.mark.req("O21-5.1-no-query-token")
def test_query_string_token_is_401(api, token):
    raw, _ = token
    r = api.get(f"{READ}?{urlencode({'access_token': raw})}")
    assert_challenge(r, 401, None)


@pytest.mark.req("6750-2-one-method")
@pytest.mark.parametrize("enabled", [False, True])
def test_header_and_body_is_400(api, token, enabled):
    raw, _ = token
    with override_settings(OAUTH_PROVIDER=provider_settings(BEARER_FORM_BODY=enabled)):
        r = api.post(READ, urlencode({"access_token": raw}), content_type="application/x-www-form-urlencoded",
                     **bearer(raw))
    assert_challenge(r, 400, "invalid_request")


def test_body_token_when_enabled(api, token):
    raw, _ = token
    body = urlencode({"access_token": raw, "note": "hi"})
    form = "application/x-www-form-urlencoded"
    assert api.post(READ, body, content_type=form).status_code == 401
    with override_settings(OAUTH_PROVIDER=provider_settings(BEARER_FORM_BODY=True)):
        r = api.post(READ, body, content_type=form)
        assert r.status_code == 200 and r.json()["user"] == "alice"
        # §2.2: never on GET
        assert api.get(f"{READ}?{urlencode({'access_token': raw})}").status_code == 401


@pytest.mark.parametrize("enabled", [False, True])
def test_view_still_reads_the_form_body(api, token, enabled):
    """Looking for a body token must not eat the body the view parses."""
    with override_settings(OAUTH_PROVIDER=provider_settings(BEARER_FORM_BODY=enabled)):
        r = api.post("/api/drf/echo/", "note=hi&n=1", content_type="application/x-www-form-urlencoded",
                     **bearer(token[0]))
    assert r.status_code == 200 and r.json() == {"data": {"note": "hi", "n": "1"}}


@pytest.mark.parametrize("enabled", [False, True])
def test_the_views_own_repeated_or_long_form_fields_are_not_the_tokens_business(api, token, enabled):
    """Checking the body for a second token carrier reads ``access_token`` only: a form whose
    own fields repeat (checkboxes) or run long (a text area) is the view's to parse, not a
    malformed OAuth request."""
    body = urlencode([("tag", "a"), ("tag", "b"), ("text", "x" * 10_000)])
    with override_settings(OAUTH_PROVIDER=provider_settings(BEARER_FORM_BODY=enabled)):
        r = api.post("/api/drf/echo/", body, content_type="application/x-www-form-urlencoded", **bearer(token[0]))
    assert r.status_code == 200, r.content
    assert r.json()["data"]["tag"] == "b" and len(r.json()["data"]["text"]) == 10_000


def test_client_credentials_token(api, conf_client):
    raw, _ = client_token(conf_client, scope="read")
    r = api.get(READ, **bearer(raw))
    assert r.status_code == 200, r.content
    assert r.json() == {"user": "anonymous", "client_id": conf_client.client_id, "scope": "read"}


def test_authenticate_contract(rf, conf_client, user):
    """DRF's contract: None without a Bearer header; (user, token) with one."""
    from rest_framework.request import Request

    raw, row = user_token(conf_client, user)
    auth = OAuth2Authentication()
    assert auth.authenticate(Request(rf.get("/"))) is None
    assert auth.authenticate(Request(rf.get("/", HTTP_AUTHORIZATION="Basic YTpi"))) is None
    found_user, found = auth.authenticate(Request(rf.get("/", **bearer(raw))))
    assert found_user == user and found.id == row.pk and found.client == conf_client
    cc_raw, _ = client_token(conf_client)
    anon, cc = auth.authenticate(Request(rf.get("/", **bearer(cc_raw))))
    assert not anon.is_authenticated and cc.user is None and cc.client == conf_client


def test_a_real_flow_token_works(api, oauth, conf_client):
    tokens = oauth.tokens(conf_client, scope="read")
    r = api.get(READ, **bearer(tokens["access_token"]))
    assert r.status_code == 200 and r.json()["user"] == "alice"


# -- the other permissions -----------------------------------------------------------------
@pytest.mark.parametrize("method, scope, status", [
    ("get", "read", 200), ("get", "write", 403), ("post", "write", 200), ("post", "read", 403),
    ("delete", "write", 200), ("put", "read", 403),
])
def test_read_write_scope(api, conf_client, user, method, scope, status):
    raw, _ = user_token(conf_client, user, scope=scope)
    r = getattr(api, method)("/api/drf/rw/", **bearer(raw))
    assert r.status_code == status
    if status == 403:
        assert_challenge(r, 403, "insufficient_scope", scope="read" if method == "get" else "write")


def test_read_write_scope_names_from_the_view(api, conf_client, user):
    raw, _ = user_token(conf_client, user, scope="notes:read profile")
    assert api.get("/api/drf/rw-custom/", **bearer(raw)).status_code == 200
    r = api.post("/api/drf/rw-custom/", **bearer(raw))
    assert_challenge(r, 403, "insufficient_scope", scope="notes:write profile")
    raw_no_profile, _ = user_token(conf_client, user, scope="notes:read notes:write")
    assert api.get("/api/drf/rw-custom/", **bearer(raw_no_profile)).status_code == 403


def test_resource_scope(api, conf_client, user):
    raw, _ = user_token(conf_client, user, scope="notes:read")
    assert api.get("/api/drf/resource/", **bearer(raw)).status_code == 200
    r = api.post("/api/drf/resource/", **bearer(raw))
    assert_challenge(r, 403, "insufficient_scope", scope="notes:write")
    plain, _ = user_token(conf_client, user, scope="notes")
    assert api.get("/api/drf/resource/", **bearer(plain)).status_code == 403


def test_for_scopes_factory(api, conf_client, user):
    both, _ = user_token(conf_client, user, scope="read profile")
    assert api.get("/api/drf/factory/", **bearer(both)).status_code == 200
    one, _ = user_token(conf_client, user, scope="read")
    r = api.get("/api/drf/factory/", **bearer(one))
    assert_challenge(r, 403, "insufficient_scope", scope="read profile")
    made = TokenHasScope.for_scopes("a", "b")
    assert issubclass(made, TokenHasScope) and made.scopes == ("a", "b")
    assert TokenHasScope.scopes is None


def test_missing_required_scopes_is_a_configuration_error(api, token):
    with pytest.raises(ImproperlyConfigured):
        api.get("/api/drf/unconfigured/", **bearer(token[0]))


@pytest.mark.parametrize("path, scope, status", [
    ("/api/drf/or/", "write", 200), ("/api/drf/or/", "profile", 200), ("/api/drf/or/", "read", 403),
    ("/api/drf/and/", "read write", 200), ("/api/drf/and/", "read", 403), ("/api/drf/and/", "write", 403),
    ("/api/drf/not/", "read", 200), ("/api/drf/not/", "write", 403),
    ("/api/drf/or-admin/", "read", 403), ("/api/drf/or-admin/", "write", 200),
])
def test_permissions_compose(api, conf_client, user, path, scope, status):
    raw, _ = user_token(conf_client, user, scope=scope)
    r = api.get(path, **bearer(raw))
    assert r.status_code == status, r.content
    if status == 200:
        # a permission that said no inside a granting composition leaves no challenge behind
        assert "WWW-Authenticate" not in r


def test_composition_denial_still_carries_the_challenge(api, conf_client, user):
    raw, _ = user_token(conf_client, user, scope="read")
    assert_challenge(api.get("/api/drf/or/", **bearer(raw)), 403, "insufficient_scope", scope="profile")
    assert_challenge(api.get("/api/drf/or-admin/", **bearer(raw)), 403, "insufficient_scope", scope="write")


def test_or_admin_lets_staff_in_without_the_scope(api, conf_client):
    admin = UserFactory(username="root", is_staff=True)
    raw, _ = user_token(conf_client, admin, scope="read")
    assert api.get("/api/drf/or-admin/", **bearer(raw)).status_code == 200


def test_is_authenticated_or_token_has_scope(api, conf_client, user):
    # a session user passes without any token
    session = APIClient()
    session.force_login(user)
    assert session.get("/api/drf/either/").json()["user"] == "alice"
    # a token must carry the scope
    good, _ = user_token(conf_client, user, scope="read")
    assert api.get("/api/drf/either/", **bearer(good)).status_code == 200
    under, _ = user_token(conf_client, user, scope="profile")
    assert_challenge(api.get("/api/drf/either/", **bearer(under)), 403, "insufficient_scope", scope="read")
    # nobody at all: 401 with the bearer challenge (OAuth2Authentication is listed first)
    assert_challenge(api.get("/api/drf/either/"), 401, None)


def test_token_expiring_between_requests(api, conf_client, user):
    raw, row = user_token(conf_client, user, expires_at=secrets.now() + timedelta(seconds=30))
    assert api.get(READ, **bearer(raw)).status_code == 200
    from tests.support.token_helpers import FrozenClock

    clock = FrozenClock()
    clock.advance(31)
    assert_challenge(api.get(READ, **bearer(raw)), 401, "invalid_token")

"""A logout ends the grants that live only as long as the login session (OpenID Connect
Back-Channel Logout 1.0 §2.7, OIDC Core §11): ``openid`` without ``offline_access``, of that
session only, after its clients are told."""

from __future__ import annotations

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client as HttpClient
from django.test import RequestFactory

from oauth_provider.models import Authorization, LogoutDelivery
from oauth_provider.oidc.logout import revoke_session_grants
from tests.conftest import OAuthDriver
from tests.support.factories import ClientFactory
from tests.support.settings import oauth_settings

pytestmark = pytest.mark.django_db
INTROSPECT = "/o/introspect/"


def _refreshes(driver: OAuthDriver, client, tokens: dict) -> bool:
    r = driver.token(client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    return r.status_code == 200


def _userinfo_ok(driver: OAuthDriver, tokens: dict) -> bool:
    return driver.api.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").status_code == 200


@pytest.fixture
def rp(db):
    return ClientFactory(name="RP")


@pytest.mark.req("BCL-2.7-refresh-revocation")
def test_logout_revokes_the_sessions_online_grants_and_keeps_the_rest(logged_in, user, rp):
    online = logged_in.tokens(rp, scope="openid read")
    offline = logged_in.tokens(rp, scope="openid offline_access read", prompt="consent")
    plain_oauth = logged_in.tokens(rp, scope="read")
    elsewhere = OAuthDriver(HttpClient(), HttpClient())
    elsewhere.browser.force_login(user)
    other_session = elsewhere.tokens(rp, scope="openid read")

    r = logged_in.browser.post("/accounts/logout/")
    assert r.status_code in (200, 302)

    assert not _refreshes(logged_in, rp, online)
    assert not _userinfo_ok(logged_in, online)  # the access token went with its grant
    for kept in (offline, plain_oauth, other_session):
        assert _refreshes(logged_in, rp, kept)
    assert Authorization.objects.revoked().count() == 1


@pytest.mark.req("BCL-2.7-refresh-revocation")
def test_scopes_are_compared_as_whole_words(logged_in, user, settings):
    """``openid-extra`` or ``OPENID`` is not ``openid`` (RFC 6749 §3.3: scopes are
    case-sensitive, where SQLite's and MySQL's LIKE are not); ``offline_access_x`` or
    ``Offline_Access`` is not ``offline_access``."""
    settings.OAUTH_PROVIDER = oauth_settings(SCOPES={
        "read": "Read", "openid-extra": "X", "OPENID": "Y", "offline_access_x": "Z", "Offline_Access": "W"})
    rp = ClientFactory(name="RP words")
    not_oidc = [logged_in.tokens(rp, scope=scope) for scope in ("openid-extra read", "read OPENID")]
    lookalikes = [logged_in.tokens(rp, scope=scope) for scope in ("openid offline_access_x", "Offline_Access openid")]
    logged_in.browser.post("/accounts/logout/")
    assert all(_refreshes(logged_in, rp, tokens) for tokens in not_oidc)
    assert not any(_refreshes(logged_in, rp, tokens) for tokens in lookalikes)


@pytest.mark.req("BCL-2.7-refresh-revocation")
def test_the_clients_are_told_before_their_grants_are_revoked(logged_in, user, rp, django_capture_on_commit_callbacks):
    """The back-channel logout looks for the session's live grants: revoking first would tell
    no client at all."""
    told = ClientFactory(name="Told", backchannel_logout_uri="https://rp.example/logout")
    logged_in.tokens(told, scope="openid")
    with django_capture_on_commit_callbacks(execute=False):
        logged_in.browser.post("/accounts/logout/")
    assert list(LogoutDelivery.objects.values_list("client_id", flat=True)) == [told.pk]
    assert Authorization.objects.get(client=told).revoked_at is not None


@pytest.mark.parametrize("setting", [{"LOGOUT_REVOKES_SESSION_GRANTS": False}, {"OIDC_ENABLED": False}])
def test_the_setting_or_oauth_only_keeps_them(logged_in, user, rp, settings, setting):
    tokens = logged_in.tokens(rp, scope="openid read")
    settings.OAUTH_PROVIDER = oauth_settings(**setting)
    logged_in.browser.post("/accounts/logout/")
    settings.OAUTH_PROVIDER = oauth_settings(LOGOUT_REVOKES_SESSION_GRANTS=True, OIDC_ENABLED=True)
    assert _refreshes(logged_in, rp, tokens)


def test_a_logout_with_nothing_to_revoke_costs_one_statement(logged_in, user, rp, assert_num_queries):
    logged_in.tokens(rp, scope="read")  # a plain OAuth grant of this session: kept
    request = RequestFactory().get("/")
    request.session = logged_in.browser.session
    assert request.session.get("_auth_user_id")  # loaded, as by Django's middleware before a logout
    with assert_num_queries(1):
        assert revoke_session_grants(request, user) == 0
    logged_in.tokens(rp, scope="openid")
    with assert_num_queries(3):  # find it, its actor-token cascade, the family (its tokens with it)
        assert revoke_session_grants(request, user) == 1
    with assert_num_queries(0):  # Django's user_logged_out for a visitor: no user, nothing to do
        assert revoke_session_grants(request, None) == 0


def test_nothing_is_revoked_or_counted_without_a_session_or_with_the_setting_off(logged_in, user, rp, settings):
    logged_in.tokens(rp, scope="openid")
    request = RequestFactory().get("/")
    request.session = logged_in.browser.session
    settings.OAUTH_PROVIDER = oauth_settings(LOGOUT_REVOKES_SESSION_GRANTS=False)
    assert revoke_session_grants(request, user) == 0
    settings.OAUTH_PROVIDER = oauth_settings(LOGOUT_REVOKES_SESSION_GRANTS=True)
    assert revoke_session_grants(None, user) == 0  # no request: no session to end
    unsaved = RequestFactory().get("/")
    unsaved.session = SessionStore()  # a session with no key yet: no sid
    assert revoke_session_grants(unsaved, user) == 0
    assert not Authorization.objects.revoked().exists()
    assert revoke_session_grants(request, user) == 1


@pytest.mark.req("BCL-2.7-refresh-revocation")
def test_a_scope_holding_two_spellings_of_openid_is_still_an_openid_grant(logged_in, user, settings):
    """Where LIKE ignores case (SQLite, MySQL) ``OPENID openid`` matches two of the narrowing
    patterns at once: the grant is still found."""
    settings.OAUTH_PROVIDER = oauth_settings(SCOPES={"read": "Read", "OPENID": "Y"})
    rp = ClientFactory(name="RP spellings")
    spellings = ("OPENID openid", "OPENID openid read", "read OPENID openid")
    grants = [logged_in.tokens(rp, scope=scope) for scope in spellings]
    assert sorted(Authorization.objects.values_list("scope", flat=True)) == sorted(spellings)
    logged_in.browser.post("/accounts/logout/")
    assert not any(_refreshes(logged_in, rp, tokens) for tokens in grants)


@pytest.mark.req("DERIVED-logout-csrf")
def test_a_logout_the_user_did_not_confirm_revokes_nothing(logged_in, user, rp):
    """The revocation makes a forced logout cost more, so it must stay as hard to force: a
    cross-site GET of the end-session endpoint (no hint of this session) only asks, and a GET
    of the site's logout view does nothing (Django's LogoutView takes POST only)."""
    tokens = logged_in.tokens(rp, scope="openid read")
    asked = logged_in.browser.get("/o/logout/")
    assert asked.status_code == 200  # the confirmation page
    logged_in.browser.get("/accounts/logout/")
    assert _refreshes(logged_in, rp, tokens)
    assert not Authorization.objects.revoked().exists()

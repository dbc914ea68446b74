"""A login that replaces another login session without a logout.

Django's ``login()`` flushes the session when another user logs in (switching accounts, e.g.
after ``prompt=login`` or ``select_account``), and a login after the session expired starts a
new one: neither sends ``user_logged_out``. The replaced login session has ended all the same,
so its clients are told (Back-Channel Logout 1.0 §2.7) and its grants that end with the login
are revoked, as at a logout.

Attacks written down and tested here: the next user of a shared browser inheriting the first
one's live sessions at the relying parties (the first user's clients never told); a forged or
tampered login cookie ending someone's session (signed, with its own expiry; ignored); the
cookie telling whoever sees it who the user is (it holds the session's ``sid`` only); a browser whose user logged
out normally telling the clients a second time at the next login (each client is told once
per session); the same user logging in again within the session ending it (nothing ends).
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import jwt as pyjwt
import pytest
from django.conf import settings
from django.core import signing
from django.test import Client as HttpClient

from oauth_provider.models import Authorization, LogoutDelivery
from oauth_provider.session import LOGIN_COOKIE, SID_KEY
from tests.support.factories import ClientFactory, UserFactory

from ..conftest import OAuthDriver
from .test_backchannel_logout import FAST, NOW_HOOK, RelyingParty, logout_tokens, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def server():
    from tests.support.http_servers import local_server, send
    from tests.support.settings import override_oauth

    with local_server() as srv, override_oauth(
        ALLOW_INSECURE_LOOPBACK_FETCH=True, FETCH=FAST, BACKCHANNEL_LOGOUT={"delivery": NOW_HOOK, "timeout": 2},
    ):
        srv.routes["/logout"] = lambda h: send(h, 200, b"", "text/plain")
        yield srv


@pytest.fixture
def rp(server):
    return ClientFactory(name="RP one", backchannel_logout_uri=server.url("/logout"))


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def alice(db):
    return UserFactory(username="alice")


def log_in(browser: HttpClient, username: str):
    """The site's own login page, as a person uses it (``force_login`` bypasses the request)."""
    response = browser.post("/accounts/login/", {"username": username, "password": "password"})
    assert response.status_code == 302, response.content[:300]
    return response


@pytest.fixture
def signed_in(alice, rp, signing_key):
    """A browser where alice logged in on the site's page and signed in to the RP (``openid``,
    no ``offline_access``)."""
    browser = HttpClient()
    log_in(browser, "alice")
    driver = OAuthDriver(browser, HttpClient())
    return driver, sign_in(driver, rp)


def test_logging_in_as_another_user_tells_the_first_users_clients_and_ends_their_session_grants(
        signed_in, rp, server, commit, alice):
    driver, id_token = signed_in
    keeps = ClientFactory(name="Offline RP")
    driver.tokens(keeps, scope="openid offline_access")
    with commit():
        log_in(driver.browser, UserFactory(username="bob").username)
    (token,) = logout_tokens(server)
    claims = RelyingParty(rp.client_id).validate(token)
    assert (claims["sub"], claims["sid"]) == (id_token["sub"], id_token["sid"])
    assert Authorization.objects.get(client=rp, user=alice).revoked_at is not None
    # offline_access asked for access while the user is not logged in (OIDC Core §11)
    assert Authorization.objects.get(client=keeps, user=alice).revoked_at is None
    assert driver.browser.session[SID_KEY] != id_token["sid"]


def test_switching_accounts_through_prompt_login_ends_the_first_login_session(signed_in, rp, server, commit, alice):
    """The way a relying party offers "use another account": prompt=login sends the user to
    the login page, and someone else signs in there."""
    driver, id_token = signed_in
    bob = UserFactory(username="bob")
    params, _verifier = driver.authorize_params(rp, scope="openid", nonce="n", prompt="login")
    to_login = driver.browser.get("/o/authorize/", params)
    assert urlsplit(to_login["Location"]).path == "/accounts/login/"
    back = parse_qs(urlsplit(to_login["Location"]).query)["next"][0]
    with commit():
        driver.browser.post(to_login["Location"], {"username": "bob", "password": "password", "next": back})
    (token,) = logout_tokens(server)
    assert RelyingParty(rp.client_id).validate(token)["sid"] == id_token["sid"]
    page = driver.browser.get(back)
    code = parse_qs(urlsplit(driver.approve(page)["Location"]).query)["code"][0]
    assert Authorization.objects.get(codes__code_hash__isnull=False, user=bob).pk is not None
    assert code and Authorization.objects.get(client=rp, user=alice).revoked_at is not None


def test_a_login_after_the_session_expired_ends_the_expired_one(signed_in, rp, server, commit, alice):
    driver, id_token = signed_in
    driver.browser.session.flush()  # expired and cleaned up on the server
    driver.browser.cookies.pop(settings.SESSION_COOKIE_NAME)
    with commit():
        log_in(driver.browser, "alice")
    (token,) = logout_tokens(server)
    assert RelyingParty(rp.client_id).validate(token)["sid"] == id_token["sid"]
    assert Authorization.objects.get(client=rp).revoked_at is not None


def test_the_same_user_logging_in_again_within_the_session_ends_nothing(signed_in, rp, server, commit):
    driver, id_token = signed_in
    with commit():
        log_in(driver.browser, "alice")
    assert logout_tokens(server) == [] and LogoutDelivery.objects.count() == 0
    assert Authorization.objects.get(client=rp).revoked_at is None
    assert driver.browser.session[SID_KEY] == id_token["sid"]


def test_a_client_told_at_a_logout_is_not_told_again_when_the_next_user_logs_in(signed_in, rp, server, commit):
    driver, _id_token = signed_in
    keeps = ClientFactory(name="Offline RP", backchannel_logout_uri=server.url("/logout"))
    driver.tokens(keeps, scope="openid offline_access")  # stays live after the logout
    with commit():
        driver.browser.post("/accounts/logout/")
    assert len(logout_tokens(server)) == 2
    assert driver.browser.cookies.get(LOGIN_COOKIE)  # the browser still names the ended session
    with commit():
        log_in(driver.browser, UserFactory(username="bob").username)
    assert len(logout_tokens(server)) == 2 and LogoutDelivery.objects.count() == 2


def _login_cookie(sid: str, until: int | None = None, salt: str = "oauth_provider.login") -> str:
    until = int(time.time()) + 3600 if until is None else until
    return signing.dumps({"s": sid, "x": until}, salt=salt)


@pytest.mark.parametrize("forge", ["tampered", "other salt", "not a dict", "bad sid", "no expiry", "expired"])
def test_a_login_cookie_not_signed_by_the_site_as_one_or_expired_ends_nothing(signed_in, rp, server, commit, forge):
    driver, id_token = signed_in
    real = driver.browser.cookies[LOGIN_COOKIE].value
    sid = id_token["sid"]
    value = {
        "tampered": real[:-2] + ("AA" if not real.endswith("AA") else "BB"),
        "other salt": _login_cookie(sid, salt="oauth_provider.reauthentication"),
        "not a dict": signing.dumps([sid, int(time.time()) + 3600], salt="oauth_provider.login"),
        "bad sid": _login_cookie("x" * 32),
        "no expiry": signing.dumps({"s": sid}, salt="oauth_provider.login"),
        "expired": _login_cookie(sid, until=int(time.time()) - 1),
    }[forge]
    driver.browser.cookies[LOGIN_COOKIE] = value
    with commit():
        log_in(driver.browser, UserFactory(username="bob").username)
    assert logout_tokens(server) == []
    assert Authorization.objects.get(client=rp).revoked_at is None


def test_a_login_cookie_naming_a_sid_no_grant_holds_ends_nothing(signed_in, rp, server, commit):
    driver, _id_token = signed_in
    driver.browser.cookies[LOGIN_COOKIE] = _login_cookie("0" * 32)
    with commit():
        log_in(driver.browser, UserFactory(username="bob").username)
    assert logout_tokens(server) == []
    assert Authorization.objects.get(client=rp).revoked_at is None


def test_the_login_cookie_names_the_session_of_an_openid_grant_and_follows_the_session_cookie(
        alice, rp, signing_key, settings):
    settings.SESSION_COOKIE_SECURE = True
    settings.SESSION_COOKIE_SAMESITE = "Strict"
    settings.SESSION_COOKIE_DOMAIN = "testserver.local"
    browser = HttpClient()
    log_in(browser, "alice")
    driver = OAuthDriver(browser, HttpClient())
    driver.get_code(rp, scope="read")  # plain OAuth: no login session in the grant
    assert LOGIN_COOKIE not in browser.cookies
    for _grant in range(2):  # sent again at every grant: the session cookie may have been
        params, _ = driver.authorize_params(rp, scope="openid", nonce="n")
        response = browser.get("/o/authorize/", params)
        response = driver.approve(response) if response.status_code == 200 else response
        cookie = response.cookies[LOGIN_COOKIE]
        browser.cookies[LOGIN_COOKIE] = cookie.value
        named = signing.loads(cookie.value, salt="oauth_provider.login")
        assert named["s"] == browser.session[SID_KEY] and set(named) == {"s", "x"}
        assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "Strict"
        assert cookie["path"] == "/" and cookie["domain"] == "testserver.local"
        # the session's remaining life plus one more session age, in the cookie and its value
        lifetime = 2 * settings.SESSION_COOKIE_AGE
        assert lifetime - 5 <= int(cookie["max-age"]) <= lifetime
        assert abs(named["x"] - (time.time() + int(cookie["max-age"]))) <= 5


def test_a_browser_session_cookie_makes_a_browser_session_login_cookie(alice, rp, signing_key, settings):
    settings.SESSION_EXPIRE_AT_BROWSER_CLOSE = True
    browser = HttpClient()
    log_in(browser, "alice")
    driver = OAuthDriver(browser, HttpClient())
    params, _ = driver.authorize_params(rp, scope="openid", nonce="n")
    response = browser.get("/o/authorize/", params)
    response = driver.approve(response) if response.status_code == 200 else response
    assert response.cookies[LOGIN_COOKIE]["max-age"] == ""


def test_with_back_channel_logout_off_a_switch_still_ends_the_session_grants(signed_in, rp, server, commit):
    from tests.support.settings import override_oauth

    driver, _ = signed_in
    with override_oauth(BACKCHANNEL_LOGOUT={"enabled": False}), commit():
        log_in(driver.browser, UserFactory(username="bob").username)
    assert logout_tokens(server) == []
    assert Authorization.objects.get(client=rp).revoked_at is not None


def test_the_sid_in_the_id_token_is_the_one_the_cookie_names(signed_in):
    driver, id_token = signed_in
    named = signing.loads(driver.browser.cookies[LOGIN_COOKIE].value, salt="oauth_provider.login")
    assert named["s"] == id_token["sid"] == pyjwt.decode(id_token["_raw"], options={"verify_signature": False})["sid"]


def test_a_replaced_session_whose_clients_have_no_back_channel_uri_costs_one_statement(alice, signing_key):
    """Telling a replaced session's clients: one statement finds none to tell, and nothing
    more is read (the look for clients already told runs only when there are some)."""
    from django.db import connection
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from oauth_provider.oidc import logout as backchannel

    browser = HttpClient()
    log_in(browser, "alice")
    sign_in(OAuthDriver(browser, HttpClient()), ClientFactory(name="No back-channel"))
    sid = browser.session[SID_KEY]
    with CaptureQueriesContext(connection) as captured:
        assert backchannel.session_ended(RequestFactory().get("/"), alice, sid=sid, once=True) == []
    assert len(captured.captured_queries) == 1


def test_a_login_cookie_is_good_until_its_own_expiry_not_a_second_more(db):
    from datetime import datetime, timezone

    from django.test import RequestFactory

    from oauth_provider import secrets
    from oauth_provider.session import previous_login

    until = 1_900_000_000
    request = RequestFactory().get("/")
    request.COOKIES[LOGIN_COOKIE] = _login_cookie("a" * 32, until=until)
    try:
        secrets.set_clock(lambda: datetime.fromtimestamp(until - 1, timezone.utc))
        assert previous_login(request) == "a" * 32
        secrets.set_clock(lambda: datetime.fromtimestamp(until, timezone.utc))
        assert previous_login(request) is None
    finally:
        secrets.set_clock(None)


# --- front-channel logout of the replaced session (Front-Channel Logout 1.0 §3) -----------------

FC_URI = "https://rp.example/fc-logout"


@pytest.fixture
def fc_signed_in(alice, signing_key):
    """A browser where alice logged in and signed in to a client with a front-channel logout
    URI (and ``iss``/``sid`` required) and to one without."""
    browser = HttpClient()
    log_in(browser, "alice")
    driver = OAuthDriver(browser, HttpClient())
    fc_rp = ClientFactory(name="FC RP", frontchannel_logout_uri=FC_URI, frontchannel_logout_session_required=True)
    plain = ClientFactory(name="Plain RP")
    return driver, sign_in(driver, fc_rp), sign_in(driver, plain)


def _frames(response) -> list[str]:
    import html
    import re

    return [html.unescape(src) for src in re.findall(
        r'<iframe class="oauth-provider-frontchannel-logout" src="([^"]*)"', response.content.decode())]


def test_another_user_logging_in_signs_the_first_session_out_of_its_front_channel_clients(fc_signed_in):
    """The login view's redirect becomes the page that loads the previous session's clients'
    logout URIs (with that session's ``sid``), then goes on to where the login was going."""
    driver, fc_token, _plain = fc_signed_in
    UserFactory(username="bob")
    page = driver.browser.post("/accounts/login/", {"username": "bob", "password": "password", "next": "/after/"})
    assert page.status_code == 200
    (url,) = _frames(page)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == FC_URI
    assert parse_qs(parts.query) == {"iss": ["https://testserver/o"], "sid": [fc_token["sid"]]}
    body = page.content.decode()
    assert "Switching accounts" in body and "Signing the previous account out" in body
    assert "You are signed out" not in body and "You are still signed in" not in body
    assert 'href="/after/"' in body
    assert "frame-src https://rp.example" in page["Content-Security-Policy"]
    assert page["X-Frame-Options"] == "DENY" and page["Cache-Control"] == "no-store"
    # bob is signed in: the page keeps the login's session cookie
    assert driver.browser.get("/o/authorize/", driver.authorize_params(
        ClientFactory(), scope="openid", nonce="n")[0]).status_code == 200
    # the login cookie is dropped: those clients are not signed out again at the next login
    assert page.cookies[LOGIN_COOKIE].value == "" and page.cookies[LOGIN_COOKIE]["max-age"] == 0
    driver.browser.post("/accounts/logout/")
    again = driver.browser.post("/accounts/login/", {"username": "bob", "password": "password", "next": "/after/"})
    assert again.status_code == 302


def test_the_same_user_logging_in_again_gets_no_page(fc_signed_in):
    driver, _fc, _plain = fc_signed_in
    response = driver.browser.post("/accounts/login/", {"username": "alice", "password": "password", "next": "/a/"})
    assert response.status_code == 302 and response["Location"] == "/a/"


def test_a_login_after_the_session_expired_signs_its_front_channel_clients_out(fc_signed_in):
    driver, fc_token, _plain = fc_signed_in
    driver.browser.session.flush()
    driver.browser.cookies.pop(settings.SESSION_COOKIE_NAME)
    page = driver.browser.post("/accounts/login/", {"username": "alice", "password": "password", "next": "/a/"})
    (url,) = _frames(page)
    assert parse_qs(urlsplit(url).query)["sid"] == [fc_token["sid"]]


def test_only_the_replaced_sessions_live_grants_sign_out(fc_signed_in, alice):
    """Another login session of the same user (another browser), and a grant of the replaced
    session revoked already, are not signed out here."""
    driver, _fc, _plain = fc_signed_in
    elsewhere = HttpClient()
    log_in(elsewhere, "alice")
    other_rp = ClientFactory(name="Elsewhere", frontchannel_logout_uri="https://rp.example/other-fc")
    sign_in(OAuthDriver(elsewhere, HttpClient()), other_rp)
    revoked_rp = ClientFactory(name="Revoked", frontchannel_logout_uri="https://rp.example/revoked-fc")
    sign_in(driver, revoked_rp)
    Authorization.objects.filter(client=revoked_rp).update(revoked_at=Authorization.objects.first().created_at)
    page = driver.browser.post("/accounts/login/", {"username": UserFactory().username, "password": "password",
                                                    "next": "/a/"})
    assert [urlsplit(url).path for url in _frames(page)] == ["/fc-logout"]


def test_with_front_channel_logout_off_a_switch_is_a_plain_redirect(fc_signed_in):
    from tests.support.settings import override_oauth

    driver, _fc, _plain = fc_signed_in
    with override_oauth(FRONTCHANNEL_LOGOUT={"enabled": False}):
        response = driver.browser.post("/accounts/login/", {"username": UserFactory().username,
                                                            "password": "password", "next": "/a/"})
    assert response.status_code == 302


def test_the_switch_page_is_translated(fc_signed_in):
    from django.utils import translation

    driver, _fc, _plain = fc_signed_in
    with translation.override("fr"):
        body = driver.browser.post("/accounts/login/", {"username": UserFactory().username, "password": "password",
                                                        "next": "/a/"}).content.decode()
    assert "Changement de compte" in body and "Déconnexion du compte précédent" in body


@pytest.fixture
def fc_offline(alice, signing_key):
    """alice signed in to a front-channel client with ``offline_access``: her grant outlives
    her logout."""
    browser = HttpClient()
    log_in(browser, "alice")
    driver = OAuthDriver(browser, HttpClient())
    fc_rp = ClientFactory(name="FC RP", frontchannel_logout_uri=FC_URI, frontchannel_logout_session_required=True)
    driver.tokens(fc_rp, scope="openid offline_access", nonce="n")
    return driver


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_a_logout_then_a_login_does_not_sign_the_session_out_again(fc_offline, who):
    """The logout signed the session's clients out (its page loaded their iframes) and drops
    the login cookie: the next login in that browser, by the same user or another, is a plain
    redirect (found by the session-24 review: a grant outliving the logout, offline_access or
    LOGOUT_REVOKES_SESSION_GRANTS off, made it show "Switching accounts" again)."""
    UserFactory(username="bob")
    out = fc_offline.browser.post("/accounts/logout/", {"next": "/bye/"})
    assert len(_frames(out)) == 1, "the logout signs the client out, once"
    assert out.cookies[LOGIN_COOKIE].value == "" and out.cookies[LOGIN_COOKIE]["max-age"] == 0
    again = fc_offline.browser.post("/accounts/login/", {"username": who, "password": "password", "next": "/a/"})
    assert again.status_code == 302 and again["Location"] == "/a/"


def test_with_logout_revocation_off_a_logout_then_another_login_shows_no_switch_page(alice, signing_key):
    from tests.support.settings import override_oauth

    with override_oauth(LOGOUT_REVOKES_SESSION_GRANTS=False):
        browser = HttpClient()
        log_in(browser, "alice")
        OAuthDriver(browser, HttpClient()).tokens(ClientFactory(name="FC RP", frontchannel_logout_uri=FC_URI),
                                                  scope="openid", nonce="n")
        browser.post("/accounts/logout/", {"next": "/bye/"})
        again = browser.post("/accounts/login/", {"username": UserFactory().username, "password": "password",
                                                  "next": "/a/"})
        assert again.status_code == 302, _frames(again)


def test_rp_initiated_logout_drops_the_login_cookie_too(signed_in, rp, server, commit):
    """The end-session endpoint renders its own page (no middleware needed): the cookie goes
    there as well, and a later login tells nobody again."""
    driver, id_token = signed_in
    with commit():
        out = driver.browser.get("/o/logout/", {"id_token_hint": id_token["_raw"]})
    assert out.status_code == 200 and out.cookies[LOGIN_COOKIE]["max-age"] == 0
    told = len(logout_tokens(server))
    with commit():
        log_in(driver.browser, UserFactory(username="bob").username)
    assert len(logout_tokens(server)) == told


def test_a_request_that_logs_nobody_out_keeps_the_login_cookie(signed_in):
    driver, _id_token = signed_in
    response = driver.browser.get("/o/logout/")  # asks for confirmation: nobody is logged out yet
    assert response.status_code == 200 and LOGIN_COOKIE not in response.cookies
    assert LOGIN_COOKIE in driver.browser.cookies


def test_finding_the_replaced_sessions_front_channel_clients_costs_one_statement(fc_signed_in):
    """DESIGN.md's habit: a statement budget where it matters. The switch looks up the old
    session's front-channel clients in one query (and none when front-channel logout is off)."""
    from django.db import connection
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from oauth_provider.oidc import frontchannel
    from tests.support.settings import override_oauth

    _driver, fc_token, _plain = fc_signed_in
    with CaptureQueriesContext(connection) as captured:
        frames = frontchannel.login_replaced(RequestFactory().get("/"), fc_token["sid"])
    assert len(frames) == 1 and len(captured.captured_queries) == 1
    with override_oauth(FRONTCHANNEL_LOGOUT={"enabled": False}), CaptureQueriesContext(connection) as captured:
        assert frontchannel.login_replaced(RequestFactory().get("/"), fc_token["sid"]) == []
    assert len(captured.captured_queries) == 0

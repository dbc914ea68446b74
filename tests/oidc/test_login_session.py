"""The provider and the user's Django login session, as an attacker sees it (an outside
review's tests): the login cookie outliving the session it names, telling nothing of the user
but the session's ``sid``; a forced login answered only by a login made after it asked; and
the rules found holding: every session engine and an async login end a replaced login, the
ID token's ``auth_time``/``sid`` follow the real logins, another user answering
``select_account`` gets a code of their own, a shared browser's next user inherits nothing, a
logout confirmation cannot end the next login."""

# ruff: noqa: F811  (the fixtures imported from test_account_switch are parameters here)
from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import jwt as pyjwt
import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient
from django.test import Client as HttpClient

from oauth_provider import secrets
from oauth_provider.models import Authorization, LogoutDelivery
from oauth_provider.session import LOGIN_COOKIE, SID_KEY
from tests.support.factories import UserFactory

from ..conftest import OAuthDriver
from .test_account_switch import alice, commit, log_in, rp, server, signed_in  # noqa: F401  (fixtures)
from .test_backchannel_logout import RelyingParty, logout_tokens, sign_in

pytestmark = pytest.mark.django_db

DAY = 86400


class ExpiringBrowser(HttpClient):
    """A browser that forgets a cookie once its ``Max-Age`` has run out on the browser's own
    clock (Django's test client never expires cookies)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.clock = 0
        self.expires: dict[str, int] = {}

    def request(self, **request):
        response = super().request(**request)
        for name, morsel in response.cookies.items():
            age = morsel["max-age"]
            if age == "":
                self.expires.pop(name, None)
            else:
                self.expires[name] = self.clock + int(age)
        return response

    def advance(self, seconds: int) -> None:
        self.clock += seconds
        for name, at in list(self.expires.items()):
            if at <= self.clock:
                self.cookies.pop(name, None)
                del self.expires[name]


def id_token_of(driver: OAuthDriver, client, response, verifier) -> dict:
    response = driver.approve(response) if response.status_code == 200 else response
    assert response.status_code == 302, response.content[:300]
    code = parse_qs(urlsplit(response["Location"]).query)["code"][0]
    tokens = driver.exchange(client, code, verifier).json()
    return pyjwt.decode(tokens["id_token"], options={"verify_signature": False})


# --- the login cookie and the forced-login marker ----------------------------------------------

def test_the_login_cookie_outlives_a_session_kept_alive_by_relogins_and_a_switch_still_ends_it(
        rp, server, commit, alice, signing_key, settings):
    """The session cookie is sent again at every session write (here: the re-login a relying
    party's prompt=login / max_age asks for). A login cookie set once, with the session
    cookie's Max-Age of that moment, expired while alice's session lived on: bob logging in
    then ended nothing (an outside review's finding). It is sent again at every OpenID
    Connect grant, and lasts one more session age past the session."""
    browser = ExpiringBrowser()
    log_in(browser, "alice")
    driver = OAuthDriver(browser, HttpClient())
    first = sign_in(driver, rp)  # day 0: the login cookie, Max-Age = SESSION_COOKIE_AGE
    browser.advance(settings.SESSION_COOKIE_AGE - DAY)  # day 13
    # the relying party asks for a fresh login; alice signs in again, in the same session
    params, verifier = driver.authorize_params(rp, scope="openid", nonce="n2", prompt="login")
    to_login = browser.get("/o/authorize/", params)
    back = parse_qs(urlsplit(to_login["Location"]).query)["next"][0]
    relogged = browser.post(to_login["Location"], {"username": "alice", "password": "password", "next": back})
    assert settings.SESSION_COOKIE_NAME in relogged.cookies  # the session cookie lives 14 more days
    second = id_token_of(driver, rp, browser.get(back), verifier)
    assert second["sid"] == first["sid"]  # one login session
    browser.advance(2 * DAY)  # day 15
    assert browser.session.get("_auth_user_id") == str(alice.pk)  # alice is still signed in here
    with commit():
        log_in(browser, UserFactory(username="bob").username)
    assert logout_tokens(server), "alice's relying party was never told her session ended"
    assert not Authorization.objects.filter(user=alice, client=rp, revoked_at__isnull=True).exists()


def test_the_login_cookie_does_not_show_the_users_internal_id(signed_in, alice):
    """The cookie is signed, not encrypted: anyone who sees it (every host under a parent
    SESSION_COOKIE_DOMAIN, a relying party on a sibling subdomain included; the next user of a
    shared browser, after the first one logged out) reads the user's primary key, the one
    identifier pairwise subjects exist to keep from relying parties."""
    driver, _id_token = signed_in
    raw = driver.browser.cookies[LOGIN_COOKIE].value
    payload = raw.split(":")[0].lstrip(".")
    readable = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert f'"{alice.pk}"'.encode() not in readable, readable


def test_prompt_login_is_not_answered_by_a_login_made_earlier_in_the_same_second(rp, alice, signing_key):
    """``auth_time`` has a one-second resolution: a marker that counted a login "no older than
    the marker" took a login made *before* the prompt=login request, within the same second,
    as its answer, and coming back without any login gave a code (an outside review's
    finding). Within the marker's second, the session's login id must have changed."""
    t0 = datetime(2030, 1, 1, 12, 0, 0, 100000, tzinfo=timezone.utc)
    secrets.set_clock(lambda: t0)
    browser = HttpClient()
    log_in(browser, "alice")
    driver = OAuthDriver(browser, HttpClient())
    sign_in(driver, rp)
    secrets.set_clock(lambda: t0 + timedelta(milliseconds=800))  # later, same second
    params, _verifier = driver.authorize_params(rp, scope="openid", nonce="n", prompt="login")
    to_login = browser.get("/o/authorize/", params)
    back = parse_qs(urlsplit(to_login["Location"]).query)["next"][0]
    again = browser.get(back)  # no login in between
    assert "code=" not in again.get("Location", ""), again.get("Location")


# --- what holds -----------------------------------------------------------------------------------

@pytest.mark.parametrize("engine", ["db", "cached_db", "cache", "signed_cookies"])
def test_every_session_engine_ends_the_replaced_login_and_keeps_a_same_user_relogin(
        engine, rp, server, commit, alice, signing_key, settings):
    settings.SESSION_ENGINE = f"django.contrib.sessions.backends.{engine}"
    browser = HttpClient()
    log_in(browser, "alice")
    driver = OAuthDriver(browser, HttpClient())
    id_token = sign_in(driver, rp)
    with commit():
        log_in(browser, "alice")  # the same user again, in the same session: nothing ends
    assert logout_tokens(server) == []
    assert Authorization.objects.get(client=rp, user=alice).revoked_at is None
    with commit():
        log_in(browser, UserFactory(username="bob").username)
    (token,) = logout_tokens(server)
    assert RelyingParty(rp.client_id).validate(token)["sid"] == id_token["sid"]
    assert Authorization.objects.get(client=rp, user=alice).revoked_at is not None


@pytest.mark.urls("tests.oidc.async_login_urls")
def test_an_async_login_alogin_under_asgi_ends_the_replaced_login_too(rp, server, alice, signing_key):
    browser = HttpClient()
    log_in(browser, "alice")
    driver = OAuthDriver(browser, HttpClient())
    id_token = sign_in(driver, rp)
    asgi = AsyncClient()
    asgi.cookies = browser.cookies
    bob = UserFactory(username="bob")
    response = async_to_sync(asgi.post)("/alogin/", {"username": bob.username, "password": "password"})
    assert response.status_code == 200
    assert Authorization.objects.get(client=rp, user=alice).revoked_at is not None
    assert LogoutDelivery.objects.filter(session_id=id_token["sid"]).count() == 1


def test_auth_time_and_sid_follow_the_real_logins(rp, alice, signing_key):
    """auth_time is the last real login; sid stays for a re-login of the same user in the
    same session and is new for another user's login in the same browser."""
    t0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
    secrets.set_clock(lambda: t0)
    browser = HttpClient()
    log_in(browser, "alice")
    driver = OAuthDriver(browser, HttpClient())
    first = sign_in(driver, rp)
    assert first["auth_time"] == int(t0.timestamp())
    secrets.set_clock(lambda: t0 + timedelta(seconds=100))
    log_in(browser, "alice")
    again = sign_in(driver, rp, nonce="n2")
    assert (again["auth_time"], again["sid"]) == (int(t0.timestamp()) + 100, first["sid"])
    secrets.set_clock(lambda: t0 + timedelta(seconds=200))
    log_in(browser, UserFactory(username="bob").username)
    bobs = sign_in(driver, rp, nonce="n3")
    assert bobs["auth_time"] == int(t0.timestamp()) + 200 and bobs["sid"] != first["sid"]
    assert bobs["sid"] == browser.session[SID_KEY]


def test_a_prompt_login_answered_by_another_user_gives_that_users_code_with_their_own_login(
        signed_in, rp, alice, server, commit):
    """select_account / prompt=login: someone else signing in is a real login; the code is
    theirs, with their sid and auth_time, never alice's consent or session."""
    driver, alices = signed_in
    later = datetime.now(timezone.utc) + timedelta(seconds=10)  # the marker comes after alice's login
    secrets.set_clock(lambda: later)
    bob = UserFactory(username="bob")
    params, verifier = driver.authorize_params(rp, scope="openid", nonce="n", prompt="select_account")
    to_login = driver.browser.get("/o/authorize/", params)
    back = parse_qs(urlsplit(to_login["Location"]).query)["next"][0]
    # back without logging in: another login page, no code
    again = driver.browser.get(back)
    assert urlsplit(again["Location"]).path == "/accounts/login/", again["Location"]
    with commit():
        driver.browser.post(to_login["Location"], {"username": "bob", "password": "password", "next": back})
    page = driver.browser.get(back)
    assert page.status_code == 200  # alice's remembered consent is not bob's
    bobs = id_token_of(driver, rp, page, verifier)
    assert bobs["sid"] != alices["sid"]
    assert Authorization.objects.filter(user=bob, client=rp).count() == 1


def test_the_next_user_of_a_shared_browser_inherits_no_login_consent_or_session(
        signed_in, rp, alice, server, commit):
    driver, alices = signed_in
    with commit():
        driver.browser.post("/accounts/logout/")
    assert Authorization.objects.get(user=alice, client=rp).revoked_at is not None
    told = len(logout_tokens(server))
    # the next person: not signed in as alice, prompt=none gets login_required, not a code
    params, _ = driver.authorize_params(rp, scope="openid", nonce="n", prompt="none")
    r = driver.browser.get("/o/authorize/", params)
    assert "code=" not in r.get("Location", "")
    with commit():
        log_in(driver.browser, UserFactory(username="bob").username)
    assert len(logout_tokens(server)) == told  # alice's clients are not told twice
    params, verifier = driver.authorize_params(rp, scope="openid", nonce="n")
    page = driver.browser.get("/o/authorize/", params)
    assert page.status_code == 200  # consent asked of bob
    bobs = id_token_of(driver, rp, page, verifier)
    assert bobs["sid"] != alices["sid"] and bobs["auth_time"] >= alices["auth_time"]


def _csrf_login(browser: HttpClient, username: str):
    page = browser.get("/accounts/login/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = browser.post("/accounts/login/", {"username": username, "password": "password",
                                                 "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    return response


def test_a_logout_confirmation_shown_to_alice_cannot_log_out_bob_after_a_switch(rp, alice, signing_key):
    """The confirmation form names no user; what keeps it from ending the next login in the
    browser is the CSRF token, rotated by Django at every login."""
    browser = HttpClient(enforce_csrf_checks=True)
    _csrf_login(browser, "alice")
    page = browser.get("/o/logout/", {"client_id": rp.client_id}).content.decode()
    form = {name: re.search(rf'name="{name}" value="([^"]+)"', page).group(1)
            for name in ("csrfmiddlewaretoken", "logout_request")}
    bob = UserFactory(username="bob")
    _csrf_login(browser, "bob")  # in another tab
    response = browser.post("/o/logout/", {**form, "logout": "logout"})
    assert response.status_code == 403
    assert browser.session.get("_auth_user_id") == str(bob.pk)


# --- what the library keeps in the browser and the session, as docs/security.md lists it ----------

def test_the_cookies_and_session_keys_the_library_sets_are_the_ones_the_security_page_lists(
        rp, alice, signing_key, settings):
    """A site's cookie notice is written from docs/security.md: a cookie or session key the
    library adds must be listed there, with the attributes it has."""
    from pathlib import Path

    settings.SESSION_COOKIE_SECURE = True
    page = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    browser = HttpClient()
    log_in(browser, "alice")
    driver = OAuthDriver(browser, HttpClient())
    sign_in(driver, rp)  # an OpenID Connect grant: the login cookie
    params, _verifier = driver.authorize_params(rp, scope="openid", nonce="n", prompt="login")
    forced = browser.get("/o/authorize/", params)  # a forced login: the marker cookie
    ours = {name: morsel for name, morsel in browser.cookies.items()
            if name not in (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME)}
    assert set(ours) == {"oauth_provider_reauth", "oauth_provider_login"}
    for name, morsel in ours.items():
        assert f"| `{name}` | cookie" in page
        assert morsel["httponly"] and morsel["secure"], name
    assert forced.cookies["oauth_provider_reauth"]["path"] == "/o/authorize/"
    keys = {key for key in browser.session.keys() if not key.startswith("_auth_user")}
    assert keys == {"_oauth_provider_auth_time", "_oauth_provider_sid", "_oauth_provider_login"}
    for key in keys:
        assert f"| `{key}` | session" in page


# --- session.py's rules, one by one (what the flows above cannot single out) --------------------

def _request(session_key: str | None = "k" * 32, **stored):
    from django.contrib.sessions.backends.db import SessionStore
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.session = SessionStore()
    request.session._session_cache = dict(stored)  # a session as loaded, without a database row
    if session_key is not None:
        request.session._session_key = session_key
    return request


def test_a_session_from_before_the_sid_was_kept_gets_its_keys_hash_kept_from_then_on(db):
    import hashlib

    from oauth_provider.session import session_id

    request = _request("k" * 32)
    expected = hashlib.sha256(b"oauth_provider.sid:" + b"k" * 32).hexdigest()[:32]
    assert session_id(request) == expected and request.session[SID_KEY] == expected
    request.session._session_key = "m" * 32  # the key cycles: the sid stays
    assert session_id(request) == expected
    assert session_id(_request(None)) == ""  # no session key: no session, no sid


def test_a_sid_or_login_id_not_of_the_librarys_shape_is_not_used(db):
    from oauth_provider.session import LOGIN_KEY, current_sid, login_id, session_id

    for junk in ("not-a-sid", "A" * 32, 12345, ["a" * 32]):
        request = _request(**{SID_KEY: junk, LOGIN_KEY: junk})
        assert current_sid(request) == "" and login_id(request) == ""
        assert session_id(request) not in ("", junk) and len(session_id(request)) == 32


def test_a_login_in_a_session_with_a_login_time_but_no_sid_draws_one(db, alice):
    """A session from before the sid was kept (a login time, no sid): the next login of the
    same user draws the sid then, rather than leaving it to be derived from the key."""
    from oauth_provider.session import AUTH_TIME_KEY, record_login

    request = _request(**{AUTH_TIME_KEY: 1})
    record_login(None, request, alice)
    assert len(request.session[SID_KEY]) == 32


def test_a_login_signal_without_a_session_is_ignored(db, alice):
    from django.test import RequestFactory

    from oauth_provider.session import record_login

    bare = RequestFactory().get("/")
    record_login(None, bare, alice)  # a host sending user_logged_in for a request of its own
    record_login(None, None, alice)
    assert not hasattr(bare, "session")


def test_a_login_cookie_naming_a_sid_not_of_the_librarys_shape_names_nothing(db):
    import time as clock

    from django.core import signing as django_signing

    from oauth_provider.session import previous_login

    future = int(clock.time()) + 3600
    for sid in ("x" * 32, "A" * 32, "a" * 31, 7):
        request = _request()
        request.COOKIES[LOGIN_COOKIE] = django_signing.dumps({"s": sid, "x": future}, salt="oauth_provider.login")
        assert previous_login(request) is None, sid
    request = _request()
    request.COOKIES[LOGIN_COOKIE] = django_signing.dumps({"s": "a" * 32, "x": future}, salt="oauth_provider.login")
    assert previous_login(request) == "a" * 32


# --- the forced-login marker's rules, one by one (oidc/reauthentication.py) --------------------

class SessionLoginAdapter:
    """A host whose own single sign-on records the login time in the session (no Django
    ``login()``, so no login id drawn): the adapter's ``auth_time`` is the truth."""

    def __new__(cls):
        from oauth_provider.adapter import DefaultAdapter

        class _Adapter(DefaultAdapter):
            def auth_time(self, request, user):
                from datetime import datetime, timezone

                value = request.session.get("sso_login")
                return datetime.fromtimestamp(value, timezone.utc) if value else None

        return _Adapter()


def _forced(oauth, client, **overrides):
    from .test_code_flow import _forced_login_return

    return _forced_login_return(oauth.browser, client, **overrides)


def _goes_on(response) -> bool:
    """The request went past the login: the consent page, or a code."""
    return response.status_code == 200 or "code=" in response.get("Location", "")


def test_a_marker_counts_for_an_hour_to_the_second(oauth, conf_client, user, signing_key):
    from .test_code_flow import login_redirect

    base = datetime(2031, 1, 1, tzinfo=timezone.utc)
    for age, counts in ((3600, True), (3601, False)):
        secrets.set_clock(lambda: base)
        oauth.browser.force_login(user)
        secrets.set_clock(lambda: base + timedelta(seconds=1))
        path, back, _ = _forced(oauth, conf_client, prompt="login")
        secrets.set_clock(lambda: base + timedelta(seconds=2))
        oauth.browser.force_login(user)  # the login it asked for
        secrets.set_clock(lambda age=age: base + timedelta(seconds=1 + age))
        response = oauth.browser.get(path, back)
        if counts:
            assert _goes_on(response), response.get("Location")
        else:
            login_redirect(response)


@pytest.mark.parametrize("entry", [[1, "d"], [1, "d", "l", "x"], "abc", {"a": 1}])
def test_a_marker_cookie_of_another_shape_is_no_marker_not_an_error(oauth, conf_client, user, signing_key, entry):
    """A cookie from before the login id was kept (two fields), or of any other shape, signed by
    the site all the same: the request asks for a login again, never a 500."""
    from django.core import signing as django_signing

    from oauth_provider.oidc import reauthentication

    from .test_code_flow import login_redirect

    path, back, _ = _forced(oauth, conf_client, prompt="login")
    oauth.browser.force_login(user)
    issued = int(secrets.now().timestamp()) - 10
    shaped = entry if not isinstance(entry, list) else [issued, *entry[1:]]
    oauth.browser.cookies[reauthentication.COOKIE_NAME] = django_signing.dumps(
        {back["login_after"]: shaped}, salt=reauthentication._SALT, compress=True)
    login_redirect(oauth.browser.get(path, back))


@pytest.mark.parametrize("changed", ["state", "scope", "code_challenge", "prompt"])
def test_a_marker_counts_only_for_the_very_request_it_was_issued_for(oauth, conf_client, user, signing_key, changed):
    """Each parameter is part of the request the marker stands for, whatever its name: the same
    request with only its ``state``, its ``scope``, its PKCE challenge or another prompt (a
    ``consent`` it asked for, dropped) is another request, and asks for its own login."""
    from .test_code_flow import login_redirect

    base = secrets.now()
    secrets.set_clock(lambda: base + timedelta(seconds=5))
    path, back, _ = _forced(oauth, conf_client, prompt="login consent")
    secrets.set_clock(lambda: base + timedelta(seconds=10))
    oauth.browser.force_login(user)
    other = dict(back)
    if changed == "prompt":
        other.pop("prompt")
    else:
        other[changed] = {"state": "another", "scope": "openid read", "code_challenge": "C" * 43}[changed]
    login_redirect(oauth.browser.get(path, other))
    assert _goes_on(oauth.browser.get(path, back))


def test_a_host_that_records_its_own_logins_answers_a_forced_login(oauth, conf_client, user, signing_key, settings):
    """With an adapter whose ``auth_time`` is the host's own (no Django ``login()``, so the
    session's login id never changes), a login recorded after the marker counts; one before
    it does not."""
    from .test_code_flow import login_redirect

    adapter = "tests.oidc.test_login_session.SessionLoginAdapter"
    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, "ADAPTER": adapter}
    base = datetime(2031, 1, 1, tzinfo=timezone.utc)
    session = oauth.browser.session
    session["sso_login"] = int(base.timestamp())
    session.save()
    secrets.set_clock(lambda: base + timedelta(seconds=5))
    path, back, _ = _forced(oauth, conf_client, prompt="login")
    login_redirect(oauth.browser.get(path, back))  # the host's login is older than the marker
    session = oauth.browser.session
    session["sso_login"] = int(base.timestamp()) + 20  # the host's sign-on, after the marker
    session.save()
    secrets.set_clock(lambda: base + timedelta(seconds=30))
    assert _goes_on(oauth.browser.get(path, back))


def test_a_login_exactly_max_age_old_is_still_fresh_enough(oauth, conf_client, signing_key):
    """OIDC Core §3.1.2.1: a new login when *more* than ``max_age`` seconds have elapsed."""
    from oauth_provider.session import AUTH_TIME_KEY

    login = int(secrets.now().timestamp())
    session = oauth.browser.session
    session[AUTH_TIME_KEY] = login
    session.save()
    params, _ = oauth.authorize_params(conf_client, scope="openid", max_age="60")
    secrets.set_clock(lambda: datetime.fromtimestamp(login, timezone.utc) + timedelta(seconds=60))
    assert _goes_on(oauth.browser.get("/o/authorize/", params))


def test_an_id_token_hint_naming_someone_else_asks_for_a_login_whichever_way_their_ids_sort(
        oauth, conf_client, signing_key):
    from oauth_provider.oidc import id_token as id_token_module
    from tests.support.factories import AuthorizationFactory

    from .test_code_flow import ISS, login_redirect

    first, second = UserFactory(username="first"), UserFactory(username="second")
    for logged_in, named in ((second, first), (first, second)):
        oauth.browser.force_login(logged_in)
        family = AuthorizationFactory(user=named, client=conf_client, scope="openid")
        hint = id_token_module.build(issuer=ISS, client=conf_client, authorization=family, access_token=None,
                                     nonce=None)
        params, _ = oauth.authorize_params(conf_client, scope="openid", id_token_hint=hint)
        login_redirect(oauth.browser.get("/o/authorize/", params))

"""OpenID Connect Back-Channel Logout 1.0: a relying party on 127.0.0.1 (a real HTTP server)
receives a logout token after each kind of logout and validates it as an RP must (§2.6):
signature from our JWKS, ``typ``, ``iss``, ``aud``, ``iat``, ``exp``, ``events``, ``sub``/``sid``,
no ``nonce``, and a ``jti`` seen only once.

Attacks written down and tested here: a logout token replayed, or passed off as an ID token
(``id_token_hint``) or as a bearer token (§4.1, RFC 8725 §3.11); a ``backchannel_logout_uri``
aimed at the provider's own network, at registration and at send time (SSRF, section Q of the
checklist); a slow relying party holding up the user's logout (the hook, never inside the
transaction); an RP redirecting the POST elsewhere (never followed).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import jwt as pyjwt
import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client as HttpClient

from oauth_provider import keys, secrets
from oauth_provider.models import Authorization, LogoutDelivery, get_client_model
from oauth_provider.oidc import logout as backchannel
from oauth_provider.signals import backchannel_logout
from tests.support.factories import ClientFactory, PublicClientFactory, UserFactory
from tests.support.http_servers import LocalServer, local_server, redirect_route, send, slow_route
from tests.support.settings import override_oauth

from ..conftest import OAuthDriver, real_queries

pytestmark = pytest.mark.django_db
ISS = "https://testserver/o"
EVENT = "http://schemas.openid.net/event/backchannel-logout"
NOW_HOOK = "oauth_provider.oidc.logout.deliver_now"
FAST = {"timeout": 2, "connect_timeout": 1}


# --- the relying party ---------------------------------------------------------------------------

class RelyingParty:
    """What a relying party does with a logout token (§2.6), as strictly as the spec asks."""

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.seen_jti: set[str] = set()

    def validate(self, token: str) -> dict[str, Any]:
        header = pyjwt.get_unverified_header(token)
        assert header["typ"] == "logout+jwt"
        assert header["alg"] != "none"
        jwk = next(k for k in keys.jwks()["keys"] if k["kid"] == header["kid"])
        key = pyjwt.PyJWK(jwk).key
        claims = pyjwt.decode(token, key, algorithms=[jwk["alg"]], audience=self.client_id, issuer=ISS,
                              options={"require": ["iss", "aud", "iat", "exp", "jti"]})
        assert claims["events"] == {EVENT: {}}
        assert "sub" in claims or "sid" in claims
        assert "nonce" not in claims
        assert 0 < claims["exp"] - claims["iat"] <= 120
        assert claims["jti"] not in self.seen_jti, "replayed logout token"
        self.seen_jti.add(claims["jti"])
        return claims


def logout_tokens(server: LocalServer, path: str = "/logout") -> list[str]:
    tokens = []
    for request in server.requests:
        if request["path"].split("?")[0] != path:
            continue
        assert request["method"] == "POST"
        assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
        form = parse_qs(request["body"].decode())
        assert list(form) == ["logout_token"]
        tokens.append(form["logout_token"][0])
    return tokens


def ok_route(status: int = 200):
    return lambda h: send(h, status, b"", "text/plain")


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with local_server() as srv, override_oauth(
        ALLOW_INSECURE_LOOPBACK_FETCH=True, FETCH=FAST, BACKCHANNEL_LOGOUT={"delivery": NOW_HOOK, "timeout": 2},
    ):
        srv.routes["/logout"] = ok_route()
        srv.routes["/other"] = ok_route()
        yield srv


@pytest.fixture
def rp_client(server, db):
    return ClientFactory(name="RP one", backchannel_logout_uri=server.url("/logout?a=1"),
                         post_logout_redirect_uris="https://rp.example/bye")


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run what waits for the commit when the block ends, as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def sign_in(driver: OAuthDriver, client, nonce: str = "n-0S6_WzA2Mj") -> dict[str, Any]:
    tokens = driver.tokens(client, scope="openid read", nonce=nonce)
    return pyjwt.decode(tokens["id_token"], options={"verify_signature": False}) | {"_raw": tokens["id_token"]}


# --- one login session, one sid, whatever Django does to the session key ----------------------
@pytest.mark.urls("tests.oidc.password_change_urls")
def test_a_logout_after_a_password_change_tells_the_clients_signed_in_before_it(server, rp_client, logged_in,
                                                                               commit, user):
    """Django's password change keeps the user logged in and cycles the session key. A ``sid``
    derived from the key changed with it: the client signed in before the change was never
    told of the logout (Back-Channel Logout 1.0 §2.7) and its session's grant stayed live."""
    before = sign_in(logged_in, rp_client)
    changed = logged_in.browser.post("/accounts/password_change/", {
        "old_password": "password", "new_password1": "N3w-pa55word!x", "new_password2": "N3w-pa55word!x"})
    assert changed.status_code == 302 and "_auth_user_id" in logged_in.browser.session
    second = ClientFactory(name="RP two", backchannel_logout_uri=server.url("/other"))
    after = sign_in(logged_in, second)
    assert before["sid"] == after["sid"]
    with commit():
        logged_in.browser.post("/accounts/logout/")
    assert len(logout_tokens(server, "/logout")) == 1 and len(logout_tokens(server, "/other")) == 1
    assert Authorization.objects.get(client=rp_client).revoked_at is not None


def test_with_signed_cookie_sessions_saved_every_request_the_sid_holds(server, rp_client, commit, user, settings,
                                                                       signing_key, monkeypatch):
    """The signed-cookie engine's session key is the signed session itself, new at every
    save: a ``sid`` hashed from it changed from one request to the next."""
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    settings.SESSION_SAVE_EVERY_REQUEST = True
    browser = HttpClient()
    browser.force_login(user)
    sign_in(OAuthDriver(browser, HttpClient()), rp_client)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 5)  # a later request re-signs the session
    browser.get("/o/jwks/")
    with commit():
        browser.post("/accounts/logout/")
    assert len(logout_tokens(server, "/logout")) == 1


def test_the_sid_is_drawn_at_login_kept_by_a_new_login_of_the_same_user_and_new_for_another(signing_key):
    from oauth_provider.session import SID_KEY

    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    browser = HttpClient()
    browser.force_login(alice)
    first = browser.session[SID_KEY]
    assert len(first) == 32 and first != HttpClient().session.get(SID_KEY)
    browser.force_login(alice)  # prompt=login, the same user again: the same session goes on
    assert browser.session[SID_KEY] == first
    browser.force_login(bob)  # another user: Django starts a new session
    assert browser.session[SID_KEY] != first
    other = HttpClient()
    other.force_login(alice)
    assert other.session[SID_KEY] not in (first, browser.session[SID_KEY])


# --- each kind of logout ------------------------------------------------------------------------

@pytest.mark.req("BCL-2.4-claims")
@pytest.mark.req("BCL-2.4-no-nonce")
@pytest.mark.req("BCL-2.2-uri-registration")
def test_in_development_the_logout_token_is_issued_by_the_site_the_request_came_to(server, rp_client, logged_in,
                                                                                  commit, settings):
    """DEBUG with no ISSUER: the issuer is the origin the request came to, the same in the
    logout token as in the ID token it ends (BCL §2.6 compares them), not a 500 or another."""
    from tests.support.settings import oauth_settings

    settings.DEBUG = True
    settings.OAUTH_PROVIDER = oauth_settings(
        ISSUER=None, ALLOW_INSECURE_LOOPBACK_FETCH=True, FETCH=FAST,
        BACKCHANNEL_LOGOUT={"delivery": NOW_HOOK, "timeout": 2})
    id_token = sign_in(logged_in, rp_client)
    assert id_token["iss"] == "http://testserver/o"
    with commit():
        assert logged_in.browser.get("/o/logout/", {"id_token_hint": id_token["_raw"]}).status_code in (200, 302)
    (token,) = logout_tokens(server)
    assert pyjwt.decode(token, options={"verify_signature": False})["iss"] == "http://testserver/o"


@pytest.mark.req("BCL-2.5-request")
def test_rp_initiated_logout_posts_a_valid_logout_token(server, rp_client, logged_in, commit):
    id_token = sign_in(logged_in, rp_client)
    with commit():
        r = logged_in.browser.get("/o/logout/", {"id_token_hint": id_token["_raw"],
                                                 "post_logout_redirect_uri": "https://rp.example/bye"})
    assert r.status_code == 302
    (token,) = logout_tokens(server)
    claims = RelyingParty(rp_client.client_id).validate(token)
    assert claims["sub"] == id_token["sub"] and claims["sid"] == id_token["sid"]
    assert claims["exp"] - claims["iat"] == 120  # BCL-4: short-lived, the documented token_lifetime
    assert id_token["nonce"] and "nonce" not in claims  # §2.4: never a nonce, even after a login with one
    # BCL-2.2: the registered URI's query is kept when posting
    assert [q["path"] for q in server.requests] == ["/logout?a=1"]
    assert LogoutDelivery.objects.get().state == "delivered"


@pytest.mark.req("BCL-2.5-request")
def test_logging_out_of_the_site_tells_every_client_of_that_session(server, rp_client, logged_in, user, commit):
    second = ClientFactory(name="RP two", backchannel_logout_uri=server.url("/other"))
    silent = ClientFactory(name="No back-channel")
    ids = {c.client_id: sign_in(logged_in, c) for c in (rp_client, second, silent)}
    # the same user's grant from another login session is not this logout's business
    elsewhere = HttpClient()
    elsewhere.force_login(user)
    sign_in(OAuthDriver(elsewhere, HttpClient()), rp_client)
    with commit():
        r = logged_in.browser.post("/accounts/logout/")
    assert r.status_code in (200, 302)
    one, two = logout_tokens(server, "/logout"), logout_tokens(server, "/other")
    assert len(one) == 1 and len(two) == 1
    assert RelyingParty(rp_client.client_id).validate(one[0])["sid"] == ids[rp_client.client_id]["sid"]
    assert RelyingParty(second.client_id).validate(two[0])["sid"] == ids[second.client_id]["sid"]
    assert LogoutDelivery.objects.count() == 2


def test_a_logout_tells_and_ends_only_this_users_grants_of_the_session(server, rp_client, logged_in, commit,
                                                                         settings):
    """The session id keys a login session, but a grant of another user holding the same
    ``session_id`` (a host's own session scheme, a restored backup) is not this logout's: its
    client is not told, and with ``LOGOUT_REVOKES_SESSION_GRANTS`` it is not revoked."""
    from tests.support.settings import oauth_settings

    settings.OAUTH_PROVIDER = oauth_settings(LOGOUT_REVOKES_SESSION_GRANTS=True, ALLOW_INSECURE_LOOPBACK_FETCH=True,
                                             FETCH=FAST, BACKCHANNEL_LOGOUT={"delivery": NOW_HOOK, "timeout": 2})
    second = ClientFactory(name="RP two", backchannel_logout_uri=server.url("/other"))
    sign_in(logged_in, rp_client)
    theirs = Authorization.objects.get(client=rp_client)
    theirs.pk, theirs.user, theirs.client = None, UserFactory(), second
    theirs.save()
    with commit():
        logged_in.browser.post("/accounts/logout/")
    assert len(logout_tokens(server, "/logout")) == 1 and logout_tokens(server, "/other") == []
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert Authorization.objects.get(client=rp_client).revoked_at is not None


def test_a_client_whose_grant_was_revoked_is_not_told_of_the_logout(server, rp_client, logged_in, user, commit):
    """A client whose grant in this session was revoked (by itself, or withdrawn by the user)
    holds nothing of the session any more: a logout does not tell it the user's ``sub`` and
    ``sid`` again; a client of the same session whose grant is live is told."""
    second = ClientFactory(name="RP two", backchannel_logout_uri=server.url("/other"))
    sign_in(logged_in, rp_client)
    sign_in(logged_in, second)
    Authorization.objects.filter(client=rp_client).update(revoked_at=secrets.now())
    with commit():
        logged_in.browser.post("/accounts/logout/")
    assert logout_tokens(server, "/logout") == [] and len(logout_tokens(server, "/other")) == 1
    assert list(LogoutDelivery.objects.values_list("client_id", flat=True)) == [second.pk]


def test_nothing_is_recorded_or_sent_while_back_channel_logout_is_off(server, rp_client, logged_in, commit):
    """BACKCHANNEL_LOGOUT["enabled"] False: a logout of the site records no delivery for a
    client with a back-channel URI, and posts it nothing."""
    sign_in(logged_in, rp_client)
    with override_oauth(ALLOW_INSECURE_LOOPBACK_FETCH=True, FETCH=FAST,
                        BACKCHANNEL_LOGOUT={"delivery": NOW_HOOK, "enabled": False}), commit():
        logged_in.browser.post("/accounts/logout/")
    assert LogoutDelivery.objects.count() == 0 and logout_tokens(server) == []


def test_deliveries_are_found_again_on_a_backend_whose_bulk_insert_returns_no_ids(
        server, rp_client, logged_in, commit, monkeypatch):
    """MySQL's bulk_create sets no primary keys: the deliveries just recorded are read back
    and sent all the same, and only they (an older delivery of the same client, still due, is
    left to ``sendlogouts``)."""
    from django.db.models import QuerySet

    sign_in(logged_in, rp_client)
    earlier = secrets.now() - timedelta(minutes=5)
    older = LogoutDelivery.objects.create(client=rp_client, issuer=ISS, subject="older", reason="logout",
                                          created_at=earlier, next_attempt_at=earlier)
    insert = QuerySet.bulk_create

    def without_ids(self, objs, *args, **kwargs):
        created = insert(self, objs, *args, **kwargs)
        for row in created:
            row.pk = None
        return created

    monkeypatch.setattr(QuerySet, "bulk_create", without_ids)
    with commit():
        logged_in.browser.post("/accounts/logout/")
    assert len(logout_tokens(server)) == 1
    assert LogoutDelivery.objects.exclude(pk=older.pk).get().state == "delivered"
    older.refresh_from_db()
    assert older.state == "pending" and older.attempts == 0


def test_revoking_a_client_on_the_connected_apps_page_tells_it(server, rp_client, logged_in, commit):
    id_token = sign_in(logged_in, rp_client)
    with commit():
        r = logged_in.browser.post("/o/connected-apps/", {"client_id": rp_client.client_id})
    assert r.status_code == 302
    (token,) = logout_tokens(server)
    claims = RelyingParty(rp_client.client_id).validate(token)
    assert claims["sub"] == id_token["sub"] and claims["sid"] == id_token["sid"]
    assert LogoutDelivery.objects.get().reason == "revoked"
    assert not Authorization.objects.live().filter(client=rp_client).exists()


def test_withdrawing_a_client_tells_it_of_that_users_sessions_only(server, rp_client, logged_in, commit):
    """Another user of the same client stays signed in there, and the user's other clients
    keep their sessions: the withdrawn client is told of the withdrawing user's login sessions,
    never of everyone's grants to it, nor is any other client told."""
    from tests.conftest import OAuthDriver
    from tests.support.factories import UserFactory

    other = HttpClient()
    other.force_login(UserFactory(username="bob"))
    bobs = sign_in(OAuthDriver(other, HttpClient()), rp_client)
    alices = sign_in(logged_in, rp_client)
    kept = ClientFactory(name="RP two", backchannel_logout_uri=server.url("/logout-two"))
    sign_in(logged_in, kept)
    with commit():
        logged_in.browser.post("/o/connected-apps/", {"client_id": rp_client.client_id})
    (token,) = logout_tokens(server)
    assert RelyingParty(rp_client.client_id).validate(token)["sub"] == alices["sub"] != bobs["sub"]
    assert Authorization.objects.live().filter(client=rp_client).count() == 1
    assert Authorization.objects.live().filter(client=kept).count() == 1
    assert logout_tokens(server, "/logout-two") == []


@pytest.mark.req("BCL-2.1-metadata")
@pytest.mark.req("FCL-5-sid-entropy")
def test_session_required_clients_get_the_sid_of_the_id_token(server, logged_in, commit):
    client = ClientFactory(backchannel_logout_uri=server.url("/logout"), backchannel_logout_session_required=True)
    id_token = sign_in(logged_in, client)
    with commit():
        logged_in.browser.post("/accounts/logout/")
    claims = RelyingParty(client.client_id).validate(logout_tokens(server)[0])
    assert claims["sid"] == id_token["sid"] and len(claims["sid"]) >= 22


@pytest.mark.req("BCL-4-short-exp")
@pytest.mark.req("BCL-2.6-rp-validation")
def test_the_rp_refuses_a_replayed_token_and_tokens_are_unique(server, rp_client, user):
    rp = RelyingParty(rp_client.client_id)
    delivery = LogoutDelivery.objects.create(client=rp_client, issuer=ISS, subject=str(user.pk), session_id="s")
    keys.create_key("RS256", prepublish=False)
    tokens = [backchannel.build_logout_token(delivery) for _ in range(1000)]
    for token in tokens:
        rp.validate(token)
    assert len(rp.seen_jti) == 1000
    with pytest.raises(AssertionError, match="replayed"):
        rp.validate(tokens[0])


# --- a logout token is nothing else (§4.1) ------------------------------------------------------

@pytest.mark.req("BCL-4.1-cross-jwt")
def test_a_logout_token_is_not_an_id_token_hint_nor_a_bearer_token(server, rp_client, logged_in, commit):
    sign_in(logged_in, rp_client)
    with commit():
        logged_in.browser.post("/accounts/logout/")
    (token,) = logout_tokens(server)
    browser = HttpClient()
    browser.force_login(UserFactory(username="bob"))
    r = browser.get("/o/logout/", {"id_token_hint": token, "post_logout_redirect_uri": "https://rp.example/bye"})
    # not used as a hint (RP-Initiated Logout §4): bob is only asked, as with no hint at all
    assert r.status_code == 200 and "Location" not in r and "_auth_user_id" in browser.session
    assert b'name="logout_request"' in r.content and b"asks to log you out" not in r.content
    r = HttpClient().get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert r.status_code == 401
    r = HttpClient().get("/api/plain/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert r.status_code == 401


# --- delivery: after the commit, failures retried -----------------------------------------------

def test_nothing_is_sent_before_the_transaction_commits(server, rp_client, logged_in,
                                                        django_capture_on_commit_callbacks):
    sign_in(logged_in, rp_client)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        logged_in.browser.post("/accounts/logout/")
    assert server.requests == [] and len(callbacks) == 1
    callbacks[0]()
    assert len(logout_tokens(server)) == 1


def test_a_rolled_back_revocation_sends_nothing(server, rp_client, logged_in, user, commit):
    sign_in(logged_in, rp_client)
    with commit():
        try:
            with transaction.atomic():
                backchannel.client_revoked(None, user, rp_client)
                raise RuntimeError("the revocation failed")
        except RuntimeError:
            pass
    assert server.requests == []


@pytest.mark.django_db(transaction=True)
def test_the_hook_runs_outside_any_transaction(server, user, signing_key):
    client = ClientFactory(backchannel_logout_uri=server.url("/logout"))
    HOOK_CALLS.clear()
    browser = HttpClient()
    browser.force_login(user)
    sign_in(OAuthDriver(browser, HttpClient()), client)
    with override_oauth(ALLOW_INSECURE_LOOPBACK_FETCH=True, FETCH=FAST,
                        BACKCHANNEL_LOGOUT={"delivery": "tests.oidc.test_backchannel_logout.recording_hook"}):
        browser.post("/o/connected-apps/", {"client_id": client.client_id})
    assert HOOK_CALLS == [False]  # called once, after the commit, outside any atomic block
    assert len(logout_tokens(server)) == 1


def test_a_failing_delivery_hook_does_not_break_the_logout(server, rp_client, logged_in, commit, caplog):
    """A host's hook that fails (its task queue is down) must not turn the user's logout,
    already done and committed, into an error: the failure is logged, the delivery stays
    pending for ``sendlogouts``."""
    sign_in(logged_in, rp_client)
    with override_oauth(ALLOW_INSECURE_LOOPBACK_FETCH=True, FETCH=FAST,
                        BACKCHANNEL_LOGOUT={"delivery": "tests.oidc.test_backchannel_logout.failing_hook"}), \
            caplog.at_level("ERROR", logger="oauth_provider.logout"), commit():
        r = logged_in.browser.post("/accounts/logout/")
    assert r.status_code in (200, 302) and "_auth_user_id" not in logged_in.browser.session
    assert [m for m in caplog.messages if "delivery hook failed" in m]
    assert LogoutDelivery.objects.get().state == "pending" and server.requests == []


def test_a_logout_sends_its_own_deliveries_not_every_pending_one(server, rp_client, logged_in, user, commit):
    """The delivery hook is given this logout's deliveries, and sends those only: a backlog
    left by an earlier logout (its task queue was down) is ``sendlogouts``' work, not something
    the next user's logout waits for."""
    sign_in(logged_in, rp_client)
    with override_oauth(ALLOW_INSECURE_LOOPBACK_FETCH=True, FETCH=FAST,
                        BACKCHANNEL_LOGOUT={"delivery": "tests.oidc.test_backchannel_logout.failing_hook"}), \
            commit():
        logged_in.browser.post("/accounts/logout/")
    backlog = LogoutDelivery.objects.get()
    other = HttpClient()
    other.force_login(UserFactory(username="bob"))
    second = ClientFactory(name="RP two", backchannel_logout_uri=server.url("/other"))
    sign_in(OAuthDriver(other, HttpClient()), second)
    with commit():
        other.post("/accounts/logout/")
    assert len(logout_tokens(server, "/other")) == 1 and logout_tokens(server) == []
    backlog.refresh_from_db()
    assert backlog.state == "pending"


def failing_hook(ids: list[int]) -> None:
    raise ConnectionError("the task queue is down")


HOOK_CALLS: list[bool] = []


def recording_hook(ids: list[int]) -> None:
    HOOK_CALLS.append(connection.in_atomic_block)
    backchannel.deliver(ids)


@pytest.mark.req("BCL-2.5-delivery-ssrf")
@pytest.mark.django_db(transaction=True)
def test_the_default_hook_does_not_make_the_user_wait_for_a_slow_rp(user, signing_key):
    with local_server() as srv, override_oauth(ALLOW_INSECURE_LOOPBACK_FETCH=True, FETCH=FAST,
                                               BACKCHANNEL_LOGOUT={"timeout": 3}):
        srv.routes["/slow"] = slow_route(2)
        client = ClientFactory(backchannel_logout_uri=srv.url("/slow"))
        browser = HttpClient()
        browser.force_login(user)
        sign_in(OAuthDriver(browser, HttpClient()), client)
        started = time.monotonic()
        r = browser.post("/accounts/logout/")
        assert r.status_code in (200, 302)
        assert time.monotonic() - started < 1.0  # BCL-2.5: the RP answering late never holds the user's page
        # wait for the delivery thread itself, not by polling its table: on the in-memory SQLite
        # of the default run a read holding the table's lock makes the thread's UPDATE fail
        # at once ("database table is locked"), which a real database would simply wait out
        for thread in [t for t in threading.enumerate() if t.name == "oauth_provider-logout"]:
            thread.join(timeout=10)
        assert LogoutDelivery.objects.get().state == "delivered"
        assert srv.hits("/slow") == 1


@pytest.mark.req("BCL-2.5-request")
@pytest.mark.req("BCL-2.8-response-handling")
def test_a_failed_delivery_is_retried_with_backoff_by_sendlogouts(server, rp_client, logged_in, commit, capsys):
    outcomes: list[str] = []
    backchannel_logout.connect(lambda sender, outcome, **kw: outcomes.append(outcome), weak=False,
                               dispatch_uid="test-bcl")
    try:
        server.routes["/logout"] = ok_route(503)
        sign_in(logged_in, rp_client)
        with commit():
            logged_in.browser.post("/accounts/logout/")
        delivery = LogoutDelivery.objects.get()
        assert delivery.state == "pending" and delivery.attempts == 1 and delivery.last_status == 503
        first_retry = delivery.next_attempt_at - secrets.now()
        assert timedelta(seconds=50) < first_retry <= timedelta(seconds=60)
        call_command("sendlogouts")  # not due yet: nothing sent
        assert len(server.requests) == 1
        base = secrets.now()
        secrets.set_clock(lambda: base + timedelta(seconds=61))
        call_command("sendlogouts")  # due, fails again: the delay doubles
        delivery.refresh_from_db()
        assert delivery.attempts == 2 and delivery.next_attempt_at - secrets.now() > timedelta(seconds=110)
        server.routes["/logout"] = ok_route(204)  # §2.8: 204 is success too
        secrets.set_clock(lambda: base + timedelta(seconds=61 + 121))
        call_command("sendlogouts")
        delivery.refresh_from_db()
        assert delivery.state == "delivered" and delivery.attempts == 3
        # the admin shows no earlier failure nor a next attempt for what is done
        assert delivery.last_error == "" and delivery.next_attempt_at is None and delivery.last_status == 204
        assert "1 delivered" in capsys.readouterr().out
        tokens = [pyjwt.decode(t, options={"verify_signature": False}) for t in logout_tokens(server)]
        # minted afresh at each attempt: a two-minute token cannot wait for a retry hours later
        assert tokens[0]["iat"] <= int(base.timestamp())
        assert [t["iat"] for t in tokens[1:]] == [int(base.timestamp()) + d for d in (61, 182)]
        assert len({t["jti"] for t in tokens}) == 3
        assert outcomes == ["retried", "retried", "delivered"]
    finally:
        backchannel_logout.disconnect(dispatch_uid="test-bcl")


def test_retries_wait_retry_delay_doubled_per_failure_at_most_6_hours_until_max_attempts(server, rp_client,
                                                                                         signing_key):
    """The documented schedule (``BACKCHANNEL_LOGOUT``): after the n-th failed attempt the next
    comes ``retry_delay`` * 2^(n-1) seconds later, never more than 6 hours, and the delivery is
    given up at ``max_attempts``."""
    server.routes["/logout"] = ok_route(503)
    now = secrets.now()
    delivery = LogoutDelivery.objects.create(client=rp_client, issuer=ISS, subject="1", next_attempt_at=now)
    waits = []
    with override_oauth(ALLOW_INSECURE_LOOPBACK_FETCH=True, FETCH=FAST, BACKCHANNEL_LOGOUT={
            "delivery": NOW_HOOK, "timeout": 2, "retry_delay": 60, "max_attempts": 12}):
        for _ in range(11):
            assert backchannel.deliver(now=now) == {"delivered": 0, "retried": 1, "failed": 0}
            delivery.refresh_from_db()
            waits.append((delivery.next_attempt_at - now).total_seconds())
            now = delivery.next_attempt_at
        assert backchannel.deliver(now=now) == {"delivered": 0, "retried": 0, "failed": 1}
    assert waits == [60, 120, 240, 480, 960, 1920, 3840, 7680, 15360, 21600, 21600]
    delivery.refresh_from_db()
    assert delivery.state == "failed" and delivery.attempts == 12 and len(server.requests) == 12
    assert delivery.next_attempt_at is None  # given up: no next attempt to show


@pytest.mark.req("BCL-2.5-request")
@pytest.mark.req("BCL-2.8-response-handling")
def test_a_400_is_not_retried_and_attempts_run_out(server, rp_client, logged_in, commit):
    server.routes["/logout"] = ok_route(400)
    sign_in(logged_in, rp_client)
    with commit():
        logged_in.browser.post("/accounts/logout/")
    delivery = LogoutDelivery.objects.get()
    assert delivery.state == "failed" and delivery.attempts == 1 and delivery.last_status == 400
    with override_oauth(ALLOW_INSECURE_LOOPBACK_FETCH=True, FETCH=FAST,
                        BACKCHANNEL_LOGOUT={"delivery": NOW_HOOK, "max_attempts": 2, "retry_delay": 1}):
        server.routes["/logout"] = ok_route(500)
        pending = LogoutDelivery.objects.create(client=rp_client, issuer=ISS, subject="1",
                                                next_attempt_at=secrets.now())
        backchannel.deliver([pending.pk])
        base = secrets.now()
        secrets.set_clock(lambda: base + timedelta(seconds=5))
        backchannel.deliver()
    pending.refresh_from_db()
    assert pending.state == "failed" and pending.attempts == 2


@pytest.mark.req("BCL-2.8-response-handling")
@pytest.mark.parametrize(("status", "outcome"), [
    (200, "delivered"), (204, "delivered"), (201, "retried"), (302, "retried"), (399, "retried"),
    (400, "failed"), (401, "failed"), (404, "failed"), (407, "failed"), (409, "failed"), (499, "failed"),
    (408, "retried"), (429, "retried"), (500, "retried"), (503, "retried"),
])
def test_only_a_4xx_but_408_and_429_is_given_up_at_once(server, rp_client, signing_key, caplog, status, outcome):
    """§2.8: 200 and 204 are success; a 4xx answer is a refusal no retry changes, but 408
    (timeout) and 429 (too many requests) ask to come back, like a 5xx or anything else.
    Giving up is logged as a warning on ``oauth_provider.logout``; a retry or a success is not."""
    server.routes["/logout"] = ok_route(status)
    delivery = LogoutDelivery.objects.create(client=rp_client, issuer=ISS, subject="1", next_attempt_at=secrets.now())
    signalled: list[tuple[str, str, int | None]] = []
    # connected for the client model as sender, as a host listening to client events would
    backchannel_logout.connect(lambda sender, client, delivery, outcome, **kw: signalled.append(
        (outcome, delivery.state, delivery.last_status, client)), sender=get_client_model(), weak=False,
        dispatch_uid="test-bcl-status")
    try:
        with caplog.at_level("WARNING", logger="oauth_provider.logout"):
            counts = backchannel.deliver([delivery.pk])
    finally:
        backchannel_logout.disconnect(sender=get_client_model(), dispatch_uid="test-bcl-status")
    assert counts == {"delivered": 0, "retried": 0, "failed": 0, outcome: 1}
    delivery.refresh_from_db()
    assert delivery.last_status == status and delivery.attempts == 1
    # the signal's receivers get the delivery as recorded, not as it was before the attempt
    assert signalled == [(outcome, {"retried": "pending"}.get(outcome, outcome), status, rp_client)]
    warned = [r for r in caplog.records if r.name == "oauth_provider.logout" and r.levelname == "WARNING"]
    if outcome == "failed":
        (warning,) = warned
        assert rp_client.client_id in warning.getMessage() and f"HTTP {status}" in warning.getMessage()
    else:
        assert warned == []


def test_a_send_that_fails_is_recorded_cut_to_1000_characters_and_retried(server, rp_client, signing_key,
                                                                          monkeypatch):
    """A POST that never got an answer (refused, reset, timed out, or an address the SSRF
    rules refuse at send time) is a failed attempt like a 5xx: what happened is kept for the
    admin (at most 1,000 characters of it, whatever the error says) and the row is retried."""
    from oauth_provider import fetch

    def unreachable(uri, data, **kwargs):
        raise fetch.FetchError(detail="connection refused " + "x" * 2000)

    monkeypatch.setattr(fetch, "post_form", unreachable)
    now = secrets.now()
    delivery = LogoutDelivery.objects.create(client=rp_client, issuer=ISS, subject="1", next_attempt_at=now)
    assert backchannel.deliver([delivery.pk], now=now) == {"delivered": 0, "retried": 1, "failed": 0}
    delivery.refresh_from_db()
    assert delivery.last_status is None and delivery.attempts == 1
    assert delivery.last_error == ("connection refused " + "x" * 2000)[:1000]
    assert delivery.next_attempt_at == now + timedelta(seconds=60)


def test_a_delivery_without_a_signing_key_is_kept_for_a_retry(server, rp_client, settings):
    """With no key to sign logout tokens yet (``rotatekeys`` never ran), nothing is posted and
    the delivery is retried like a failed send, saying why, rather than crashing the hook."""
    settings.DEBUG = False
    now = secrets.now()
    delivery = LogoutDelivery.objects.create(client=rp_client, issuer=ISS, subject="1", next_attempt_at=now)
    assert backchannel.deliver([delivery.pk], now=now) == {"delivered": 0, "retried": 1, "failed": 0}
    delivery.refresh_from_db()
    assert "rotatekeys" in delivery.last_error and delivery.next_attempt_at == now + timedelta(seconds=60)
    assert server.requests == []


def test_a_lowered_max_attempts_gives_up_a_delivery_already_past_it(server, rp_client, signing_key):
    """An operator who lowers ``max_attempts`` gives up the deliveries that have already had
    more attempts at their next failure, rather than retrying them for ever."""
    server.routes["/logout"] = ok_route(503)
    delivery = LogoutDelivery.objects.create(client=rp_client, issuer=ISS, subject="1", attempts=5,
                                             next_attempt_at=secrets.now())
    with override_oauth(ALLOW_INSECURE_LOOPBACK_FETCH=True, FETCH=FAST,
                        BACKCHANNEL_LOGOUT={"delivery": NOW_HOOK, "timeout": 2, "max_attempts": 3}):
        assert backchannel.deliver([delivery.pk]) == {"delivered": 0, "retried": 0, "failed": 1}
    delivery.refresh_from_db()
    assert delivery.state == "failed" and delivery.attempts == 6


@pytest.mark.req("BCL-2.8-response-handling")
def test_a_redirect_from_the_rp_is_not_followed(server, rp_client, logged_in, commit):
    server.routes["/logout"] = redirect_route(server.url("/elsewhere"))
    sign_in(logged_in, rp_client)
    with commit():
        logged_in.browser.post("/accounts/logout/")
    assert server.hits("/elsewhere") == 0
    delivery = LogoutDelivery.objects.get()
    assert delivery.state != "delivered" and delivery.last_status == 302


@pytest.mark.parametrize("change", [{"is_active": False}, {"backchannel_logout_uri": ""}])
def test_a_client_deactivated_or_without_its_uri_since_the_logout_is_sent_nothing(server, rp_client, signing_key,
                                                                                  change):
    """A delivery still pending when its client is deactivated, or its back-channel URI
    removed, is given up at its next attempt: nothing is posted (a disabled client is told
    nothing more about its users), and it is not retried."""
    delivery = LogoutDelivery.objects.create(client=rp_client, issuer=ISS, subject="1", next_attempt_at=secrets.now())
    type(rp_client).objects.filter(pk=rp_client.pk).update(**change)
    assert backchannel.deliver([delivery.pk]) == {"delivered": 0, "retried": 0, "failed": 1}
    delivery.refresh_from_db()
    assert delivery.state == "failed" and "no longer has an active" in delivery.last_error
    assert server.requests == []


def test_a_delivery_is_claimed_once(server, rp_client, user):
    keys.create_key("RS256", prepublish=False)
    delivery = LogoutDelivery.objects.create(client=rp_client, issuer=ISS, subject="1", next_attempt_at=secrets.now())
    now = secrets.now()
    assert LogoutDelivery.objects.claim(delivery.pk, now, timedelta(seconds=30))
    assert not LogoutDelivery.objects.claim(delivery.pk, now, timedelta(seconds=30))
    assert backchannel.deliver([delivery.pk]) == {"delivered": 0, "retried": 0, "failed": 0}
    assert server.requests == []


# --- SSRF (section Q) ---------------------------------------------------------------------------

@pytest.mark.req("BCL-2.2-uri-registration")
@pytest.mark.req("DERIVED-fetch-scheme")
@pytest.mark.parametrize("uri", [
    "https://10.0.0.1/logout", "https://169.254.169.254/latest", "https://[::1]/x", "https://localhost/x",
    "https://metadata.google.internal/x", "http://rp.example/logout", "https://rp.example/logout#frag",
    "/relative", "https://user@rp.example/x", "https://rp.example:22/x", "ftp://rp.example/x",
])
def test_a_private_or_insecure_uri_is_refused_at_registration(db, uri):
    with pytest.raises(ValidationError) as caught:
        ClientFactory(backchannel_logout_uri=uri)
    assert "backchannel_logout_uri" in caught.value.message_dict


@pytest.mark.req("BCL-2.2-uri-registration")
def test_loopback_http_needs_the_setting_and_a_confidential_client(db):
    with pytest.raises(ValidationError):
        ClientFactory(backchannel_logout_uri="http://127.0.0.1:8001/logout")
    with override_oauth(ALLOW_INSECURE_LOOPBACK_FETCH=True):
        ClientFactory(backchannel_logout_uri="http://127.0.0.1:8001/logout")
        with pytest.raises(ValidationError) as caught:
            PublicClientFactory(backchannel_logout_uri="http://127.0.0.1:8001/logout")
    assert "https" in str(caught.value)


@pytest.mark.req("BCL-2.5-delivery-ssrf")
@pytest.mark.req("DERIVED-fetch-one-client")
def test_a_uri_resolving_to_a_private_address_at_send_time_gets_nothing(server, user, logged_in, commit, monkeypatch):
    with override_oauth(ALLOW_INSECURE_LOOPBACK_FETCH=False, FETCH={**FAST, "allowed_ports": [443, server.port]}):
        client = ClientFactory(backchannel_logout_uri=f"https://rp.example:{server.port}/logout")
    # public at registration; at logout the name points at this machine, where L listens
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **k: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))])
    sign_in(logged_in, client)
    with override_oauth(FETCH={**FAST, "allowed_ports": [443, server.port]},
                        BACKCHANNEL_LOGOUT={"delivery": NOW_HOOK}), commit():
        logged_in.browser.post("/accounts/logout/")
    assert server.requests == []
    delivery = LogoutDelivery.objects.get()
    assert delivery.state == "pending" and delivery.attempts == 1 and delivery.delivered_at is None


# --- budgets ------------------------------------------------------------------------------------

def test_a_client_withdrawn_twice_in_one_session_is_told_twice(server, rp_client, logged_in, commit):
    """Withdrawn, authorized again in the same login session, withdrawn again: each withdrawal
    ends a grant the client held, so each is told (only a replaced login session's clients are
    told at most once: the same session can end only once)."""
    for _ in range(2):
        sign_in(logged_in, rp_client)
        with commit():
            logged_in.browser.post("/o/connected-apps/", {"client_id": rp_client.client_id})
    assert len(logout_tokens(server)) == 2
    assert LogoutDelivery.objects.filter(reason="revoked").count() == 2


def test_a_logout_with_a_back_channel_client_costs_three_statements(server, rp_client, logged_in, user):
    """The pairs to tell, their clients (for each one's ``sub``), the deliveries: no look for
    clients already told, which only a replaced session needs."""
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from oauth_provider.session import SID_KEY

    sign_in(logged_in, rp_client)
    request = RequestFactory().get("/")
    request.session = logged_in.browser.session
    assert request.session[SID_KEY]
    with CaptureQueriesContext(connection) as ctx:
        assert len(backchannel.session_ended(request, user)) == 1
    assert len(real_queries(ctx)) == 3


def _logout_queries(user, client, **changes: Any) -> int:
    browser = HttpClient()
    browser.force_login(user)
    sign_in(OAuthDriver(browser, HttpClient()), client)
    from django.test.utils import CaptureQueriesContext

    with override_oauth(**changes), CaptureQueriesContext(connection) as ctx:
        browser.post("/accounts/logout/")
    return len(real_queries(ctx))


def test_logout_with_no_back_channel_client_costs_one_statement(user, signing_key):
    client = ClientFactory()
    without = _logout_queries(user, client, BACKCHANNEL_LOGOUT={"enabled": False})
    with_feature = _logout_queries(user, client)
    assert with_feature - without <= 1


def test_revoking_a_client_without_a_logout_uri_costs_nothing_more(user, logged_in, assert_max_queries):
    client = ClientFactory()
    sign_in(logged_in, client)
    with assert_max_queries(0):
        assert backchannel.client_revoked(None, user, client) == []


# --- discovery, admin, commands, checks ---------------------------------------------------------

@pytest.mark.req("BCL-2.1-metadata")
def test_discovery_advertises_back_channel_logout(client, signing_key):
    document = client.get("/o/.well-known/openid-configuration").json()
    assert document["backchannel_logout_supported"] is True
    assert document["backchannel_logout_session_supported"] is True
    with override_oauth(BACKCHANNEL_LOGOUT={"enabled": False}):
        document = client.get("/o/.well-known/openid-configuration").json()
    assert "backchannel_logout_supported" not in document


@pytest.mark.req("BCL-2.4-signed-typ")
def test_logout_tokens_use_the_id_token_key_and_the_logout_typ(server, rp_client, logged_in, commit):
    id_token = sign_in(logged_in, rp_client)
    with commit():
        logged_in.browser.post("/accounts/logout/")
    header = pyjwt.get_unverified_header(logout_tokens(server)[0])
    id_header = pyjwt.get_unverified_header(id_token["_raw"])
    assert header["alg"] == id_header["alg"] and header["kid"] == id_header["kid"]
    assert header["typ"] == "logout+jwt"


def test_createclient_registers_the_back_channel_uri(db, capsys):
    call_command("createclient", "RP", "--redirect-uri", "https://rp.example/cb",
                 "--backchannel-logout-uri", "https://rp.example/bcl?x=1",
                 "--backchannel-logout-session-required", "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["backchannel_logout_uri"] == "https://rp.example/bcl?x=1"
    assert data["backchannel_logout_session_required"] is True
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="backchannel_logout_uri"):
        call_command("createclient", "Bad", "--redirect-uri", "https://rp.example/cb",
                     "--backchannel-logout-uri", "https://192.168.1.1/x")


def test_a_backlog_is_sent_with_each_client_read_once_and_counted(server, rp_client, signing_key):
    """``deliver()`` (what ``sendlogouts`` and a task queue call) reads each delivery with its
    client (no statement per delivery to find it) and counts every outcome."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    second = ClientFactory(name="RP two", backchannel_logout_uri=server.url("/other"))
    for n, client in enumerate((rp_client, rp_client, second)):
        LogoutDelivery.objects.create(client=client, issuer=ISS, subject=str(n), next_attempt_at=secrets.now())
    keys.signing_key()
    table = get_client_model()._meta.db_table
    with CaptureQueriesContext(connection) as captured:
        counts = backchannel.deliver()
    assert counts == {"delivered": 3, "retried": 0, "failed": 0}
    client_reads = [q["sql"] for q in captured.captured_queries
                    if q["sql"].startswith("SELECT") and f"FROM {connection.ops.quote_name(table)}" in q["sql"]]
    assert client_reads == []
    assert len(logout_tokens(server)) == 2 and len(logout_tokens(server, "/other")) == 1


def test_a_relying_party_that_never_answers_costs_one_timeout_per_run_whatever_its_backlog(
        server, rp_client, signing_key):
    """Attack: a client (self-registered, say) whose logout endpoint never answers piles up
    deliveries by logging in and out; ``sendlogouts`` sends one after another, so each of its
    rows used to hold every other client's logout back by ``timeout``. Now its first failure
    ends its turn: the rest count as to be retried and stay due, untouched (no attempt spent),
    and the honest client behind the backlog is told in the same run."""
    server.routes["/silent"] = slow_route(5)
    silent = ClientFactory(name="Never answers", backchannel_logout_uri=server.url("/silent"))
    now = secrets.now()
    backlog = [LogoutDelivery.objects.create(client=silent, issuer=ISS, subject=str(n), next_attempt_at=now)
               for n in range(8)]
    honest = LogoutDelivery.objects.create(client=rp_client, issuer=ISS, subject="h", next_attempt_at=now)
    with override_oauth(BACKCHANNEL_LOGOUT={"delivery": NOW_HOOK, "timeout": 0.3}):
        counts = backchannel.deliver(now=now)
    assert server.hits("/silent") == 1  # one timeout spent on it, not eight
    assert counts == {"delivered": 1, "retried": 8, "failed": 0}
    honest.refresh_from_db()
    assert honest.delivered_at is not None
    attempts = {row.pk: row.attempts for row in LogoutDelivery.objects.filter(client=silent)}
    assert sorted(attempts.values()) == [0] * 7 + [1]
    assert all(row.next_attempt_at is not None for row in LogoutDelivery.objects.filter(client=silent))
    # the untouched rows are still due: the next run tries the client again, once
    untouched = [row.pk for row in backlog if attempts[row.pk] == 0]
    assert set(LogoutDelivery.objects.due(now).values_list("pk", flat=True)) == set(untouched)


def test_a_relying_party_that_never_answers_costs_one_timeout_per_retry_period_not_per_logout(
        server, rp_client, signing_key):
    """Each logout is its own delivery call: a client that never answers cost ``timeout`` at
    every logout of its users. After its first failure this process leaves its new deliveries
    due (for ``sendlogouts``) until the failed one's retry time; other clients are sent at once."""
    server.routes["/silent"] = slow_route(5)
    silent = ClientFactory(name="Never answers", backchannel_logout_uri=server.url("/silent"))
    now = secrets.now()
    with override_oauth(BACKCHANNEL_LOGOUT={"delivery": NOW_HOOK, "timeout": 0.3}):
        for n in range(4):
            row = LogoutDelivery.objects.create(client=silent, issuer=ISS, subject=str(n), next_attempt_at=now)
            honest = LogoutDelivery.objects.create(client=rp_client, issuer=ISS, subject=str(n), next_attempt_at=now)
            counts = backchannel.deliver([row.pk, honest.pk], now=now)
            assert counts == {"delivered": 1, "retried": 1, "failed": 0}
        assert server.hits("/silent") == 1
        first = LogoutDelivery.objects.filter(client=silent, attempts=1).get()
        later = first.next_attempt_at + timedelta(seconds=1)
        row = LogoutDelivery.objects.create(client=silent, issuer=ISS, subject="late", next_attempt_at=now)
        assert backchannel.deliver([row.pk], now=later)["retried"] == 1  # tried again once the time came
    assert server.hits("/silent") == 2


@pytest.mark.django_db(transaction=True)
def test_logouts_to_a_slow_client_use_a_few_threads_whatever_their_number(user, signing_key, background_idle):
    """The default hook started a thread per logout, each holding a database connection for up
    to ``timeout`` while a slow client (one an attacker registered and signs in to and out of
    in a loop) made it wait: enough logouts used up the database's connections."""
    def delivery_threads() -> int:
        return sum(1 for t in threading.enumerate() if t.name == "oauth_provider-logout")

    with local_server() as srv, override_oauth(ALLOW_INSECURE_LOOPBACK_FETCH=True, FETCH=FAST,
                                               BACKCHANNEL_LOGOUT={"timeout": 5}):
        srv.routes["/slow"] = slow_route(1)
        client = ClientFactory(backchannel_logout_uri=srv.url("/slow"))
        peak = 0
        for _ in range(12):
            browser = HttpClient()
            browser.force_login(user)
            sign_in(OAuthDriver(browser, HttpClient()), client)
            browser.post("/accounts/logout/")
            peak = max(peak, delivery_threads())
        deadline = time.monotonic() + 30
        while (delivery_threads() or backchannel._waiting) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert 1 <= peak <= backchannel.BACKGROUND_THREADS
    assert delivery_threads() == 0 and not backchannel._waiting
    assert LogoutDelivery.objects.count() == 12


@pytest.fixture
def background_idle():
    """No send thread of an earlier test still running in this process (their counts are the
    module's): waited for, up to 15 seconds."""
    def busy() -> bool:
        alive = any(t.name == "oauth_provider-logout" and t.is_alive() for t in threading.enumerate())
        return bool(alive or backchannel._background["threads"] or backchannel._waiting)

    deadline = time.monotonic() + 15
    while busy() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_the_background_hook_runs_four_threads_through_a_bounded_queue(monkeypatch, caplog, background_idle):
    """The exact rules of the default hook, with sends that wait until released: four threads
    at most (docs: "at most four per process"), later ids queued, a list that would take the
    queue past its bound left to ``sendlogouts`` (and said so), every queued list sent once
    the threads are free, and a thread started again for a logout after they all ended."""
    assert (backchannel.BACKGROUND_THREADS, backchannel.BACKGROUND_QUEUE) == (4, 10_000)  # as documented
    assert backchannel._background == {"threads": 0, "queued": 0} and not backchannel._waiting
    release, sent, lock = threading.Event(), [], threading.Lock()

    def held(ids):
        release.wait(10)
        with lock:
            sent.extend(ids)

    def threads() -> int:
        return sum(1 for t in threading.enumerate() if t.name == "oauth_provider-logout" and t.is_alive())

    def settle(until) -> None:
        deadline = time.monotonic() + 10
        while not until() and time.monotonic() < deadline:
            time.sleep(0.01)

    monkeypatch.setattr(backchannel, "deliver", held)
    monkeypatch.setattr(backchannel, "BACKGROUND_QUEUE", 6)
    try:
        for n in range(1, 5):
            backchannel.deliver_in_background([n])
        settle(lambda: not backchannel._waiting)
        assert threads() == 4 and backchannel._background == {"threads": 4, "queued": 0}
        backchannel.deliver_in_background([5, 6, 7, 8])
        assert backchannel._background == {"threads": 4, "queued": 4} and threads() == 4
        with caplog.at_level("WARNING", logger="oauth_provider.logout"):
            backchannel.deliver_in_background([20, 21, 22, 23])  # 8 would be past the bound: left
        assert "queue full" in caplog.text
        backchannel.deliver_in_background([9, 10])  # 6 queued: exactly the bound
        backchannel.deliver_in_background([24])  # one more: left to sendlogouts
        assert backchannel._background == {"threads": 4, "queued": 6} and threads() == 4
        assert list(backchannel._waiting) == [[5, 6, 7, 8], [9, 10]]
    finally:
        release.set()
    settle(lambda: threads() == 0)
    assert sorted(sent) == list(range(1, 11))
    assert backchannel._background == {"threads": 0, "queued": 0} and not backchannel._waiting
    backchannel.deliver_in_background([12])
    settle(lambda: 12 in sent and threads() == 0)
    assert sorted(sent) == [*range(1, 11), 12] and backchannel._background == {"threads": 0, "queued": 0}


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the SystemExit, on purpose
def test_a_send_ended_by_what_is_not_an_exception_frees_its_thread(monkeypatch, background_idle):
    """A thread stopped by SystemExit (or a green thread's timeout, a BaseException) inside a
    send no longer counts: otherwise four such ends would leave every later logout queued with
    no thread to send it."""
    assert backchannel._background == {"threads": 0, "queued": 0} and not backchannel._waiting
    sent: list[int] = []

    def stops(ids):
        if ids == [1]:
            raise SystemExit
        sent.extend(ids)

    monkeypatch.setattr(backchannel, "deliver", stops)
    backchannel.deliver_in_background([1])
    deadline = time.monotonic() + 10
    while backchannel._background["threads"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert backchannel._background == {"threads": 0, "queued": 0}
    backchannel.deliver_in_background([2])
    while (2 not in sent or backchannel._background["threads"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sent == [2] and backchannel._background == {"threads": 0, "queued": 0}


def test_each_send_waits_the_logout_timeout_not_the_fetch_default(server, rp_client, signing_key, monkeypatch):
    """``BACKCHANNEL_LOGOUT["timeout"]`` is how long one relying party may hold a delivery (and
    the user's response, with the ``deliver_now`` hook), whatever ``FETCH`` says."""
    waited: list[float | None] = []
    real = backchannel.fetch.post_form

    def recording(uri, data, *, timeout=None, **kwargs):
        waited.append(timeout)
        return real(uri, data, timeout=timeout, **kwargs)

    monkeypatch.setattr(backchannel.fetch, "post_form", recording)
    LogoutDelivery.objects.create(client=rp_client, issuer=ISS, subject="1", next_attempt_at=secrets.now())
    with override_oauth(ALLOW_INSECURE_LOOPBACK_FETCH=True, FETCH={"timeout": 4, "connect_timeout": 1},
                        BACKCHANNEL_LOGOUT={"delivery": NOW_HOOK, "timeout": 1.5}):
        assert backchannel.deliver()["delivered"] == 1
    assert waited == [1.5]


def test_sendlogouts_help_reads(capsys):
    with pytest.raises(SystemExit):
        call_command("sendlogouts", "--help")
    out = capsys.readouterr().out
    assert "back-channel logout" in out and "--list" in out


def test_sendlogouts_lists_what_is_pending(rp_client, capsys):
    LogoutDelivery.objects.create(client=rp_client, issuer=ISS, subject="1", next_attempt_at=secrets.now(),
                                  last_error="HTTP 503")
    call_command("sendlogouts", "--list")
    out = capsys.readouterr().out
    assert rp_client.client_id in out and "1 pending" in out and "HTTP 503" in out


def test_cleartokens_removes_old_finished_deliveries_only(rp_client):
    now = secrets.now()
    old = now - timedelta(days=8)
    LogoutDelivery.objects.create(client=rp_client, issuer=ISS, subject="1", delivered_at=old)
    LogoutDelivery.objects.create(client=rp_client, issuer=ISS, subject="2", failed_at=old)
    recent = LogoutDelivery.objects.create(client=rp_client, issuer=ISS, subject="3", delivered_at=now)
    pending = LogoutDelivery.objects.create(client=rp_client, issuer=ISS, subject="4", created_at=old,
                                            next_attempt_at=old)
    call_command("cleartokens")
    assert set(LogoutDelivery.objects.values_list("pk", flat=True)) == {recent.pk, pending.pk}


def test_admin_lists_deliveries_and_sends_now(server, rp_client, admin_client, signing_key):
    delivery = LogoutDelivery.objects.create(client=rp_client, issuer=ISS, subject="1",
                                             next_attempt_at=secrets.now() + timedelta(hours=1), attempts=1)
    r = admin_client.get("/admin/oauth_provider/logoutdelivery/")
    assert r.status_code == 200 and rp_client.name in r.content.decode()
    r = admin_client.get("/admin/oauth_provider/logoutdelivery/?status=pending")
    assert r.status_code == 200
    r = admin_client.post("/admin/oauth_provider/logoutdelivery/",
                          {"action": "send_now", "_selected_action": [delivery.pk]})
    assert r.status_code == 302
    delivery.refresh_from_db()
    assert delivery.state == "delivered" and len(logout_tokens(server)) == 1
    r = admin_client.get(f"/admin/oauth_provider/client/{rp_client.pk}/change/")
    assert "backchannel_logout_uri" in r.content.decode()


@pytest.mark.parametrize("block, fragment", [
    ({"unknown": 1}, "unknown key"),
    ({"timeout": 0}, "'timeout'"),
    ({"token_lifetime": 600}, "at most 120"),
    ({"max_attempts": "3"}, "'max_attempts'"),
    ({"delivery": "no.such.hook"}, "'delivery'"),
])
def test_check_e090(block, fragment):
    from oauth_provider.checks import check_settings

    with override_oauth(BACKCHANNEL_LOGOUT=block):
        errors = [e for e in check_settings() if e.id == "oauth_provider.E090"]
    assert errors and fragment in errors[0].msg


def test_a_delivery_being_sent_is_held_from_other_workers_for_the_timeout_and_30_s(
        server, rp_client, signing_key, monkeypatch):
    """While one worker's POST may still be in flight (up to ``timeout``), no other worker
    (``sendlogouts`` beside the hook) may take the row and send it again: the claim holds it
    for the timeout plus 30 s; after that, a worker that died mid-send is replaced."""
    from oauth_provider import fetch

    now = secrets.now()
    delivery = LogoutDelivery.objects.create(client=rp_client, issuer=ISS, subject="1", next_attempt_at=now)
    during: list[Any] = []
    post = fetch.post_form

    def post_and_look(uri, data, **kwargs):
        row = LogoutDelivery.objects.get(pk=delivery.pk)
        during.append((row.next_attempt_at - now,
                       LogoutDelivery.objects.due(now + timedelta(seconds=31.9)).filter(pk=delivery.pk).exists(),
                       LogoutDelivery.objects.due(now + timedelta(seconds=32)).filter(pk=delivery.pk).exists()))
        return post(uri, data, **kwargs)

    monkeypatch.setattr(fetch, "post_form", post_and_look)
    assert backchannel.deliver([delivery.pk], now=now) == {"delivered": 1, "retried": 0, "failed": 0}
    # the server fixture's timeout is 2 s: held 32 s, not due to anyone before, due after
    assert during == [(timedelta(seconds=32), False, True)]


def test_the_delivery_thread_never_holds_the_process_and_logs_its_failure(monkeypatch, caplog):
    """The default hook's thread is a daemon: a worker that stops (a restart, the end of a
    command) does not wait for slow clients, the rows stay pending for ``sendlogouts``. A
    failure in it (a database gone) is logged on ``oauth_provider.logout``, not lost."""
    given: list = []

    def broken(ids):
        given.append(ids)
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(backchannel, "deliver", broken)
    started: list[threading.Thread] = []
    start = threading.Thread.start

    def record(thread):
        started.append(thread)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", record)
    with caplog.at_level("ERROR", logger="oauth_provider.logout"):
        backchannel.deliver_in_background([1, 2])
        (thread,) = started
        thread.join(timeout=10)
    assert thread.daemon and thread.name == "oauth_provider-logout"
    assert given == [[1, 2]]  # this logout's deliveries, never "every pending one" (None)
    (record_,) = [r for r in caplog.records if r.name == "oauth_provider.logout"]
    assert "stay pending" in record_.getMessage() and record_.exc_info[0] is RuntimeError


def test_a_thread_safe_claim_under_concurrency(server, rp_client, signing_key):
    """Two workers at once (the background thread and sendlogouts) send a delivery once."""
    delivery = LogoutDelivery.objects.create(client=rp_client, issuer=ISS, subject="1", next_attempt_at=secrets.now())
    results = [backchannel.attempt(delivery) for _ in range(2)]
    assert results.count("delivered") == 1 and results.count(None) == 1
    assert len(logout_tokens(server)) == 1


# --- client metadata (RFC 7591 names; dynamic registration uses the same validator) -------------

@pytest.mark.req("BCL-2.2-uri-registration")
def test_client_metadata_accepts_applies_and_renders_the_logout_fields(db):
    from oauth_provider import client_metadata
    from oauth_provider.models import get_client_model

    meta = client_metadata.validate({"redirect_uris": ["https://rp.example/cb"],
                                     "backchannel_logout_uri": "https://rp.example/bcl?a=1",
                                     "backchannel_logout_session_required": True}, source="dynamic")
    assert meta.backchannel_logout_uri == "https://rp.example/bcl?a=1" and meta.backchannel_logout_session_required
    client = get_client_model()(client_id="dyn-1", registration_method="dynamic")
    meta.apply(client)
    client.full_clean()
    rendered = client_metadata.to_dict(client)
    assert rendered["backchannel_logout_uri"] == "https://rp.example/bcl?a=1"
    assert rendered["backchannel_logout_session_required"] is True
    assert "backchannel_logout_uri" not in client_metadata.to_dict(ClientFactory())


@pytest.mark.req("BCL-2.2-uri-registration")
@pytest.mark.parametrize("data, field", [
    ({"backchannel_logout_uri": "https://10.1.2.3/bcl"}, "backchannel_logout_uri"),
    ({"backchannel_logout_uri": "https://rp.example/bcl#f"}, "backchannel_logout_uri"),
    ({"backchannel_logout_uri": "bcl"}, "backchannel_logout_uri"),
    ({"backchannel_logout_uri": ["https://rp.example/bcl"]}, "backchannel_logout_uri"),
    ({"backchannel_logout_uri": "https://rp.example/bcl", "backchannel_logout_session_required": "yes"},
     "backchannel_logout_session_required"),
])
def test_client_metadata_refuses_bad_logout_fields(db, data, field):
    from oauth_provider.client_metadata import InvalidClientMetadata, validate

    with pytest.raises(InvalidClientMetadata) as info:
        validate({"redirect_uris": ["https://rp.example/cb"], **data}, source="dynamic")
    assert info.value.error == "invalid_client_metadata" and info.value.field == field


def test_the_logout_token_names_the_user_as_the_client_knows_them(server, rp_client, logged_in, commit):
    """OIDC Back-Channel Logout §2.4: ``sub`` is the subject the client was given. With an
    adapter that gives each client its own subject (pairwise), the logout token must carry that
    one: the global identifier would let relying parties correlate users, and match nothing."""
    from tests.support.settings import override_oauth

    with override_oauth(ADAPTER="tests.test_adapter_client_hooks.PerClientAdapter"):
        id_token = sign_in(logged_in, rp_client)
        with commit():
            logged_in.browser.post("/accounts/logout/")
        claims = RelyingParty(rp_client.client_id).validate(logout_tokens(server)[0])
    assert claims["sub"] == id_token["sub"]

"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0)."""

import re
from types import SimpleNamespace

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client as HttpClient

from oauth_provider import jwt, secrets
from oauth_provider.oidc import id_token
from oauth_provider.session import session_id
from tests.support.factories import AuthorizationFactory, ClientFactory, UserFactory
from tests.support.settings import override_oauth

from ..conftest import query_of

pytestmark = pytest.mark.django_db
ISS = "https://testserver/o"
LOGOUT_TO = "https://rp.example/logged-out"


@pytest.fixture
def rp(db):
    return ClientFactory(post_logout_redirect_uris=LOGOUT_TO)


def hint_for(user, client, browser=None, sid: str = ""):
    """An ID token of ``user`` for ``client``; of ``browser``'s current login session (its
    ``sid``) when given, else of ``sid`` (none when empty)."""
    if browser is not None:
        sid = session_id(SimpleNamespace(session=browser.session))
    family = AuthorizationFactory(user=user, client=client, scope="openid", session_id=sid)
    return id_token.build(issuer=ISS, client=client, authorization=family, access_token=None, nonce=None)


def is_logged_in(browser) -> bool:
    return "_auth_user_id" in browser.session


def test_valid_hint_logs_out_and_returns_to_the_registered_uri_with_state(browser, user, rp, signing_key):
    r = browser.get("/o/logout/", {
        "id_token_hint": hint_for(user, rp, browser), "post_logout_redirect_uri": LOGOUT_TO, "state": "s 1&2",
    })
    assert r.status_code == 302
    assert r["Location"].startswith(LOGOUT_TO + "?")
    assert query_of(r["Location"])["state"] == "s 1&2"
    assert not is_logged_in(browser)


def test_expired_hint_is_still_accepted(browser, user, rp, signing_key):
    hint = hint_for(user, rp, browser)
    base = secrets.now()
    secrets.set_clock(lambda: base.replace(year=base.year + 1))
    r = browser.get("/o/logout/", {"id_token_hint": hint, "post_logout_redirect_uri": LOGOUT_TO})
    assert r.status_code == 302 and not is_logged_in(browser)


@pytest.mark.req("DERIVED-logout-csrf")
@pytest.mark.parametrize("sid", ["a" * 32, ""], ids=["an earlier session", "no sid"])
def test_a_hint_not_of_the_current_session_asks_before_logging_out(browser, user, rp, signing_key, sid):
    """RP-Initiated Logout §2: a hint whose ``sid`` is not the current session's is suspect. The
    user's ID token of an earlier login (in a log, a history, an old logout URL) sent by any page
    must not end the session they have now: they confirm first, and nobody is redirected."""
    r = browser.get("/o/logout/", {"id_token_hint": hint_for(user, rp, sid=sid), "post_logout_redirect_uri": LOGOUT_TO})
    assert r.status_code == 200 and b'name="logout_request"' in r.content
    assert is_logged_in(browser)


@pytest.mark.parametrize("uri", [LOGOUT_TO + "/", LOGOUT_TO + "?x=1", "https://evil.example/", "javascript:alert(1)"])
def test_unregistered_post_logout_uri_is_never_followed(browser, user, rp, signing_key, uri):
    r = browser.get("/o/logout/", {"id_token_hint": hint_for(user, rp), "post_logout_redirect_uri": uri})
    assert r.status_code == 400
    assert "Location" not in r
    assert is_logged_in(browser)


def test_post_logout_uri_without_any_client_is_refused(browser, signing_key):
    r = browser.get("/o/logout/", {"post_logout_redirect_uri": LOGOUT_TO})
    assert r.status_code == 400 and "Location" not in r
    assert b"needs an id_token_hint (or client_id)" in r.content  # not "for this client": none was named


def confirm(browser, page) -> object:
    """Press "Log out" on the confirmation ``page``."""
    blob = re.search(r'name="logout_request" value="([^"]+)"', page.content.decode()).group(1)
    return browser.post("/o/logout/", {"logout_request": blob, "logout": "logout"})


@pytest.mark.req("OIDC-3.1.2.1-id-token-hint")
@pytest.mark.parametrize("with_client_id", [False, True], ids=["hint alone", "with client_id"])
def test_a_hint_that_does_not_verify_is_never_used_but_the_user_may_still_log_out(
    browser, user, rp, signing_key, with_client_id
):
    """RP-Initiated Logout §4: a hint that fails validation MUST NOT be used. A forged one, another
    issuer's, an access token: none logs anyone out silently, none makes the page present the
    client as asking, none opens the redirect to the registered URI (which a bare ``client_id``
    would open after confirmation). The user is asked, as with no hint, and may log out."""
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(secrets.now().timestamp())
    sid = session_id(SimpleNamespace(session=browser.session))
    body = {"iss": ISS, "sub": str(user.pk), "aud": rp.client_id, "iat": now, "exp": now + 60, "sid": sid}
    forged = pyjwt.encode(body, attacker, algorithm="RS256", headers={"kid": signing_key.kid})
    other_issuer = jwt.encode({**body, "iss": "https://other.example"})
    access_token = jwt.encode(body, typ="at+jwt")
    extra = {"client_id": rp.client_id} if with_client_id else {}
    for hint in (forged, other_issuer, access_token, "garbage"):
        browser.force_login(user)
        page = browser.get("/o/logout/", {"id_token_hint": hint, "post_logout_redirect_uri": LOGOUT_TO,
                                          "state": "s", **extra})
        html = page.content.decode()
        assert page.status_code == 200 and "Location" not in page, hint
        assert 'name="logout_request"' in html and is_logged_in(browser)
        assert "asks to log you out" not in html and 'class="client"' not in html
        done = confirm(browser, page)
        assert done.status_code == 200 and "Location" not in done and LOGOUT_TO not in done.content.decode()
        assert not is_logged_in(browser)


def test_a_hint_signed_by_a_key_no_longer_published_still_lets_the_user_log_out(browser, user, rp, signing_key):
    """A relying party keeps the ID token as long as its own session lasts, which may be longer
    than a rotated key stays in the JWKS. Its logout link must still end the user's session here
    (after asking: the hint proves nothing now), not leave them signed in behind an error page;
    and it is no redirect back, anonymous visitors included."""
    from oauth_provider import keys

    hint = hint_for(user, rp, browser)
    keys.create_key(compromised=True)  # the hint's key leaves the JWKS at once
    assert signing_key.kid not in {k["kid"] for k in keys.jwks()["keys"]}
    params = {"id_token_hint": hint, "post_logout_redirect_uri": LOGOUT_TO, "state": "s"}
    page = browser.get("/o/logout/", params)
    assert page.status_code == 200 and is_logged_in(browser) and 'name="logout_request"' in page.content.decode()
    done = confirm(browser, page)
    assert done.status_code == 200 and "Location" not in done and not is_logged_in(browser)
    anonymous = HttpClient().get("/o/logout/", params)
    assert anonymous.status_code == 200 and "Location" not in anonymous


def test_client_id_must_be_an_audience_of_the_hint(browser, user, rp, signing_key):
    other = ClientFactory()
    r = browser.get("/o/logout/", {"id_token_hint": hint_for(user, rp), "client_id": other.client_id})
    assert r.status_code == 400 and is_logged_in(browser)


def test_without_proof_the_user_confirms_on_a_csrf_protected_page(user, rp, signing_key):
    browser = HttpClient(enforce_csrf_checks=True)
    browser.force_login(user)
    r = browser.get("/o/logout/", {"client_id": rp.client_id, "post_logout_redirect_uri": LOGOUT_TO, "state": "x"})
    assert r.status_code == 200 and is_logged_in(browser)
    assert r["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in r["Content-Security-Policy"]
    html = r.content.decode()
    blob = re.search(r'name="logout_request" value="([^"]+)"', html).group(1)
    # without the CSRF token: refused, still logged in
    assert browser.post("/o/logout/", {"logout_request": blob, "logout": "logout"}).status_code == 403
    assert is_logged_in(browser)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    r = browser.post("/o/logout/", {"logout_request": blob, "logout": "logout", "csrfmiddlewaretoken": token})
    assert r.status_code == 302 and query_of(r["Location"])["state"] == "x"
    assert not is_logged_in(browser)


def test_the_page_says_the_client_asks_only_when_an_id_token_of_it_came_along(browser, user, signing_key):
    """A bare ``client_id`` is anyone's to send: the page names the client without presenting
    it as asking (its logo and "X asks to log you out" lent a forged request the client's
    authority; outside OIDC review). With its ID token as ``id_token_hint``, it is presented."""
    rp = ClientFactory(name="Notes Web", post_logout_redirect_uris=LOGOUT_TO)
    bare = browser.get("/o/logout/", {"client_id": rp.client_id}).content.decode()
    assert "asks to log you out" not in bare and "<h1>Log out?</h1>" in bare
    assert "The request names the application Notes Web; nothing shows that it sent it." in bare
    assert 'class="client"' not in bare
    hinted = browser.get("/o/logout/", {"id_token_hint": hint_for(user, rp, sid="a" * 32)}).content.decode()
    assert "Notes Web asks to log you out." in hinted and 'class="client"' in hinted


def test_hint_for_another_user_asks_for_confirmation(browser, rp, signing_key):
    other = UserFactory()
    r = browser.get("/o/logout/", {"id_token_hint": hint_for(other, rp)})
    assert r.status_code == 200 and is_logged_in(browser)


def test_staying_signed_in(user, rp, signing_key):
    browser = HttpClient()
    browser.force_login(user)
    html = browser.get("/o/logout/").content.decode()
    blob = re.search(r'name="logout_request" value="([^"]+)"', html).group(1)
    r = browser.post("/o/logout/", {"logout_request": blob, "stay": "stay"})
    assert r.status_code == 200 and is_logged_in(browser)


def test_tampered_confirmation_blob(browser, signing_key):
    r = browser.post("/o/logout/", {"logout_request": "x:y:z", "logout": "logout"})
    assert r.status_code == 400 and is_logged_in(browser)


def test_anonymous_with_valid_target_is_just_sent_back(rp, user, signing_key):
    r = HttpClient().get("/o/logout/", {"id_token_hint": hint_for(user, rp), "post_logout_redirect_uri": LOGOUT_TO})
    assert r.status_code == 302 and r["Location"].startswith(LOGOUT_TO)


def test_anonymous_without_target_sees_the_signed_out_page(signing_key):
    r = HttpClient().get("/o/logout/")
    assert r.status_code == 200 and b"signed out" in r.content


@pytest.mark.req("RPL-2")
def test_anonymous_without_a_hint_is_not_redirected_even_to_a_registered_uri(rp, signing_key):
    """OIDC RP-Initiated Logout §2: with no id_token_hint the OP must not redirect. Otherwise
    /o/logout/?client_id=...&post_logout_redirect_uri=... is a redirect off the provider's own
    domain that anyone can send a link to."""
    r = HttpClient().get("/o/logout/", {"client_id": rp.client_id, "post_logout_redirect_uri": LOGOUT_TO})
    assert r.status_code == 200 and "Location" not in r and b"signed out" in r.content


@pytest.mark.parametrize("method", ["dynamic", "metadata_document"])
def test_a_self_registered_client_is_no_redirect_for_anonymous_visitors_even_with_a_hint(
        rp, user, signing_key, method):
    """Anyone can register a client with their own post-logout URI and get an ID token for it by
    logging in themselves: for such a client the hint proves nothing about the visitor."""
    type(rp).objects.filter(pk=rp.pk).update(registration_method=method)
    rp.refresh_from_db()
    with override_oauth(CLIENT_ID_METADATA_DOCUMENTS=True):  # off, a document's client is unknown here
        r = HttpClient().get("/o/logout/", {"id_token_hint": hint_for(user, rp),
                                            "post_logout_redirect_uri": LOGOUT_TO})
    assert r.status_code == 200 and "Location" not in r


@pytest.mark.req("RPL-2")
@pytest.mark.parametrize("method", ["dynamic", "metadata_document"])
@pytest.mark.parametrize("button", ["logout", "stay"])
@override_oauth(CLIENT_ID_METADATA_DOCUMENTS=True)  # off, a document's client is unknown here
def test_confirming_on_our_page_is_no_redirect_to_a_self_registered_client(user, rp, signing_key, method, button):
    """Without a hint for the logged-in user, nothing vouches for a self-registered client's
    post-logout URI: anyone can register one and send a link. Clicking either button of the
    confirmation page must not make the provider's page a way to reach it."""
    type(rp).objects.filter(pk=rp.pk).update(registration_method=method)
    browser = HttpClient()
    browser.force_login(user)
    page = browser.get("/o/logout/", {"client_id": rp.client_id, "post_logout_redirect_uri": LOGOUT_TO})
    html = page.content.decode()
    blob = re.search(r'name="logout_request" value="([^"]+)"', html).group(1)
    r = browser.post("/o/logout/", {"logout_request": blob, button: button})
    assert r.status_code == 200 and "Location" not in r
    assert is_logged_in(browser) == (button == "stay")


def test_a_deactivated_clients_post_logout_uri_is_never_followed(browser, user, rp, signing_key):
    """A client switched off (or deleted through RFC 7592) may have left its domain to whoever
    buys it: its ID tokens no longer send anyone there."""
    hint = hint_for(user, rp, browser)
    type(rp).objects.filter(pk=rp.pk).update(is_active=False)
    r = browser.get("/o/logout/", {"id_token_hint": hint, "post_logout_redirect_uri": LOGOUT_TO})
    assert r.status_code == 400 and "Location" not in r
    assert is_logged_in(browser)

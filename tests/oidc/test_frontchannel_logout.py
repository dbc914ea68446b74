"""OpenID Connect Front-Channel Logout 1.0: after RP-initiated logout and after the site's own
logout, the page the user sees loads each client's ``frontchannel_logout_uri`` of that session
in an invisible iframe, with ``iss`` and ``sid`` (both or neither), then goes on.

Attacks written down and tested here: a ``frontchannel_logout_uri`` on another host than the
client's redirect URIs (the provider's logout page would load any site for it), ``javascript:``
and ``data:`` URIs, HTML injection through the URI or the client's name (autoescaping), a visitor
with no session, an open redirect through the page (the post-logout redirect rules are
unchanged; the page only continues to where the redirect it replaces pointed), the page itself
framed (clickjacking), a self-registered client loading a tracking URL (only its own registered
origin), and a client of another session, user, or a revoked grant being signed out (or shown).
"""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.template import Context, Template
from django.test import Client as HttpClient
from django.test import RequestFactory

from oauth_provider import client_metadata
from oauth_provider.client_metadata import InvalidClientMetadata
from oauth_provider.models import Authorization, get_client_model
from oauth_provider.oidc import frontchannel
from oauth_provider.session import session_id
from tests.support.factories import ClientFactory, UserFactory
from tests.support.settings import override_oauth

from ..conftest import OAuthDriver
from .test_backchannel_logout import sign_in

pytestmark = pytest.mark.django_db
ISS = "https://testserver/o"
BYE = "https://rp.example/bye"
IFRAME = re.compile(r'<iframe class="oauth-provider-frontchannel-logout" src="([^"]*)"')


def iframe_urls(response) -> list[str]:
    return [html.unescape(src) for src in IFRAME.findall(response.content.decode())]


@pytest.fixture
def rp(db):
    return ClientFactory(name="RP one", frontchannel_logout_uri="https://rp.example/fc-logout?a=1",
                         frontchannel_logout_session_required=True, post_logout_redirect_uris=BYE)


# --- registration (§2) -------------------------------------------------------------------------

def metadata(**extra):
    return {"redirect_uris": ["https://rp.example/cb"], **extra}


@pytest.mark.req("FCL-2-uri-origin")
@pytest.mark.parametrize("uri", [
    "https://rp.example/logout",                  # same origin as the redirect URI
    "https://rp.example:443/logout?x=1",          # the default port written out, query kept
    "https://RP.example/logout",                  # host names are case-insensitive
])
def test_a_logout_uri_on_a_redirect_uri_origin_is_accepted(uri):
    out = client_metadata.validate(metadata(frontchannel_logout_uri=uri), source="dynamic")
    assert out.frontchannel_logout_uri == uri


@pytest.mark.req("FCL-2-uri-origin")
@pytest.mark.parametrize("uri", [
    "https://evil.example/logout",                # another host
    "https://sub.rp.example/logout",              # a subdomain is another host
    "https://rp.example:8443/logout",             # another port
    "http://rp.example/logout",                   # another scheme
    "https://rp.example/logout#frag",             # a fragment (§2: MUST NOT)
    "/logout",                                    # relative (§2: absolute)
    "javascript:alert(1)//rp.example",            # never a script...
    "data:text/html,<script>alert(1)</script>",   # ...or an inline document
    "https://user@rp.example/logout",             # user-info
    "com.example.app:/logout",                    # a private-use scheme cannot be framed
])
def test_a_logout_uri_elsewhere_is_refused(uri):
    with pytest.raises(InvalidClientMetadata) as exc:
        client_metadata.validate(metadata(frontchannel_logout_uri=uri), source="admin")
    assert exc.value.field == "frontchannel_logout_uri"


def test_session_required_must_be_a_boolean_and_to_dict_round_trips(db):
    with pytest.raises(InvalidClientMetadata):
        client_metadata.validate(metadata(frontchannel_logout_session_required="yes"), source="dynamic")
    client = ClientFactory(frontchannel_logout_uri="https://rp.example/fc", frontchannel_logout_session_required=True)
    data = client_metadata.to_dict(client)
    assert data["frontchannel_logout_uri"] == "https://rp.example/fc"
    assert data["frontchannel_logout_session_required"] is True
    assert "frontchannel_logout_uri" not in client_metadata.to_dict(ClientFactory())


def test_dynamic_registration_accepts_and_checks_it(settings):
    with override_oauth(DYNAMIC_REGISTRATION="open", OIDC_ENABLED=True):
        api = HttpClient()
        ok = api.post("/o/register/", {"redirect_uris": ["https://rp.example/cb"],
                                       "frontchannel_logout_uri": "https://rp.example/fc",
                                       "frontchannel_logout_session_required": True}, content_type="application/json")
        assert ok.status_code == 201, ok.content
        assert ok.json()["frontchannel_logout_uri"] == "https://rp.example/fc"
        bad = api.post("/o/register/", {"redirect_uris": ["https://rp.example/cb"],
                                        "frontchannel_logout_uri": "https://tracker.example/pixel"},
                       content_type="application/json")
        assert bad.status_code == 400 and bad.json()["error"] == "invalid_client_metadata"


def test_model_clean_refuses_another_host(db):
    with pytest.raises(ValidationError) as exc:  # the factory runs full_clean(), as the admin does
        ClientFactory.build(frontchannel_logout_uri="https://evil.example/fc")
    assert "frontchannel_logout_uri" in exc.value.message_dict


def test_createclient_registers_it(capsys):
    call_command("createclient", "FC web", "--redirect-uri", "https://rp.example/cb",
                 "--frontchannel-logout-uri", "https://rp.example/fc", "--frontchannel-logout-session-required")
    client = get_client_model().objects.get(name="FC web")
    assert client.frontchannel_logout_uri == "https://rp.example/fc"
    assert client.frontchannel_logout_session_required is True


def test_createclient_refuses_another_host(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("createclient", "FC web", "--redirect-uri", "https://rp.example/cb",
                     "--frontchannel-logout-uri", "https://evil.example/fc")


def test_discovery_advertises_it(settings):
    with override_oauth(OIDC_ENABLED=True):
        doc = HttpClient().get("/o/.well-known/openid-configuration").json()
        assert doc["frontchannel_logout_supported"] is True
        assert doc["frontchannel_logout_session_supported"] is True
    with override_oauth(OIDC_ENABLED=True, FRONTCHANNEL_LOGOUT={"enabled": False}):
        doc = HttpClient().get("/o/.well-known/openid-configuration").json()
        assert "frontchannel_logout_supported" not in doc


# --- the logout page (§3) ----------------------------------------------------------------------

@pytest.mark.req("FCL-2-uri-origin")
def test_rp_initiated_logout_loads_the_logout_uri_with_iss_and_sid_then_continues(rp, logged_in):
    id_token = sign_in(logged_in, rp)
    r = logged_in.browser.get("/o/logout/", {"id_token_hint": id_token["_raw"], "post_logout_redirect_uri": BYE,
                                             "state": "s&1"})
    assert r.status_code == 200
    (url,) = iframe_urls(r)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "rp.example", "/fc-logout")
    query = parse_qs(parts.query)
    # the registered query kept; iss and sid both there (§2), the sid of the ID token
    assert query == {"a": ["1"], "iss": [ISS], "sid": [id_token["sid"]]}
    body = r.content.decode()
    # then on to the registered post-logout URI, with state: a link, a meta refresh, a script
    target = html.escape(f"{BYE}?state=s%261")
    assert f'href="{target}"' in body
    assert f'http-equiv="refresh" content="3;url={target}"' in body
    nonce = re.search(r'<script nonce="([^"]+)">', body).group(1)
    csp = r["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and r["X-Frame-Options"] == "DENY"  # never framed itself
    assert "frame-src https://rp.example" in csp and f"script-src 'nonce-{nonce}'" in csp
    assert r["Referrer-Policy"] == "no-referrer"  # the id_token_hint in our URL never reaches the RP
    assert r["Cache-Control"] == "no-store"
    assert "_auth_user_id" not in logged_in.browser.session  # and the user is signed out


@pytest.mark.req("FCL-2-uri-origin")
def test_without_session_required_neither_iss_nor_sid_is_added(rp, logged_in):
    get_client_model().objects.filter(pk=rp.pk).update(frontchannel_logout_session_required=False)
    id_token = sign_in(logged_in, rp)
    r = logged_in.browser.get("/o/logout/", {"id_token_hint": id_token["_raw"]})
    assert iframe_urls(r) == ["https://rp.example/fc-logout?a=1"]
    assert "http-equiv" not in r.content.decode() and "<script" not in r.content.decode()  # nowhere to go on to


def test_only_the_clients_of_this_session_are_signed_out(rp, logged_in, user):
    other = ClientFactory(name="RP two", redirect_uris="https://two.example/cb",
                          frontchannel_logout_uri="https://two.example/fc")
    silent = ClientFactory(name="No URI")
    revoked = ClientFactory(name="Revoked", redirect_uris="https://three.example/cb",
                            frontchannel_logout_uri="https://three.example/fc")
    switched_off = ClientFactory(name="Switched off", redirect_uris="https://five.example/cb",
                                 frontchannel_logout_uri="https://five.example/fc")
    id_token = sign_in(logged_in, rp)
    sign_in(logged_in, other)
    sign_in(logged_in, silent)
    sign_in(logged_in, revoked)
    sign_in(logged_in, switched_off)
    Authorization.objects.filter(client=revoked).revoke()
    type(switched_off).objects.filter(pk=switched_off.pk).update(is_active=False)  # a deactivated client
    # the same user in another browser (another session), and another user: not this logout
    elsewhere = OAuthDriver(HttpClient(), HttpClient())
    elsewhere.browser.force_login(user)
    sign_in(elsewhere, ClientFactory(name="Elsewhere", redirect_uris="https://four.example/cb",
                                     frontchannel_logout_uri="https://four.example/fc"))
    r = logged_in.browser.post("/o/logout/", {"id_token_hint": id_token["_raw"]})
    urls = iframe_urls(r)
    assert sorted(urlsplit(u).netloc for u in urls) == ["rp.example", "two.example"]
    assert len(set(Authorization.objects.values_list("session_id", flat=True))) == 2  # two sessions, two sids
    # the page may frame both origins, each a source of its own (CSP 3 §2.3.1: space-separated)
    frame_src = next(d for d in r["Content-Security-Policy"].split("; ") if d.startswith("frame-src "))
    assert sorted(frame_src.split()[1:]) == ["https://rp.example", "https://two.example"]


def test_the_logout_finds_the_clients_in_one_query(rp, logged_in, django_assert_num_queries):
    sign_in(logged_in, rp)
    request = RequestFactory().get("/")
    request.session = logged_in.browser.session
    assert request.session.get("_auth_user_id")  # loaded, as by Django's middleware before a logout
    user = Authorization.objects.get().user
    with django_assert_num_queries(1):
        frames = frontchannel.session_ended(request, user)
    assert len(frames) == 1
    with override_oauth(FRONTCHANNEL_LOGOUT={"enabled": False}), django_assert_num_queries(0):
        assert frontchannel.session_ended(request, user) == []
    # Django sends user_logged_out with user=None for a visitor who was not logged in; a
    # caller without a request has no session: neither signs anyone out, nor costs a query
    with django_assert_num_queries(0):
        assert frontchannel.session_ended(request, None) == []
        assert frontchannel.session_ended(None, user) == []


@pytest.mark.req("FCL-2-uri-origin")
def test_a_visitor_with_no_session_gets_no_iframes(rp, logged_in):
    id_token = sign_in(logged_in, rp)
    stranger = HttpClient()
    r = stranger.get("/o/logout/", {"id_token_hint": id_token["_raw"], "post_logout_redirect_uri": BYE})
    # RP-initiated logout's rules for a visitor with no session are unchanged (a redirect to the
    # operator-registered client), and no client page is loaded for a session that is not there
    assert r.status_code == 302 and r["Location"] == BYE
    r = stranger.get("/o/logout/")
    assert r.status_code == 200 and iframe_urls(r) == []


def test_no_open_redirect_through_the_page(rp, logged_in):
    id_token = sign_in(logged_in, rp)
    r = logged_in.browser.get("/o/logout/", {"id_token_hint": id_token["_raw"],
                                             "post_logout_redirect_uri": "https://evil.example/"})
    assert r.status_code == 400 and "evil.example" not in r.content.decode()
    assert "_auth_user_id" in logged_in.browser.session  # refused before logging out


def test_the_uri_and_name_are_escaped(logged_in):
    client = ClientFactory(name='<img src=x onerror=alert(1)>', frontchannel_logout_uri="https://rp.example/fc")
    # the validator refuses quotes and angle brackets; a row written around it is still escaped
    get_client_model().objects.filter(pk=client.pk).update(
        frontchannel_logout_uri='https://rp.example/fc?q="><script>alert(1)</script>')
    id_token = sign_in(logged_in, client)
    body = logged_in.browser.get("/o/logout/", {"id_token_hint": id_token["_raw"]}).content.decode()
    assert "<script>alert" not in body and "<img src=x" not in body
    assert "&quot;&gt;&lt;script&gt;" in body


def test_a_row_with_a_script_uri_is_never_rendered(logged_in):
    client = ClientFactory(name="Bad row", frontchannel_logout_uri="https://rp.example/fc")
    id_token = sign_in(logged_in, client)
    get_client_model().objects.filter(pk=client.pk).update(frontchannel_logout_uri="javascript:alert(1)")
    body = logged_in.browser.get("/o/logout/", {"id_token_hint": id_token["_raw"]}).content.decode()
    assert "javascript:" not in body and "<iframe" not in body


def test_a_row_with_a_script_uri_does_not_keep_the_other_clients_signed_in(logged_in):
    """A hand-written row that is skipped must not end the list: the clients after it (sorted
    by name) are still signed out (§3: every client the session signed in to)."""
    bad = ClientFactory(name="A bad row", frontchannel_logout_uri="https://rp.example/fc")
    good = ClientFactory(name="B good", redirect_uris="https://two.example/cb",
                         frontchannel_logout_uri="https://two.example/fc")
    sign_in(logged_in, bad)
    id_token = sign_in(logged_in, good)
    get_client_model().objects.filter(pk=bad.pk).update(frontchannel_logout_uri="javascript:alert(1)")
    r = logged_in.browser.get("/o/logout/", {"id_token_hint": id_token["_raw"]})
    assert [urlsplit(u).netloc for u in iframe_urls(r)] == ["two.example"]
    assert "javascript:" not in r.content.decode() and r["Content-Security-Policy"] == (
        "frame-ancestors 'none'; frame-src https://two.example")


def test_a_self_registered_client_loads_only_its_own_origin(logged_in):
    with override_oauth(DYNAMIC_REGISTRATION="open", OIDC_ENABLED=True):
        registered = HttpClient().post("/o/register/", {
            "redirect_uris": ["https://self.example/cb"], "token_endpoint_auth_method": "none",
            "frontchannel_logout_uri": "https://self.example/pixel?track=1"}, content_type="application/json")
        assert registered.status_code == 201, registered.content
    client = get_client_model().objects.get(client_id=registered.json()["client_id"])
    client.raw_secret = None
    id_token = sign_in(logged_in, client)
    r = logged_in.browser.get("/o/logout/", {"id_token_hint": id_token["_raw"]})
    assert [urlsplit(u).netloc for u in iframe_urls(r)] == ["self.example"]
    assert "frame-src https://self.example" in r["Content-Security-Policy"]
    assert 'sandbox="allow-same-origin allow-scripts"' in r.content.decode()  # cannot navigate us away


@pytest.mark.req("FCL-2-uri-origin")
def test_a_logout_uri_cannot_write_directives_into_the_pages_policy(logged_in):
    """The page's Content-Security-Policy lists the clients' origins. A host no DNS name can
    have, but the URL parsers take ("rp.example;script-src"), would end that list and start
    a directive of the client's choosing: an empty script-src, listed first, would stop the
    page's own script. Registration refuses such a host; one written past it (an old row, a
    raw import) is never written into the policy, nor loaded."""
    odd = "https://rp.example;script-src"
    with override_oauth(DYNAMIC_REGISTRATION="open", OIDC_ENABLED=True):
        def register(uri: str):
            return HttpClient().post("/o/register/", {
                "redirect_uris": [f"{uri}/cb"], "token_endpoint_auth_method": "none",
                "post_logout_redirect_uris": [f"{uri}/bye"], "frontchannel_logout_uri": f"{uri}/fc"},
                content_type="application/json")

        refused = register(odd)
        registered = register("https://rp.example")
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_redirect_uri"
    assert registered.status_code == 201, registered.content
    clients = get_client_model().objects.filter(client_id=registered.json()["client_id"])
    clients.update(frontchannel_logout_uri=f"{odd}/fc")
    client = clients.get()
    client.raw_secret = None
    id_token = sign_in(logged_in, client)
    r = logged_in.browser.get("/o/logout/", {"id_token_hint": id_token["_raw"]})
    directives = [d.split()[0] for d in r["Content-Security-Policy"].split(";") if d.strip()]
    assert len(directives) == len(set(directives)) and set(directives) <= {"frame-ancestors", "frame-src",
                                                                           "script-src"}, directives
    assert "script-src" not in r["Content-Security-Policy"].replace("script-src 'nonce-", "")
    assert iframe_urls(r) == []


# --- the site's own logout ---------------------------------------------------------------------

def test_the_site_logout_redirect_becomes_the_logout_page(rp, logged_in):
    id_token = sign_in(logged_in, rp)
    r = logged_in.browser.post("/accounts/logout/", {"next": "/after/"})
    assert r.status_code == 200
    (url,) = iframe_urls(r)
    assert parse_qs(urlsplit(url).query)["sid"] == [id_token["sid"]]
    assert 'href="/after/"' in r.content.decode()
    assert r["X-Frame-Options"] == "DENY"
    assert "_auth_user_id" not in logged_in.browser.session


def test_the_site_logout_page_continues_to_an_absolute_url(rp, logged_in):
    """The site's logout view may send the browser on to an absolute URL of its own host: the
    page stands in for that redirect too (loads the client's page, then continues there)."""
    sign_in(logged_in, rp)
    r = logged_in.browser.post("/accounts/logout/", {"next": "http://testserver/after/?at=10:30"})
    assert r.status_code == 200 and len(iframe_urls(r)) == 1
    body = r.content.decode()
    assert 'href="http://testserver/after/?at=10:30"' in body
    assert 'http-equiv="refresh" content="3;url=http://testserver/after/?at=10:30"' in body
    assert "_auth_user_id" not in logged_in.browser.session


@pytest.mark.parametrize(("url", "allowed"), [
    ("/after/", True), ("/after/?at=10:30", True), ("https://rp.example/bye", True),
    ("http://testserver/after/", True), ("com.example.app:/logged-out", True), ("after", True),
    ("javascript:alert(1)", False), (" JavaScript:alert(1)", False), ("DATA:text/html,<b>x</b>", False),
    ("vbscript:msgbox", False), ("blob:https://rp.example/1", False),
    # browsers drop tabs and newlines anywhere, and C0 controls around the URL (WHATWG URL §4.4)
    ("java\tscript:alert(1)", False), ("java\nscript:alert(1)", False), ("jav\r\nascript:alert(1)", False),
    ("\x00javascript:alert(1)", False), ("\x1fdata:text/html,x", False), ("javascript:alert(1)\x00", False),
    ("/after/?x=java\tscript:", True),
    ("!javascript:x", True),  # a relative path: only C0 controls and spaces are stripped, no "!"
])
def test_the_page_continues_to_any_url_but_a_script_or_data_one(url, allowed):
    assert frontchannel.may_continue_to(url) is allowed


def test_a_logged_out_page_with_no_client_to_load_allows_no_script(rf, settings):
    """``render_logged_out`` called with nothing to load (a site's own use): no script, so no
    nonce in the page or its policy, and no automatic redirect."""
    request = rf.get("/")
    r = frontchannel.render_logged_out(request, [], "/after/")
    assert r["Content-Security-Policy"] == "frame-ancestors 'none'"
    body = r.content.decode()
    assert "<script" not in body and "http-equiv" not in body and "<iframe" not in body


def test_the_site_logout_keeps_its_own_open_redirect_protection(rp, logged_in):
    sign_in(logged_in, rp)
    r = logged_in.browser.post("/accounts/logout/", {"next": "https://evil.example/"})
    assert "evil.example" not in r.content.decode() and "evil.example" not in r.get("Location", "")


def test_without_clients_to_sign_out_the_site_logout_is_untouched(logged_in):
    r = logged_in.browser.post("/accounts/logout/", {"next": "/after/"})
    assert r.status_code == 302 and r["Location"] == "/after/"


def test_a_checked_frame_cannot_be_rewritten_afterwards(rp, logged_in):
    """The URL was checked (an http(s) origin) when the frame was made: the frame is frozen,
    so nothing between the logout and the page (a signal receiver, a template) can swap it for
    another, and frames can be put in a set."""
    from dataclasses import FrozenInstanceError

    sign_in(logged_in, rp)
    request = RequestFactory().get("/")
    request.session = logged_in.browser.session
    (frame,) = frontchannel.session_ended(request, Authorization.objects.get().user)
    with pytest.raises(FrozenInstanceError):
        frame.url = "javascript:alert(1)"
    assert {frame, frontchannel.LogoutFrame(frame.client_name, frame.url)} == {frame}


def test_the_template_tag_renders_the_iframes_once(rp, logged_in):
    sign_in(logged_in, rp)
    request = RequestFactory().get("/")
    request.session = logged_in.browser.session
    frontchannel.session_ended(request, Authorization.objects.get().user)
    template = Template("{% load oauth_provider_tags %}{% frontchannel_logout %}|{% frontchannel_logout %}")
    first, second = template.render(Context({"request": request})).split("|")
    assert first.count("<iframe") == 1 and "rp.example/fc-logout" in first
    assert "<iframe" not in second


@pytest.mark.req("FCL-5-sid-entropy")
def test_sids_are_unique_per_session_and_long_enough(rf):
    """Drawn at login (128 random bits); a session from before the sid was kept gets a hash
    of its key, kept in it from then on."""
    from django.contrib.sessions.backends.db import SessionStore

    from oauth_provider.session import SID_KEY, record_login

    sids, derived = set(), set()
    for _ in range(10_000):
        request = rf.get("/")
        request.session = SessionStore()
        request.session._session_cache = {}
        record_login(None, request, None)
        sids.add(session_id(request))
    for _ in range(1_000):
        request = rf.get("/")
        request.session = SessionStore()
        request.session._session_key, request.session._session_cache = _new_key(), {}
        derived.add(session_id(request))
        assert request.session[SID_KEY] == session_id(request)
    for found, count in ((sids, 10_000), (derived, 1_000)):
        assert len(found) == count and all(len(s) == 32 and re.fullmatch("[0-9a-f]+", s) for s in found)


def _new_key() -> str:
    """A session key as Django makes one (SessionBase._get_new_session_key, minus its query)."""
    from django.contrib.sessions.backends.base import VALID_KEY_CHARS
    from django.utils.crypto import get_random_string

    return get_random_string(32, VALID_KEY_CHARS)


def test_checks(settings):
    from django.core.checks import run_checks

    def ids(**block):
        with override_oauth(FRONTCHANNEL_LOGOUT=block):
            return {m.id for m in run_checks() if m.id.startswith("oauth_provider.")}

    assert ids(timeout=0) == {"oauth_provider.E140"}
    assert ids(colour="red") == {"oauth_provider.E140"}
    assert ids(enabled="yes") == {"oauth_provider.E140"}
    settings.MIDDLEWARE = ["oauth_provider.middleware.FrontChannelLogoutMiddleware",
                           *[m for m in settings.MIDDLEWARE if "FrontChannel" not in m]]
    assert "oauth_provider.E141" in {m.id for m in run_checks()}
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "FrontChannel" not in m]
    with override_oauth(OIDC_ENABLED=True):
        assert "oauth_provider.W140" in {m.id for m in run_checks(include_deployment_checks=True)}
        assert "oauth_provider.W140" not in {m.id for m in run_checks()}


def test_another_user_of_the_same_browser_is_not_mixed_up(rp, logged_in):
    sign_in(logged_in, rp)
    logged_in.browser.post("/o/logout/", {"id_token_hint": sign_in(logged_in, rp)["_raw"]})
    logged_in.browser.force_login(UserFactory())
    r = logged_in.browser.post("/accounts/logout/", {"next": "/after/"})
    assert r.status_code == 302  # the new user's session signed in to no client


def test_the_page_is_translated(rp, logged_in):
    from django.utils import translation

    id_token = sign_in(logged_in, rp)
    with translation.override("fr"):
        body = logged_in.browser.get("/o/logout/", {"id_token_hint": id_token["_raw"],
                                                    "post_logout_redirect_uri": BYE}).content.decode()
    assert "Déconnexion de RP one" in body and "Continuer" in body


@pytest.mark.parametrize("uri", ["javascript:alert(1)", "JavaScript:alert(1)"])
def test_a_script_post_logout_uri_written_past_validation_is_never_a_link(rp, logged_in, uri):
    """A second barrier behind the registration rules (and the page's script policy): a
    ``javascript:`` URI in a client's row never becomes the page's link, refresh or script
    target, on RP-initiated logout as on the site's own logout."""
    id_token = sign_in(logged_in, rp)
    get_client_model().objects.filter(pk=rp.pk).update(post_logout_redirect_uris=uri)
    r = logged_in.browser.get("/o/logout/", {"id_token_hint": id_token["_raw"], "post_logout_redirect_uri": uri})
    page = html.unescape(r.content.decode()).lower()
    assert "alert(1)" not in page and "url=" not in page

"""The pages users see: the client's name, logo and links shown safely (RFC 7591 §2 metadata,
OAuth 2.1 §7.9 and §7.12), basic accessibility, one overridable base template, and a French
translation rendered through Django's ordinary language negotiation."""

from __future__ import annotations

import io
import json
import re
from html import unescape

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.template import engines
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import translation

from oauth_provider.errors import InsufficientScope, InvalidToken, OAuthError, PublicClientThrottled
from oauth_provider.models import get_client_model
from oauth_provider.responses import add_query, bearer_error, error_page
from oauth_provider.templatetags.oauth_provider_tags import client_link, http_url, image_url, url_host
from tests.support.a11y import problems
from tests.support.endpoints import AUTHORIZE, XSS, assert_page_headers, params_for
from tests.support.factories import ClientFactory, ConsentFactory

from .conftest import consent_blob

pytestmark = pytest.mark.django_db
Client = get_client_model()

LOGO = "https://rp.example/static/logo.png"
LINKS = {
    "logo_uri": LOGO,
    "client_uri": "https://rp.example/",
    "policy_uri": "https://rp.example/privacy",
    "tos_uri": "https://rp.example/terms",
}
HOSTILE_URLS = [
    "javascript:alert(1)", "JavaScript:alert(1)", "java\tscript:alert(1)", " javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "//evil.example/x", "/relative",
    "https://", "file:///etc/passwd", "ftp://rp.example/logo.png",
]


@pytest.fixture
def branded(db):
    return ClientFactory(name="Notes Web", **LINKS)


def consent_html(browser, client, **params) -> str:
    r = browser.get(AUTHORIZE, params_for(client, **params))
    assert r.status_code == 200, r.get("Location")
    return r.content.decode()


# -- storing the links ------------------------------------------------------------------------
def test_createclient_stores_and_prints_the_display_links():
    out = io.StringIO()
    call_command("createclient", "Notes Web", "--redirect-uri", "https://rp.example/cb",
                 "--post-logout-redirect-uri", "https://rp.example/", "https://rp.example/bye",
                 *[arg for name, value in LINKS.items() for arg in (f"--{name.replace('_', '-')}", value)],
                 "--json", stdout=out)
    data = json.loads(out.getvalue())
    client = Client.objects.get(client_id=data["client_id"])
    for name, value in LINKS.items():
        assert getattr(client, name) == value and data[name] == value
    assert client.post_logout_redirect_uri_list == data["post_logout_redirect_uris"] == [
        "https://rp.example/", "https://rp.example/bye"]


@pytest.mark.req("O21-7.12-input-is-malicious")
@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:image/png;base64,AAAA", "ftp://rp.example/x"])
@pytest.mark.parametrize("option", ["--logo-uri", "--client-uri", "--policy-uri", "--tos-uri"])
def test_createclient_refuses_links_that_are_not_http(option, url):
    with pytest.raises(CommandError, match="https://"):  # the logo: https only
        call_command("createclient", "Bad", "--redirect-uri", "https://rp.example/cb", option, url,
                     stdout=io.StringIO())
    assert not Client.objects.exists()


@pytest.mark.req("O21-7.12-input-is-malicious")
def test_admin_form_validates_the_links_and_assumes_https():
    from .test_admin import client_form

    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    admin = HttpClient()
    admin.force_login(root)
    add = reverse("admin:oauth_provider_client_add")
    page = admin.get(add).content.decode()
    for name in LINKS:
        assert f'name="{name}"' in page
    r = admin.post(add, client_form(logo_uri="javascript:alert(1)", tos_uri="data:text/html,x"))
    assert r.status_code == 200
    errors = r.context["adminform"].form.errors
    assert set(errors) == {"logo_uri", "tos_uri"}
    assert not Client.objects.exists()
    r = admin.post(add, client_form(logo_uri="rp.example/logo.png", client_uri="https://rp.example/"))
    assert r.status_code in (200, 302) and Client.objects.get().logo_uri == "https://rp.example/logo.png"


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_the_url_filter_lets_only_absolute_http_urls_through(url):
    assert http_url(url) == "" and url_host(url) == ""


@pytest.mark.req("O21-7.12-input-is-malicious")
@pytest.mark.parametrize("url", ["https://evil.example\\@rp.example/", "https://evil.example\\.rp.example/",
                                 "https://rp.example@evil.example\\@rp.example/"])
def test_the_url_filter_refuses_backslashes(url):
    """Browsers read a backslash in an http(s) URL as "/" (WHATWG URL), Python's urlsplit as
    part of the user name or host: ``https://evil.example\\@rp.example/`` opens evil.example,
    yet url_host would have named rp.example."""
    assert http_url(url) == "" and url_host(url) == ""


@pytest.mark.req("O21-7.12-input-is-malicious")
def test_a_client_link_never_shows_a_host_other_than_the_one_it_opens(browser):
    """The model's validator lets this URL through; the page does not show it."""
    client = ClientFactory(name="Notes Web", client_uri="https://evil.example\\@rp.example/")
    html = consent_html(browser, client)
    assert "evil.example" not in html and 'class="client-links"' not in html


@pytest.mark.req("O21-7.12-input-is-malicious")
def test_a_link_to_a_unicode_host_reads_as_the_name_it_opens():
    """Link text is a host the user can check: "gоogle.com" with a Cyrillic "о" reads as the
    name the browser contacts, not as google.com."""
    assert url_host("https://g\u043eogle.com/") == "xn--gogle-jye.com"
    assert url_host("https://g\u043eogle.com:8443/x") == "xn--gogle-jye.com:8443"
    assert url_host("https://bücher.example/") == "xn--bcher-kva.example"


@pytest.mark.req("O21-7.12-input-is-malicious")
def test_a_link_whose_host_has_no_name_a_browser_would_contact_is_not_shown(browser):
    """A non-ASCII host that has no IDNA form (a label of 64 letters) cannot be named for the
    user to check: no link with empty text, which a user could still click unawares."""
    host = "\u00e9" * 64 + ".example"
    assert url_host(f"https://{host}/") == ""
    client = ClientFactory(name="Notes Web")
    Client.objects.filter(pk=client.pk).update(client_uri=f"https://{host}/")  # past the model's validator
    html = consent_html(browser, client)
    assert host not in html and "<a href=\"https://" not in html


@pytest.mark.req("O21-7.9-consent-phishing")
def test_a_redirect_uri_whose_host_has_no_idna_form_is_shown_as_registered(browser):
    """The consent page shows where the user will be sent in its IDNA form; a registered
    non-ASCII host that has none (a label over 63 characters) is shown as registered, not a
    server error (it names no host a browser could contact either)."""
    uri = "https://" + "\u00fc" * 64 + ".example/cb"
    html = consent_html(browser, ClientFactory(redirect_uris=uri))
    assert f"You will be sent back to {uri}" in html


@pytest.mark.req("O21-7.12-input-is-malicious")
@pytest.mark.parametrize("url", ["https://rp.example/a b", "https://rp.example/\x1f", "https://rp.example/\x00",
                                 "https://rp.example/\x7f", "https://rp.example/\t", "http://[::1"])
def test_the_url_filter_refuses_spaces_controls_and_what_python_cannot_split(url):
    """Browsers drop whitespace and controls before they parse (WHATWG URL), the trick behind
    ``java\tscript:``; a URL Python's urlsplit cannot read (an open IPv6 bracket) is no link."""
    assert http_url(url) == "" and url_host(url) == ""


def test_the_url_filter_keeps_the_printable_characters_next_to_those_it_refuses():
    for url in ("https://rp.example/!", "https://rp.example/~user", "https://rp.example/a%20b"):
        assert http_url(url) == url


def test_a_logo_is_loaded_over_https_only_or_from_a_loopback_host():
    assert image_url("https://rp.example/logo.png") == "https://rp.example/logo.png"
    assert image_url("http://127.0.0.1:8000/logo.png") == "http://127.0.0.1:8000/logo.png"
    assert image_url("http://rp.example/logo.png") == ""  # mixed content: never on the page
    assert image_url("javascript:alert(1)") == ""


def test_a_self_registered_clients_links_only_on_the_host_of_its_redirect_uris():
    """RFC 7591 §5: anyone can register as any name with any ``client_uri``; the page shows a
    self-registered client's links only on a host it is sent back to."""
    registered = ClientFactory.build(registration_method="dynamic", redirect_uris="https://app.example/cb",
                                     grant_types="authorization_code")
    assert client_link("https://app.example/about", registered) == "https://app.example/about"
    assert client_link("https://claude.ai/", registered) == ""
    assert client_link("javascript:alert(1)", registered) == ""
    by_an_operator = ClientFactory.build(redirect_uris="https://app.example/cb")
    assert client_link("https://claude.ai/", by_an_operator) == "https://claude.ai/"
    assert client_link("https://claude.ai/", None) == "https://claude.ai/"
    # a redirect URI Python cannot split (a row written past the model's validator): no link
    registered.redirect_uris = "https://[::1/cb"
    assert client_link("https://app.example/about", registered) == ""


def test_the_url_filter_keeps_http_urls():
    assert http_url("https://rp.example/a?b=c") == "https://rp.example/a?b=c"
    assert http_url("http://127.0.0.1:8001/") == "http://127.0.0.1:8001/"
    assert url_host("https://user@rp.example:8443/x") == "rp.example:8443"
    assert http_url(None) == "" and http_url(42) == ""


# -- showing them ------------------------------------------------------------------------------
@pytest.mark.req("O21-7.9-consent-phishing")
def test_consent_page_shows_logo_name_and_links(browser, branded):
    html = consent_html(browser, branded)
    assert re.search(r'<img class="logo" src="https://rp\.example/static/logo\.png" alt=""[^>]*'
                     r'referrerpolicy="no-referrer"', html)
    assert "Notes Web wants to access your account" in html
    assert '<a href="https://rp.example/" rel="noopener noreferrer">rp.example</a>' in html
    assert '<a href="https://rp.example/privacy" rel="noopener noreferrer">Privacy policy</a>' in html
    assert '<a href="https://rp.example/terms" rel="noopener noreferrer">Terms of service</a>' in html


@pytest.mark.req("BCP-4.2.4-referrer")
def test_the_only_foreign_urls_are_the_clients_own_and_send_no_referrer(browser, branded):
    r = browser.get(AUTHORIZE, params_for(branded))
    assert_page_headers(r)
    html = r.content.decode()
    foreign = [u for u in re.findall(r'(?:src|href|action)\s*=\s*"([^"]*)"', html)
               if re.match(r"(?i)^(?:[a-z][a-z0-9+.-]*:)?//", u)]
    assert sorted(foreign) == sorted(LINKS.values())
    for tag in re.findall(r"<(?:a|img)\b[^>]*(?:https?://)[^>]*>", html):
        assert 'rel="noopener noreferrer"' in tag or 'referrerpolicy="no-referrer"' in tag, tag


def test_without_a_logo_a_monogram_stands_in(browser, conf_client):
    html = consent_html(browser, conf_client)
    assert "<img" not in html
    assert '<span class="monogram" aria-hidden="true">C</span>' in html


@pytest.mark.req("O21-7.12-input-is-malicious")
@pytest.mark.req("O21-7.9-consent-phishing")
@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_a_stored_hostile_link_is_never_rendered(browser, branded, url):
    # written past the model's validation, as an old row or a raw SQL import could be
    Client.objects.filter(pk=branded.pk).update(logo_uri=url, client_uri=url, policy_uri=url, tos_uri=url)
    for html in (consent_html(browser, branded), connected_apps_html(browser, branded)):
        targets = {unescape(v) for v in re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', html)}
        assert url not in targets and url.strip() not in targets and "script:" not in html.lower()
        assert "<img" not in html and "Privacy policy" not in html


@pytest.mark.req("O21-7.12-input-is-malicious")
@pytest.mark.parametrize("payload", XSS)
def test_client_name_and_links_are_escaped(browser, payload):
    client = ClientFactory(name=payload, client_uri=f"https://rp.example/?q={payload}".replace(" ", "%20"))
    for html in (consent_html(browser, client), connected_apps_html(browser, client)):
        assert payload not in html
        assert "<script>" not in html and "<img src=x" not in html


def connected_apps_html(browser, client) -> str:
    ConsentFactory(user=browser_user(browser), client=client, scope="read")
    r = browser.get("/o/connected-apps/")
    assert r.status_code == 200
    return r.content.decode()


def browser_user(browser):
    return get_user_model().objects.get(pk=browser.session["_auth_user_id"])


def test_connected_apps_and_logout_show_who_the_client_is(browser, branded, signing_key):
    apps = connected_apps_html(browser, branded)
    assert f'src="{LOGO}"' in apps and '<h2>Notes Web</h2>' in apps
    assert "Revoke access for Notes Web" in apps
    branded.post_logout_redirect_uris = "https://rp.example/"
    branded.save()
    from oauth_provider.oidc import id_token
    from tests.support.factories import AuthorizationFactory

    family = AuthorizationFactory(user=browser_user(browser), client=branded, scope="openid", session_id="a" * 32)
    hint = id_token.build(issuer="https://testserver/o", client=branded, authorization=family, access_token=None,
                          nonce=None)
    r = browser.get("/o/logout/", {"id_token_hint": hint, "post_logout_redirect_uri": "https://rp.example/"})
    html = r.content.decode()
    assert r.status_code == 200 and f'src="{LOGO}"' in html
    assert "<h1>Log out?</h1>" in html and "Notes Web asks to log you out." in html


# -- accessibility -----------------------------------------------------------------------------
def test_every_page_passes_the_basic_accessibility_rules(browser, branded, signing_key):
    pages = {
        "consent": consent_html(browser, branded, scope="openid read write"),
        "error": browser.get(AUTHORIZE, {"client_id": "nobody"}).content.decode(),
        "connected apps": connected_apps_html(browser, branded),
        "logout": browser.get("/o/logout/").content.decode(),
    }
    browser.post("/o/logout/", {"logout_request": consent_blob_of(pages["logout"]), "logout": "logout"})
    pages["signed out"] = HttpClient().get("/o/logout/").content.decode()
    for name, html in pages.items():
        assert problems(html) == [], name
    assert "You are signed out" in pages["signed out"]


def consent_blob_of(html: str) -> str:
    return re.search(r'name="logout_request" value="([^"]+)"', html).group(1)


def test_optional_scopes_are_labelled_checkboxes_in_a_fieldset(browser, branded, settings):
    settings.OAUTH_PROVIDER = {**settings.OAUTH_PROVIDER, "OPTIONAL_SCOPES": ["write"]}
    html = consent_html(browser, branded, scope="read write")
    assert re.search(r"<fieldset>\s*<legend>It will be allowed to:</legend>", html)
    box = re.search(r'<input type="checkbox" id="(scope-\d+)" name="scope" value="write" checked>', html)
    assert box and f'<label for="{box.group(1)}">Change your data' in html
    assert problems(html) == []


# -- overriding and translating ----------------------------------------------------------------
def test_the_base_template_can_be_extended_by_a_site_override(settings, tmp_path):
    override = tmp_path / "oauth_provider" / "base.html"
    override.parent.mkdir()
    override.write_text('{% extends "oauth_provider/base.html" %}'
                        '{% block header %}<header class="site">Example Corp</header>{% endblock %}')
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}]
    html = engines["django"].get_template("oauth_provider/error.html").render({"error": {"error": "x"}})
    assert '<header class="site">Example Corp</header>' in html
    assert "This request cannot be completed" in html


@pytest.fixture
def negotiated_language(settings):
    """The site negotiates the language from Accept-Language, as a multilingual site does."""
    middleware = list(settings.MIDDLEWARE)
    middleware.insert(middleware.index("django.contrib.sessions.middleware.SessionMiddleware") + 1,
                      "django.middleware.locale.LocaleMiddleware")
    settings.MIDDLEWARE = middleware


def test_consent_page_in_french(negotiated_language, user, branded, signing_key):
    browser = HttpClient(HTTP_ACCEPT_LANGUAGE="fr")
    browser.force_login(user)
    html = consent_html(browser, branded, scope="openid read")
    assert '<html lang="fr" dir="ltr">' in html
    assert "<title>Autoriser Notes Web</title>" in html
    assert "Notes Web demande l’accès à votre compte" in html
    assert "Connecté en tant que alice." in html
    assert "Vous connecter avec votre compte" in html  # the openid scope's description
    assert "Politique de confidentialité" in html and "Conditions d’utilisation" in html
    # the form contract is the same in every language
    assert re.search(r'<button type="submit" name="allow" value="allow" class="primary">Autoriser</button>', html)
    assert re.search(r'<button type="submit" name="deny" value="deny">Refuser</button>', html)
    r = browser.post(AUTHORIZE, {"oauth_request": consent_blob(html), "allow": "allow"})
    assert r.status_code == 302 and "code=" in r["Location"]


@pytest.mark.req("OIDC-15.1-tolerated-params")
def test_ui_locales_chooses_the_pages_language(user, branded, signing_key):
    """OIDC Core §3.1.2.1: ``ui_locales`` lists the user's languages in order of preference. The
    consent page speaks the first one the site offers and the pages can speak (German has no
    catalog here, so French), says so in Content-Language, and the decision works the same; a
    list with none of them (or nonsense) is no error and leaves the site's language. No
    LocaleMiddleware: the relying party's word is enough."""
    browser = HttpClient()
    browser.force_login(user)
    r = browser.get(AUTHORIZE, params_for(branded, scope="openid read", ui_locales="de-CH fr-CA en"))
    html = r.content.decode()
    assert r["Content-Language"] == "fr" and '<html lang="fr" dir="ltr">' in html
    assert "Notes Web demande l’accès à votre compte" in html
    r = browser.post(AUTHORIZE, {"oauth_request": consent_blob(html), "allow": "allow"})
    assert r.status_code == 302 and "code=" in r["Location"]
    for ui_locales in ("xx-YY de", "<script>", "zz " * 1000 + "fr"):  # only the first 8 tags are read
        r = browser.get(AUTHORIZE, params_for(branded, scope="openid read", ui_locales=ui_locales))
        assert r.status_code == 200 and not r.has_header("Content-Language"), ui_locales
        assert '<html lang="en"' in r.content.decode()


def test_ui_locales_skips_a_language_the_site_lists_but_the_pages_cannot_speak(settings):
    """Spanish is in ``LANGUAGES`` but neither this library nor the site has its catalog: the
    next tag, English (the pages' own language), is the page's."""
    from oauth_provider.responses import ui_language

    settings.LANGUAGES = [("en", "English"), ("es", "Spanish"), ("fr", "French")]
    assert ui_language("es en") == "en"
    assert ui_language("es fr") == "fr"
    assert ui_language("es") is None
    assert ui_language("zz-ZZ fr") == "fr"  # a tag the site does not list is passed over too
    # the first 8 tags are read, and no more
    assert ui_language("a b c d e f g fr") == "fr" and ui_language("a b c d e f g h fr") is None
    settings.LANGUAGES = [("en-gb", "British English"), ("fr", "French")]
    assert ui_language("en-gb fr") == "en-gb"  # English in any variant: the pages' own language
    settings.USE_I18N = False  # a site without translation speaks its LANGUAGE_CODE
    assert ui_language("fr") is None


def test_ui_locales_at_logout(user, branded, signing_key):
    """RP-Initiated Logout §2: ``ui_locales`` there too, on the confirmation and the signed-out page."""
    browser = HttpClient()
    browser.force_login(user)
    html = browser.get("/o/logout/", {"ui_locales": "fr"}).content.decode()
    assert "<h1>Se déconnecter" in html and 'lang="fr"' in html
    anonymous = HttpClient().get("/o/logout/", {"ui_locales": "fr"})
    assert anonymous["Content-Language"] == "fr"


def test_error_and_connected_apps_pages_in_french(negotiated_language, user, branded):
    browser = HttpClient(HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")
    browser.force_login(user)
    error = browser.get(AUTHORIZE, {"client_id": "nobody"}).content.decode()
    assert "Cette demande ne peut pas aboutir" in error and 'lang="fr"' in error
    apps = connected_apps_html(browser, branded)
    assert "Applications connectées" in apps and "Retirer l’accès de Notes Web" in apps
    english = HttpClient(HTTP_ACCEPT_LANGUAGE="en")
    english.force_login(user)
    assert "Connected apps" in english.get("/o/connected-apps/").content.decode()


# -- the login page a site without one gets (django.contrib.auth.urls + the shipped template) ----
@pytest.fixture
def site_without_a_login_template(settings):
    """Templates as `startproject` configures them: no DIRS, only the apps' own templates."""
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": []}]


def test_the_library_ships_a_login_page_for_djangos_login_view(site_without_a_login_template, user, branded):
    anonymous = HttpClient(enforce_csrf_checks=True)
    r = anonymous.get(AUTHORIZE, params_for(branded))
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/?next=")
    login = anonymous.get(r["Location"])
    html = login.content.decode()
    assert login.status_code == 200 and "<h1>Log in</h1>" in html and "Log in to continue." in html
    assert problems(html) == []
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    wrong = anonymous.post(r["Location"], {"csrfmiddlewaretoken": token, "username": "alice", "password": "nope"})
    assert wrong.status_code == 200 and 'class="errorlist' in wrong.content.decode()
    nxt = re.search(r'name="next" value="([^"]+)"', html).group(1)
    ok = anonymous.post(r["Location"], {"csrfmiddlewaretoken": token, "username": "alice", "password": "password",
                                         "next": unescape(nxt)})
    assert ok.status_code == 302 and ok["Location"].startswith(AUTHORIZE + "?")
    consent = anonymous.get(ok["Location"])
    assert consent.status_code == 200 and b'name="allow"' in consent.content


def test_the_shipped_login_page_in_french(site_without_a_login_template, negotiated_language):
    try:
        html = HttpClient(HTTP_ACCEPT_LANGUAGE="fr").get("/accounts/login/", {"next": "/o/authorize/"}).content.decode()
    finally:
        translation.deactivate()  # LocaleMiddleware leaves French active in this thread
    assert "<h1>Connexion</h1>" in html and "Connectez-vous pour continuer." in html


def _username_input(html: str) -> str:
    return re.search(r'<input type="text" name="username"[^>]*>', html).group(0)


def test_the_shipped_login_page_is_prefilled_with_the_login_hint(site_without_a_login_template, user, branded):
    """OIDC Core §3.1.2.1: ``login_hint`` is "the login identifier the End-User might use": the
    authorization endpoint passes it to the login page, which fills the username in with it."""
    anonymous = HttpClient(enforce_csrf_checks=True)
    r = anonymous.get(AUTHORIZE, params_for(branded, scope="openid read", login_hint="alice"))
    assert r.status_code == 302
    login = anonymous.get(r["Location"])
    html = login.content.decode()
    assert 'value="alice"' in _username_input(html) and problems(html) == []
    # what was typed wins over the hint once the form is sent back with an error
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    wrong = anonymous.post(r["Location"], {"csrfmiddlewaretoken": token, "username": "bob", "password": "nope"})
    assert 'value="bob"' in _username_input(wrong.content.decode())
    assert 'value="alice"' not in wrong.content.decode()
    empty = anonymous.post(r["Location"], {"csrfmiddlewaretoken": token, "username": "", "password": "nope"})
    assert empty.status_code == 200 and "value=" not in _username_input(empty.content.decode())
    # and the hint only fills the field in: the password still decides
    nxt = unescape(re.search(r'name="next" value="([^"]+)"', html).group(1))
    ok = anonymous.post(r["Location"], {"csrfmiddlewaretoken": token, "username": "alice", "password": "password",
                                         "next": nxt})
    assert ok.status_code == 302 and ok["Location"].startswith(AUTHORIZE + "?")


@pytest.mark.parametrize("hint", [XSS[0], '"><script>alert(1)</script>', "é" * 40, "a@b", "a" * 255])
def test_a_login_hint_reaches_the_username_escaped(site_without_a_login_template, hint):
    html = HttpClient().get("/accounts/login/", {"login_hint": hint, "next": "/o/authorize/"}).content.decode()
    field = _username_input(html)
    assert unescape(re.search(r'value="([^"]*)"', field).group(1)) == hint
    assert "<script" not in field


@pytest.mark.parametrize("hint", ["", "a" * 256, "alice\nbob", "alice\x00", "\u202eecila"])
def test_a_login_hint_the_endpoint_would_not_pass_on_is_not_shown(site_without_a_login_template, hint):
    """At most 255 characters, as the authorization endpoint passes on (longer is any text a link
    chooses), and nothing a person could not see or type: no control or formatting character."""
    html = HttpClient().get("/accounts/login/", {"login_hint": hint}).content.decode()
    assert "value=" not in _username_input(html)


def test_the_login_page_without_the_request_context_processor(site_without_a_login_template, settings):
    """A site whose templates have no ``request`` in their context still gets its login page,
    only not pre-filled."""
    options = settings.TEMPLATES[0].get("OPTIONS", {})
    processors = [p for p in options.get("context_processors", []) if not p.endswith(".request")]
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "OPTIONS": {**options, "context_processors": processors}}]
    r = HttpClient().get("/accounts/login/", {"login_hint": "alice"})
    assert r.status_code == 200 and "value=" not in _username_input(r.content.decode())


def test_prefilled_leaves_a_value_of_the_forms_own_and_anything_else_as_it_is(rf):
    from django.contrib.auth.forms import AuthenticationForm

    engine = engines["django"]
    template = engine.from_string("{% load oauth_provider_tags %}[{% prefilled thing %}]")
    request = rf.get("/accounts/login/", {"login_hint": "alice"})
    assert template.render({"thing": "plain <b>", "request": request}) == "[plain &lt;b&gt;]"
    # a login view that gives the username an initial value of its own keeps it
    field = AuthenticationForm(initial={"username": "carol"})["username"]
    rendered = template.render({"thing": field, "request": request})
    assert 'value="carol"' in rendered and "alice" not in rendered
    assert 'value="alice"' in template.render({"thing": AuthenticationForm()["username"], "request": request})


def test_a_sites_own_login_template_wins(user):
    # tests/templates/registration/login.html, in TEMPLATES["DIRS"], as a site's own would be
    html = HttpClient().get("/accounts/login/").content.decode()
    assert "<h1>Log in</h1>" in html and 'class="login"' not in html


# -- logging out -------------------------------------------------------------------------------
def test_logout_opened_directly_does_not_claim_an_application_asked(browser):
    html = browser.get("/o/logout/").content.decode()
    assert "<h1>Log out?</h1>" in html and "Do you want to log out of this site?" in html
    assert "application" not in html.lower()


# -- the shipped French: every string a page shows -------------------------------------------------
def _po_entries(text: str) -> list[tuple[str, str, str, str]]:
    """(references, flags, msgid, msgstr) of each entry of a .po file."""
    found = []
    for entry in text.split("\n\n"):
        refs = " ".join(line[3:] for line in entry.splitlines() if line.startswith("#: "))
        flags = " ".join(line[3:] for line in entry.splitlines() if line.startswith("#, "))
        parts = {}
        for key in ("msgid", "msgstr"):
            match = re.search(rf"^{key} ((?:\".*\"\n?)+)", entry + "\n", re.M)
            parts[key] = "".join(re.findall(r'"(.*)"', match.group(1))) if match else ""
        found.append((refs, flags, parts["msgid"], parts["msgstr"]))
    return found


def test_every_string_of_the_pages_has_a_french_translation(tmp_path, monkeypatch):
    """A French user must not meet an English sentence on a page, least of all a warning (the
    consent page's "calls itself" and "runs on your own device" were missing once): every
    string the templates translate has a French translation that is not fuzzy. Found the way a
    translator finds them: ``makemessages`` over the shipped templates, merged into the catalog.
    Skipped without GNU gettext, except in CI (.ci/run installs it and requires the test)."""
    import os
    import shutil
    from pathlib import Path

    if not shutil.which("xgettext"):
        if os.environ.get("OAUTH_PROVIDER_GETTEXT_TESTS") == "required":
            pytest.fail("GNU gettext (xgettext) is required here: .ci/run installs it")
        pytest.skip("GNU gettext (xgettext) is not installed")

    package = Path(__file__).resolve().parents[1] / "oauth_provider"
    shutil.copytree(package / "templates", tmp_path / "templates")
    shutil.copytree(package / "locale", tmp_path / "locale")
    monkeypatch.chdir(tmp_path)
    call_command("makemessages", locale=["fr"], verbosity=0)
    merged = (tmp_path / "locale/fr/LC_MESSAGES/django.po").read_text(encoding="utf-8")
    missing = [msgid for refs, flags, msgid, msgstr in _po_entries(merged)
               if "templates/" in refs and msgid and (not msgstr or "fuzzy" in flags)]
    assert missing == []


# -- the error page and the Bearer answer, as every endpoint renders them ---------------------
class _Odd(OAuthError):
    error = "odd"


@pytest.mark.parametrize(("status", "shown"), [(302, 400), (399, 400), (400, 400), (401, 400), (403, 403),
                                               (404, 404), (500, 500), (503, 503)])
def test_the_error_page_status(rf, status, shown):
    """An error page is never a 2xx/3xx (it is no answer to follow) nor a 401 (no HTTP
    authentication scheme stands behind a page); other statuses stay."""
    error = _Odd("It went wrong.")
    error.status = status
    page = error_page(rf.get("/o/authorize/"), error)
    assert page.status_code == shown and not page.has_header("Retry-After")


def test_a_throttled_page_says_when_to_come_back(rf):
    page = error_page(rf.get("/o/device/"), PublicClientThrottled(17))
    assert page.status_code == 429 and page["Retry-After"] == "17"


def test_a_bearer_error_names_the_scope_the_resource_requires():
    answer = bearer_error(InsufficientScope(scopes=["write", "admin"]))
    assert answer.status_code == 403
    assert 'scope="write admin"' in answer["WWW-Authenticate"]
    assert 'scope="read"' in bearer_error(InsufficientScope(scopes=["write"]), scope="read")["WWW-Authenticate"]
    assert "scope=" not in bearer_error(InvalidToken())["WWW-Authenticate"]


def test_a_redirect_adds_its_parameters_to_the_registered_query_as_it_is():
    """RFC 6749 §3.1.2: the registered query is kept (byte for byte), the response's parameters
    follow it; a parameter without a value is left out."""
    assert add_query("https://rp.example/cb", {"code": "c", "state": None}) == "https://rp.example/cb?code=c"
    assert add_query("https://rp.example/cb?x", {"code": "c"}) == "https://rp.example/cb?x&code=c"
    assert add_query("https://rp.example/cb?a=%20", {"state": None}) == "https://rp.example/cb?a=%20"
    assert add_query("https://rp.example/cb", {}) == "https://rp.example/cb"

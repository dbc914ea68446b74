"""Connected apps (/o/connected-apps/): the user's list of authorized clients and the
Revoke button that kills the app's tokens at once."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client as HttpClient
from django.test import override_settings

from oauth_provider import secrets
from oauth_provider.models import Authorization, Consent
from tests.support.factories import ClientFactory, ConsentFactory, PublicClientFactory, UserFactory
from tests.support.resource_helpers import bearer, client_token, provider_settings, refresh_token, user_token
from tests.support.token_helpers import post_form

from ..conftest import basic_auth

pytestmark = pytest.mark.django_db
URL = "/o/connected-apps/"
API = "/api/plain/"


@pytest.fixture
def page(user):
    """A logged-in browser that enforces CSRF like a real one."""
    c = HttpClient(enforce_csrf_checks=True)
    c.force_login(user)
    return c


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token in the form"
    return match.group(1)


def click_revoke(page, client):
    html = page.get(URL).content.decode()
    assert f'value="{client.client_id}"' in html
    return page.post(URL, {"csrfmiddlewaretoken": csrf_of(html), "client_id": client.client_id})


def api_status(raw: str) -> int:
    return HttpClient().get(API, **bearer(raw)).status_code


# -- access ------------------------------------------------------------------------------------
def test_login_required(client):
    r = client.get(URL)
    assert r.status_code == 302 and r["Location"] == f"/accounts/login/?next={URL}"
    assert client.post(URL, {"client_id": "x"}).status_code == 302


def test_provider_login_url_is_used(client):
    with override_settings(OAUTH_PROVIDER=provider_settings(LOGIN_URL="/signin/")):
        assert client.get(URL)["Location"].startswith("/signin/?next=")


# -- the list ----------------------------------------------------------------------------------
def test_lists_consented_and_token_holding_clients(page, user, conf_client):
    ConsentFactory(user=user, client=conf_client, scope="read write")
    native = PublicClientFactory(name="Native App")
    user_token(native, user, scope="profile")
    dead = ClientFactory(name="Dead App")
    user_token(dead, user, expires_at=secrets.now() - timedelta(seconds=1))
    others = ClientFactory(name="Bob's App")
    user_token(others, UserFactory(username="bob"))
    r = page.get(URL)
    assert r.status_code == 200
    html = r.content.decode()
    assert "Confidential RP" in html and "Native App" in html
    assert "Read your data" in html and "Change your data" in html and "See your profile" in html
    assert "Dead App" not in html and "Bob&#x27;s App" not in html
    assert html.count('name="csrfmiddlewaretoken"') == 2
    assert "Last token issued" in html


def test_the_page_costs_the_same_statements_for_one_app_or_many(page, user):
    """No statement per app (an N+1 over the consents' clients would grow with the list)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def statements() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert page.get(URL).status_code == 200
        return len(captured.captured_queries)

    ConsentFactory(user=user, client=ClientFactory(name="First App"), scope="read")
    one = statements()
    for n in range(3):
        ConsentFactory(user=user, client=ClientFactory(name=f"App {n}"), scope="read")
    many = statements()
    assert "App 2" in page.get(URL).content.decode()
    assert many == one


def test_a_live_refresh_token_alone_keeps_an_app_listed(page, user, conf_client):
    _, at = user_token(conf_client, user, expires_at=secrets.now() - timedelta(seconds=1))
    refresh_token(at.authorization)
    assert "Confidential RP" in page.get(URL).content.decode()


def test_empty_list(page):
    assert "No application has access" in page.get(URL).content.decode()


def test_page_headers_and_escaping(page, user):
    evil = ClientFactory(name="<script>alert(1)</script>")
    ConsentFactory(user=user, client=evil)
    r = page.get(URL)
    assert "<script>alert(1)</script>" not in r.content.decode()
    assert r["X-Frame-Options"] == "DENY" and "no-store" in r["Cache-Control"]
    assert r["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in r["Content-Security-Policy"]


def test_template_is_overridable(page, user, conf_client, settings):
    ConsentFactory(user=user, client=conf_client)
    templates = [{
        **settings.TEMPLATES[0],
        "APP_DIRS": False,
        "OPTIONS": {
            **settings.TEMPLATES[0]["OPTIONS"],
            "loaders": [
                ("django.template.loaders.locmem.Loader", {
                    "oauth_provider/connected_apps.html": "custom: {% for a in apps %}{{ a.client.name }}{% endfor %}",
                }),
                "django.template.loaders.app_directories.Loader",
            ],
        },
    }]
    with override_settings(TEMPLATES=templates):
        assert page.get(URL).content.decode() == "custom: Confidential RP"


# -- revoking ----------------------------------------------------------------------------------
@pytest.mark.req("DERIVED-revocation-visible")
def test_revoke_kills_the_apps_tokens_at_once(page, user, conf_client):
    ConsentFactory(user=user, client=conf_client, scope="read")
    raw_at, at = user_token(conf_client, user)
    raw_rt, _ = refresh_token(at.authorization)
    loose, _ = user_token(conf_client, user, authorization=None)  # an access token without family
    # untouched: the same client's own client_credentials token, another app, another user
    cc, _ = client_token(conf_client)
    other_app = ClientFactory(name="Other")
    ConsentFactory(user=user, client=other_app)
    other_raw, _ = user_token(other_app, user)
    bob_raw, _ = user_token(conf_client, UserFactory(username="bob"))
    assert api_status(raw_at) == api_status(loose) == 200

    r = click_revoke(page, conf_client)
    assert r.status_code == 302 and r["Location"].startswith(URL)
    assert "no-store" in r["Cache-Control"]

    assert api_status(raw_at) == 401 and api_status(loose) == 401
    refreshed = post_form(HttpClient(), {"grant_type": "refresh_token", "refresh_token": raw_rt}, "/o/token/",
                          HTTP_AUTHORIZATION=basic_auth(conf_client.client_id, conf_client.raw_secret))
    assert refreshed.json()["error"] == "invalid_grant"
    assert not Consent.objects.filter(user=user, client=conf_client).exists()
    assert not Authorization.objects.filter(user=user, client=conf_client, revoked_at__isnull=True).exists()
    assert api_status(cc) == api_status(other_raw) == api_status(bob_raw) == 200
    after = page.get(r["Location"]).content.decode()
    assert "Confidential RP can no longer access your account." in after
    assert f'value="{conf_client.client_id}"' not in after and "Other" in after


@pytest.mark.req("DERIVED-revocation-visible")
def test_revoke_works_for_a_client_id_of_any_length_a_client_may_have(page, user):
    """A client_id may be up to 255 characters (a client ID metadata document's URL is its
    client_id): such a client is revoked like any other, not silently kept."""
    long_id = "https://apps.example/" + "a" * 200 + "/client.json"
    app = ClientFactory(name="Long", client_id=long_id)
    ConsentFactory(user=user, client=app)
    raw, _ = user_token(app, user)
    r = click_revoke(page, app)
    assert r.status_code == 302 and r["Location"].startswith(f"{URL}?revoked=")
    assert api_status(raw) == 401 and not Consent.objects.filter(user=user, client=app).exists()
    assert "Long can no longer access your account." in page.get(r["Location"]).content.decode()


def test_the_revoked_notice_cannot_be_made_to_name_any_client(page, user, conf_client):
    """Issue 12 item 12: ``?revoked=<client_id>`` showed "X can no longer access your account"
    for any client an attacker named in a link. The notice now carries a value signed for the
    user who revoked, a moment ago: a hand-made or another user's link names nothing."""
    from django.core import signing

    assert "can no longer access" not in page.get(URL, {"revoked": conf_client.client_id}).content.decode()
    forged = signing.dumps(conf_client.client_id, salt="oauth_provider.connected_apps.revoked:999999")
    assert "can no longer access" not in page.get(URL, {"revoked": forged}).content.decode()
    mine = signing.dumps(conf_client.client_id, salt=f"oauth_provider.connected_apps.revoked:{user.pk}")
    assert "Confidential RP can no longer access your account." in page.get(URL, {"revoked": mine}).content.decode()


def test_revoke_through_the_real_flow(page, oauth, conf_client):
    """Consent in the browser, tokens to the app, then the user pulls the plug."""
    tokens = oauth.tokens(conf_client, scope="read")
    assert api_status(tokens["access_token"]) == 200
    assert "Confidential RP" in page.get(URL).content.decode()
    click_revoke(page, conf_client)
    assert api_status(tokens["access_token"]) == 401
    # the consent is gone: the next authorization asks again
    r = oauth.browser.get("/o/authorize/", oauth.authorize_params(conf_client)[0])
    assert r.status_code == 200 and b'name="allow"' in r.content


def test_revoke_needs_the_csrf_token(page, user, conf_client):
    ConsentFactory(user=user, client=conf_client)
    raw, _ = user_token(conf_client, user)
    r = page.post(URL, {"client_id": conf_client.client_id})
    assert r.status_code == 403
    assert api_status(raw) == 200 and Consent.objects.filter(user=user).exists()


def test_revoke_only_touches_the_users_own_grants(page, user, conf_client):
    ConsentFactory(user=user, client=conf_client)
    bob = UserFactory(username="bob")
    ConsentFactory(user=bob, client=conf_client)
    bob_raw, _ = user_token(conf_client, bob)
    html = page.get(URL).content.decode()
    r = page.post(URL, {"csrfmiddlewaretoken": csrf_of(html), "client_id": conf_client.client_id})
    assert r.status_code == 302
    assert not Consent.objects.filter(user=user).exists()
    assert api_status(bob_raw) == 200 and Consent.objects.filter(user=bob).exists()


def test_unknown_client_is_harmless(page, user, conf_client):
    ConsentFactory(user=user, client=conf_client)
    html = page.get(URL).content.decode()
    r = page.post(URL, {"csrfmiddlewaretoken": csrf_of(html), "client_id": "nope"})
    assert r.status_code == 200 and Consent.objects.filter(user=user).exists()


# -- Revoke asks first (no JavaScript) -----------------------------------------------------------
def test_revoke_button_asks_for_confirmation_before_revoking(page, user, conf_client):
    """The list's button only shows a confirmation page; its own form revokes; Cancel keeps all."""
    ConsentFactory(user=user, client=conf_client)
    raw, _ = user_token(conf_client, user)
    html = page.get(URL).content.decode()
    button = re.search(r'<button type="submit" name="(\w+)" value="(\w+)" class="danger">Revoke access for '
                       r'Confidential RP</button>', html)
    assert button, "the Revoke button"
    # what a browser sends for that form: its fields and the button's name and value
    r = page.post(URL, {"csrfmiddlewaretoken": csrf_of(html), "client_id": conf_client.client_id,
                        button.group(1): button.group(2)})
    confirm = r.content.decode()
    assert r.status_code == 200 and "<h1>Revoke access for Confidential RP?</h1>" in confirm
    assert "will no longer be able to access your account" in confirm
    assert api_status(raw) == 200 and Consent.objects.filter(user=user).exists(), "nothing revoked yet"
    assert re.search(r'<a class="button" href="">Cancel</a>', confirm)
    assert r["Cache-Control"] and "no-store" in r["Cache-Control"]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', confirm))
    assert fields["client_id"] == conf_client.client_id and "step" not in fields
    r = page.post(URL, {**fields, "revoke": "revoke"})
    assert r.status_code == 302 and r["Location"].startswith(f"{URL}?revoked=")
    assert "Confidential RP can no longer access your account." in page.get(r["Location"]).content.decode()
    assert api_status(raw) == 401 and not Consent.objects.filter(user=user).exists()


def test_the_confirmation_step_needs_the_csrf_token(page, user, conf_client):
    ConsentFactory(user=user, client=conf_client)
    r = page.post(URL, {"client_id": conf_client.client_id, "step": "confirm"})
    assert r.status_code == 403


def test_the_confirmation_page_in_french(user, conf_client, settings):
    from django.utils import translation

    settings.MIDDLEWARE = [*settings.MIDDLEWARE[:3], "django.middleware.locale.LocaleMiddleware",
                           *settings.MIDDLEWARE[3:]]
    ConsentFactory(user=user, client=conf_client)
    browser = HttpClient(HTTP_ACCEPT_LANGUAGE="fr")
    browser.force_login(user)
    try:
        html = browser.get(URL).content.decode()
        r = browser.post(URL, {"csrfmiddlewaretoken": csrf_of(html), "client_id": conf_client.client_id,
                               "step": "confirm"})
    finally:
        translation.deactivate()
    assert "Retirer l’accès de Confidential RP ?" in r.content.decode() and "Annuler" in r.content.decode()


def test_the_revoked_notice_escapes_the_clients_name(page, user):
    client = ClientFactory(name="<img src=x onerror=alert(1)>")
    ConsentFactory(user=user, client=client, scope="read")
    html = page.get(URL).content.decode()
    r = page.post(URL, {"csrfmiddlewaretoken": csrf_of(html), "client_id": client.client_id})
    notice = page.get(r["Location"]).content.decode()
    assert "can no longer access your account" in notice and "<img src=x" not in notice


def test_a_url_client_id_is_escaped_in_the_revoke_forms(page, user):
    """A client ID metadata document's URL may hold ``"><script>``; it is shown, and posted
    back, only escaped."""
    hostile = 'https://evil.example/a"><script>alert(1)</script>'
    ConsentFactory(user=user, client=ClientFactory(client_id=hostile, name="Doc app"), scope="read")
    html = page.get(URL).content.decode()
    assert "Doc app" in html and "<script>alert(1)" not in html
    confirm = page.post(URL, {"csrfmiddlewaretoken": csrf_of(html), "client_id": hostile, "step": "confirm"})
    assert confirm.status_code == 200 and "<script>alert(1)" not in confirm.content.decode()

"""Every page the provider shows a user sends ``Referrer-Policy: no-referrer`` (RFC 9700
§4.2.4; docs/security.md says so), and no ``<meta name="referrer">`` overrides it: the
consent page's URL is the whole authorization request, and no request the page causes, to
any origin, may carry it. Issue 12, item 12.

Under ``no-referrer`` a browser sends ``Origin: null`` with the page's own form posts (Fetch
§3.1, "append a request Origin header"), so the CSRF check of the decisions (consent, logout,
revoking an app) must still let the user's own post through: it is told apart from a
cross-site one by ``Sec-Fetch-Site: same-origin``, which only the browser can set.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client as HttpClient

from tests.support.factories import ClientFactory, ConsentFactory

from .conftest import consent_blob

pytestmark = pytest.mark.django_db
AUTHORIZE = "/o/authorize/"


def _authorize_params(client, **extra):
    from .conftest import OAuthDriver

    params, _ = OAuthDriver(None, None).authorize_params(client, **extra)
    return params


def _assert_no_referrer(name: str, response) -> None:
    assert response["Referrer-Policy"] == "no-referrer", (name, response.get("Referrer-Policy"))
    assert 'name="referrer"' not in response.content.decode(), name  # a meta would override the header


def _form_fields(html: str, blob_field: str) -> dict[str, str]:
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    blob = re.search(rf'name="{blob_field}" value="([^"]+)"', html).group(1)
    return {"csrfmiddlewaretoken": token, blob_field: blob}


def test_every_html_page_sends_no_referrer(user, signing_key):
    rp = ClientFactory(post_logout_redirect_uris="https://rp.example/")
    ConsentFactory(user=user, client=rp, scope="read")
    browser = HttpClient(enforce_csrf_checks=True)
    browser.force_login(user)
    pages = {
        "consent": browser.get(AUTHORIZE, _authorize_params(rp, scope="openid read", prompt="consent")),
        "authorization error": browser.get(AUTHORIZE, {"client_id": "nobody"}),
        "connected apps": browser.get("/o/connected-apps/"),
        "logout confirmation": browser.get("/o/logout/", {"client_id": rp.client_id}),
        "logout error": browser.get("/o/logout/", {"id_token_hint": "garbage"}),
    }
    consent = pages["consent"].content.decode()
    token = _form_fields(consent, "oauth_request")["csrfmiddlewaretoken"]
    pages["consent form tampered"] = browser.post(
        AUTHORIZE, {"oauth_request": "x", "allow": "allow", "csrfmiddlewaretoken": token})
    pages["consent without CSRF token"] = browser.post(AUTHORIZE, {"oauth_request": consent_blob(consent)})
    pages["revoke without CSRF token"] = browser.post("/o/connected-apps/", {"client_id": rp.client_id})
    confirm = pages["logout confirmation"].content.decode()
    pages["logout without CSRF token"] = browser.post("/o/logout/", {"logout": "logout"})
    done = browser.post("/o/logout/", {**_form_fields(confirm, "logout_request"), "logout": "logout"})
    pages["signed out"] = HttpClient().get("/o/logout/")
    assert done.status_code in (200, 302)
    assert pages["consent form tampered"].status_code == 400
    for name, response in pages.items():
        assert response.status_code in (200, 400, 403), (name, response.status_code)
        _assert_no_referrer(name, response)


# -- the user's own decisions still pass the CSRF check under no-referrer ------------------------
@pytest.fixture
def strict(user):
    c = HttpClient(enforce_csrf_checks=True)
    c.force_login(user)
    return c


def _consent(strict, rp):
    page = strict.get(AUTHORIZE, _authorize_params(rp), secure=True)
    assert page.status_code == 200
    html = page.content.decode()
    return {**_form_fields(html, "oauth_request"), "allow": "allow"}


def test_the_consent_posted_by_the_page_itself_passes_with_origin_null(strict):
    """What a browser sends for the Allow button of a no-referrer page over https: no Referer,
    ``Origin: null``, ``Sec-Fetch-Site: same-origin``."""
    rp = ClientFactory()
    r = strict.post(AUTHORIZE, _consent(strict, rp), secure=True,
                    HTTP_ORIGIN="null", HTTP_SEC_FETCH_SITE="same-origin")
    assert r.status_code == 302 and "code=" in r["Location"], r.content[:300]


@pytest.mark.parametrize("fetch_site", [None, "cross-site", "same-site", "none"])
def test_origin_null_from_anywhere_else_is_refused(strict, fetch_site):
    """A cross-site page can make its own post carry ``Origin: null`` (its own no-referrer
    policy, a sandboxed frame): without the browser's ``Sec-Fetch-Site: same-origin`` that is
    still a CSRF failure, even with a valid token (planted cookie, RFC 6749 §10.12)."""
    rp = ClientFactory()
    headers = {"HTTP_ORIGIN": "null"}
    if fetch_site:
        headers["HTTP_SEC_FETCH_SITE"] = fetch_site
    r = strict.post(AUTHORIZE, _consent(strict, rp), secure=True, **headers)
    assert r.status_code == 403


def test_origin_null_does_not_replace_the_token(strict):
    rp = ClientFactory()
    fields = _consent(strict, rp)
    del fields["csrfmiddlewaretoken"]
    r = strict.post(AUTHORIZE, fields, secure=True, HTTP_ORIGIN="null", HTTP_SEC_FETCH_SITE="same-origin")
    assert r.status_code == 403


def test_logout_and_revoke_posted_by_their_pages_pass_with_origin_null(strict, user, signing_key):
    rp = ClientFactory()
    ConsentFactory(user=user, client=rp, scope="read")
    page = strict.get("/o/connected-apps/", secure=True).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    r = strict.post("/o/connected-apps/", {"csrfmiddlewaretoken": token, "client_id": rp.client_id}, secure=True,
                    HTTP_ORIGIN="null", HTTP_SEC_FETCH_SITE="same-origin")
    assert r.status_code in (200, 302), r.status_code
    confirm = strict.get("/o/logout/", secure=True).content.decode()
    r = strict.post("/o/logout/", {**_form_fields(confirm, "logout_request"), "logout": "logout"}, secure=True,
                    HTTP_ORIGIN="null", HTTP_SEC_FETCH_SITE="same-origin")
    assert r.status_code in (200, 302), r.status_code
    assert "_auth_user_id" not in strict.session


def test_a_site_page_extending_the_base_template_keeps_the_sites_policy(client):
    """The site's login page extends oauth_provider/base.html (tests/templates, and the
    login page the app ships): the base must not impose no-referrer on it, or a browser would
    post its form with ``Origin: null`` and Django's own CSRF middleware would refuse it."""
    r = client.get("/accounts/login/")
    assert r.status_code == 200 and 'name="referrer"' not in r.content.decode()
    assert r.get("Referrer-Policy") != "no-referrer"

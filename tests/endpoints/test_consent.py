"""The consent page and the user's decision (RFC 6749 §4.1.1 and §10.12, OAuth 2.1 §7.9,
RFC 8252 §8.6, RFC 9700 §4.12 and §4.16, OIDC Core §3.1.2.1 prompt)."""

from __future__ import annotations

import re
import time
from unittest import mock

import pytest
from django.test import Client as HttpClient
from django.test import override_settings

from oauth_provider.adapter import DefaultAdapter
from oauth_provider.endpoints.authorize import CONSENT_MAX_AGE
from oauth_provider.models import Authorization, AuthorizationCode, Consent
from oauth_provider.signals import consent_denied, consent_granted
from tests.support.endpoints import (
    AUTHORIZE,
    METADATA,
    XSS,
    assert_error_page,
    assert_error_redirect,
    assert_page_headers,
    assert_redirect_to,
    minted,
    params_for,
    provider_settings,
)
from tests.support.factories import REDIRECT_URI, ClientFactory, ConsentFactory, PublicClientFactory, UserFactory
from tests.support.settings import oauth_settings

from ..conftest import consent_blob, query_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def issuer(db) -> str:
    return HttpClient().get(METADATA).json()["issuer"]


@pytest.fixture
def signals():
    """Records every consent_granted / consent_denied sent during the test."""
    seen: list[tuple[str, dict]] = []

    def granted(sender, **kwargs):
        seen.append(("granted", kwargs))

    def denied(sender, **kwargs):
        seen.append(("denied", kwargs))

    consent_granted.connect(granted, weak=False)
    consent_denied.connect(denied, weak=False)
    yield seen
    consent_granted.disconnect(granted)
    consent_denied.disconnect(denied)


def consent_page(browser, client, **overrides):
    params = params_for(client, **overrides)
    r = browser.get(AUTHORIZE, params)
    assert r.status_code == 200, (r.status_code, r.get("Location"))
    return r, params


def codes() -> int:
    return AuthorizationCode.objects.count()


# -- what the page shows --------------------------------------------------------------------------
@pytest.mark.req("O21-7.9-consent-phishing")
def test_page_shows_client_scopes_and_destination(browser, conf_client, user):
    r, _ = consent_page(browser, conf_client, scope="read write")
    html = r.content.decode()
    assert "Confidential RP" in html
    assert "Read your data" in html and "Change your data" in html
    assert "See your profile" not in html  # only what was asked for
    assert REDIRECT_URI in html
    assert user.username in html
    assert re.search(r'<button[^>]*name="allow"[^>]*value="allow"', html)
    assert re.search(r'<button[^>]*name="deny"', html)
    assert codes() == 0


@pytest.mark.req("BCP-4.16-clickjacking")
@pytest.mark.req("BCP-4.2.4-referrer")
def test_security_headers_on_every_html_response(browser, conf_client, user):
    r, _ = consent_page(browser, conf_client)
    assert_page_headers(r)
    assert_error_page(browser.get(AUTHORIZE, params_for(conf_client, redirect_uri="https://evil.example/")))
    assert_error_page(browser.post(AUTHORIZE, {"oauth_request": "tampered", "allow": "allow"}))
    strict = HttpClient(enforce_csrf_checks=True)
    strict.force_login(user)
    page, _ = consent_page(strict, conf_client)
    rejected = strict.post(AUTHORIZE, {"oauth_request": consent_blob(page.content.decode()), "allow": "allow"})
    assert rejected.status_code == 403
    assert_page_headers(rejected)


@pytest.mark.req("BCP-4.2.4-referrer")
def test_pages_load_nothing_from_other_hosts(browser, conf_client):
    r, _ = consent_page(browser, conf_client)
    for html in (r.content.decode(), browser.get(AUTHORIZE, {"client_id": "x"}).content.decode()):
        for url in re.findall(r'(?:src|href|action)\s*=\s*"([^"]*)"', html):
            assert not re.match(r"(?i)^(?:[a-z][a-z0-9+.-]*:)?//", url), url


# -- the decision ---------------------------------------------------------------------------------
@pytest.mark.req("9207-2-iss-in-authz-response")
@pytest.mark.req("6749-4.1.2-state-echo")
def test_allow_issues_code_with_state_and_iss(oauth, conf_client, user, signals, issuer):
    r, params = consent_page(oauth.browser, conf_client, scope="read write", state="a+b/c d?e&f=g%h")
    r = oauth.approve(r)
    query = assert_redirect_to(r, REDIRECT_URI)
    assert query["code"] and query["state"] == params["state"] and query["iss"] == issuer
    assert [(kind, kw["client"], kw["user"], kw["scope"]) for kind, kw in signals] == [
        ("granted", conf_client, user, "read write")
    ]
    assert Consent.objects.get(user=user, client=conf_client).scope == "read write"
    assert Authorization.objects.get().scope == "read write"


@pytest.mark.req("9207-2-iss-in-authz-response")
@pytest.mark.req("6749-4.1.2-state-echo")
@pytest.mark.parametrize("state", ["xyz", "a+b/c d?e&f=g%h%20", "A" * 512])
def test_deny_redirects_access_denied(state, oauth, conf_client, user, signals, issuer):
    r, params = consent_page(oauth.browser, conf_client, state=state)
    r = oauth.browser.post(AUTHORIZE, {"oauth_request": consent_blob(r.content.decode()), "deny": "deny"})
    assert_error_redirect(r, REDIRECT_URI, "access_denied", state, issuer)
    assert [(kind, kw["client"], kw["user"], kw["scope"]) for kind, kw in signals] == [
        ("denied", conf_client, user, "read")
    ]
    assert minted() == 0 and not Consent.objects.exists()


@pytest.mark.req("BCP-4.12-no-307")
@pytest.mark.parametrize("decision", ["allow", "deny"])
def test_decision_redirect_is_never_307(decision, oauth, conf_client):
    r, _ = consent_page(oauth.browser, conf_client)
    r = oauth.browser.post(AUTHORIZE, {"oauth_request": consent_blob(r.content.decode()), decision: decision})
    assert r.status_code in (302, 303)


def test_decision_without_a_button_is_a_denial(oauth, conf_client, issuer):
    r, params = consent_page(oauth.browser, conf_client, state="s")
    r = oauth.browser.post(AUTHORIZE, {"oauth_request": consent_blob(r.content.decode())})
    assert_error_redirect(r, REDIRECT_URI, "access_denied", "s", issuer)


# -- CSRF on the decision (RFC 6749 §10.12) -------------------------------------------------------
@pytest.fixture
def strict(user):
    """A browser whose POSTs are CSRF-checked like a real one."""
    c = HttpClient(enforce_csrf_checks=True)
    c.force_login(user)
    return c


def form_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token in the form"
    return match.group(1)


@pytest.mark.req("6749-10.12-consent-csrf")
def test_consent_post_without_csrf_token(strict, conf_client):
    r, _ = consent_page(strict, conf_client)
    r = strict.post(AUTHORIZE, {"oauth_request": consent_blob(r.content.decode()), "allow": "allow"})
    assert r.status_code == 403
    assert minted() == 0 and not Consent.objects.exists()


@pytest.mark.req("6749-10.12-consent-csrf")
def test_consent_post_with_another_sessions_token(strict, conf_client):
    page, _ = consent_page(strict, conf_client)
    attacker = HttpClient(enforce_csrf_checks=True)
    attacker.force_login(UserFactory(username="mallory"))
    other_page, _ = consent_page(attacker, conf_client)
    r = strict.post(AUTHORIZE, {
        "oauth_request": consent_blob(page.content.decode()), "allow": "allow",
        "csrfmiddlewaretoken": form_token(other_page.content.decode()),
    })
    assert r.status_code == 403
    assert minted() == 0


@pytest.mark.req("6749-10.12-consent-csrf")
def test_consent_post_with_own_token_succeeds(strict, conf_client):
    """Positive control for the two tests above."""
    page, _ = consent_page(strict, conf_client)
    html = page.content.decode()
    r = strict.post(AUTHORIZE, {
        "oauth_request": consent_blob(html), "allow": "allow", "csrfmiddlewaretoken": form_token(html),
    })
    assert "code" in assert_redirect_to(r, REDIRECT_URI)


@pytest.mark.req("6749-10.12-consent-csrf")
def test_get_with_allow_grants_nothing(strict, conf_client):
    page, params = consent_page(strict, conf_client)
    blob = consent_blob(page.content.decode())
    r = strict.get(AUTHORIZE, {**params, "oauth_request": blob, "allow": "allow"})
    assert r.status_code == 200 and b'name="oauth_request"' in r.content  # a fresh consent page
    r = strict.get(AUTHORIZE, {"oauth_request": blob, "allow": "1"})
    assert_error_page(r)
    r = strict.get(AUTHORIZE, {**params, "allow": "1"})
    assert_consent_page(r)
    assert minted() == 0


@pytest.mark.req("6749-10.12-consent-csrf")
def test_cross_site_post_of_an_authorization_request_grants_nothing(conf_client, user):
    """The endpoint accepts POSTed requests from any origin (it is CSRF-exempt for that), so a
    forged POST carrying ``allow`` must still end at the consent page."""
    ConsentFactory(user=user, client=ClientFactory(), scope="read")
    browser = HttpClient(enforce_csrf_checks=True)
    browser.force_login(user)
    r = browser.post(AUTHORIZE, {**params_for(conf_client), "allow": "allow"})
    assert r.status_code == 200 and b'name="oauth_request"' in r.content
    assert minted() == 0


# -- the signed request blob -----------------------------------------------------------------------
@pytest.mark.req("O21-7.12-input-is-malicious")
@pytest.mark.parametrize("mutate", [
    lambda b: b[:-1] + ("A" if b[-1] != "A" else "B"),
    lambda b: "A" + b[1:] if b[0] != "A" else "B" + b[1:],
    lambda b: b.split(":", 1)[1],
    lambda b: "",
    lambda b: b + "x",
    lambda b: "x" * 5000,
    lambda b: b.replace(":", "::"),
])
def test_tampered_blob_is_an_error_page(mutate, oauth, conf_client):
    r, _ = consent_page(oauth.browser, conf_client)
    blob = consent_blob(r.content.decode())
    r = oauth.browser.post(AUTHORIZE, {"oauth_request": mutate(blob), "allow": "allow"})
    assert_error_page(r)
    assert minted() == 0


@pytest.mark.req("O21-7.12-input-is-malicious")
def test_blob_signed_with_another_salt_is_refused(oauth, conf_client, user):
    from django.core import signing

    params = params_for(conf_client)
    forged = signing.dumps({"p": params, "u": str(user.pk)}, compress=True)
    r = oauth.browser.post(AUTHORIZE, {"oauth_request": forged, "allow": "allow"})
    assert_error_page(r)
    assert minted() == 0


def test_expired_blob_is_an_error_page(oauth, conf_client):
    r, _ = consent_page(oauth.browser, conf_client)
    blob = consent_blob(r.content.decode())
    later = time.time() + CONSENT_MAX_AGE + 5
    with mock.patch("django.core.signing.time.time", return_value=later):
        r = oauth.browser.post(AUTHORIZE, {"oauth_request": blob, "allow": "allow"})
    assert_error_page(r)
    assert minted() == 0
    r = oauth.browser.post(AUTHORIZE, {"oauth_request": blob, "allow": "allow"})
    assert "code" in assert_redirect_to(r, REDIRECT_URI)  # the same blob, still fresh


def test_blob_of_another_user_is_an_error_page(oauth, conf_client):
    r, _ = consent_page(oauth.browser, conf_client)
    blob = consent_blob(r.content.decode())
    other = HttpClient()
    other.force_login(UserFactory(username="mallory"))
    r = other.post(AUTHORIZE, {"oauth_request": blob, "allow": "allow"})
    assert_error_page(r)
    assert minted() == 0 and not Consent.objects.exists()


def test_blob_revalidated_against_current_client(oauth, conf_client, issuer):
    """The decision re-checks the request: a client disabled while the page was open gets nothing."""
    r, params = consent_page(oauth.browser, conf_client)
    blob = consent_blob(r.content.decode())
    type(conf_client).objects.filter(pk=conf_client.pk).update(is_active=False)
    assert_error_page(oauth.browser.post(AUTHORIZE, {"oauth_request": blob, "allow": "allow"}))
    type(conf_client).objects.filter(pk=conf_client.pk).update(is_active=True, allowed_scopes="write")
    r = oauth.browser.post(AUTHORIZE, {"oauth_request": blob, "allow": "allow"})
    assert_error_redirect(r, REDIRECT_URI, "invalid_scope", params["state"], issuer)
    assert minted() == 0


def test_anonymous_decision_goes_to_login(conf_client, oauth):
    r, _ = consent_page(oauth.browser, conf_client)
    blob = consent_blob(r.content.decode())
    r = HttpClient().post(AUTHORIZE, {"oauth_request": blob, "allow": "allow"})
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")
    assert minted() == 0


# -- remembered consent ---------------------------------------------------------------------------
@pytest.mark.req("8252-8.6-no-silent-public-approval")
def test_remembered_consent_skips_page_for_confidential_client(oauth, conf_client, issuer):
    oauth.get_code(conf_client, scope="read write")
    r = oauth.browser.get(AUTHORIZE, params_for(conf_client, scope="read", state="s"))
    query = assert_redirect_to(r, REDIRECT_URI)
    assert query["code"] and query["state"] == "s" and query["iss"] == issuer
    r = oauth.browser.get(AUTHORIZE, params_for(conf_client, scope="read write profile"))
    assert_consent_page(r)  # more than was granted: ask again


@pytest.mark.req("8252-8.6-no-silent-public-approval")
def test_prompt_consent_forces_the_page(oauth, conf_client):
    oauth.get_code(conf_client)
    r = oauth.browser.get(AUTHORIZE, params_for(conf_client, prompt="consent"))
    assert r.status_code == 200 and b'name="oauth_request"' in r.content


@pytest.mark.req("8252-8.6-no-silent-public-approval")
@pytest.mark.parametrize("redirect_uri", ["http://127.0.0.1:5000/cb", "com.example.app:/cb"])
def test_public_client_is_always_asked_again(redirect_uri, oauth, public_client, user):
    r, _ = consent_page(oauth.browser, public_client, redirect_uri=redirect_uri)
    assert b'name="remember"' not in r.content  # nothing to offer: it could never be used
    oauth.approve(r, remember=True)  # even a forged "remember" stores nothing
    assert not Consent.objects.filter(user=user, client=public_client).exists()
    ConsentFactory(user=user, client=public_client, scope="read write")  # nor does a stored one count
    r = oauth.browser.get(AUTHORIZE, params_for(public_client, redirect_uri=redirect_uri))
    assert r.status_code == 200 and b'name="oauth_request"' in r.content
    assert AuthorizationCode.objects.count() == 1


def _store_skip_consent_past_the_rules(client) -> None:
    """Set ``skip_consent`` on a public client the way an old row, a raw SQL import or a swapped
    model without the constraint could have it: past the model and the database's check."""
    from django.db import connection

    table = client._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA ignore_check_constraints = 1")
        elif connection.vendor == "postgresql":  # transactional: rolled back with the test
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending foreign-key checks
            for name in [c.name for c in client._meta.constraints if "skip" in c.name]:
                cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{name}"'.replace(
                    "%(app_label)s", client._meta.app_label).replace("%(class)s", client._meta.model_name))
        else:
            pytest.skip("no way past a CHECK constraint inside the test's transaction")
        try:
            type(client).objects.filter(pk=client.pk).update(skip_consent=True)
        finally:
            if connection.vendor == "sqlite":
                cursor.execute("PRAGMA ignore_check_constraints = 0")


@pytest.mark.req("8252-8.6-no-silent-public-approval")
def test_a_public_client_flagged_skip_consent_still_gets_the_consent_page(oauth, public_client, issuer):
    """RFC 8252 §8.6: any app can claim a public client's client_id, so its requests are never
    approved without the user, whatever a stored row says."""
    _store_skip_consent_past_the_rules(public_client)
    public_client.refresh_from_db()
    assert public_client.skip_consent is True
    for prompt in (None, "none"):
        r = oauth.browser.get(AUTHORIZE, params_for(public_client, prompt=prompt, state="s"))
        if prompt is None:
            assert r.status_code == 200 and b'name="oauth_request"' in r.content
        else:
            assert_error_redirect(r, public_client.redirect_uri_list[0], "consent_required", "s", issuer)
    assert minted() == 0


@pytest.mark.req("8252-8.6-no-silent-public-approval")
def test_the_model_and_the_database_refuse_a_public_client_that_skips_consent(db):
    from django.core.exceptions import ValidationError
    from django.db import IntegrityError, transaction

    native = PublicClientFactory.build()
    native.skip_consent = True
    with pytest.raises(ValidationError) as refused:
        native.full_clean()
    assert "skip_consent" in refused.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        native.save()
    ClientFactory(skip_consent=True)  # a confidential first-party client may


@pytest.mark.parametrize("logo", ["http://rp.example/logo.png", "HTTP://rp.example/logo.png",
                                  "http://127.0.0.1.rp.example/logo.png", "http://localhost@rp.example/logo.png"])
def test_a_logo_over_plain_http_is_never_loaded(browser, conf_client, logo):
    """The consent page loads the client's logo itself: over http it would be mixed content and
    let anyone on the path see, and swap, what the user is shown. A row holding one (stored
    before the rule, or straight to the database) shows the monogram instead."""
    type(conf_client).objects.filter(pk=conf_client.pk).update(logo_uri=logo)
    r, _ = consent_page(browser, conf_client)
    html = r.content.decode()
    assert "<img" not in html and "rp.example/logo.png" not in html
    assert 'class="monogram"' in html
    type(conf_client).objects.filter(pk=conf_client.pk).update(logo_uri="https://rp.example/logo.png")
    r, _ = consent_page(browser, conf_client)
    assert 'src="https://rp.example/logo.png"' in r.content.decode()


def test_a_logo_must_be_https_to_be_registered(db):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        ClientFactory(logo_uri="http://rp.example/logo.png")
    assert set(refused.value.message_dict) == {"logo_uri"}
    assert ClientFactory(logo_uri="https://rp.example/logo.png").logo_uri == "https://rp.example/logo.png"


@pytest.mark.parametrize("logo", ["http://127.0.0.1:8001/static/logo.svg", "http://localhost:8001/logo.png",
                                  "http://[::1]/logo.png"])
def test_a_loopback_logo_may_be_plain_http_for_local_development(browser, logo):
    """Browsers treat http on a loopback host as secure (no mixed content), and nothing leaves
    the machine: a site under development may show its local logo."""
    client = ClientFactory(logo_uri=logo)
    r, _ = consent_page(browser, client)
    assert f'src="{logo}"' in r.content.decode()


def test_remember_box_is_offered_ticked_for_confidential_clients(browser, conf_client):
    r, _ = consent_page(browser, conf_client)
    html = r.content.decode()
    box = re.search(r'<input type="checkbox" id="remember" name="remember" value="1" checked>', html)
    assert box and re.search(r'<label for="remember">Remember my decision', html)


def test_unticked_remember_box_asks_again_next_time(oauth, conf_client, user, signals):
    r, _ = consent_page(oauth.browser, conf_client)
    r = oauth.approve(r, remember=False)
    assert "code" in query_of(r["Location"]) and [kind for kind, _ in signals] == ["granted"]
    assert not Consent.objects.exists()
    assert_consent_page(oauth.browser.get(AUTHORIZE, params_for(conf_client)))


def test_unticking_remember_forgets_an_earlier_decision(oauth, conf_client, user):
    oauth.get_code(conf_client, scope="read")
    assert Consent.objects.filter(user=user, client=conf_client).exists()
    r, _ = consent_page(oauth.browser, conf_client, prompt="consent")
    oauth.approve(r, remember=False)
    assert not Consent.objects.exists()
    assert_consent_page(oauth.browser.get(AUTHORIZE, params_for(conf_client)))


def test_remember_consent_setting_off(oauth, conf_client):
    oauth.get_code(conf_client)
    with override_settings(OAUTH_PROVIDER=provider_settings(REMEMBER_CONSENT=False)):
        r = oauth.browser.get(AUTHORIZE, params_for(conf_client))
    assert_consent_page(r)


def test_consent_of_another_user_does_not_count(oauth, conf_client):
    ConsentFactory(user=UserFactory(username="bob"), client=conf_client, scope="read write")
    r = oauth.browser.get(AUTHORIZE, params_for(conf_client))
    assert_consent_page(r)


def test_skip_consent_client_skips_the_page(browser, issuer):
    client = ClientFactory(skip_consent=True)  # confidential: a public one never skips (see above)
    r = browser.get(AUTHORIZE, params_for(client, state="s"))
    query = assert_redirect_to(r, client.redirect_uri_list[0])
    assert query["code"] and query["state"] == "s" and query["iss"] == issuer
    r = browser.get(AUTHORIZE, params_for(client, prompt="consent"))
    assert_consent_page(r)


# -- optional scopes -----------------------------------------------------------------------------
@pytest.fixture
def optional_profile():
    with override_settings(OAUTH_PROVIDER=provider_settings(OPTIONAL_SCOPES=["profile"])):
        yield


def test_optional_scope_has_a_checkbox(optional_profile, browser, conf_client):
    r, _ = consent_page(browser, conf_client, scope="read profile")
    html = r.content.decode()
    assert re.search(r'<input type="checkbox"[^>]*name="scope" value="profile"[^>]*checked', html)
    assert not re.search(r'name="scope" value="read"', html)


def test_unticked_optional_scope_is_not_granted(optional_profile, oauth, conf_client, signals):
    params, verifier = oauth.authorize_params(conf_client, scope="read profile")
    r = oauth.browser.get(AUTHORIZE, params)
    r = oauth.browser.post(AUTHORIZE, {"oauth_request": consent_blob(r.content.decode()), "allow": "allow"})
    code = assert_redirect_to(r, REDIRECT_URI)["code"]
    assert oauth.exchange(conf_client, code, verifier).json()["scope"] == "read"
    assert signals[0][1]["scope"] == "read"


def test_ticked_optional_scope_is_granted(optional_profile, oauth, conf_client):
    params, verifier = oauth.authorize_params(conf_client, scope="read profile")
    r = oauth.browser.get(AUTHORIZE, params)
    r = oauth.approve(r, scope=["profile"])
    code = assert_redirect_to(r, REDIRECT_URI)["code"]
    assert oauth.exchange(conf_client, code, verifier).json()["scope"] == "read profile"


def test_checkboxes_cannot_add_or_drop_required_scopes(optional_profile, oauth, conf_client):
    params, verifier = oauth.authorize_params(conf_client, scope="read profile")
    r = oauth.browser.get(AUTHORIZE, params)
    r = oauth.approve(r, scope=["write", "profile"])  # "read" unticked (it has no box), "write" smuggled in
    code = assert_redirect_to(r, REDIRECT_URI)["code"]
    assert oauth.exchange(conf_client, code, verifier).json()["scope"] == "read profile"


def test_unticking_every_scope_is_a_denial(optional_profile, oauth, conf_client, issuer):
    r, _ = consent_page(oauth.browser, conf_client, scope="profile", state="s")
    r = oauth.approve(r)  # allow, with the only (optional) scope unticked
    assert_error_redirect(r, REDIRECT_URI, "access_denied", "s", issuer)
    assert minted() == 0


def test_remembered_consent_without_optional_scope_asks_again(optional_profile, oauth, conf_client):
    r, _ = consent_page(oauth.browser, conf_client, scope="read profile")
    oauth.browser.post(AUTHORIZE, {"oauth_request": consent_blob(r.content.decode()), "allow": "allow",
                                   "remember": "1"})
    assert_silent_grant(oauth.browser.get(AUTHORIZE, params_for(conf_client, scope="read")))
    assert_consent_page(oauth.browser.get(AUTHORIZE, params_for(conf_client, scope="read profile")))


def test_a_declined_optional_scope_is_removed_from_the_remembered_consent(optional_profile, oauth, conf_client,
                                                                          user):
    """Issue 12 item 1: unticking a scope on a later consent page (remember ticked) merged it
    back into the stored consent, so the next request got it silently. The stored decision is
    the user's last one."""
    r, _ = consent_page(oauth.browser, conf_client, scope="read profile")
    oauth.approve(r, remember=True, scope=["profile"])
    assert Consent.objects.get(user=user, client=conf_client).covers(["read", "profile"])
    r, _ = consent_page(oauth.browser, conf_client, scope="read profile", prompt="consent")
    oauth.approve(r, remember=True)  # profile unticked this time
    assert Consent.objects.get(user=user, client=conf_client).scope.split() == ["read"]
    # the next request for profile shows the page; it is never granted silently
    assert_consent_page(oauth.browser.get(AUTHORIZE, params_for(conf_client, scope="read profile")))
    assert_silent_grant(oauth.browser.get(AUTHORIZE, params_for(conf_client, scope="read")))


def test_a_later_approval_keeps_scopes_it_did_not_ask_about(oauth, conf_client, user):
    oauth.get_code(conf_client, scope="read write")
    r, _ = consent_page(oauth.browser, conf_client, scope="read", prompt="consent")
    oauth.approve(r, remember=True)
    assert Consent.objects.get(user=user, client=conf_client).covers(["read", "write"])


def test_deny_forgets_the_remembered_consent(oauth, conf_client, user, issuer):
    """Issue 12 item 1: "Deny" left the remembered consent in place, so the client's next
    request without prompt=consent was granted silently."""
    oauth.get_code(conf_client, scope="read")
    assert Consent.objects.filter(user=user, client=conf_client).exists()
    r, _ = consent_page(oauth.browser, conf_client, scope="read", prompt="consent", state="s")
    r = oauth.browser.post(AUTHORIZE, {"oauth_request": consent_blob(r.content.decode()), "deny": "deny"})
    assert_error_redirect(r, REDIRECT_URI, "access_denied", "s", issuer)
    assert not Consent.objects.filter(user=user, client=conf_client).exists()
    assert_consent_page(oauth.browser.get(AUTHORIZE, params_for(conf_client, scope="read")))


MCP = "https://testserver/mcp"


@pytest.fixture
def mcp_resource(settings):
    """An MCP server beside the site's own API, sharing its scopes (the MCP how-to's setup)."""
    settings.OAUTH_PROVIDER = oauth_settings(RESOURCES={MCP: {"name": "Notes MCP server", "scopes": ["read", "write"]}})


def test_a_self_registered_client_is_asked_every_time(oauth, user):
    """docs/how-to/dynamic-registration.md: "a self-registered client never skips the consent
    page". A confidential client that registered itself was offered "Remember my decision",
    and a remembered consent then issued codes silently (prompt=none included)."""
    client = ClientFactory(registration_method="dynamic", grant_types="authorization_code refresh_token")
    r, _ = consent_page(oauth.browser, client, scope="read")
    assert b'name="remember"' not in r.content
    oauth.approve(r, remember=True)  # a forged "remember" stores nothing either
    assert not Consent.objects.filter(user=user, client=client).exists()
    assert_consent_page(oauth.browser.get(AUTHORIZE, params_for(client, scope="read")))
    again = oauth.browser.get(AUTHORIZE, params_for(client, scope="read", prompt="none", state="s"))
    assert "code" not in query_of(again.get("Location", "")), again.get("Location")


@pytest.mark.parametrize("method", ["dynamic", "metadata_document"])
def test_the_adapter_never_remembers_a_self_registered_confidential_client(method):
    from oauth_provider.models import Client

    client = Client(registration_method=method, client_type="confidential")
    assert DefaultAdapter().can_remember_consent(Client(registration_method="admin", client_type="confidential"))
    assert not DefaultAdapter().can_remember_consent(client)


def test_a_decision_for_another_resource_is_neither_offered_nor_remembered(oauth, conf_client, user, mcp_resource):
    """RFC 8707 §2: the user allowed access "limited to" the MCP server. Remembered by its
    scopes alone, that decision gave the client a silent code for the site's own API (a
    request naming no resource), which the user was never asked about (outside review)."""
    r, _ = consent_page(oauth.browser, conf_client, scope="read write", resource=MCP)
    assert b"Notes MCP server" in r.content and b'name="remember"' not in r.content
    assert oauth.approve(r, remember=True).status_code == 302
    assert not Consent.objects.filter(user=user, client=conf_client).exists()
    assert_consent_page(oauth.browser.get(AUTHORIZE, params_for(conf_client, scope="read write")))
    assert_consent_page(oauth.browser.get(AUTHORIZE, params_for(conf_client, scope="read write", resource=MCP)))


def test_approving_another_resource_keeps_the_remembered_default_and_denying_forgets_it(
        oauth, conf_client, user, mcp_resource):
    """A decision about the MCP server leaves the remembered consent for the site's API as it
    is when the user allows (the page offered no choice about it), and forgets it when the
    user denies (after a denial nothing is granted silently)."""
    oauth.get_code(conf_client, scope="read")
    assert Consent.objects.filter(user=user, client=conf_client).exists()
    r, _ = consent_page(oauth.browser, conf_client, scope="read", resource=MCP)
    oauth.approve(r)
    assert_silent_grant(oauth.browser.get(AUTHORIZE, params_for(conf_client, scope="read")))
    r, _ = consent_page(oauth.browser, conf_client, scope="read", resource=MCP)
    oauth.browser.post(AUTHORIZE, {"oauth_request": consent_blob(r.content.decode()), "deny": "deny"})
    assert not Consent.objects.filter(user=user, client=conf_client).exists()
    assert_consent_page(oauth.browser.get(AUTHORIZE, params_for(conf_client, scope="read")))


# -- prompt=none (OIDC Core §3.1.2.1) ----------------------------------------------------------------
@pytest.mark.req("OIDC-3.1.2.1-prompt-none")
@pytest.mark.req("9207-2-iss-in-authz-response")
def test_prompt_none_anonymous_is_login_required(conf_client, issuer):
    r = HttpClient().get(AUTHORIZE, params_for(conf_client, prompt="none", state="s"))
    assert_error_redirect(r, REDIRECT_URI, "login_required", "s", issuer)
    assert minted() == 0


@pytest.mark.req("OIDC-3.1.2.1-prompt-none")
@pytest.mark.req("9207-2-iss-in-authz-response")
def test_prompt_none_without_consent_is_consent_required(browser, conf_client, issuer):
    r = browser.get(AUTHORIZE, params_for(conf_client, prompt="none", state="s"))
    assert_error_redirect(r, REDIRECT_URI, "consent_required", "s", issuer)
    assert minted() == 0


@pytest.mark.req("OIDC-3.1.2.1-prompt-none")
def test_prompt_none_with_consent_issues_code(oauth, conf_client, issuer):
    oauth.get_code(conf_client)
    params, verifier = oauth.authorize_params(conf_client, prompt="none")
    r = oauth.browser.get(AUTHORIZE, params)
    query = assert_redirect_to(r, REDIRECT_URI)
    assert query["state"] == params["state"] and query["iss"] == issuer
    assert oauth.exchange(conf_client, query["code"], verifier).status_code == 200


@pytest.mark.req("OIDC-3.1.2.1-prompt-none")
@pytest.mark.req("8252-8.6-no-silent-public-approval")
def test_prompt_none_public_client_needs_consent_each_time(oauth, public_client, issuer):
    oauth.get_code(public_client)
    r = oauth.browser.get(AUTHORIZE, params_for(public_client, prompt="none", state="s"))
    assert_error_redirect(r, public_client.redirect_uri_list[0], "consent_required", "s", issuer)


@pytest.mark.req("OIDC-3.1.2.1-prompt-none")
def test_prompt_none_never_shows_a_page(conf_client, browser):
    for b in (browser, HttpClient()):
        r = b.get(AUTHORIZE, params_for(conf_client, prompt="none"))
        assert r.status_code == 302 and r["Location"].startswith(REDIRECT_URI)


# -- hostile strings in every HTML response -------------------------------------------------------------
@pytest.mark.req("O21-7.12-input-is-malicious")
@pytest.mark.req("DERIVED-redirect-scheme-denylist")
@pytest.mark.parametrize("payload", XSS)
def test_payloads_are_escaped_everywhere(payload, user, browser):
    scopes = {"read": payload, "write": "Change your data"}
    with override_settings(OAUTH_PROVIDER=provider_settings(SCOPES=scopes)):
        client = ClientFactory(name=payload)
        pages = []
        r, params = consent_page(browser, client, state=payload, login_hint=payload, nonce=payload,
                                 ui_locales=payload)
        pages.append(r)
        pages.append(browser.get(AUTHORIZE, params_for(client, state=payload, redirect_uri=payload)))
        pages.append(browser.get(AUTHORIZE, params_for(client, state=payload, client_id=payload)))
        pages.append(browser.get(AUTHORIZE, {"client_id": client.client_id, "scope": payload, "state": payload}))
        pages.append(browser.post(AUTHORIZE, {"oauth_request": payload, "allow": payload}))
        strict = HttpClient(enforce_csrf_checks=True)
        strict.force_login(user)
        pages.append(strict.post(AUTHORIZE, {"oauth_request": consent_blob(r.content.decode()), "allow": payload}))
    html_pages = [p for p in pages if p["Content-Type"].startswith("text/html") and p.content]
    assert len(html_pages) >= 5
    for page in html_pages:
        html = page.content.decode()
        assert payload not in html
        assert "<script>" not in html and "<img" not in html
    consent_html = pages[0].content.decode()
    assert "&lt;script&gt;" in consent_html or "&quot;&gt;&lt;img" in consent_html


# -- statements per step (DESIGN.md's budgets, extended to the authorization endpoint) -----------
def _library_statements(captured) -> list[str]:
    """The request's SQL on this library's tables (the host's session and user loads aside)."""
    from ..conftest import real_queries

    return [sql for sql in real_queries(captured) if "oauth_provider_" in sql]


def test_statements_of_the_consent_page_and_the_approvals(oauth, public_client, conf_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def run(call):
        with CaptureQueriesContext(connection) as captured:
            response = call()
        return response, [sql.split()[0].upper() for sql in _library_statements(captured)]

    # The grant and its code: one INSERT ... RETURNING inside a WITH on PostgreSQL (one round
    # trip, no BEGIN/COMMIT); two INSERTs in one transaction elsewhere.
    grant = ["WITH"] if connection.vendor == "postgresql" else ["INSERT", "INSERT"]
    r, seen = run(lambda: oauth.browser.get(AUTHORIZE, params_for(public_client)))
    assert r.status_code == 200 and seen == ["SELECT"]  # the client
    r, seen = run(lambda: oauth.approve(r))
    assert r.status_code == 302 and seen == ["SELECT", *grant]  # client; grant and code
    r, _ = consent_page(oauth.browser, conf_client)
    r, seen = run(lambda: oauth.approve(r, remember=False))  # nothing remembered: a DELETE of nothing
    assert r.status_code == 302 and seen == ["SELECT", "DELETE", *grant]
    r, _ = consent_page(oauth.browser, conf_client)
    r, seen = run(lambda: oauth.approve(r, remember=True))
    assert r.status_code == 302 and seen[-len(grant):] == grant and seen.count("INSERT") == 1 + grant.count("INSERT")
    assert "DELETE" not in seen
    r, seen = run(lambda: oauth.browser.get(AUTHORIZE, params_for(conf_client)))
    assert r.status_code == 302 and seen == ["SELECT", "SELECT", *grant]  # client, consent
    # a scope beyond the remembered ones: the page again; approving it extends the row the
    # decision read (one UPDATE), not a second read of it
    r, _ = consent_page(oauth.browser, conf_client, scope="read write")
    r, seen = run(lambda: oauth.approve(r, remember=True))
    assert r.status_code == 302 and seen == ["SELECT", "SELECT", "UPDATE", *grant]  # client, consent


def assert_consent_page(r) -> None:
    """The user is asked: the consent form with Allow and Deny, not a login page, an error
    page or a redirect carrying a code (a status of 200 alone would not tell them apart)."""
    assert r.status_code == 200, (r.status_code, r.get("Location"))
    html = r.content.decode()
    assert 'name="oauth_request"' in html and 'name="allow"' in html and 'name="deny"' in html, html[:500]


def assert_silent_grant(r) -> None:
    """Granted without asking: a redirect to the client carrying a code."""
    assert r.status_code == 302 and "code" in query_of(r["Location"]), (r.status_code, r.get("Location"))


REFUSED: set[str] = set()


class Revocable(DefaultAdapter):
    """A host policy that can change while a consent page is open."""

    def is_user_allowed(self, request, client, user):
        return user.username not in REFUSED


def test_a_user_refused_after_the_consent_page_was_shown_gets_no_code(browser, conf_client, user, settings):
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.Revocable")
    REFUSED.clear()
    params = params_for(conf_client)
    page = browser.get(AUTHORIZE, params)
    assert page.status_code == 200
    REFUSED.add(user.username)  # the policy changes while the page is open (the form lives an hour)
    try:
        r = browser.post(AUTHORIZE, {"oauth_request": consent_blob(page.content.decode()), "allow": "allow"})
    finally:
        REFUSED.clear()
    assert_error_redirect(r, conf_client.redirect_uri_list[0], "access_denied", params["state"], "https://testserver/o")
    assert not AuthorizationCode.objects.exists()


def test_a_consent_page_left_open_meets_a_policy_requiring_signed_requests(oauth, conf_client, issuer):
    """The decision re-checks the client's policy: a page shown for an unsigned request, still
    open when the client was made to require signed request objects, gets no code."""
    r, _ = consent_page(oauth.browser, conf_client, state="s")
    blob = consent_blob(r.content.decode())
    type(conf_client).objects.filter(pk=conf_client.pk).update(require_signed_request_object=True)
    r = oauth.browser.post(AUTHORIZE, {"oauth_request": blob, "allow": "allow"})
    assert_error_redirect(r, REDIRECT_URI, "invalid_request", "s", issuer)
    assert minted() == 0


class TrustedReadsOnly(DefaultAdapter):
    """A host policy skipping the page by what is asked, who asks and where from: staff asking
    for ``read`` alone, from the office network."""

    def should_skip_consent(self, request, client, user, scopes):
        return (user.is_staff and tuple(scopes) == ("read",)
                and request.META.get("REMOTE_ADDR") == "192.0.2.10")


def test_the_skip_consent_policy_decides_with_the_request_the_user_and_the_scopes(browser, conf_client, user,
                                                                                 settings):
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.TrustedReadsOnly")
    type(user).objects.filter(pk=user.pk).update(is_staff=True)
    assert_silent_grant(browser.get(AUTHORIZE, params_for(conf_client), REMOTE_ADDR="192.0.2.10"))
    assert_consent_page(browser.get(AUTHORIZE, params_for(conf_client, scope="read write"), REMOTE_ADDR="192.0.2.10"))
    assert_consent_page(browser.get(AUTHORIZE, params_for(conf_client), REMOTE_ADDR="198.51.100.1"))
    type(user).objects.filter(pk=user.pk).update(is_staff=False)
    assert_consent_page(browser.get(AUTHORIZE, params_for(conf_client), REMOTE_ADDR="192.0.2.10"))

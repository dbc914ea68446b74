"""The device verification page (RFC 8628 §3.3, §5): login, the code form, the consent page,
the binding of a code to the one user who entered it, and user-code guessing."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from django.test import Client as HttpClient
from django.utils import translation

from oauth_provider.adapter import DefaultAdapter
from oauth_provider.models import DeviceCode, get_client_model
from oauth_provider.signals import device_authorization_approved, device_authorization_denied
from tests.support import a11y
from tests.support.device_helpers import VERIFICATION, approve, consent_blob, decide, enter, poll, started
from tests.support.endpoints import assert_error_page, assert_page_headers
from tests.support.factories import DeviceClientFactory, UserFactory
from tests.support.settings import oauth_settings, override_oauth
from tests.support.token_helpers import FrozenClock

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return HttpClient()


@pytest.fixture
def device_client(db):
    return DeviceClientFactory(name="<b>TV</b>")


def logged_in(username: str, **kwargs) -> HttpClient:
    browser = HttpClient(**kwargs)
    browser.force_login(UserFactory(username=username))
    return browser


def row(flow) -> DeviceCode:
    return DeviceCode.objects.by_device_code(flow["device_code"]).get()


@pytest.mark.req("8628-3.3-user-code-entry")
def test_anonymous_users_log_in_first_and_come_back(api, device_client):
    flow = started(api, device_client)
    assert "user_code" not in flow["verification_uri"]
    anonymous = HttpClient()
    bare = anonymous.get(VERIFICATION)
    assert bare.status_code == 302 and bare["Location"] == "/accounts/login/?next=/o/device/"
    response = anonymous.get(f"{VERIFICATION}?user_code={flow['user_code']}")
    assert response.status_code == 302  # the complete URI survives the login
    assert response["Location"] == f"/accounts/login/?next=/o/device/%3Fuser_code%3D{flow['user_code']}"
    posted = anonymous.post(VERIFICATION, {"user_code": flow["user_code"]})
    # a typed (POSTed) code is never moved into a URL, where logs and Referer headers keep it
    assert posted.status_code == 302 and "user_code" not in posted["Location"]
    # only the code goes into the login URL: a huge query cannot make the redirect unsafe (400)
    huge = anonymous.get(f"{VERIFICATION}?user_code={flow['user_code']}&junk={'A' * 5000}")
    assert huge.status_code == 302 and "junk" not in huge["Location"]
    # a query Django refuses to parse (too many fields) still sends them to log in, without it
    fields = anonymous.get(VERIFICATION + "?" + "&".join(f"f{i}=x" for i in range(1001)))
    assert fields.status_code == 302 and fields["Location"] == "/accounts/login/?next=/o/device/"
    # only a GET's code comes back: another method's query is not the complete URI (§3.3.1)
    deleted = anonymous.delete(f"{VERIFICATION}?user_code={flow['user_code']}")
    assert deleted.status_code == 302 and "user_code" not in deleted["Location"]
    assert row(flow).user is None and row(flow).status == "pending"


def test_the_login_page_is_the_providers_own_setting(api, device_client):
    """``OAUTH_PROVIDER["LOGIN_URL"]`` sends the device's user to the site's login page for the
    provider, as every other page of it does (not Django's ``LOGIN_URL``)."""
    with override_oauth(LOGIN_URL="/signin/"):
        response = HttpClient().get(VERIFICATION)
    assert response.status_code == 302 and response["Location"].startswith("/signin/?next=")


@pytest.mark.req("8628-3.3-user-code-entry")
def test_the_form_has_one_user_code_input_and_a_button(browser):
    response = browser.get(VERIFICATION)
    assert response.status_code == 200
    assert_page_headers(response)
    html = response.content.decode()
    assert 'name="user_code"' in html and 'type="submit"' in html
    assert 'value=""' in html  # nothing pre-filled without a complete URI
    assert a11y.problems(html) == []


def test_a_post_without_a_code_is_told_it_is_not_a_code(browser):
    response = browser.post(VERIFICATION, {})
    assert response.status_code == 400 and b"not a code we issue" in response.content
    assert 'name="user_code" value=""' in response.content.decode()


def test_a_browser_enforcing_csrf_goes_through_every_page(api, user, device_client):
    """Every form of the flow carries its CSRF token and posts to the page itself (a browser
    enforces what the test client does not): the code form, then the consent form."""
    flow = started(api, device_client)
    strict = HttpClient(enforce_csrf_checks=True)
    strict.force_login(user)
    form = strict.get(VERIFICATION + f"?user_code={flow['user_code']}").content.decode()
    assert f'action="{VERIFICATION}"' in form  # the pre-filled code is not posted back in the URL
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    page = strict.post(VERIFICATION, {"user_code": flow["user_code"], "csrfmiddlewaretoken": token})
    assert page.status_code == 200, page.content.decode()[:1000]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    done = strict.post(VERIFICATION, {"device_request": consent_blob(page.content.decode()), "allow": "allow",
                                      "csrfmiddlewaretoken": token})
    assert done.status_code == 200 and b"Device connected" in done.content
    assert row(flow).status == "approved"


SITE_BASE = ('{% extends "oauth_provider/base.html" %}'
             '{% block header %}<p id="site">{{ request.path }} as {{ user.get_username }}</p>{% endblock %}')
DONE_PAGE = ("{{ client.client_id }}|{{ client_label }}|{{ user_code }}|{{ user.get_username }}|"
             "{{ approved }}")


def site_templates(settings, tmp_path, files: dict[str, str], processors: list[str] | None = None) -> None:
    """The host's own templates, found before the library's (and its context processors)."""
    for name, text in files.items():
        (tmp_path / "oauth_provider").mkdir(exist_ok=True)
        (tmp_path / "oauth_provider" / name).write_text(text)
    engine = {**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]}
    if processors is not None:
        engine["OPTIONS"] = {**engine["OPTIONS"], "context_processors": processors}
    settings.TEMPLATES = [engine]


def test_a_site_header_on_every_device_page_sees_the_request_and_the_user(api, browser, device_client,
                                                                          settings, tmp_path):
    """A site that overrides ``oauth_provider/base.html`` (its header, its navigation) gets the
    request and its context processors on every page of the flow, error pages included."""
    site_templates(settings, tmp_path, {"base.html": SITE_BASE})
    header = '<p id="site">/o/device/ as alice</p>'
    flow = started(api, device_client)
    assert header in browser.get(VERIFICATION).content.decode()
    unreadable = browser.get(VERIFICATION + "?" + "&".join(f"f{i}=x" for i in range(1001)))
    assert unreadable.status_code == 400 and header in unreadable.content.decode()
    unreadable = browser.post(VERIFICATION, b"user_code=x", content_type="multipart/form-data")
    assert unreadable.status_code == 400 and header in unreadable.content.decode()
    page = enter(browser, flow["user_code"])
    assert header in page.content.decode()
    assert header in decide(browser, page).content.decode()


def test_the_pages_need_no_context_processor_of_the_host(api, browser, device_client, settings, tmp_path):
    """The user, the client and the code are in the pages' own context (a host's TEMPLATES
    may list no context processors), and an overriding template reads them by these names."""
    site_templates(settings, tmp_path, {"device_done.html": DONE_PAGE}, processors=[])
    flow = started(api, device_client)
    assert b"Signed in as alice." in browser.get(VERIFICATION).content
    page = enter(browser, flow["user_code"])
    assert b"Signed in as alice." in page.content
    done = decide(browser, page)
    assert done.content.decode() == f"{device_client.client_id}|&lt;b&gt;TV&lt;/b&gt;|{flow['user_code']}|alice|True"
    page = enter(browser, started(api, device_client)["user_code"])
    code = re.search(r'<code class="user-code">([^<]+)</code>', page.content.decode()).group(1)
    assert decide(browser, page, allow=False).content.decode().endswith(f"|{code}|alice|False")


@pytest.mark.req("8628-3.3.1-complete-uri-confirm")
def test_the_complete_uri_only_prefills_the_code(api, browser, device_client):
    flow = started(api, device_client)
    for query in (f"?user_code={flow['user_code']}", f"?user_code={flow['user_code']}&action=accept&allow=allow"):
        response = browser.get(VERIFICATION + query)
        assert response.status_code == 200
        assert f'value="{flow["user_code"]}"' in response.content.decode()
    assert row(flow).user is None  # a link claims nothing
    FrozenClock()
    assert poll(api, device_client, flow["device_code"]).json()["error"] == "authorization_pending"


@pytest.mark.req("8628-3.3-user-code-entry")
def test_posts_without_a_csrf_token_are_refused(api, device_client, user):
    flow = started(api, device_client)
    strict = HttpClient(enforce_csrf_checks=True)
    strict.force_login(user)
    response = strict.post(VERIFICATION, {"user_code": flow["user_code"]})
    assert response.status_code == 403
    assert_page_headers(response)
    assert row(flow).user is None


@pytest.mark.req("8628-5.4-remote-phishing")
@pytest.mark.req("8628-5.6-public-consent")
@pytest.mark.parametrize("typed", ["{code}", "{lower}", "{bare}", " {spaced} "])
def test_a_code_is_matched_case_and_dash_insensitively_and_shows_the_consent_page(
        api, browser, user, device_client, typed):
    flow = started(api, device_client, scope="read write")
    code = flow["user_code"]
    text = typed.format(code=code, lower=code.lower(), bare=code.replace("-", ""),
                        spaced=code.replace("-", " "))
    page = enter(browser, text)
    assert page.status_code == 200, page.content.decode()[:500]
    assert_page_headers(page)
    html = page.content.decode()
    assert "&lt;b&gt;TV&lt;/b&gt;" in html and "<b>TV</b>" not in html
    assert "Connect &lt;b&gt;TV&lt;/b&gt;" in html  # the page's title names the client
    assert code in html
    assert "A device asked for this, not this browser." in html
    assert "Read your data" in html and "Change your data" in html
    assert 'name="allow"' in html and 'name="deny"' in html
    assert 'name="remember"' not in html
    assert 'id="remember"' not in html and "Remember my decision" not in html  # §5.6: asked every time
    assert a11y.problems(html) == []
    assert row(flow).user == user  # claimed


@pytest.mark.req("8628-5.6-public-consent")
def test_every_device_flow_asks_again(api, browser, device_client):
    FrozenClock()
    approve(browser, started(api, device_client)["user_code"])
    second = started(api, device_client)
    assert b'name="allow"' in enter(browser, second["user_code"]).content


@pytest.mark.req("DERIVED-device-approval-owner")
@pytest.mark.req("DERIVED-device-claim-once")
def test_a_code_belongs_to_the_first_user_who_entered_it(api, device_client):
    alice, mallory = logged_in("alice3"), logged_in("mallory3")
    flow = started(api, device_client)
    page = enter(alice, flow["user_code"])
    refused = enter(mallory, flow["user_code"])
    assert refused.status_code == 403 and b"already being used by another account" in refused.content
    # mallory replays alice's consent form: bound to alice
    stolen = mallory.post(VERIFICATION, {"device_request": consent_blob(page.content.decode()), "allow": "allow"})
    assert stolen.status_code == 400 and b"Device connected" not in stolen.content
    assert row(flow).status == "pending" and row(flow).user.username == "alice3"
    decide(alice, page)
    assert row(flow).status == "approved"
    again = enter(alice, flow["user_code"])
    assert again.status_code == 400 and b"already been used" in again.content
    FrozenClock().advance(10)
    from tests.support.token_helpers import access_token_row

    tokens = poll(api, device_client, flow["device_code"]).json()
    assert access_token_row(tokens["access_token"]).user.username == "alice3"


def test_the_decision_reads_the_device_code_with_its_client(api, browser, device_client):
    """One statement finds the code and its client: none to look the client up apart."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from oauth_provider.models import get_client_model

    flow = started(api, device_client)
    page = enter(browser, flow["user_code"])
    client_table = f"FROM {connection.ops.quote_name(get_client_model()._meta.db_table)}"
    with CaptureQueriesContext(connection) as captured:
        assert b"Device connected" in decide(browser, page).content
    assert [q["sql"] for q in captured.captured_queries if client_table in q["sql"]] == []


def test_a_decision_is_taken_once(api, browser, device_client):
    flow = started(api, device_client)
    page = enter(browser, flow["user_code"])
    assert b"Device connected" in decide(browser, page).content
    second = decide(browser, page, allow=False)
    assert second.status_code == 400 and b"already been used" in second.content
    assert row(flow).status == "approved"


def test_a_code_that_expires_on_the_consent_page_is_refused_as_expired(api, browser, device_client):
    """RFC 8628 §3.5: a code is good for ``expires_in`` seconds; a consent form submitted at
    its end approves nothing and says the code expired (not that it was used)."""
    clock = FrozenClock()
    flow = started(api, device_client)
    page = enter(browser, flow["user_code"])
    clock.advance(600)  # DEVICE_CODE_LIFETIME: expired at exactly the end of its lifetime
    refused = decide(browser, page)
    assert refused.status_code == 400 and b"That code has expired" in refused.content
    assert b"Device connected" not in refused.content
    assert row(flow).status == "pending" and row(flow).decided_at is None


@pytest.mark.req("DERIVED-device-approval-owner")
def test_the_owner_approves_whatever_their_user_id(api, device_client):
    """The owner check compares ids by value: a user whose id is beyond CPython's cached small
    integers (every user past the 256th) is still the owner of the code they entered."""
    owner = UserFactory(username="late-owner", id=100_000)
    browser = HttpClient()
    browser.force_login(owner)
    FrozenClock()
    flow = started(api, device_client)
    assert enter(browser, flow["user_code"]).status_code == 200
    approve(browser, flow["user_code"])  # enters the code again (a reload), then approves
    assert row(flow).status == "approved" and row(flow).user == owner


def test_an_approval_records_when_the_user_logged_in(api, device_client):
    """The approval stores the session's login time: the ``auth_time`` of the ID tokens the
    device gets (OIDC Core §2), not the time of the approval, and not nothing."""
    clock = FrozenClock()
    browser = logged_in("logged-in-earlier")
    logged_in_at = clock().replace(microsecond=0)
    clock.advance(90)
    flow = started(api, device_client)
    approve(browser, flow["user_code"])
    assert row(flow).auth_time == logged_in_at


class LoginTimeFromTheUser(DefaultAdapter):
    """A host that keeps the login time on the user (its own login view, no session key)."""

    def auth_time(self, request, user):
        return user.last_login


def test_the_login_time_is_the_hosts_adapters_for_the_user_who_approves(api, device_client, settings):
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER="tests.endpoints.test_device.LoginTimeFromTheUser")
    owner = UserFactory(username="kept-on-the-user")
    browser = HttpClient()
    browser.force_login(owner)  # sets last_login to now; the host's value is set after
    type(owner).objects.filter(pk=owner.pk).update(last_login=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    flow = started(api, device_client)
    approve(browser, flow["user_code"])
    assert row(flow).auth_time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def test_in_development_the_consent_page_names_the_default_resource_the_request_came_to(api, browser,
                                                                                       device_client, settings):
    """DEBUG with no ISSUER: a device that named the default resource (this site's origin) sees
    it by the name ``RESOURCES`` gives it, as the code flow's consent page does."""
    settings.DEBUG = True
    settings.OAUTH_PROVIDER = oauth_settings(ISSUER=None, RESOURCE_IDENTIFIER=None,
                                             RESOURCES={"http://testserver": {"name": "The Site API"},
                                                        "https://rs-a.example/": {"name": "Notes API"}})
    flow = started(api, device_client, resource="http://testserver")
    page = enter(browser, flow["user_code"])
    assert page.status_code == 200 and b"The Site API" in page.content and b"Notes API" not in page.content


def test_the_optional_scopes_ticked_are_granted_and_the_unticked_are_not(api, browser, device_client, settings):
    """The device's consent page lets the user untick optional scopes: those ticked are granted,
    those left unticked are not, and the device's tokens carry exactly the grant."""
    settings.OAUTH_PROVIDER = oauth_settings(OPTIONAL_SCOPES=["profile", "email"])
    clock = FrozenClock()
    flow = started(api, device_client, scope="read profile email")
    done = decide(browser, enter(browser, flow["user_code"]), scope=["profile"])
    assert done.status_code == 200 and b"Device connected" in done.content
    assert row(flow).scope == "read profile"
    clock.advance(flow["interval"])
    assert poll(api, device_client, flow["device_code"]).json()["scope"] == "read profile"


class BetaTesters(DefaultAdapter):
    """Devices named "Beta ..." are for beta testers only: decided with the client and the
    request (its user), as a host's policy would."""

    def is_user_allowed(self, request, client, user):
        return not client.name.startswith("Beta ") or request.user.username.startswith("beta-")


@pytest.mark.req("DERIVED-device-approval-owner")
def test_the_hosts_policy_decides_per_client_when_the_code_is_entered_and_again_when_decided(api, settings):
    """``is_user_allowed``: a user the policy refuses for this device is told so when entering
    the code (403) and the device gets nothing; one allowed is asked; and a policy that changed
    between entering the code and deciding refuses the decision."""
    beta = DeviceClientFactory(name="Beta TV")
    alice, tester = logged_in("alice-beta"), logged_in("beta-bob")
    settings.OAUTH_PROVIDER = oauth_settings(ADAPTER=f"{__name__}.BetaTesters")
    flow = started(api, beta)
    refused = enter(alice, flow["user_code"])
    assert refused.status_code == 403 and b"may not authorize this device" in refused.content
    assert row(flow).user is None  # not claimed by a refused user
    page = enter(tester, flow["user_code"])
    assert page.status_code == 200
    assert b"Device connected" in decide(tester, page).content and row(flow).status == "approved"
    # another device: the code is entered while allowed, the policy changes before the decision
    other = DeviceClientFactory(name="Living-room TV")
    flow = started(api, other)
    page = enter(alice, flow["user_code"])
    assert page.status_code == 200
    other.name = "Beta radio"
    other.save()
    late = decide(alice, page)
    assert late.status_code == 403 and b"may not authorize this device" in late.content
    assert row(flow).status == "pending"


def test_approving_with_every_optional_scope_unticked_is_a_denial(api, browser, device_client, settings):
    settings.OAUTH_PROVIDER = oauth_settings(OPTIONAL_SCOPES=["profile"])
    FrozenClock()
    flow = started(api, device_client, scope="profile")
    done = decide(browser, enter(browser, flow["user_code"]))  # "allow", the only (optional) scope unticked
    assert done.status_code == 200 and b"Device not connected" in done.content
    assert row(flow).status == "denied"
    assert poll(api, device_client, flow["device_code"]).json()["error"] == "access_denied"


def test_a_consent_form_for_a_code_no_longer_stored_is_refused(api, browser, device_client):
    """The code was deleted (cleanup of dead codes, an admin) while the consent page was open."""
    flow = started(api, device_client)
    page = enter(browser, flow["user_code"])
    row(flow).delete()
    refused = decide(browser, page)
    assert refused.status_code == 400 and b"expired or was tampered" in refused.content


def test_the_typed_code_and_the_consent_form_are_hidden_from_error_reports(rf, user, device_client):
    """A typed user code lets whoever reads it claim a pending device: Django's error reports
    (mailed to admins) must mask it and the signed consent form."""
    from django.views.debug import SafeExceptionReporterFilter

    from oauth_provider.endpoints.device import DeviceVerificationView

    request = rf.post(VERIFICATION, {"user_code": "BCDFG-HJKLM", "device_request": "blob"})
    request.user, request._dont_enforce_csrf_checks = user, True
    DeviceVerificationView.as_view()(request)
    shown = SafeExceptionReporterFilter().get_post_parameters(request)
    assert "BCDFG" not in shown["user_code"] and "blob" not in shown["device_request"]


def test_what_is_typed_is_read_and_shown_back_up_to_32_characters(browser):
    """Bounded work and a bounded page: 32 characters of the input are read (a code and a few
    typos' worth of spaces and dashes), and no more are put back into the form."""
    code = "BCDFG-HJKLM"
    assert b"not recognised" in enter(browser, " " * 21 + code).content  # 32 characters: read whole
    assert b"not a code we issue" in enter(browser, " " * 22 + code).content  # the 33rd is cut off
    html = enter(browser, "x" * 5000).content.decode()
    assert f'value="{"x" * 32}"' in html


def test_a_tampered_consent_form_is_refused(api, browser, device_client):
    flow = started(api, device_client)
    enter(browser, flow["user_code"])
    response = browser.post(VERIFICATION, {"device_request": "forged:value", "allow": "allow"})
    assert response.status_code == 400 and b"expired or was tampered" in response.content
    assert 'name="user_code" value=""' in response.content.decode()  # a fresh form to type the code again
    assert row(flow).status == "pending"


def test_signals_announce_the_decisions(api, browser, user, device_client):
    seen = []

    def receiver(signal, **kwargs):
        seen.append((signal, kwargs["user"], kwargs["client"], kwargs["scope"], kwargs["device_code"].pk,
                     kwargs["request"].path))

    # connected for the client model as sender, as a host listening to client events connects
    client_model = get_client_model()
    device_authorization_approved.connect(receiver, sender=client_model)
    device_authorization_denied.connect(receiver, sender=client_model)
    try:
        approved, denied = started(api, device_client), started(api, device_client)
        approve(browser, approved["user_code"])
        decide(browser, enter(browser, denied["user_code"]), allow=False)
    finally:
        device_authorization_approved.disconnect(receiver, sender=client_model)
        device_authorization_denied.disconnect(receiver, sender=client_model)
    assert seen == [
        (device_authorization_approved, user, device_client, "read", row(approved).pk, VERIFICATION),
        (device_authorization_denied, user, device_client, "read", row(denied).pk, VERIFICATION),
    ]


def test_a_decision_that_lost_a_race_is_told_the_code_was_used(api, browser, device_client, monkeypatch):
    """Two decisions on one code (two tabs, a double submit) both read it pending; the
    conditional UPDATE gives it to one, and the other is told the code was used: no second
    decision, no signal."""
    flow = started(api, device_client)
    page = enter(browser, flow["user_code"])
    real = DeviceCode.decide

    def decided_meanwhile(self, user, scope, **kwargs):
        real(DeviceCode.objects.get(pk=self.pk), user, None, **kwargs)  # the other tab denied it first
        return real(self, user, scope, **kwargs)

    monkeypatch.setattr(DeviceCode, "decide", decided_meanwhile)
    signalled: list = []
    device_authorization_approved.connect(receiver := lambda **kw: signalled.append(kw))
    try:
        lost = decide(browser, page)
    finally:
        device_authorization_approved.disconnect(receiver)
    assert lost.status_code == 400 and b"already been used" in lost.content
    assert row(flow).status == "denied" and signalled == []


def test_a_body_the_page_cannot_read_is_its_own_error_page(browser):
    """A multipart body without a boundary, a form in another charset than UTF-8 (RFC 6749
    Appendix B) or a query of too many fields: our error page (no-store, no framing), not
    Django's bare 400 or a 500."""
    for body, content_type in ((b"user_code=BCDFG-HJKLM", "multipart/form-data"),
                               (b"user_code=BCDFG-HJKLM", "application/x-www-form-urlencoded; charset=latin-1")):
        assert_error_page(browser.post(VERIFICATION, body, content_type=content_type))
    assert_error_page(browser.get(VERIFICATION + "?" + "&".join(f"f{i}=x" for i in range(1001))))


def test_unknown_and_malformed_codes(browser):
    unknown = enter(browser, "BCDFG-HJKLM")
    assert unknown.status_code == 400 and b"not recognised" in unknown.content
    assert_page_headers(unknown)
    for typed in ("AEIOU-AEIOU", "12345", "x" * 5000, "\x00"):
        response = enter(browser, typed)
        assert response.status_code == 400 and b"not a code we issue" in response.content


@pytest.mark.req("8628-5.1-user-code-rate-limit")
def test_user_code_guessing_is_throttled_per_user(api, device_client, figure):
    clock = FrozenClock()
    guesser = logged_in("guesser")
    live = started(api, device_client)
    statuses = [enter(guesser, f"BCDFG-{'HJKLMNPQRSTVWXZ'[i % 15] * 5}").status_code for i in range(20)]
    assert statuses[:5] == [400] * 5 and set(statuses[5:]) == {429}
    throttled = enter(guesser, live["user_code"])  # a right code is refused too
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert_page_headers(throttled)
    assert row(live).user is None
    figure("F-device-guess", f"user-code guesses: 5 wrong codes per user, 20 per address, per {300} s, then 429 "
                             f"for every code; space 20^10 = 2^43.2")
    clock.advance(301)
    assert enter(guesser, live["user_code"]).status_code == 200  # service resumes after the window


def test_wrong_codes_are_counted_per_user_whatever_the_address(api, device_client):
    """A guesser who changes address (IPv6 privacy addresses, a botnet) is still held by the
    count of their account."""
    FrozenClock()
    live = started(api, device_client)
    guesser = UserFactory(username="roaming")
    for i in range(5):
        browser = HttpClient(REMOTE_ADDR=f"203.0.113.{i + 1}")
        browser.force_login(guesser)
        assert enter(browser, "BCDFG-HJKLM").status_code == 400
    browser = HttpClient(REMOTE_ADDR="203.0.113.200")
    browser.force_login(guesser)
    refused = enter(browser, live["user_code"])
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert row(live).user is None


def test_only_wrong_codes_stay_counted(api, browser, device_client):
    """Each code is counted before it is looked up and handed back unless it was wrong: a
    household connecting its devices one after another, with a typo now and then, is never
    refused."""
    FrozenClock()
    for _ in range(4):
        assert enter(browser, "BCDFG-HJKLM").status_code == 400  # typos
    for _ in range(6):
        assert enter(browser, started(api, device_client)["user_code"]).status_code == 200
    assert enter(browser, "BCDFG-HJKLM").status_code == 400  # the fifth wrong one
    assert enter(browser, "BCDFG-HJKLM").status_code == 429


@pytest.mark.django_db(transaction=True)
def test_guesses_sent_together_are_each_counted_before_any_is_looked_up(device_client, monkeypatch):
    """A guesser sends 20 codes at once (20 workers): each is counted before it is looked up,
    so 5 are looked up, not every one that passed a check made before the first failure was
    recorded. The lookup here waits until all 20 have been counted or refused, as a slow one
    does under load."""
    import threading

    from django.db import connection

    from oauth_provider.endpoints import device as view
    from oauth_provider.models.store import device_code_by_user_code

    guesser = UserFactory(username="burst")
    looked_up = []
    arrived = threading.Semaphore(0)
    go = threading.Event()

    def slow_lookup(normalized):
        looked_up.append(normalized)
        arrived.release()
        go.wait(timeout=30)
        return device_code_by_user_code(normalized)

    monkeypatch.setattr(view, "device_code_by_user_code", slow_lookup)
    browsers = []
    for i in range(20):
        browser = HttpClient(REMOTE_ADDR=f"203.0.113.{i + 1}", raise_request_exception=False)
        browser.force_login(guesser)
        browsers.append(browser)
    statuses = [0] * 20

    def guess(i):
        try:
            statuses[i] = enter(browsers[i], "BCDFG-" + "HJKLMNPQRSTVWXZ"[i % 15] * 4 + "B").status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for _ in range(5):
        assert arrived.acquire(timeout=30)  # five reach the lookup...
    deadline = 30
    while statuses.count(429) < 15 and deadline > 0:  # ...and the fifteen others are refused
        threading.Event().wait(0.1)
        deadline -= 0.1
    go.set()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [400] * 5 + [429] * 15 and len(looked_up) == 5


@pytest.mark.req("8628-5.4-remote-phishing")
def test_what_a_link_or_a_client_puts_on_the_pages_is_escaped(api, browser):
    """``verification_uri_complete`` puts a value anyone can choose into the form (§3.3.1, and
    §5.4's phishing sends such links); a client names itself. Neither becomes markup."""
    payload = '"><script>alert(1)</script>'
    for html in (browser.get(VERIFICATION, {"user_code": payload}).content.decode(),
                 enter(browser, payload).content.decode()):
        assert "<script>alert(1)</script>" not in html and "&quot;&gt;&lt;script&gt;" in html
    FrozenClock()
    client = DeviceClientFactory(name="<img src=x onerror=alert(1)>")
    for allow in (True, False):
        page = enter(browser, started(api, client)["user_code"])
        done = decide(browser, page, allow=allow).content.decode()
        assert "<img src=x" not in done and "&lt;img src=x onerror=alert(1)&gt;" in done


@pytest.mark.req("8628-5.4-remote-phishing")
def test_the_pages_warn_against_codes_someone_sent_and_mark_a_self_registered_client(api, browser):
    """§5.4: the code form and the consent page tell the user never to use a code or link
    someone sent; a client that registered itself (it may call itself "Microsoft Teams") is
    marked unverified on the device's consent page as on the code flow's."""
    FrozenClock()
    assert b"Never enter a code someone sent you." in browser.get(VERIFICATION).content
    page = enter(browser, started(api, DeviceClientFactory())["user_code"]).content.decode()
    assert "If someone sent you this code or link, deny." in page and 'class="notice unverified"' not in page
    fake = DeviceClientFactory(name="Microsoft Teams", registration_method="dynamic")
    page = enter(browser, started(api, fake)["user_code"]).content.decode()
    assert 'class="notice unverified"' in page


@pytest.mark.req("8628-5.1-user-code-rate-limit")
def test_user_code_guessing_is_throttled_per_address_across_accounts(api, device_client):
    """Guesses spread over many accounts at one address are held by the address's count
    (``address_failures``, 20 per 5 minutes); one account spending its own 5 there locks
    nobody else at that address (an office, a campus, a carrier's NAT) out."""
    FrozenClock()
    live = started(api, device_client)
    for _ in range(5):
        assert enter(logged_in("prankster"), "BCDFG-HJKLM").status_code == 400
    assert enter(logged_in("colleague"), started(api, device_client)["user_code"]).status_code == 200
    for i in range(15):
        assert enter(logged_in(f"sybil{i}"), "BCDFG-HJKLM").status_code == 400
    # twenty wrong codes from the address: a fresh account there is throttled, another address is not
    assert enter(logged_in("sybil99"), live["user_code"]).status_code == 429
    elsewhere = logged_in("honest", REMOTE_ADDR="203.0.113.9")
    assert enter(elsewhere, live["user_code"]).status_code == 200


def test_the_throttle_can_be_tuned(api, device_client, settings):
    settings.OAUTH_PROVIDER = oauth_settings(DEVICE_USER_CODE_THROTTLE={"failures": 2, "window": 60})
    guesser = logged_in("tuned")
    assert [enter(guesser, "BCDFG-HJKLM").status_code for _ in range(3)] == [400, 400, 429]


def test_the_device_pages_in_french(api, device_client, settings):
    middleware = list(settings.MIDDLEWARE)
    middleware.insert(middleware.index("django.contrib.sessions.middleware.SessionMiddleware") + 1,
                      "django.middleware.locale.LocaleMiddleware")
    settings.MIDDLEWARE = middleware
    browser = logged_in("amelie", HTTP_ACCEPT_LANGUAGE="fr")
    with translation.override("en"):  # the middleware activates French in this thread: undo it after
        assert "Connecter un appareil" in browser.get(VERIFICATION).content.decode()
        flow = started(api, device_client)
        page = enter(browser, flow["user_code"]).content.decode()
        assert "C’est un appareil qui le demande, pas ce navigateur." in page and 'lang="fr"' in page
        assert "Appareil connecté" in decide(browser, enter(browser, flow["user_code"])).content.decode()
        assert "Ce code n’a pas été reconnu." in enter(browser, "BCDFG-HJKLM").content.decode()


def test_a_client_deactivated_after_the_code_was_entered_cannot_be_approved(api, browser, device_client):
    flow = started(api, device_client)
    page = enter(browser, flow["user_code"])
    type(device_client).objects.filter(pk=device_client.pk).update(is_active=False)
    refused = decide(browser, page)
    assert refused.status_code == 403 and b"Device connected" not in refused.content
    assert row(flow).status == "pending"


def _device_setup():
    from django.test import Client as HttpClient

    from tests.support.factories import DeviceClientFactory, UserFactory

    client = DeviceClientFactory(name="TV")
    browser = HttpClient()
    browser.force_login(UserFactory(username="viewer"))
    return HttpClient(), client, browser


def test_the_code_of_a_deactivated_device_client_opens_no_consent_page():
    """A disabled client's pending code: refused as unknown when typed, never claimed, no
    consent page naming the client (device.py enter: ``not device.client.is_active``)."""
    from oauth_provider.models import DeviceCode
    from tests.support.device_helpers import enter, started

    api, client, browser = _device_setup()
    flow = started(api, client)
    type(client).objects.filter(pk=client.pk).update(is_active=False)
    r = enter(browser, flow["user_code"])
    assert r.status_code == 400 and b"was not recognised" in r.content
    assert b"device_request" not in r.content
    assert DeviceCode.objects.by_device_code(flow["device_code"]).get().user is None


def test_a_device_consent_post_without_the_allow_button_approves_nothing():
    """Only an explicit "allow" approves (the code flow's consent form has the same rule and
    test: test_consent.py, a POST with the blob alone)."""
    from oauth_provider.models import DeviceCode
    from tests.support.device_helpers import VERIFICATION, enter, started
    from tests.support.device_helpers import consent_blob as device_blob

    api, client, browser = _device_setup()
    flow = started(api, client)
    page = enter(browser, flow["user_code"])
    assert page.status_code == 200
    browser.post(VERIFICATION, {"device_request": device_blob(page.content.decode())})
    assert DeviceCode.objects.by_device_code(flow["device_code"]).get().status != "approved"


def test_client_auth_failures_do_not_throttle_user_code_entry():
    """The user-code throttle counts apart from client authentication's: failed client
    authentications at a shared address (a NAT, the reverse proxy) lock nobody out of the page."""
    from tests.conftest import basic_auth
    from tests.support.device_helpers import enter, started
    from tests.support.factories import ClientFactory, DeviceClientFactory, UserFactory
    from tests.support.token_helpers import post_form

    CC = {"grant_type": "client_credentials", "scope": "read"}
    live = started(HttpClient(), DeviceClientFactory())
    victim = ClientFactory()
    for _ in range(10):  # anyone at the shared address (a NAT, the reverse proxy) fails 10 times
        assert post_form(HttpClient(), CC, HTTP_AUTHORIZATION=basic_auth(victim.client_id, "wrong")).status_code == 401
    honest = HttpClient()
    honest.force_login(UserFactory(username="honest"))
    assert enter(honest, live["user_code"]).status_code == 200

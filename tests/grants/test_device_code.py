"""The device authorization grant at the token endpoint (RFC 8628 §3.4-3.5): polling states,
slow_down, single use, client binding, the tokens and the query budget of a pending poll."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient

from oauth_provider.models import AccessToken, Authorization, DeviceCode
from oauth_provider.models import RefreshToken as RefreshTokenRow
from tests.support.device_helpers import approve, credentials, decide, enter, poll, started
from tests.support.factories import DEVICE_GRANT, ClientFactory, DeviceClientFactory, UserFactory
from tests.support.token_helpers import FrozenClock, access_token_row, assert_error, assert_no_store, post_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return HttpClient()


@pytest.fixture
def device_client(db):
    return DeviceClientFactory(name="Living-room TV")


@pytest.fixture
def other_device_client(db):
    return DeviceClientFactory(name="Kitchen radio")


def poll_error(api, client, device_code, error, status=400):
    response = poll(api, client, device_code)
    return assert_device_error(response, error, status)


def assert_device_error(response, error, status=400):
    """An RFC 8628 §3.5 error: JSON, no tokens, no-store."""
    assert response.status_code == status, (response.status_code, response.content)
    body = response.json()
    assert body["error"] == error, body
    assert "access_token" not in body
    assert_no_store(response)
    return body


@pytest.mark.req("8628-3.5-error-states")
def test_pending_until_the_user_decides_then_tokens(api, browser, user, device_client):
    clock = FrozenClock()
    flow = started(api, device_client, scope="read")
    assert_device_error(poll(api, device_client, flow["device_code"]), "authorization_pending")
    approve(browser, flow["user_code"])
    clock.advance(flow["interval"])
    response = poll(api, device_client, flow["device_code"])
    assert response.status_code == 200, response.content
    assert_no_store(response)
    tokens = response.json()
    assert tokens["token_type"] == "Bearer" and tokens["scope"] == "read" and tokens["refresh_token"]
    row = access_token_row(tokens["access_token"])
    assert row.user == user and row.client == device_client
    assert row.authorization is not None and row.authorization.user == user


@pytest.mark.req("8628-3.4-client-bound")
def test_a_client_with_a_large_key_redeems_its_own_code(api, browser, user):
    """The code's client is compared by value: a key above CPython's small-integer cache is the
    same client too (an identity comparison refused it)."""
    client = DeviceClientFactory(pk=100_000, name="Hall display")
    clock = FrozenClock()
    flow = started(api, client, scope="read")
    approve(browser, flow["user_code"])
    clock.advance(flow["interval"])
    response = poll(api, client, flow["device_code"])
    assert response.status_code == 200, response.content
    assert access_token_row(response.json()["access_token"]).client == client


@pytest.mark.req("8628-3.5-error-states")
def test_denied_code_answers_access_denied_and_never_yields_tokens(api, browser, user, device_client):
    clock = FrozenClock()
    flow = started(api, device_client)
    page = enter(browser, flow["user_code"])
    done = decide(browser, page, allow=False)
    assert b"Device not connected" in done.content
    assert_device_error(poll(api, device_client, flow["device_code"]), "access_denied")
    # approving the same code from another tab afterwards changes nothing
    again = enter(browser, flow["user_code"])
    assert again.status_code == 400 and b"already been used" in again.content
    clock.advance(60)
    assert_device_error(poll(api, device_client, flow["device_code"]), "access_denied")
    assert AccessToken.objects.count() == 0


@pytest.mark.req("8628-3.5-error-states")
@pytest.mark.req("8628-5.4-short-lifetime")
def test_expired_code_answers_expired_token(api, browser, device_client):
    clock = FrozenClock()
    flow = started(api, device_client)
    assert flow["expires_in"] <= 600
    clock.advance(flow["expires_in"] + 1)
    assert_device_error(poll(api, device_client, flow["device_code"]), "expired_token")
    page = enter(browser, flow["user_code"])
    assert page.status_code == 400 and b"expired" in page.content


@pytest.mark.req("8628-3.5-error-states")
def test_approved_then_expired_before_the_poll_gives_no_tokens(api, browser, device_client):
    clock = FrozenClock()
    flow = started(api, device_client)
    approve(browser, flow["user_code"])
    clock.advance(flow["expires_in"] + 1)
    assert_device_error(poll(api, device_client, flow["device_code"]), "expired_token")
    assert AccessToken.objects.count() == 0


@pytest.mark.req("8628-3.5-error-states")
def test_unknown_or_missing_device_code(api, device_client):
    unknown = assert_error(poll(api, device_client, "x" * 43), "invalid_grant")
    assert unknown["error_description"] == "The device code is invalid or was issued to another client."
    response = poll(api, device_client, "")  # empty counts as omitted
    assert assert_error(response, "invalid_request")["error_description"] == "The device_code parameter is required."


@pytest.mark.req("8628-3.5-slow-down")
def test_slow_down_raises_the_interval_by_five_seconds_for_good(api, device_client):
    """interval=5: t=0 pending, t=1 slow_down (now 10), t=6 slow_down (now 15), t=21 pending."""
    clock = FrozenClock()
    flow = started(api, device_client)
    other = started(api, device_client)
    assert flow["interval"] == 5
    seen = []
    for wait in (0, 1, 5, 15):  # t = 0, 1, 6, 21
        clock.advance(wait)
        seen.append(poll(api, device_client, flow["device_code"]).json()["error"])
    assert seen == ["authorization_pending", "slow_down", "slow_down", "authorization_pending"]
    device = DeviceCode.objects.by_device_code(flow["device_code"]).get()
    assert device.interval_seconds == 15
    # the counter is per device code: a second device polling once is unaffected
    assert_device_error(poll(api, device_client, other["device_code"]), "authorization_pending")
    assert DeviceCode.objects.by_device_code(other["device_code"]).get().interval_seconds == 5


def test_the_poll_told_to_slow_down_is_the_one_the_interval_counts_from(api, device_client):
    """RFC 8628 §3.5: t=0 pending; t=1 slow_down (interval 10 from now on); t=10 is nine
    seconds after the last poll, too soon again, though ten after the first."""
    clock = FrozenClock()
    flow = started(api, device_client)
    seen = []
    for wait in (0, 1, 9):  # t = 0, 1, 10
        clock.advance(wait)
        seen.append(poll(api, device_client, flow["device_code"]).json()["error"])
    assert seen == ["authorization_pending", "slow_down", "slow_down"]


@pytest.mark.req("8628-3.4-client-bound")
@pytest.mark.parametrize("registered_first", ["the code's client", "the other client"])
def test_device_code_is_bound_to_its_client(api, browser, device_client, other_device_client, registered_first):
    """Another client never redeems the code, approved or not, whichever of the two was
    registered first (the check compares the two clients' keys)."""
    if registered_first == "the other client":
        device_client, other_device_client = other_device_client, device_client
    clock = FrozenClock()
    flow = started(api, device_client)
    assert_error(poll(api, other_device_client, flow["device_code"]), "invalid_grant")
    approve(browser, flow["user_code"])
    assert_error(poll(api, other_device_client, flow["device_code"]), "invalid_grant")
    clock.advance(5)
    assert poll(api, device_client, flow["device_code"]).status_code == 200


@pytest.mark.req("8628-3.4-client-bound")
def test_a_confidential_device_client_must_authenticate_to_poll(api, browser):
    confidential = ClientFactory(grant_types=f"{DEVICE_GRANT} refresh_token")
    flow = started(api, confidential)
    approve(browser, flow["user_code"])
    from tests.support.token_helpers import post_form

    body = {"grant_type": DEVICE_GRANT, "device_code": flow["device_code"], "client_id": confidential.client_id}
    assert_error(post_form(api, body), "invalid_client")
    FrozenClock().advance(10)
    assert poll(api, confidential, flow["device_code"]).status_code == 200


@pytest.mark.req("DERIVED-device-code-single-use")
def test_a_redeemed_device_code_is_refused_without_revoking_the_tokens(api, browser, device_client):
    clock = FrozenClock()
    flow = started(api, device_client)
    approve(browser, flow["user_code"])
    tokens = poll(api, device_client, flow["device_code"]).json()
    for wait in (0, 30):
        clock.advance(wait)
        refused = assert_error(poll(api, device_client, flow["device_code"]), "invalid_grant")
        assert refused["error_description"] == "The device code was already used."
    assert access_token_row(tokens["access_token"]).is_live()


def test_a_client_not_registered_for_the_grant_is_unauthorized(api, browser, device_client, public_client):
    flow = started(api, device_client)
    approve(browser, flow["user_code"])
    response = poll(api, public_client, flow["device_code"])
    assert_error(response, "unauthorized_client")


@pytest.mark.req("DERIVED-device-approval-owner")
def test_tokens_are_issued_for_the_user_who_approved(api, device_client):
    alice, mallory = UserFactory(username="alice2"), UserFactory(username="mallory")
    browsers = {}
    for person in (alice, mallory):
        browsers[person] = HttpClient()
        browsers[person].force_login(person)
    FrozenClock()
    flow = started(api, device_client)
    approve(browsers[alice], flow["user_code"])
    tokens = poll(api, device_client, flow["device_code"]).json()
    assert access_token_row(tokens["access_token"]).user == alice
    assert Authorization.objects.get().user == alice


def test_a_user_deactivated_after_approval_gets_no_tokens(api, browser, user, device_client):
    FrozenClock()
    flow = started(api, device_client)
    approve(browser, flow["user_code"])
    user.is_active = False
    user.save()
    refused = assert_error(poll(api, device_client, flow["device_code"]), "invalid_grant")
    assert refused["error_description"] == "The resource owner is no longer active."


def test_openid_device_flow_gets_an_id_token(api, browser, device_client, signing_key):
    FrozenClock()
    flow = started(api, device_client, scope="openid read")
    approve(browser, flow["user_code"])
    tokens = poll(api, device_client, flow["device_code"]).json()
    assert tokens["id_token"].count(".") == 2


def test_unticked_optional_scopes_are_not_granted(api, browser, device_client, settings):
    from tests.support.settings import oauth_settings

    settings.OAUTH_PROVIDER = oauth_settings(OPTIONAL_SCOPES=["write"])
    FrozenClock()
    flow = started(api, device_client, scope="read write")
    page = enter(browser, flow["user_code"])
    decide(browser, page, scope=["read"])
    tokens = poll(api, device_client, flow["device_code"]).json()
    assert tokens["scope"] == "read"


@pytest.mark.req("8628-3.5-error-states")
def test_a_pending_poll_costs_two_statements(api, device_client, assert_num_queries):
    FrozenClock()
    flow = started(api, device_client)
    with assert_num_queries(2):
        response = poll(api, device_client, flow["device_code"])
    assert response.json()["error"] == "authorization_pending"


def test_slow_down_and_redemption_budgets(api, browser, device_client, assert_max_queries):
    clock = FrozenClock()
    flow = started(api, device_client)
    poll(api, device_client, flow["device_code"])
    with assert_max_queries(4):
        assert poll(api, device_client, flow["device_code"]).json()["error"] == "slow_down"
    approve(browser, flow["user_code"])
    clock.advance(30)
    with assert_max_queries(7):
        assert poll(api, device_client, flow["device_code"]).status_code == 200


RS_A, RS_B = "https://rs-a.example/", "https://rs-b.example/"


@pytest.fixture
def two_resources(settings):
    from tests.support.settings import oauth_settings

    settings.OAUTH_PROVIDER = oauth_settings(RESOURCES={
        RS_A: {"name": "Notes API", "scopes": ["read"]},
        RS_B: {"name": "Photos API", "scopes": ["read", "write"]},
    })


def test_a_device_names_its_resource_and_the_token_is_bound_to_it(api, browser, device_client, two_resources):
    """RFC 8707 at the device authorization endpoint: the scope is narrowed to what the
    resource accepts, the consent page names it, the token's audience is it."""
    FrozenClock()
    flow = started(api, device_client, scope="read write", resource=RS_A)
    device = DeviceCode.objects.by_device_code(flow["device_code"]).get()
    assert (device.scope, device.resources) == ("read", RS_A)
    assert b"Notes API" in enter(browser, flow["user_code"]).content
    approve(browser, flow["user_code"])
    tokens = poll(api, device_client, flow["device_code"]).json()
    assert tokens["scope"] == "read"
    assert access_token_row(tokens["access_token"]).audience == RS_A
    # the grant stored is the approved one (what connected apps shows and a refresh is held to)
    device.refresh_from_db()
    family = Authorization.objects.get()
    assert (family.scope, family.resources, family.auth_time) == ("read", RS_A, device.auth_time)
    assert family.auth_time is not None
    refreshed = post_form(api, {**credentials(device_client)["data"], "grant_type": "refresh_token",
                                "refresh_token": tokens["refresh_token"], "scope": "read write"})
    assert_error(refreshed, "invalid_scope")


def test_resources_are_checked_when_asked_and_when_polled(api, browser, device_client, two_resources):
    from tests.support.device_helpers import start

    assert start(api, device_client, scope="read", resource="https://unknown.example/").json()["error"] == \
        "invalid_target"
    assert start(api, device_client, scope="read", resource="not a uri").json()["error"] == "invalid_target"
    FrozenClock()
    flow = started(api, device_client, scope="read", resource=RS_A)
    approve(browser, flow["user_code"])
    response = poll(api, device_client, flow["device_code"], resource=RS_B)
    assert response.json()["error"] == "invalid_target"
    assert poll(api, device_client, flow["device_code"], resource=RS_A).status_code == 200


def test_a_poll_naming_a_resource_the_policy_now_refuses_the_device_is_invalid_target(api, browser, settings):
    """As at the code exchange and the refresh: the resource a poll names is put to the host's
    policy again, with the polling client (a policy changed since the device asked wins)."""
    from tests.support.audience_urls import RESOURCES, SCOPES
    from tests.support.settings import oauth_settings

    settings.OAUTH_PROVIDER = oauth_settings(SCOPES=SCOPES, RESOURCES=RESOURCES,
                                             ADAPTER="tests.test_resource_indicators.OnlyResourceA")
    trusted = DeviceClientFactory(name="Trusted RP")
    FrozenClock()
    flow = started(api, trusted, scope="read", resource=RS_B)
    approve(browser, flow["user_code"])
    type(trusted).objects.filter(pk=trusted.pk).update(name="No longer trusted")
    trusted.refresh_from_db()
    assert_error(poll(api, trusted, flow["device_code"], resource=RS_B), "invalid_target")
    assert poll(api, trusted, flow["device_code"]).status_code == 200  # the code was not spent


def test_in_development_a_poll_may_name_the_default_resource_the_request_came_to(api, browser, device_client,
                                                                                 settings):
    """DEBUG with no ISSUER: the default resource is the origin the poll came to (not a 500)."""
    from tests.support.settings import oauth_settings

    settings.DEBUG = True
    settings.OAUTH_PROVIDER = oauth_settings(ISSUER=None, RESOURCE_IDENTIFIER=None,
                                             RESOURCES={"http://testserver": {"name": "The API", "scopes": ["read"]},
                                                        RS_A: {"name": "Notes API", "scopes": ["write"]}})
    FrozenClock()
    flow = started(api, device_client, scope="read write")
    approve(browser, flow["user_code"])
    r = poll(api, device_client, flow["device_code"], resource="http://testserver")
    assert r.status_code == 200, r.content
    assert r.json()["scope"] == "read"  # the default resource (the origin asked at) accepts read only
    assert access_token_row(r.json()["access_token"]).audience in ("", "http://testserver")


@pytest.mark.req("8707-2.1-grant-bound")
def test_a_poll_naming_no_resource_gets_the_devices_even_where_resources_are_required(
        api, browser, device_client, settings):
    """RFC 8707 §2.2: the token request may leave out ``resource``; the grant's resources then
    apply. ``REQUIRE_RESOURCE`` is for the request that starts a grant (here the device
    authorization request), not for redeeming it, as for a code or a refresh token."""
    from tests.support.settings import oauth_settings

    settings.OAUTH_PROVIDER = oauth_settings(REQUIRE_RESOURCE=True, RESOURCES={
        RS_A: {"name": "Notes API", "scopes": ["read"]},
    })
    FrozenClock()
    flow = started(api, device_client, scope="read", resource=RS_A)
    approve(browser, flow["user_code"])
    response = poll(api, device_client, flow["device_code"])
    assert response.status_code == 200, response.content
    assert access_token_row(response.json()["access_token"]).audience == RS_A


def test_no_refresh_token_for_a_device_client_not_registered_for_refresh(api, browser):
    """A refresh token needs the grant enabled here and registered for the client."""
    tv = DeviceClientFactory(name="Kiosk", grant_types=DEVICE_GRANT)
    flow = started(api, tv)
    approve(browser, flow["user_code"])
    FrozenClock().advance(10)
    body = poll(api, tv, flow["device_code"]).json()
    assert "access_token" in body and "refresh_token" not in body


@pytest.mark.req("9449-5-token-binding")
@pytest.mark.req("9449-5-public-rt-binding")
def test_a_device_polling_with_a_dpop_proof_gets_bound_tokens(api, browser, user, device_client):
    """RFC 9449 §5: the poll that yields the tokens carries the proof; the device is a public
    client, so its refresh token is bound to the key too."""
    from tests.support.dpop import DPoPKey

    key = DPoPKey("EC")
    clock = FrozenClock()
    flow = started(api, device_client, scope="read")
    approve(browser, flow["user_code"])
    clock.advance(flow["interval"])
    body = {"client_id": device_client.client_id, "grant_type": DEVICE_GRANT, "device_code": flow["device_code"]}
    response = post_form(api, body, HTTP_DPOP=key.proof("POST", "https://testserver/o/token/"))
    assert response.status_code == 200, response.content
    tokens = response.json()
    assert tokens["token_type"] == "DPoP"
    assert access_token_row(tokens["access_token"]).dpop_jkt == key.jkt
    assert RefreshTokenRow.objects.by_value(tokens["refresh_token"]).get().dpop_jkt == key.jkt


@pytest.mark.req("8628-5.1-user-code-entropy")
def test_a_colliding_user_code_is_redrawn_up_to_five_times_then_the_error_shows(device_client, monkeypatch):
    """RFC 8628 §6.1: a user code names one pending authorization. One that collides with a
    stored code (2^-43 odds) is drawn again, up to five times in all (``USER_CODE_ATTEMPTS``);
    the code handed out is always the one stored, and a sixth collision is not papered over."""
    from django.db import IntegrityError

    from oauth_provider import issuing, secrets

    def draws(*codes):
        sequence = iter(codes)
        monkeypatch.setattr(secrets, "generate_user_code", lambda: next(sequence))

    draws("BCDFG-HJKLM")
    issuing.issue_device_code(client=device_client, scope="read")  # BCDFG-HJKLM is taken now
    for collisions, fresh in ((1, "BCDFG-HJKLN"), (4, "BCDFG-HJKLP")):
        draws(*["BCDFG-HJKLM"] * collisions, fresh)
        raw, user_code, row = issuing.issue_device_code(client=device_client, scope="read")
        assert user_code == fresh
        stored = DeviceCode.objects.get(pk=row.pk)
        assert stored.device_code_hash == secrets.hash_token(raw)
        assert stored.user_code_hash == secrets.user_code_digest(secrets.normalize_user_code(fresh))
    draws(*["BCDFG-HJKLM"] * 5, "BCDFG-HJKLQ")
    with pytest.raises(IntegrityError):
        issuing.issue_device_code(client=device_client, scope="read")
    assert DeviceCode.objects.count() == 3
    # the last attempt is the constant's, whatever it is (an even count too: "attempt ==
    # ATTEMPTS ^ 1" is the same test as "- 1" only for odd counts, and then handed out an
    # unstored code)
    monkeypatch.setattr(issuing, "USER_CODE_ATTEMPTS", 2)
    draws(*["BCDFG-HJKLM"] * 2, "BCDFG-HJKLR")
    with pytest.raises(IntegrityError):
        issuing.issue_device_code(client=device_client, scope="read")
    assert DeviceCode.objects.count() == 3


def test_without_a_signing_key_the_device_code_is_kept_and_works_once_one_exists(api, browser, user):
    """A JWT-access-token device client and no key to sign with (``rotatekeys`` never ran): the
    poll answers 503 ``temporarily_unavailable`` before the device code is spent, so the same
    device gets its tokens once a key exists; ``token_issued`` then names the device grant."""
    from django.core.management import call_command

    from oauth_provider.models import SigningKey
    from oauth_provider.signals import token_issued

    SigningKey.objects.all().delete()
    client = DeviceClientFactory(name="Hall display", access_token_format="jwt")
    clock = FrozenClock()
    flow = started(api, client, scope="read")
    approve(browser, flow["user_code"])
    clock.advance(flow["interval"])
    assert_device_error(poll(api, client, flow["device_code"]), "temporarily_unavailable", 503)
    assert DeviceCode.objects.get().consumed_at is None
    call_command("rotatekeys", "--now")
    seen: list[str] = []
    token_issued.connect(receiver := lambda sender, grant_type, **kw: seen.append(grant_type))
    try:
        clock.advance(flow["interval"])
        response = poll(api, client, flow["device_code"])
    finally:
        token_issued.disconnect(receiver)
    assert response.status_code == 200, response.content
    assert access_token_row(response.json()["access_token"]).user == user
    assert seen == [DEVICE_GRANT]

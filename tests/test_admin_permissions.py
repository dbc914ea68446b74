"""The admin's actions need the change permission, and a client that stops using a secret
loses it for good (an outside-style review found no test holding either)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client as HttpClient

from oauth_provider.models import SigningKey, get_client_model
from tests.support.admin_pages import url
from tests.support.factories import ClientFactory, PublicClientFactory

pytestmark = pytest.mark.django_db
Client = get_client_model()
SECRET_IN_PAGE = re.compile(r"<code>([A-Za-z0-9_-]{43})</code>")


def test_view_only_staff_cannot_mint_a_clients_secret(viewer):
    client = ClientFactory()
    before = Client.objects.get(pk=client.pk).client_secret_hash
    r = viewer.post(url(Client, "changelist"),
                    {"action": "generate_new_secret", "_selected_action": [str(client.pk)]})
    assert not SECRET_IN_PAGE.findall(r.content.decode())
    assert Client.objects.get(pk=client.pk).client_secret_hash == before
    assert Client.objects.get(pk=client.pk).check_secret(client.raw_secret)


def test_view_only_staff_cannot_deactivate_or_revoke(viewer):
    client = ClientFactory()
    for action in ("deactivate", "revoke_all_tokens"):
        viewer.post(url(Client, "changelist"), {"action": action, "_selected_action": [str(client.pk)]})
    assert Client.objects.get(pk=client.pk).is_active


def test_view_only_staff_cannot_rotate_signing_keys(viewer):
    from oauth_provider import keys

    keys.create_key("RS256", prepublish=False)
    count = SigningKey.objects.count()
    viewer.post(url(SigningKey, "changelist"), {"action": "rotate"})
    assert SigningKey.objects.count() == count


def test_a_client_made_public_in_the_admin_loses_its_secret_for_good(admin_browser):
    client = ClientFactory(redirect_uris="https://rp.example/cb")
    old = client.raw_secret
    form = {"name": client.name, "client_type": "public", "token_endpoint_auth_method": "none",
            "redirect_uris": "https://rp.example/cb", "grant_types": ["authorization_code", "refresh_token"],
            "is_active": "on", "owner": ""}
    r = admin_browser.post(url(Client, "change", client.pk), form)
    assert r.status_code == 302, r.content[:1500]
    assert Client.objects.get(pk=client.pk).client_secret_hash == ""
    # made confidential again: a new secret, the old one stays dead
    r = admin_browser.post(url(Client, "change", client.pk),
                           {**form, "client_type": "confidential", "token_endpoint_auth_method": "client_secret_basic"})
    assert r.status_code == 200 and SECRET_IN_PAGE.findall(r.content.decode())
    assert not Client.objects.get(pk=client.pk).check_secret(old)


@pytest.fixture
def bare_staff(db) -> HttpClient:
    """Staff (may open the admin) with no permission at all."""
    c = HttpClient()
    c.force_login(get_user_model().objects.create_user("bare", "bare@example.com", "pw", is_staff=True))
    return c


def _pending_delivery():
    from datetime import timedelta

    from oauth_provider import secrets
    from oauth_provider.models import LogoutDelivery

    rp = ClientFactory(backchannel_logout_uri="https://rp.example/logout")
    later = secrets.now() + timedelta(hours=1)
    row = LogoutDelivery.objects.create(client=rp, issuer="https://testserver/o", subject="42",
                                        session_id="sid-of-someone", next_attempt_at=later, attempts=1)
    return row, later


def test_logout_deliveries_are_for_staff_allowed_to_see_or_change_them(bare_staff, viewer, monkeypatch):
    """The deliveries list shows whom each logout was about (their ``sub``) and the relying
    parties' errors; "Send now" makes this server post to the relying parties. Staff with no
    permission on deliveries see neither; staff who may only view them see the list and
    cannot send."""
    from oauth_provider.models import LogoutDelivery

    sent = []
    monkeypatch.setattr("oauth_provider.oidc.logout.deliver",
                        lambda ids, now=None: sent.append(list(ids)) or {"delivered": 1, "retried": 0, "failed": 0})
    row, later = _pending_delivery()
    assert bare_staff.get(url(LogoutDelivery, "changelist")).status_code == 403
    listing = viewer.get(url(LogoutDelivery, "changelist"))
    assert listing.status_code == 200 and row.client.name in listing.content.decode()
    for browser in (bare_staff, viewer):
        browser.post(url(LogoutDelivery, "changelist"), {"action": "send_now", "_selected_action": [str(row.pk)]})
    row.refresh_from_db()
    assert sent == [] and row.next_attempt_at == later


def test_staff_who_may_change_deliveries_send_them_now(admin_browser, monkeypatch):
    from oauth_provider.models import LogoutDelivery

    sent = []
    monkeypatch.setattr("oauth_provider.oidc.logout.deliver",
                        lambda ids, now=None: sent.append(list(ids)) or {"delivered": 1, "retried": 0, "failed": 0})
    row, _later = _pending_delivery()
    admin_browser.post(url(LogoutDelivery, "changelist"), {"action": "send_now", "_selected_action": [str(row.pk)]})
    assert sent == [[row.pk]]
    assert admin_browser.get(url(LogoutDelivery, "change", row.pk)).status_code == 200  # read-only record


def test_a_revoked_initial_access_token_stays_revoked_and_its_limits_stay_as_made(admin_browser):
    """Revoking is final, and what a token may do is set by ``createregistrationtoken``: the
    change form cannot clear ``revoked_at`` nor raise ``uses_left`` or move ``expires_at``."""
    from oauth_provider.models import InitialAccessToken

    row, _raw = InitialAccessToken.objects.create_token(uses=1, description="partner")
    InitialAccessToken.objects.filter(pk=row.pk).revoke()
    revoked_at = InitialAccessToken.objects.get(pk=row.pk).revoked_at
    answer = admin_browser.post(url(InitialAccessToken, "change", row.pk), {
        "description": "renamed", "expires_at_0": "2099-01-01", "expires_at_1": "00:00:00", "uses_left": "1000",
        "revoked_at_0": "", "revoked_at_1": ""})
    assert answer.status_code == 302
    row.refresh_from_db()
    assert (row.description, row.uses_left, row.expires_at, row.revoked_at) == ("renamed", 1, None, revoked_at)
    assert not row.is_usable()


def test_no_admin_page_shows_a_clients_secret_hash(viewer, admin_browser):
    """Whether a client has a secret, never the stored hash: an imported django-oauth-toolkit
    secret is a password hash of what a person may have chosen."""
    from django.contrib.auth.hashers import make_password

    made = ClientFactory()
    imported = ClientFactory()
    Client.objects.filter(pk=imported.pk).update(client_secret_hash=make_password("summer2024"))
    public = PublicClientFactory()
    for browser in (viewer, admin_browser):
        for client, shown in ((made, "only its SHA-256 digest"), (imported, "imported"), (public, "none")):
            page = browser.get(url(Client, "change", client.pk)).content.decode()
            stored = Client.objects.get(pk=client.pk).client_secret_hash
            assert shown in page
            assert not stored or stored not in page
            assert not stored or stored[-20:] not in page

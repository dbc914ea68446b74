"""The consent rules of ``oauth_provider.models.consents``: the remembered decision is the
user's last word (issue 12 item 1), and withdrawing a client kills everything it holds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from oauth_provider import secrets
from oauth_provider.models import AccessToken, Authorization, Consent
from oauth_provider.models.consents import connected_apps
from tests.support.factories import (
    AccessTokenFactory,
    AuthorizationFactory,
    ClientFactory,
    ConsentFactory,
    RefreshTokenFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def test_remember_creates_the_decision():
    user, client = UserFactory(), ClientFactory()
    consent = Consent.objects.remember(user, client, ["read", "write"])
    assert consent.scope == "read write" and consent.covers(["write"])


def test_remember_adds_what_was_granted_and_drops_what_was_declined():
    consent = ConsentFactory(scope="read profile")
    updated = Consent.objects.remember(consent.user, consent.client, ["read", "email"], declined=["profile"])
    assert updated.scope.split() == ["read", "email"]
    consent.refresh_from_db()
    assert consent.scope.split() == ["read", "email"]


def test_remember_keeps_scopes_the_request_did_not_mention():
    consent = ConsentFactory(scope="read write")
    Consent.objects.remember(consent.user, consent.client, ["read"])
    consent.refresh_from_db()
    assert consent.covers(["read", "write"])


def test_remember_with_the_row_already_read_writes_only_a_change(django_assert_num_queries):
    consent = ConsentFactory(scope="read")
    with django_assert_num_queries(0):
        Consent.objects.remember(consent.user, consent.client, ["read"], current=consent)
    with django_assert_num_queries(1):
        Consent.objects.remember(consent.user, consent.client, ["write"], current=consent)
    # the same decision again, rebuilt as a new string from several scopes: still no write
    # (compared by value: with two scopes the joined text is never the stored object itself)
    updated_at = consent.updated_at
    with django_assert_num_queries(0):
        Consent.objects.remember(consent.user, consent.client, ["write", "read"], current=consent)
    assert consent.scope == "read write" and consent.updated_at == updated_at


def test_forget_deletes_only_that_users_decision_for_that_client():
    consent = ConsentFactory()
    other_user = ConsentFactory(client=consent.client)
    other_client = ConsentFactory(user=consent.user)
    assert Consent.objects.forget(consent.user, consent.client) == 1
    assert set(Consent.objects.all()) == {other_user, other_client}
    assert Consent.objects.forget(consent.user, consent.client) == 0


def test_revoke_client_forgets_and_revokes_every_grant_and_token_of_that_client_for_that_user():
    user, client = UserFactory(), ClientFactory()
    ConsentFactory(user=user, client=client)
    family = AuthorizationFactory(user=user, client=client)
    in_family = AccessTokenFactory(user=user, client=client, authorization=family)
    loose = AccessTokenFactory(user=user, client=client, authorization=None)
    other_users = AccessTokenFactory(client=client)
    other_clients = AccessTokenFactory(user=user)
    now = secrets.now()
    Consent.objects.revoke_client(user, client, now)
    assert not Consent.objects.filter(user=user, client=client).exists()
    assert Authorization.objects.get(pk=family.pk).revoked_at == now
    live = set(AccessToken.objects.live(now))
    assert in_family not in live and loose not in live
    assert {other_users, other_clients} <= live


# -- the connected-apps page: what each client holds, shown to the user (RFC 6819 §5.2.4.1) ----
def test_connected_apps_lists_exactly_the_scopes_granted_registered_ones_first():
    """The page must not claim an app holds scopes it was never granted (nor list one twice):
    registered scopes in their registered order, then any other scope it holds, sorted."""
    consent = ConsentFactory(scope="write legacy read")
    [app] = connected_apps(consent.user)
    assert app.scopes == [("read", "Read your data"), ("write", "Change your data"), ("legacy", "legacy")]


def test_connected_apps_says_when_access_was_first_granted():
    """"Access granted" is the earliest of the remembered consent and the live grants: a token
    issued before the consent was remembered, then a newer family holding a refresh token."""
    user, client = UserFactory(), ClientFactory()
    now = secrets.now()
    consent = ConsentFactory(user=user, client=client)
    Consent.objects.filter(pk=consent.pk).update(created_at=now - timedelta(days=1))
    first = AccessTokenFactory(user=user, client=client, authorization=None, created_at=now - timedelta(days=3))
    family = AuthorizationFactory(user=user, client=client, created_at=now - timedelta(days=2))
    RefreshTokenFactory(authorization=family)
    [app] = connected_apps(user, now)
    assert app.granted_at == first.created_at and app.last_token_at == first.created_at


def test_connected_apps_shows_only_the_users_own_last_use():
    """When another user of the same app got a token is not this user's business: "last used"
    is when the app last got a token for this user."""
    user, client = UserFactory(), ClientFactory()
    now = secrets.now()
    own = AccessTokenFactory(user=user, client=client, authorization=None, created_at=now - timedelta(days=3))
    AccessTokenFactory(user=UserFactory(), client=client, authorization=None, created_at=now - timedelta(hours=1))
    [app] = connected_apps(user, now)
    assert app.last_token_at == own.created_at


def test_connected_apps_keeps_the_consent_date_of_an_app_holding_no_token():
    """An app listed only for its remembered consent keeps that consent's date, beside an app
    listed only for its token."""
    user = UserFactory()
    now = secrets.now()
    consent = ConsentFactory(user=user)
    Consent.objects.filter(pk=consent.pk).update(created_at=now - timedelta(days=5))
    token = AccessTokenFactory(user=user, authorization=None, created_at=now - timedelta(days=1))
    apps = connected_apps(user, now)
    assert [(a.client, a.granted_at, a.last_token_at) for a in apps] == [
        (token.client, token.created_at, token.created_at),
        (consent.client, now - timedelta(days=5), None),
    ]


def test_connected_apps_puts_the_most_recently_used_app_first():
    """Ordered by the last token issued, not by when access was first granted: an app granted
    long ago but used an hour ago comes before one granted and last used two days ago; an app
    that never had a token is placed by the date of its remembered consent."""
    user = UserFactory()
    now = secrets.now()
    old_friend = AccessTokenFactory(user=user, authorization=None, created_at=now - timedelta(days=10))
    AccessTokenFactory(user=user, client=old_friend.client, authorization=None, created_at=now - timedelta(hours=1))
    newcomer = AccessTokenFactory(user=user, authorization=None, created_at=now - timedelta(days=2))
    tokenless = ConsentFactory(user=user)
    Consent.objects.filter(pk=tokenless.pk).update(created_at=now - timedelta(days=1))
    apps = connected_apps(user, now)
    assert [(a.client, a.granted_at) for a in apps] == [
        (old_friend.client, now - timedelta(days=10)),
        (tokenless.client, now - timedelta(days=1)),
        (newcomer.client, now - timedelta(days=2)),
    ]


def test_connected_apps_never_lists_another_users_consents_or_grants():
    from oauth_provider.models.consents import connected_apps
    from tests.support.factories import AuthorizationFactory, ConsentFactory, RefreshTokenFactory

    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    consented = ClientFactory(name="Alices consented app")
    ConsentFactory(user=alice, client=consented)
    granted = ClientFactory(name="Alices refresh-only app")
    RefreshTokenFactory(authorization=AuthorizationFactory(user=alice, client=granted))
    assert {a.client.pk for a in connected_apps(alice)} == {consented.pk, granted.pk}
    assert connected_apps(bob) == []
    from django.test import Client as HttpClient

    browser = HttpClient()
    browser.force_login(bob)
    html = browser.get("/o/connected-apps/").content.decode()
    assert "Alices" not in html

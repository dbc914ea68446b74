"""The consent rules of ``oauth_provider.models.consents``: the remembered decision is the
user's last word (issue 12 item 1), and withdrawing a client kills everything it holds."""

from __future__ import annotations

import pytest

from oauth_provider import secrets
from oauth_provider.models import AccessToken, Authorization, Consent
from tests.support.factories import AccessTokenFactory, AuthorizationFactory, ClientFactory, ConsentFactory, UserFactory

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

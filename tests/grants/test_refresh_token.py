"""The refresh token grant (RFC 6749 §6, OAuth 2.1 §4.3, RFC 9700 §4.14.2): rotation with
reuse detection, client binding, scope rules, lifetimes and the grace period."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import override_settings

from oauth_provider import secrets
from oauth_provider.models import AccessToken, Authorization, RefreshToken
from oauth_provider.signals import refresh_token_reused, token_issued
from tests.support.factories import ClientFactory, PublicClientFactory
from tests.support.settings import override_oauth as provider
from tests.support.token_helpers import (
    FrozenClock,
    access_token_row,
    assert_error,
    family_of_access_token,
    post_form,
    refresh_token_row,
)

pytestmark = pytest.mark.django_db




def refresh(oauth, client, refresh_token: str, **extra: str):
    return oauth.token(client, {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra})


def refreshed(oauth, client, refresh_token: str, **extra: str) -> dict:
    r = refresh(oauth, client, refresh_token, **extra)
    assert r.status_code == 200, r.content
    return r.json()


@pytest.fixture
def reused():
    seen: list[dict] = []

    def receiver(sender, **kwargs):
        seen.append({"sender": sender, **kwargs})

    refresh_token_reused.connect(receiver)
    yield seen
    refresh_token_reused.disconnect(receiver)


@pytest.fixture(params=["confidential", "public"])
def any_client(request, conf_client, public_client):
    return conf_client if request.param == "confidential" else public_client


# -- rotation and reuse detection -------------------------------------------------------------------


@pytest.mark.req("BCP-4.14.2-public-replay-detection")
def test_rotation_and_reuse_revokes_the_whole_family(oauth, any_client, reused):
    first = oauth.tokens(any_client)
    second = refreshed(oauth, any_client, first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    third = refreshed(oauth, any_client, second["refresh_token"])
    family = family_of_access_token(third["access_token"])
    assert family.revoked_at is None

    # the token rotated away two steps ago comes back: someone else holds a copy
    assert_error(refresh(oauth, any_client, first["refresh_token"]), "invalid_grant")

    family.refresh_from_db()
    assert family.revoked_at is not None
    for tokens in (first, second, third):
        assert not access_token_row(tokens["access_token"]).is_active()
        assert refresh_token_row(tokens["refresh_token"]).authorization_id == family.pk
    # the newest refresh token, never used, is dead too
    assert_error(refresh(oauth, any_client, third["refresh_token"]), "invalid_grant")
    assert len(reused) == 1
    assert reused[0]["client"] == any_client and reused[0]["authorization"].pk == family.pk
    assert reused[0]["sender"] is type(any_client)
    assert reused[0]["request"].POST["refresh_token"] == first["refresh_token"]  # the replaying request


def test_without_a_grace_period_the_next_refresh_token_is_random_not_derived(oauth, any_client):
    """The successor derived from the old token (an HMAC, so a retry in the grace period gets
    the same one) is only for a grace period; without one the new token is fresh randomness."""
    from oauth_provider.issuing import successor_of

    first = oauth.tokens(any_client)
    second = refreshed(oauth, any_client, first["refresh_token"])
    assert second["refresh_token"] != successor_of(first["refresh_token"])


def test_a_grace_successor_is_keyed_for_its_one_purpose_and_fixed_across_versions(settings):
    """The successor is HMAC-SHA256 of the old token under a key derived from SECRET_KEY for
    this purpose alone (another purpose's HMAC of the same text, such as a user code's, is
    another value), a 43-character b64token, and its derivation is fixed, so a client retrying
    across an upgrade inside the grace period still gets the successor that was stored."""
    import base64

    from django.utils.crypto import salted_hmac

    from oauth_provider.issuing import successor_of

    raw = "a-refresh-token-value"
    successor = successor_of(raw)
    expected = salted_hmac("oauth_provider.refresh-successor", raw, algorithm="sha256").digest()
    assert successor == base64.urlsafe_b64encode(expected).decode().rstrip("=") and len(successor) == 43
    assert successor != base64.urlsafe_b64encode(
        salted_hmac("oauth_provider.device-user-code", raw, algorithm="sha256").digest()).decode().rstrip("=")
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40
    assert successor_of(raw) != successor


def test_refresh_does_not_touch_other_families(oauth, conf_client):
    mine = oauth.tokens(conf_client)
    other = oauth.tokens(conf_client)
    refreshed(oauth, conf_client, mine["refresh_token"])
    assert_error(refresh(oauth, conf_client, mine["refresh_token"]), "invalid_grant")
    assert access_token_row(other["access_token"]).is_active()
    refreshed(oauth, conf_client, other["refresh_token"])


def test_missing_and_unknown_refresh_tokens(oauth, conf_client):
    assert_error(oauth.token(conf_client, {"grant_type": "refresh_token"}), "invalid_request")
    assert_error(refresh(oauth, conf_client, secrets.generate_token()), "invalid_grant")


def test_refresh_query_budget_and_signal(oauth, conf_client, user, assert_num_queries):
    from django.db import connection

    tokens = oauth.tokens(conf_client, scope="read write")
    seen: list[dict] = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)

    token_issued.connect(receiver)
    try:
        # client, token, UPDATE, the two new tokens (UPDATE and INSERTs one statement on PostgreSQL)
        with assert_num_queries(3 if connection.vendor == "postgresql" else 5):
            body = refreshed(oauth, conf_client, tokens["refresh_token"])
    finally:
        token_issued.disconnect(receiver)
    assert [(s["grant_type"], s["user"], s["client"], s["scope"]) for s in seen] == [
        ("refresh_token", user, conf_client, "read write")
    ]
    assert seen[0]["refresh_token"] == refresh_token_row(body["refresh_token"])


# -- binding to the client ----------------------------------------------------------------------------


@pytest.mark.req("O21-4.3-bound-to-client")
def test_refresh_token_of_one_confidential_client_is_useless_to_another(oauth, conf_client):
    other = ClientFactory()
    mine, theirs = oauth.tokens(conf_client), oauth.tokens(other)
    assert_error(refresh(oauth, other, mine["refresh_token"]), "invalid_grant")
    assert_error(refresh(oauth, conf_client, theirs["refresh_token"]), "invalid_grant")


@pytest.mark.req("O21-4.3-bound-to-client")
def test_refresh_token_of_one_public_client_is_useless_to_another(oauth, public_client):
    other = PublicClientFactory()
    tokens = oauth.tokens(public_client)
    r = post_form(oauth.api, {
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": other.client_id,
    })
    assert_error(r, "invalid_grant")



@pytest.mark.req("O21-4.3-bound-to-client")
def test_a_client_with_a_large_id_refreshes_its_own_token(oauth):
    """OAuth 2.1 §4.3: the token's client and the authenticated client are compared by value;
    ids beyond the small integers CPython caches are distinct objects even when equal."""
    client = ClientFactory(pk=100_000)
    tokens = oauth.tokens(client)
    refreshed(oauth, client, tokens["refresh_token"])

# -- scope ------------------------------------------------------------------------------------------


@pytest.mark.req("O21-4.3.1-no-scope-upgrade")
def test_narrower_scope_narrows_the_access_token_but_not_the_refresh_token(oauth, conf_client):
    tokens = oauth.tokens(conf_client, scope="read write")
    narrow = refreshed(oauth, conf_client, tokens["refresh_token"], scope="read")
    assert narrow["scope"] == "read"
    assert access_token_row(narrow["access_token"]).scope == "read"
    assert refresh_token_row(narrow["refresh_token"]).scope == "read write"
    # the rotated token still carries the original grant
    full = refreshed(oauth, conf_client, narrow["refresh_token"])
    assert set(full["scope"].split()) == {"read", "write"}


@pytest.mark.req("O21-4.3.1-no-scope-upgrade")
@pytest.mark.parametrize("scope", ["read write profile", "profile", "admin", "read admin"])
def test_wider_scope_is_invalid_scope(oauth, conf_client, scope):
    tokens = oauth.tokens(conf_client, scope="read write")
    assert_error(refresh(oauth, conf_client, tokens["refresh_token"], scope=scope), "invalid_scope")
    # a refused request does not rotate the token
    refreshed(oauth, conf_client, tokens["refresh_token"])


@pytest.mark.req("BCP-4.14.2-bound-to-consent")
def test_scopes_the_client_lost_are_dropped(oauth, conf_client):
    tokens = oauth.tokens(conf_client, scope="read write")
    type(conf_client).objects.filter(pk=conf_client.pk).update(allowed_scopes="read profile")
    body = refreshed(oauth, conf_client, tokens["refresh_token"])
    assert body["scope"] == "read"
    assert access_token_row(body["access_token"]).scope == "read"
    type(conf_client).objects.filter(pk=conf_client.pk).update(allowed_scopes="profile")
    assert_error(refresh(oauth, conf_client, body["refresh_token"]), "invalid_scope")


@pytest.mark.req("BCP-4.14.2-bound-to-consent")
def test_scopes_the_provider_no_longer_offers_are_dropped(oauth, conf_client):
    tokens = oauth.tokens(conf_client, scope="read write")
    with provider(SCOPES={"read": "Read your data"}):
        body = refreshed(oauth, conf_client, tokens["refresh_token"])
    assert body["scope"] == "read"


# -- the grant behind the token must still be active --------------------------------------------------


@pytest.mark.req("O21-4.3.1-grant-active")
def test_deactivated_user_is_invalid_grant(oauth, conf_client, user):
    tokens = oauth.tokens(conf_client)
    user.is_active = False
    user.save()
    assert_error(refresh(oauth, conf_client, tokens["refresh_token"]), "invalid_grant")


@pytest.mark.req("O21-4.3.1-grant-active")
def test_revoked_family_or_token_is_invalid_grant(oauth, conf_client):
    tokens = oauth.tokens(conf_client)
    Authorization.objects.all().revoke()
    assert_error(refresh(oauth, conf_client, tokens["refresh_token"]), "invalid_grant")

    tokens = oauth.tokens(conf_client)
    RefreshToken.objects.by_value(tokens["refresh_token"]).update(revoked_at=secrets.now())
    assert_error(refresh(oauth, conf_client, tokens["refresh_token"]), "invalid_grant")


def test_disabled_client_cannot_refresh(oauth, conf_client):
    tokens = oauth.tokens(conf_client)
    type(conf_client).objects.filter(pk=conf_client.pk).update(is_active=False)
    assert_error(refresh(oauth, conf_client, tokens["refresh_token"]), "invalid_client")


@pytest.mark.req("DERIVED-client-policy")
def test_client_without_the_refresh_grant_is_unauthorized_client(oauth, conf_client):
    tokens = oauth.tokens(conf_client)
    type(conf_client).objects.filter(pk=conf_client.pk).update(grant_types="authorization_code")
    assert_error(refresh(oauth, conf_client, tokens["refresh_token"]), "unauthorized_client")


# -- lifetimes -------------------------------------------------------------------------------------


@provider(REFRESH_TOKEN_LIFETIME=100)
def test_absolute_lifetime_counts_from_the_grant_and_rotation_does_not_extend_it(oauth, conf_client):
    clock = FrozenClock()
    granted_at = clock()
    tokens = oauth.tokens(conf_client)
    clock.advance(60)
    tokens = refreshed(oauth, conf_client, tokens["refresh_token"])
    assert refresh_token_row(tokens["refresh_token"]).expires_at == granted_at + timedelta(seconds=100)
    clock.advance(39)
    tokens = refreshed(oauth, conf_client, tokens["refresh_token"])
    clock.advance(2)  # 101 s after the grant
    assert_error(refresh(oauth, conf_client, tokens["refresh_token"]), "invalid_grant")


@pytest.mark.req("BCP-4.14.2-idle-expiry")
@provider(REFRESH_TOKEN_IDLE_TIMEOUT=60)
def test_idle_refresh_token_expires(oauth, conf_client):
    clock = FrozenClock()
    tokens = oauth.tokens(conf_client)
    for _ in range(3):  # each use inside the window keeps the family alive past 60 s in total
        clock.advance(59)
        tokens = refreshed(oauth, conf_client, tokens["refresh_token"])
    clock.advance(61)
    assert_error(refresh(oauth, conf_client, tokens["refresh_token"]), "invalid_grant")


@pytest.mark.req("BCP-4.14.2-idle-expiry")
@provider(REFRESH_TOKEN_IDLE_TIMEOUT=60, REFRESH_TOKEN_LIFETIME=100)
def test_idle_timeout_never_extends_the_absolute_lifetime(oauth, conf_client):
    clock = FrozenClock()
    tokens = oauth.tokens(conf_client)
    clock.advance(50)
    tokens = refreshed(oauth, conf_client, tokens["refresh_token"])
    clock.advance(51)  # inside the idle window, past the absolute deadline
    assert_error(refresh(oauth, conf_client, tokens["refresh_token"]), "invalid_grant")


# -- grace period -----------------------------------------------------------------------------------


@pytest.mark.req("BCP-4.14.2-public-replay-detection")
@provider(REFRESH_TOKEN_GRACE_PERIOD=10)
def test_grace_period_tolerates_one_retry_inside_the_window_only(oauth, any_client, reused):
    clock = FrozenClock()
    first = oauth.tokens(any_client)
    second = refreshed(oauth, any_client, first["refresh_token"])
    clock.advance(5)
    again = refreshed(oauth, any_client, first["refresh_token"])  # a concurrent client's retry
    # idempotent: the retry gets the same successor, never a second chain
    assert again["refresh_token"] == second["refresh_token"]
    # shaped as every token is: 43 base64url characters, no padding (RFC 6750 §2.1 b64token)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", second["refresh_token"]), second["refresh_token"]
    assert again["access_token"] != second["access_token"]
    family = family_of_access_token(again["access_token"])
    assert family.revoked_at is None and reused == []
    assert RefreshToken.objects.filter(authorization=family).count() == 2

    clock.advance(6)  # 11 s after the first rotation
    assert_error(refresh(oauth, any_client, first["refresh_token"]), "invalid_grant")
    family.refresh_from_db()
    assert family.revoked_at is not None and len(reused) == 1
    assert_error(refresh(oauth, any_client, second["refresh_token"]), "invalid_grant")


@provider(REFRESH_TOKEN_GRACE_PERIOD=10)
def test_a_retry_inside_the_grace_period_gets_the_users_token_in_its_grant(oauth, any_client, user):
    """The retry's access token is the same grant's as the first answer's: the user's (never one
    standing for the client alone), in the refresh token's family, announced as a refresh."""
    first = oauth.tokens(any_client, scope="read write")
    second = refreshed(oauth, any_client, first["refresh_token"], scope="read")
    seen: list[str] = []
    token_issued.connect(receiver := lambda sender, grant_type, **kw: seen.append(grant_type))
    try:
        again = refreshed(oauth, any_client, first["refresh_token"], scope="read")  # the lost answer's retry
    finally:
        token_issued.disconnect(receiver)
    assert again["refresh_token"] == second["refresh_token"]
    row = access_token_row(again["access_token"])
    family = family_of_access_token(first["access_token"])
    assert (row.user, row.client, row.authorization_id, row.scope) == (user, any_client, family.pk, "read")
    assert seen == ["refresh_token"]


@pytest.mark.req("BCP-4.14.2-public-replay-detection")
@provider(REFRESH_TOKEN_GRACE_PERIOD=60)
def test_a_second_replay_inside_the_window_is_reuse_and_revokes_the_family(oauth, any_client, reused):
    """Issue 12 item 2: one rotated token could mint any number of access tokens inside the
    window. Only one retry is honoured; the next presentation is reuse."""
    FrozenClock()
    first = oauth.tokens(any_client)
    second = refreshed(oauth, any_client, first["refresh_token"])
    refreshed(oauth, any_client, first["refresh_token"])
    assert_error(refresh(oauth, any_client, first["refresh_token"]), "invalid_grant")
    assert len(reused) == 1
    family = family_of_access_token(second["access_token"])
    assert family.revoked_at is not None
    assert_error(refresh(oauth, any_client, second["refresh_token"]), "invalid_grant")


@pytest.mark.req("BCP-4.14.2-public-replay-detection")
@provider(REFRESH_TOKEN_GRACE_PERIOD=60)
def test_a_thief_replaying_inside_the_window_after_the_client_moved_on_revokes_the_family(
    oauth, any_client, reused
):
    """Issue 12 item 2: a replay of a rotated token after its successor was used counts as
    reuse (the thief gets nothing, the family dies, the signal fires), instead of minting a
    new chain and revoking the legitimate client's successor."""
    clock = FrozenClock()
    stolen = oauth.tokens(any_client)["refresh_token"]
    legit = refreshed(oauth, any_client, stolen)
    legit_next = refreshed(oauth, any_client, legit["refresh_token"])  # the client moves on
    clock.advance(2)
    response = refresh(oauth, any_client, stolen)
    assert_error(response, "invalid_grant")
    assert "access_token" not in response.json()
    assert len(reused) == 1
    assert family_of_access_token(legit_next["access_token"]).revoked_at is not None


@pytest.mark.req("BCP-4.14.2-public-replay-detection")
@provider(REFRESH_TOKEN_GRACE_PERIOD=60)
def test_a_thief_replaying_first_shares_the_successor_and_the_second_user_of_it_revokes(
    oauth, any_client, reused
):
    """The thief replays before the client uses its successor: the thief gets the same
    successor, not a chain of its own. Once it has been redeemed, a redemption by the other
    party after the window is reuse, and the family (the thief's tokens too) dies."""
    clock = FrozenClock()
    stolen = oauth.tokens(any_client)["refresh_token"]
    legit = refreshed(oauth, any_client, stolen)
    thief = refreshed(oauth, any_client, stolen)
    assert thief["refresh_token"] == legit["refresh_token"]
    thief_next = refreshed(oauth, any_client, thief["refresh_token"])
    clock.advance(61)
    assert_error(refresh(oauth, any_client, legit["refresh_token"]), "invalid_grant")
    assert len(reused) == 1
    assert_error(refresh(oauth, any_client, thief_next["refresh_token"]), "invalid_grant")


@pytest.mark.req("BCP-4.14.2-public-replay-detection")
@provider(REFRESH_TOKEN_GRACE_PERIOD=60)
def test_a_thief_replaying_inside_the_grace_window_cannot_ride_the_chain(oauth, public_client, reused):
    """The thief replays the stolen token just after the client used it, inside the window, and
    gets the same successor: two holders. That successor has no grace of its own: once the
    client uses it, the thief's use of it (within the window of that rotation too) is reuse,
    and the family is revoked, as the thief's use of the stolen token would have been
    without a grace period. (Before, each link could be presented twice, so a thief refreshing
    just after the client shared every new token, never detected.)"""
    clock = FrozenClock()
    stolen = oauth.tokens(public_client)["refresh_token"]
    client_side = refreshed(oauth, public_client, stolen)
    thief_side = refreshed(oauth, public_client, stolen)  # inside the window: the same successor
    assert thief_side["refresh_token"] == client_side["refresh_token"]
    clock.advance(3000)
    client_side = refreshed(oauth, public_client, client_side["refresh_token"])
    clock.advance(30)
    assert_error(refresh(oauth, public_client, thief_side["refresh_token"]), "invalid_grant")
    assert family_of_access_token(client_side["access_token"]).revoked_at is not None and len(reused) == 1
    assert_error(refresh(oauth, public_client, client_side["refresh_token"]), "invalid_grant")


@pytest.mark.req("BCP-4.14.2-public-replay-detection")
@provider(REFRESH_TOKEN_GRACE_PERIOD=60)
def test_an_unshared_token_keeps_its_grace_for_a_concurrent_retry(oauth, public_client, reused):
    """A token handed out once keeps its grace: a client whose two tabs refresh the same token
    at once is not taken for a thief. The successor both tabs then hold was handed out twice:
    used once, its own successor is handed out once again and keeps its grace, link after link."""
    clock = FrozenClock()
    current = oauth.tokens(public_client)["refresh_token"]
    for _ in range(3):
        first = refreshed(oauth, public_client, current)
        clock.advance(2)
        assert refreshed(oauth, public_client, current)["refresh_token"] == first["refresh_token"]  # the other tab
        clock.advance(3000)
        current = refreshed(oauth, public_client, first["refresh_token"])["refresh_token"]
        clock.advance(3000)
    assert reused == []


def test_grace_period_never_forks_the_family(oauth, conf_client):
    """Found by review: two redemptions of one token inside the grace window gave two live
    successors, each rotating on its own with no reuse detection between them. Now both
    redemptions answer with one and the same successor."""
    from django.conf import settings as django_settings

    with override_settings(OAUTH_PROVIDER={**django_settings.OAUTH_PROVIDER, "REFRESH_TOKEN_GRACE_PERIOD": 30}):
        rt0 = oauth.tokens(conf_client)["refresh_token"]
        first = oauth.token(conf_client, {"grant_type": "refresh_token", "refresh_token": rt0})
        second = oauth.token(conf_client, {"grant_type": "refresh_token", "refresh_token": rt0})
        assert first.status_code == second.status_code == 200
        assert first.json()["refresh_token"] == second.json()["refresh_token"]
        family = family_of_access_token(first.json()["access_token"])
        assert RefreshToken.objects.filter(authorization=family).count() == 2
        refresh = {"grant_type": "refresh_token"}
        latest = oauth.token(conf_client, {**refresh, "refresh_token": second.json()["refresh_token"]})
        assert latest.status_code == 200


@pytest.mark.req("BCP-4.14.2-public-replay-detection")
@provider(REFRESH_TOKEN_GRACE_PERIOD=30)
def test_a_grace_retry_is_honoured_for_a_family_with_a_large_id(oauth, conf_client, reused):
    """RFC 9700 §4.14.2, with the grace period: the successor's family and the presented
    token's are compared by value. Ids beyond the small integers CPython caches are distinct
    objects even when equal, and an identity test turned every retry into reuse."""
    first = oauth.tokens(conf_client)
    family = family_of_access_token(first["access_token"])
    small = family.pk
    family.pk = 100_000  # move the family (and its tokens) to an id no cache holds
    family.save(force_insert=True)
    for model in (RefreshToken, AccessToken):
        model.objects.filter(authorization_id=small).update(authorization_id=family.pk)
    Authorization.objects.filter(pk=small).delete()

    second = refreshed(oauth, conf_client, first["refresh_token"])
    again = refreshed(oauth, conf_client, first["refresh_token"])
    assert again["refresh_token"] == second["refresh_token"]
    assert reused == []
    assert family_of_access_token(again["access_token"]).pk == 100_000


@pytest.mark.req("BCP-4.14.2-public-replay-detection")
@pytest.mark.parametrize("grace", [0, 10])
def test_a_refresh_that_loses_its_rotation_to_a_concurrent_one_stores_nothing(
    oauth, conf_client, reused, monkeypatch, grace
):
    """Two requests present one refresh token at once; the other wins the rotation between
    this request's lookup and its UPDATE (made deterministic by rotating the row, and storing
    the winner's successor, right after the lookup). This request's tokens must not be stored:
    without a grace period it is reuse (family revoked); with one it is a retry inside the
    window and gets the winner's successor, never a second chain (RFC 9700 §4.14.2)."""
    from oauth_provider.grants import refresh_token as grant
    from oauth_provider.issuing import refresh_expiry, successor_of

    first = oauth.tokens(conf_client)
    real_lookup = grant.refresh_token_by_value
    state = {"won": False}

    def lookup_then_lose_the_rotation(raw, **kwargs):
        row = real_lookup(raw, **kwargs)
        if not state["won"] and row is not None and row.rotated_at is None:
            state["won"] = True  # the other request rotates it and stores its successor
            now = secrets.now()
            RefreshToken.objects.filter(pk=row.pk).update(rotated_at=now)
            RefreshToken.objects.create(
                token_hash=secrets.hash_token(successor_of(raw)), authorization=row.authorization,
                scope=row.scope, created_at=now, expires_at=refresh_expiry(row.authorization, now),
            )
        return row

    monkeypatch.setattr(grant, "refresh_token_by_value", lookup_then_lose_the_rotation)
    with provider(REFRESH_TOKEN_GRACE_PERIOD=grace):
        r = refresh(oauth, conf_client, first["refresh_token"])
    family = family_of_access_token(first["access_token"])
    if grace:
        assert r.status_code == 200, r.content
        assert r.json()["refresh_token"] == successor_of(first["refresh_token"])
        assert family.revoked_at is None and reused == []
        assert RefreshToken.objects.filter(authorization=family).count() == 2  # no second chain
        assert AccessToken.objects.filter(authorization=family).count() == 2
    else:
        assert_error(r, "invalid_grant")
        assert family.revoked_at is not None and len(reused) == 1
        # the receiver is told which client and which request presented the lost token
        assert reused[0]["client"] == conf_client
        assert reused[0]["request"].POST["refresh_token"] == first["refresh_token"]
        assert RefreshToken.objects.filter(authorization=family).count() == 2  # the winner's only
        assert AccessToken.objects.filter(authorization=family).count() == 1


@pytest.mark.req("BCP-4.14.2-public-replay-detection")
def test_a_token_revoked_between_its_lookup_and_its_rotation_gets_nothing(oauth, conf_client, monkeypatch):
    """The rotating UPDATE wins only while the token is unrevoked: an admin's "Revoke" landing
    between this request's lookup and its UPDATE (made deterministic by revoking right after
    the lookup) leaves it ``invalid_grant`` with no new token, and the rest of the grant alone
    (a revoked token, not a reused one)."""
    from oauth_provider.grants import refresh_token as grant

    first = oauth.tokens(conf_client)
    real_lookup = grant.refresh_token_by_value

    def lookup_then_revoked(raw, **kwargs):
        row = real_lookup(raw, **kwargs)
        RefreshToken.objects.filter(pk=row.pk).revoke(secrets.now())
        return row

    monkeypatch.setattr(grant, "refresh_token_by_value", lookup_then_revoked)
    r = refresh(oauth, conf_client, first["refresh_token"])
    assert assert_error(r, "invalid_grant")["error_description"] == "The refresh token was revoked."
    assert AccessToken.objects.count() == 1 and RefreshToken.objects.count() == 1
    assert RefreshToken.objects.get().rotated_at is None
    assert Authorization.objects.live().count() == 1  # no reuse: the family was not revoked


@provider(REFRESH_TOKEN_GRACE_PERIOD=30)
def test_a_grace_replay_never_hands_back_a_revoked_successor(oauth, conf_client):
    """Inside the grace window the old token's replay answers with its successor, but only a
    live one: once the successor was revoked (the admin's "Revoke"), the replay gets nothing."""
    first = oauth.tokens(conf_client)
    second = refresh(oauth, conf_client, first["refresh_token"])
    assert second.status_code == 200, second.content
    RefreshToken.objects.by_value(second.json()["refresh_token"]).revoke(secrets.now())
    issued = AccessToken.objects.count()
    assert_error(refresh(oauth, conf_client, first["refresh_token"]), "invalid_grant")
    assert AccessToken.objects.count() == issued


@pytest.mark.parametrize(("case", "error", "description"), [
    ("no token", "invalid_request", "The refresh_token parameter is required."),
    ("unknown token", "invalid_grant", "The refresh token is invalid or was issued to another client."),
    ("other client", "invalid_grant", "The refresh token is invalid or was issued to another client."),
    ("reused", "invalid_grant", "The refresh token was already used; the grant has been revoked."),
    ("revoked", "invalid_grant", "The refresh token was revoked."),
    ("expired", "invalid_grant", "The refresh token has expired."),
    ("user inactive", "invalid_grant", "The resource owner is no longer active."),
    ("wider scope", "invalid_scope", "The requested scope exceeds the scope originally granted."),
    ("scopes withdrawn", "invalid_scope", "None of the granted scopes is still allowed for this client."),
])
def test_each_refused_refresh_says_why(oauth, conf_client, user, case, error, description):
    """RFC 6749 §5.2: each refusal's ``error_description`` names the rule the refresh broke."""
    clock = FrozenClock()
    tokens = oauth.tokens(conf_client, scope="read write")
    presented, client, extra = tokens["refresh_token"], conf_client, {}
    if case == "no token":
        r = oauth.token(conf_client, {"grant_type": "refresh_token"})
    else:
        if case == "unknown token":
            presented = "x" * 43
        elif case == "other client":
            client = ClientFactory()
        elif case == "reused":
            refreshed(oauth, conf_client, presented)
        elif case == "revoked":
            RefreshToken.objects.filter(authorization__client=conf_client).update(revoked_at=clock.current)
        elif case == "expired":
            clock.advance(timedelta(days=400).total_seconds())
        elif case == "user inactive":
            type(user).objects.filter(pk=user.pk).update(is_active=False)
        elif case == "wider scope":
            extra["scope"] = "read write profile"
        elif case == "scopes withdrawn":
            type(conf_client).objects.filter(pk=conf_client.pk).update(allowed_scopes="profile")
        r = refresh(oauth, client, presented, **extra)
    assert assert_error(r, error)["error_description"] == description

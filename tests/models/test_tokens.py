"""The token-state rules of ``oauth_provider.models.tokens``: for every state a code, access
token or refresh token can be in, the row's ``is_live(now)`` and the queryset's ``.live(now)``
agree, and ``.dead(now)`` (what cleanup deletes) never holds a row that could still matter."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import FieldDoesNotExist
from django.test import override_settings

from oauth_provider import secrets
from oauth_provider.models import AccessToken, Authorization, AuthorizationCode, RefreshToken, tokens
from tests.support.factories import (
    AccessTokenFactory,
    AuthorizationCodeFactory,
    AuthorizationFactory,
    ClientFactory,
    RefreshTokenFactory,
    UserFactory,
)

from ..support.settings import oauth_settings

pytestmark = pytest.mark.django_db

NOW = secrets.now()
PAST = NOW - timedelta(seconds=1)
SOON = NOW + timedelta(hours=1)


def _family(revoked=False, user_active=True, client_active=True, user=True):
    return AuthorizationFactory(
        revoked_at=PAST if revoked else None,
        user=UserFactory(is_active=user_active) if user else None,
        client=ClientFactory(is_active=client_active),
    )


# (description, factory kwargs builder, live?, dead?, reason)
ACCESS_STATES = [
    ("fresh", lambda: {}, True, False, None),
    ("expired", lambda: {"expires_at": PAST}, False, True, tokens.EXPIRED),
    ("expiring this instant", lambda: {"expires_at": NOW}, False, True, tokens.EXPIRED),
    ("revoked", lambda: {"revoked_at": PAST}, False, True, tokens.REVOKED),
    ("revoked and expired", lambda: {"revoked_at": PAST, "expires_at": PAST}, False, True, tokens.REVOKED),
    ("family revoked", lambda: {"authorization": _family(revoked=True)}, False, True, tokens.FAMILY_REVOKED),
    # both at once (a token revoked on its own, its family later): dead for either reason, not one alone
    ("revoked in a revoked family", lambda: {"revoked_at": PAST, "authorization": _family(revoked=True)}, False, True,
     tokens.REVOKED),
    ("client inactive", lambda: {"client": ClientFactory(is_active=False)}, False, False, tokens.CLIENT_INACTIVE),
    ("user inactive", lambda: {"user": UserFactory(is_active=False)}, False, False, tokens.USER_INACTIVE),
    ("client_credentials (no user)", lambda: {"user": None}, True, False, None),
    # client_credentials tokens belong to no family: the family's checks must not drop them
    ("no family", lambda: {"user": None, "authorization": None}, True, False, None),
    # RFC 8693: exchanged from, or with, a token of a deactivated client (the chain is walked)
    ("exchanged from a deactivated client's token",
     lambda: {"user": None, "authorization": None, "exchange_depth": 1, "subject_token": AccessTokenFactory(
         user=None, authorization=None, client=ClientFactory(is_active=False))}, False, False, tokens.CLIENT_INACTIVE),
    ("exchanged with a deactivated client's token as the actor",
     lambda: {"exchange_depth": 1, "actor_token": AccessTokenFactory(client=ClientFactory(is_active=False)),
              "subject_token": AccessTokenFactory()}, False, False, tokens.CLIENT_INACTIVE),
    ("exchanged from an active client's token", lambda: {"user": None, "authorization": None, "exchange_depth": 1,
                                                         "subject_token": AccessTokenFactory(user=None)},
     True, False, None),
    # only the chain's own clients count: another client deactivated elsewhere changes nothing
    ("exchanged from an active client's token beside a deactivated bystander",
     lambda: ClientFactory(is_active=False) and {"user": None, "authorization": None, "exchange_depth": 1,
                                                 "subject_token": AccessTokenFactory(user=None)},
     True, False, None),
]


@pytest.mark.parametrize(("label", "kwargs", "live", "dead", "reason"), ACCESS_STATES,
                         ids=[s[0] for s in ACCESS_STATES])
def test_access_token_state(label, kwargs, live, dead, reason):
    row = AccessTokenFactory(**kwargs())
    loaded = AccessToken.objects.select_related("client", "user", "authorization").get(pk=row.pk)
    assert loaded.dead_reason(NOW) == reason
    assert loaded.is_live(NOW) is live
    # the deprecated spelling, asked about the same moment (and a year on, when all have expired)
    assert loaded.is_active(NOW) is live and loaded.is_active(NOW + timedelta(days=365)) is False
    assert AccessToken.objects.live(NOW).filter(pk=row.pk).exists() is live
    assert AccessToken.objects.dead(NOW).filter(pk=row.pk).exists() is dead
    assert not (live and dead)


CODE_STATES = [
    ("fresh", lambda: {}, True, False, None),
    ("used, unexpired: kept to catch a replay", lambda: {"consumed_at": PAST}, False, False, tokens.CONSUMED),
    ("expired", lambda: {"expires_at": PAST}, False, True, tokens.EXPIRED),
    ("expiring this instant", lambda: {"expires_at": NOW}, False, True, tokens.EXPIRED),
    ("used and expired", lambda: {"expires_at": PAST, "consumed_at": PAST}, False, True, tokens.CONSUMED),
    ("family revoked", lambda: {"authorization": _family(revoked=True)}, False, True, tokens.FAMILY_REVOKED),
    ("expired in a revoked family", lambda: {"expires_at": PAST, "authorization": _family(revoked=True)}, False, True,
     tokens.FAMILY_REVOKED),
    ("user inactive", lambda: {"authorization": _family(user_active=False)}, False, False, tokens.USER_INACTIVE),
]


@pytest.mark.parametrize(("label", "kwargs", "live", "dead", "reason"), CODE_STATES, ids=[s[0] for s in CODE_STATES])
def test_code_state(label, kwargs, live, dead, reason):
    row = AuthorizationCodeFactory(**kwargs())
    loaded = AuthorizationCode.objects.select_related("authorization__user", "authorization__client").get(pk=row.pk)
    assert loaded.dead_reason(NOW) == reason
    assert loaded.is_live(NOW) is live
    assert AuthorizationCode.objects.live(NOW).filter(pk=row.pk).exists() is live
    assert AuthorizationCode.objects.dead(NOW).filter(pk=row.pk).exists() is dead


REFRESH_STATES = [
    ("current", lambda: {}, True, False, None),
    ("rotated: kept to catch reuse", lambda: {"rotated_at": PAST}, False, False, tokens.ROTATED),
    ("rotated and expired", lambda: {"rotated_at": PAST, "expires_at": PAST}, False, True, tokens.ROTATED),
    ("revoked", lambda: {"revoked_at": PAST}, False, True, tokens.REVOKED),
    ("expired", lambda: {"expires_at": PAST}, False, True, tokens.EXPIRED),
    ("expiring this instant", lambda: {"expires_at": NOW}, False, True, tokens.EXPIRED),
    ("revoked and expired", lambda: {"revoked_at": PAST, "expires_at": PAST}, False, True, tokens.REVOKED),
    ("family revoked", lambda: {"authorization": _family(revoked=True)}, False, True, tokens.FAMILY_REVOKED),
    ("revoked in a revoked family", lambda: {"revoked_at": PAST, "authorization": _family(revoked=True)}, False, True,
     tokens.FAMILY_REVOKED),
    ("client inactive", lambda: {"authorization": _family(client_active=False)}, False, False,
     tokens.CLIENT_INACTIVE),
    ("user inactive", lambda: {"authorization": _family(user_active=False)}, False, False, tokens.USER_INACTIVE),
]


@pytest.mark.parametrize(("label", "kwargs", "live", "dead", "reason"), REFRESH_STATES,
                         ids=[s[0] for s in REFRESH_STATES])
def test_refresh_token_state(label, kwargs, live, dead, reason):
    row = RefreshTokenFactory(**kwargs())
    loaded = RefreshToken.objects.select_related("authorization__user", "authorization__client").get(pk=row.pk)
    assert loaded.dead_reason(NOW) == reason
    assert loaded.is_live(NOW) is live
    assert RefreshToken.objects.live(NOW).filter(pk=row.pk).exists() is live
    assert RefreshToken.objects.dead(NOW).filter(pk=row.pk).exists() is dead


def test_a_rotated_refresh_token_is_live_inside_the_grace_period_until_presented_once():
    row = RefreshTokenFactory(rotated_at=PAST)
    current = RefreshTokenFactory(authorization=row.authorization)
    with override_settings(OAUTH_PROVIDER=oauth_settings(REFRESH_TOKEN_GRACE_PERIOD=10)):
        assert row.is_live(NOW) and RefreshToken.objects.live(NOW).filter(pk=row.pk).exists()
        # the grace adds the rotated one; the chain's current token stays live beside it
        assert current.is_live(NOW) and RefreshToken.objects.live(NOW).filter(pk=current.pk).exists()
        assert not row.is_live(NOW + timedelta(seconds=10))
        assert not RefreshToken.objects.live(NOW + timedelta(seconds=10)).filter(pk=row.pk).exists()
        row.revoked_at = NOW  # what spending the one retry does
        row.save()
        assert row.dead_reason(NOW) == tokens.ROTATED
        assert not RefreshToken.objects.live(NOW).filter(pk=row.pk).exists()


def test_a_rotated_refresh_token_handed_out_twice_has_no_grace():
    """A successor a grace retry handed out a second time (``shared_at``) has two holders:
    rotated, it is reuse at once, for the row and the queryset alike."""
    shared = RefreshTokenFactory(rotated_at=PAST, shared_at=PAST - timedelta(seconds=1))
    with override_settings(OAUTH_PROVIDER=oauth_settings(REFRESH_TOKEN_GRACE_PERIOD=10)):
        assert not shared.in_grace(NOW) and shared.dead_reason(NOW) == tokens.ROTATED
        assert not RefreshToken.objects.live(NOW).filter(pk=shared.pk).exists()


def test_the_grace_period_ends_at_its_last_instant_in_both_spellings():
    """RFC 9700 §4.14.2 with ``REFRESH_TOKEN_GRACE_PERIOD``: a rotated token is in grace while
    less than the period has passed since its rotation; at the period's end it is reuse, for
    the row and the queryset alike (the UPDATE that spends the grace compares the same way)."""
    row = RefreshTokenFactory(rotated_at=PAST)
    with override_settings(OAUTH_PROVIDER=oauth_settings(REFRESH_TOKEN_GRACE_PERIOD=10)):
        just_inside, at_the_end = PAST + timedelta(seconds=10) - timedelta(microseconds=1), PAST + timedelta(seconds=10)
        assert row.in_grace(just_inside) and row.is_live(just_inside)
        assert RefreshToken.objects.live(just_inside).filter(pk=row.pk).exists()
        assert not row.in_grace(at_the_end) and row.dead_reason(at_the_end) == tokens.ROTATED
        assert not RefreshToken.objects.live(at_the_end).filter(pk=row.pk).exists()


@pytest.mark.parametrize("grace", [0, None])
def test_without_a_grace_period_a_rotated_token_is_never_live_whatever_the_clocks_say(grace):
    """With ``REFRESH_TOKEN_GRACE_PERIOD`` off (0, or None in a host's settings), presenting a
    rotated refresh token is always reuse (RFC 9700 §4.14.2), in both spellings, even when
    the worker judging it has a clock behind the one that rotated it."""
    row = RefreshTokenFactory(rotated_at=NOW + timedelta(seconds=30))  # rotated by a worker 30 s ahead
    with override_settings(OAUTH_PROVIDER=oauth_settings(REFRESH_TOKEN_GRACE_PERIOD=grace)):
        assert not row.in_grace(NOW)
        assert row.dead_reason(NOW) == tokens.ROTATED
        assert not RefreshToken.objects.live(NOW).filter(pk=row.pk).exists()


JOINS = {
    AccessToken: ("client", "user", "authorization"),
    RefreshToken: ("authorization__user", "authorization__client"),
    AuthorizationCode: ("authorization__user", "authorization__client"),
}


@pytest.mark.parametrize(("model", "factory"), [
    (AccessToken, AccessTokenFactory), (RefreshToken, RefreshTokenFactory),
    (AuthorizationCode, AuthorizationCodeFactory),
], ids=["access", "refresh", "code"])
def test_a_state_is_judged_at_the_instant_asked_not_the_present(model, factory):
    """Cleanup, the admin and the protocol code pass the instant they judge at: a token that
    expired an hour ago was live two hours ago, in both spellings, whatever the clock says."""
    then, expiry = NOW - timedelta(hours=2), NOW - timedelta(hours=1)
    row = model.objects.select_related(*JOINS[model]).get(pk=factory(expires_at=expiry).pk)
    assert row.dead_reason(then) is None and row.is_live(then)
    assert model.objects.live(then).filter(pk=row.pk).exists()
    assert not model.objects.dead(then).filter(pk=row.pk).exists()
    assert row.dead_reason(NOW) == tokens.EXPIRED and model.objects.dead(NOW).filter(pk=row.pk).exists()
    if model is not AuthorizationCode:
        assert not model.objects.expired(then).filter(pk=row.pk).exists()
        assert model.objects.expired(NOW).filter(pk=row.pk).exists()


def test_a_family_is_judged_at_the_instant_asked_not_the_present():
    """A family whose one refresh token expired an hour ago still held tokens two hours ago,
    and was not dead then (its lifetime long past), only now."""
    then = NOW - timedelta(hours=2)
    with override_settings(OAUTH_PROVIDER=oauth_settings(REFRESH_TOKEN_LIFETIME=60)):
        family = AuthorizationFactory(created_at=NOW - timedelta(hours=3))
        RefreshTokenFactory(authorization=family, expires_at=NOW - timedelta(hours=1))
        assert set(Authorization.objects.holding_tokens(then)) == {family}
        assert family not in Authorization.objects.dead(then)
        assert set(Authorization.objects.holding_tokens(NOW)) == set()
        assert family in Authorization.objects.dead(NOW)


def test_the_admin_and_introspection_agree_on_a_rotated_refresh_token(admin_client):
    """Issue 11: the admin's "Active" filter counted rotated refresh tokens that introspection
    reports inactive. Both now ask the model."""
    rotated = RefreshTokenFactory(rotated_at=PAST)
    current = RefreshTokenFactory()
    page = admin_client.get("/admin/oauth_provider/refreshtoken/", {"status": "active"}).content.decode()
    assert rotated.token_hash[:12] not in page
    assert current.token_hash[:12] in page


def test_family_states():
    live = _family()
    revoked = _family(revoked=True)
    assert live.is_live() and not revoked.is_live()
    assert set(Authorization.objects.live()) == {live}
    RefreshTokenFactory(authorization=live)
    RefreshTokenFactory(authorization=_family(), rotated_at=PAST)
    assert set(Authorization.objects.holding_tokens(NOW)) == {live}


def test_the_revoked_families_are_the_revoked_ones_only():
    """The admin's "Revoked" filter of grants: a family revoked (RFC 7009 §2.1: with every token
    of it), never a live one."""
    live, revoked = _family(), _family(revoked=True)
    assert set(Authorization.objects.revoked()) == {revoked}
    assert live not in Authorization.objects.dead(NOW) and revoked in Authorization.objects.dead(NOW)


def test_an_idle_family_is_dead_only_when_nothing_of_it_matters_any_more():
    with override_settings(OAUTH_PROVIDER=oauth_settings(REFRESH_TOKEN_LIFETIME=60)):
        old = NOW - timedelta(seconds=120)
        empty = AuthorizationFactory(created_at=old)
        with_used_code = AuthorizationFactory(created_at=old)
        AuthorizationCodeFactory(authorization=with_used_code, consumed_at=PAST)
        with_expired_code = AuthorizationFactory(created_at=old)
        AuthorizationCodeFactory(authorization=with_expired_code, expires_at=PAST)
        with_rotated_refresh = AuthorizationFactory(created_at=old)
        RefreshTokenFactory(authorization=with_rotated_refresh, rotated_at=PAST)
        young = AuthorizationFactory(created_at=NOW)
        idle_and_revoked = AuthorizationFactory(created_at=old, revoked_at=PAST)  # dead for both reasons
        dead = set(Authorization.objects.dead(NOW))
    assert empty in dead and with_expired_code in dead and idle_and_revoked in dead
    assert with_used_code not in dead  # a replay of its code must still find the family
    assert with_rotated_refresh not in dead  # reuse of its refresh token must still be caught
    assert young not in dead


@pytest.mark.parametrize("child", ["code", "access token", "refresh token"])
def test_an_old_family_with_one_live_child_is_not_dead(child):
    """Cleanup deletes a family past ``REFRESH_TOKEN_LIFETIME`` only when nothing of it is
    left alive: deleting it would delete, with its rows, a code, an access token or a refresh
    token that a client still holds and may still use."""
    with override_settings(OAUTH_PROVIDER=oauth_settings(REFRESH_TOKEN_LIFETIME=60)):
        family = AuthorizationFactory(created_at=NOW - timedelta(seconds=120))
        factory = {"code": AuthorizationCodeFactory, "access token": AccessTokenFactory,
                   "refresh token": RefreshTokenFactory}[child]
        factory(authorization=family, expires_at=SOON)
        assert family not in Authorization.objects.dead(NOW)


def test_revoking_a_code_revokes_its_family():
    code = AuthorizationCodeFactory()
    assert AuthorizationCode.objects.filter(pk=code.pk).revoke(NOW) == 1
    code.authorization.refresh_from_db()
    assert code.authorization.revoked_at == NOW


def test_revoke_client_tokens_revokes_families_and_loose_tokens_only_of_those_clients():
    family = _family()
    loose = AccessTokenFactory(user=None, authorization=None, client=family.client)
    bystander = AccessTokenFactory()
    from oauth_provider.models import get_client_model

    clients = get_client_model().objects.filter(pk=family.client.pk)
    assert tokens.revoke_client_tokens(clients, NOW) == (1, 1)
    loose.refresh_from_db()
    bystander.refresh_from_db()
    assert loose.revoked_at == NOW and bystander.revoked_at is None


def test_revoke_client_tokens_revokes_what_the_client_got_by_exchange_in_another_clients_family():
    """RFC 8693: a token a client obtained by exchanging another client's token belongs to that
    token's family. Revoking everything the exchanging client holds (its deactivation or
    deletion) revokes it too; the other client's token and family stay live, and the client's
    own family's tokens are revoked with their family, not one by one."""
    from oauth_provider.models import get_client_model

    theirs = _family()
    subject = AccessTokenFactory(authorization=theirs, client=theirs.client, user=theirs.user)
    mine = ClientFactory()
    own = AccessTokenFactory(authorization=AuthorizationFactory(client=mine), client=mine)
    exchanged = AccessTokenFactory(authorization=theirs, client=mine, user=theirs.user, subject_token=subject,
                                   exchange_depth=1)
    # and one exchanged for the other client's own client_credentials token: no family at all
    their_loose = AccessTokenFactory(authorization=None, user=None, client=theirs.client)
    exchanged_loose = AccessTokenFactory(authorization=None, user=None, client=mine, subject_token=their_loose,
                                         exchange_depth=1)
    assert tokens.revoke_client_tokens(get_client_model().objects.filter(pk=mine.pk), NOW) == (1, 2)
    for row in (subject, own, exchanged, theirs, their_loose, exchanged_loose):
        row.refresh_from_db()
    assert exchanged.revoked_at == NOW and exchanged_loose.revoked_at == NOW
    assert subject.revoked_at is None and theirs.revoked_at is None and their_loose.revoked_at is None
    assert own.revoked_at is None and own.authorization.revoked_at == NOW


def _exchange_tree():
    """A token (the root), a line of tokens exchanged from it down to EXCHANGE_MAX_DEPTH
    generations, a second child of the root, a token one generation too deep, and a bystander
    that was exchanged from another token."""
    root = AccessTokenFactory()
    line = [root]
    for depth in range(1, tokens.EXCHANGE_MAX_DEPTH + 1):
        line.append(AccessTokenFactory(client=root.client, subject_token=line[-1], exchange_depth=depth))
    sibling = AccessTokenFactory(client=root.client, subject_token=root, exchange_depth=1)
    too_deep = AccessTokenFactory(client=root.client, subject_token=line[-1],
                                  exchange_depth=tokens.EXCHANGE_MAX_DEPTH + 1)
    bystander = AccessTokenFactory(client=root.client, subject_token=AccessTokenFactory(client=root.client))
    return root, line, sibling, too_deep, bystander


def test_revoking_a_token_revokes_every_generation_exchanged_from_it():
    """RFC 8693 §2.1 leaves lineage to the server; ours: a token obtained by exchange must not
    outlive its subject token, down to EXCHANGE_MAX_DEPTH generations (the deepest chain token
    exchange issues), every branch of the tree, and nothing outside it."""
    root, line, sibling, too_deep, bystander = _exchange_tree()
    assert AccessToken.objects.filter(pk=root.pk).revoke(NOW) == len(line) + 1
    revoked = set(AccessToken.objects.filter(revoked_at=NOW).values_list("pk", flat=True))
    assert revoked == {token.pk for token in line} | {sibling.pk}
    assert too_deep.pk not in revoked and bystander.pk not in revoked


def test_revoking_a_token_in_the_middle_spares_its_ancestors():
    root, line, sibling, deeper, _bystander = _exchange_tree()
    AccessToken.objects.filter(pk=line[2].pk).revoke(NOW)
    revoked = set(AccessToken.objects.filter(revoked_at=NOW).values_list("pk", flat=True))
    assert revoked == {token.pk for token in line[2:]} | {deeper.pk}  # within reach from line[2]
    assert root.pk not in revoked and line[1].pk not in revoked and sibling.pk not in revoked


def test_revoking_a_token_reads_only_its_family_tree_never_every_token():
    """The revocation endpoint, connected apps and admin revoke through this UPDATE: it must
    find the exchanged generations by the subject_token and actor_token indexes, not scan the token table (a
    join per generation OR-ed together made SQLite and PostgreSQL read every token: 615 ms per
    revocation at 200,000 tokens on PostgreSQL). Checked with SQLite's query plan."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's EXPLAIN QUERY PLAN; PostgreSQL's planner picks scans on tiny tables anyway")
    root = AccessTokenFactory()
    with CaptureQueriesContext(connection) as captured:
        AccessToken.objects.by_value("x" * 43).filter(client=root.client).revoke(NOW)
    (update,) = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("UPDATE")]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + update)
        plan = [row[-1] for row in cursor.fetchall()]
    # "SCAN <table or alias>": every row. The recursive query's own queue ("exchanged") holds
    # only the tree found so far; scanning it is how SQLite walks a recursion.
    assert not [step for step in plan if step.startswith("SCAN") and step != "SCAN exchanged"], plan
    assert any("USING INDEX" in step and "obtained" in step for step in plan), plan  # each link by index


@pytest.mark.parametrize(("model", "factory", "table"), [
    (AccessToken, AccessTokenFactory, ACCESS_STATES), (RefreshToken, RefreshTokenFactory, REFRESH_STATES),
], ids=["access", "refresh"])
def test_the_revoked_and_expired_querysets_agree_with_the_row(model, factory, table):
    """The admin's "Revoked" filter lists a token revoked by itself or with its family (RFC 7009
    §2.1: revoking a grant revokes its tokens), "Expired" one past ``expires_at``."""
    for label, kwargs, _live, _dead, _reason in table:
        built = kwargs()
        row = factory(**built)
        family = built.get("authorization")
        revoked = "revoked_at" in built or (family is not None and family.revoked_at is not None)
        assert model.objects.revoked().filter(pk=row.pk).exists() is revoked, label
        assert model.objects.expired(NOW).filter(pk=row.pk).exists() is ("expires_at" in built), label


def test_tokens_are_live_for_a_user_model_without_is_active(monkeypatch):
    """A custom user model without an ``is_active`` column has only active users, as Django's
    authentication backends treat it: the queryset spelling of ``live`` must not ask for the
    column, and the row spelling reads it with a default of True."""

    class _Meta:
        @staticmethod
        def get_field(name):
            raise FieldDoesNotExist(name)

    class UserWithoutIsActive:
        _meta = _Meta()

    monkeypatch.setattr(tokens, "get_user_model", lambda: UserWithoutIsActive)
    access, refresh, code = AccessTokenFactory(), RefreshTokenFactory(), AuthorizationCodeFactory()
    assert AccessToken.objects.live(NOW).filter(pk=access.pk).exists()
    assert RefreshToken.objects.live(NOW).filter(pk=refresh.pk).exists()
    assert AuthorizationCode.objects.live(NOW).filter(pk=code.pk).exists()

    without = UserWithoutIsActive()  # such a model's instance, in the row spelling
    AccessToken.user.field.set_cached_value(access, without)
    Authorization.user.field.set_cached_value(refresh.authorization, without)
    Authorization.user.field.set_cached_value(code.authorization, without)
    assert access.is_live(NOW) and refresh.is_live(NOW) and code.is_live(NOW)


@pytest.mark.parametrize("empty", ["none", "pk__in=[]"])
def test_revoking_an_empty_selection_revokes_nothing(empty):
    """A queryset Django knows to be empty compiles to no SQL at all; revoking it (an admin
    action on nothing, a caller's filter on an empty list) is 0 rows, not an error."""
    token = AccessTokenFactory()
    queryset = AccessToken.objects.none() if empty == "none" else AccessToken.objects.filter(pk__in=[])
    assert queryset.revoke(NOW) == 0
    token.refresh_from_db()
    assert token.revoked_at is None


# -- revocation racing what is stored from the revoked (an outside race review) -------------------

def test_a_revocation_revokes_and_denies_what_an_exchange_stored_while_it_waited(
        monkeypatch, django_capture_on_commit_callbacks):
    """The first UPDATE read the tree of exchanged tokens before an exchange holding the
    subject's row stored its token; the second, a new statement, finds them: revoked, denied
    (JWT denylist) and counted. Simulated here by storing three such tokens between the two."""
    from oauth_provider import denylist

    subject = AccessTokenFactory()
    original = tokens.AccessTokenQuerySet.with_exchanged
    stored: list[AccessToken] = []

    def with_exchanged(queryset):
        if len(stored) == 0 and getattr(with_exchanged, "calls", 0) == 1:  # between the two UPDATEs
            stored.extend(AccessTokenFactory(client=subject.client, user=subject.user, subject_token=subject,
                                             exchange_depth=1) for _ in range(3))
        with_exchanged.calls = getattr(with_exchanged, "calls", 0) + 1
        return original(queryset)

    monkeypatch.setattr(tokens.AccessTokenQuerySet, "with_exchanged", with_exchanged)
    with override_settings(OAUTH_PROVIDER=oauth_settings(JWT_ACCESS_TOKEN_DENYLIST=True)):
        with django_capture_on_commit_callbacks(execute=True):  # the denylist is written at the commit
            assert AccessToken.objects.filter(pk=subject.pk).revoke(NOW) == 1 + 3
        for token in [subject, *stored]:
            token.refresh_from_db()
            assert token.revoked_at == NOW
            assert denylist.contains(token.token_hash)


def test_a_family_revoked_with_the_denylist_on_is_revoked_and_its_tokens_denied(django_capture_on_commit_callbacks):
    from oauth_provider import denylist

    family = AuthorizationFactory()
    access = AccessTokenFactory(authorization=family, client=family.client, user=family.user)
    with override_settings(OAUTH_PROVIDER=oauth_settings(JWT_ACCESS_TOKEN_DENYLIST=True)):
        with django_capture_on_commit_callbacks(execute=True):
            assert Authorization.objects.filter(pk=family.pk, revoked_at__isnull=True).revoke(NOW) == 1
        family.refresh_from_db()
        assert family.revoked_at == NOW and denylist.contains(access.token_hash)


@pytest.mark.parametrize("revoked", ["token", "family"])
def test_a_token_from_a_chain_of_exchanges_dies_with_any_revoked_link(revoked):
    """A token exchanged from an exchanged token (depth 2): its grandparent revoked (the row,
    or its family), however the revocation missed it, leaves it dead, not live."""
    root = AccessTokenFactory(authorization=AuthorizationFactory())
    middle = AccessTokenFactory(client=root.client, user=root.user, subject_token=root, exchange_depth=1)
    leaf = AccessTokenFactory(client=root.client, user=root.user, subject_token=middle, exchange_depth=2)
    assert leaf.is_live()
    if revoked == "token":
        AccessToken.objects.filter(pk=root.pk).update(revoked_at=NOW)  # the row alone, no cascade
    else:
        Authorization.objects.filter(pk=root.authorization_id).update(revoked_at=NOW)
    leaf = AccessToken.objects.select_related("client", "user", "authorization").get(pk=leaf.pk)
    assert leaf.dead_reason() == tokens.REVOKED


def test_an_id_token_stands_for_the_grant_of_its_login_to_the_second():
    """``auth_time`` is to the second: a grant of the next login in the same session, a second
    and a half later, is not the family an ID token of the first login stands for, even though
    it is newer and live (the token-exchange tests cover the revoked cases)."""
    from tests.support.factories import AuthorizationFactory

    login = secrets.now().replace(microsecond=0)
    first = AuthorizationFactory(session_id="s", auth_time=login)
    later = AuthorizationFactory(client=first.client, user=first.user, session_id="s",
                                 auth_time=login + timedelta(seconds=1.5))
    found = Authorization.objects.filter(client=first.client, user=first.user).of_id_token(
        "s", login, later.created_at + timedelta(seconds=1))
    assert found == first

"""The hot-path statements compiled once (``oauth_provider.models._prepared``) behave exactly
like the ORM calls they replace: same rows, same related objects without extra queries, same
saved values and keys, same row counts, and the ORM itself when preparing is not possible or
an internal changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, connections
from django.db.models.signals import post_save
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from oauth_provider import secrets
from oauth_provider.models import AccessToken, Authorization, AuthorizationCode, Consent, RefreshToken, _prepared
from oauth_provider.models._prepared import PreparedLookup, insert, insert_pair, insert_two
from oauth_provider.models.store import (
    access_token_by_value,
    attach_client,
    client_by_id,
    code_by_value,
    code_unconsumed,
    consent_of,
    insert_both,
    insert_if,
    insert_with_parent,
    refresh_kept,
    refresh_token_by_value,
    refresh_unrotated,
    spend_refresh_grace,
)
from tests.support.factories import ClientFactory, UserFactory

pytestmark = pytest.mark.django_db


def _family(client, user, **extra) -> Authorization:
    return Authorization.objects.create(client=client, user=user, scope="read write", **extra)


def _access(raw: str, client, user, family) -> AccessToken:
    now = secrets.now()
    return AccessToken.objects.create(
        token_hash=secrets.hash_token(raw), client=client, user=user, authorization=family, scope="read",
        created_at=now, expires_at=now + timedelta(hours=1),
    )


def test_token_lookup_matches_the_orm_and_joins_in_one_query():
    client, user = ClientFactory(), UserFactory()
    family = _family(client, user, claims={"userinfo": {"email": None}})
    raw = secrets.generate_token()
    stored = _access(raw, client, user, family)
    expected = AccessToken.objects.select_related("client", "user", "authorization").get(pk=stored.pk)
    for _ in range(2):  # the first call compiles, the second reuses the statement
        with CaptureQueriesContext(connection) as queries:
            row = access_token_by_value(raw)
            assert row is not None
            seen = (row.client.client_id, row.user.get_username(), row.authorization.claims, row.expires_at)
        assert len(queries.captured_queries) == 1
        assert seen == (client.client_id, user.get_username(), {"userinfo": {"email": None}}, expected.expires_at)
        assert [getattr(row, f.attname) for f in AccessToken._meta.concrete_fields] == [
            getattr(expected, f.attname) for f in AccessToken._meta.concrete_fields
        ]
        assert row._state.adding is False and row._state.db == "default"
    assert access_token_by_value(secrets.generate_token()) is None


def test_lookups_of_codes_refresh_tokens_clients_and_consents():
    client, user = ClientFactory(), UserFactory()
    family = _family(client, user)
    raw_code, raw_refresh = secrets.generate_token(), secrets.generate_token()
    now = secrets.now()
    AuthorizationCode.objects.create(
        code_hash=secrets.hash_token(raw_code), authorization=family, code_challenge="c" * 43,
        expires_at=now + timedelta(seconds=60),
    )
    RefreshToken.objects.create(
        token_hash=secrets.hash_token(raw_refresh), authorization=family, scope="read", expires_at=now,
    )
    Consent.objects.create(user=user, client=client, scope="read")

    code = code_by_value(raw_code)
    assert code is not None and code.authorization.user == user and code.authorization.pk == family.pk
    refresh = refresh_token_by_value(raw_refresh)
    assert refresh is not None and refresh.authorization.user == user
    with CaptureQueriesContext(connection) as queries:
        refresh = refresh_token_by_value(raw_refresh, with_client=True)
        assert refresh is not None and refresh.authorization.client.client_id == client.client_id
    assert len(queries.captured_queries) == 1
    assert client_by_id(client.client_id) == client
    consent = consent_of(user, client)
    assert consent is not None and consent.scope == "read"
    assert consent_of(UserFactory(), client) is None


def test_a_client_is_found_by_its_exact_client_id_with_or_without_filters():
    """``client_by_id`` (every client lookup: authentication, resource servers, end-session,
    connected apps): the exact identifier up to the column's 255 characters, and, with filters
    (end-session asks for an active client), only a client that matches them."""
    longest = ClientFactory(client_id="c" * 255)
    other = ClientFactory()
    inactive = ClientFactory(is_active=False)
    assert client_by_id("c" * 255) == longest
    assert client_by_id(longest.client_id, is_active=True) == longest
    assert client_by_id(other.client_id, is_active=True) == other
    assert client_by_id(inactive.client_id) == inactive
    assert client_by_id(inactive.client_id, is_active=True) is None
    assert client_by_id("no-such-client", is_active=True) is None


@pytest.mark.parametrize("client_id", ["c" * 256, "c" * 10_000, "a\x00b", "\x00"])
def test_a_value_no_client_id_can_be_names_no_client_without_a_query(client_id, django_assert_num_queries):
    """A NUL (PostgreSQL refuses it in a query with an error: a 500) or more characters than
    the column holds is no client, answered before the database is asked."""
    ClientFactory(client_id="c" * 255)
    with django_assert_num_queries(0):
        assert client_by_id(client_id) is None
        assert client_by_id(client_id, is_active=True) is None


def test_a_lookup_the_orm_cannot_prepare_still_answers():
    """A field type without a marker (here a date) is looked up through the ORM each time."""
    client = ClientFactory()
    lookup = PreparedLookup(lambda: type(client), ("created_at",))
    with CaptureQueriesContext(connection) as queries:
        assert lookup.get(client.created_at) == client
    assert len(queries.captured_queries) == 1


def test_insert_stores_what_save_would_and_sets_the_key():
    client, user = ClientFactory(), UserFactory()
    family = Authorization(client=client, user=user, scope="openid", claims={"id_token": {"acr": None}})
    with CaptureQueriesContext(connection) as queries:
        insert(family)
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["INSERT"]
    assert family.pk is not None and family._state.adding is False and family._state.db == "default"
    stored = Authorization.objects.get(pk=family.pk)
    assert (stored.client_id, stored.user_id, stored.scope, stored.claims) == (
        client.pk, user.pk, "openid", {"id_token": {"acr": None}}
    )
    assert stored.created_at == family.created_at


def test_insert_refuses_an_unsaved_related_object_like_save():
    with pytest.raises(ValueError, match="unsaved related object"):
        insert(Authorization(client=ClientFactory.build(), scope="read"))


def test_insert_takes_the_key_of_a_related_object_saved_after_assignment():
    """As ``save()`` does: the client was unsaved when assigned, saved before the insert."""
    client = ClientFactory.build()
    family = Authorization(client=client, scope="read")
    client.save()
    insert(family)
    assert Authorization.objects.get(pk=family.pk).client_id == client.pk


def test_insert_goes_through_save_when_the_model_has_save_receivers():
    seen: list[int] = []

    def receiver(sender, instance, created, **kwargs):
        seen.append(instance.pk)

    post_save.connect(receiver, sender=Authorization)
    try:
        family = Authorization(client=ClientFactory(), scope="read")
        insert(family)
    finally:
        post_save.disconnect(receiver, sender=Authorization)
    assert seen == [family.pk]


def test_insert_of_every_token_row_is_prepared_and_stores_what_save_would():
    """Codes, access and refresh tokens and families: one INSERT each, the key set, the row
    read back equal to what was inserted."""
    client, user = ClientFactory(), UserFactory()
    family = Authorization(client=client, user=user, scope="read")
    insert(family)
    now = secrets.now()
    rows = [
        AuthorizationCode(code_hash=secrets.hash_token("c"), authorization=family, code_challenge="c" * 43,
                          expires_at=now),
        AccessToken(token_hash=secrets.hash_token("a"), client=client, user=user, authorization=family,
                    scope="read", created_at=now, expires_at=now),
        RefreshToken(token_hash=secrets.hash_token("r"), authorization=family, scope="read", expires_at=now),
    ]
    _prepared._generation[0] += 1
    for row in rows:
        with CaptureQueriesContext(connection) as queries:
            insert(row)
        assert [q["sql"].split()[0] for q in queries.captured_queries] == ["INSERT"]
        stored = type(row).objects.get(pk=row.pk)
        assert [getattr(stored, f.attname) for f in row._meta.concrete_fields] == [
            getattr(row, f.attname) for f in row._meta.concrete_fields
        ]
    plans = [plan for key, plan in _prepared._plans().items() if _prepared._generation[0] in key]
    assert len(plans) == 3 and None not in plans


def test_insert_goes_through_save_when_an_internal_it_needs_is_gone(monkeypatch):
    """Without ``Model._prepare_related_fields_for_save`` (a private method, as if a Django
    renamed it) the row is stored by ``save()``, which refuses an unsaved related object itself."""
    saved: list[object] = []
    real_save = Authorization.save
    monkeypatch.setattr(_prepared, "_prepare_related", None)
    monkeypatch.setattr(Authorization, "save", lambda self, *a, **k: saved.append(self) or real_save(self, *a, **k))
    family = Authorization(client=ClientFactory(), scope="read")
    insert(family)
    assert saved == [family] and Authorization.objects.filter(pk=family.pk).exists()
    with pytest.raises(ValueError, match="unsaved related object"):
        insert(Authorization(client=ClientFactory.build(), scope="read"))


def _grant_and_code(client, user) -> tuple[Authorization, AuthorizationCode]:
    family = Authorization(client=client, user=user, scope="openid", claims={"id_token": {"acr": None}})
    code = AuthorizationCode(code_hash=secrets.hash_token(secrets.generate_token()), authorization=family,
                             code_challenge="c" * 43, expires_at=secrets.now())
    return family, code


def test_a_grant_and_its_code_are_one_statement_on_postgresql_and_two_inserts_elsewhere():
    """What save() would store, keys set on both rows and the code's key to its grant; on
    PostgreSQL in one statement (no BEGIN/COMMIT round trips), elsewhere two INSERTs in one
    transaction."""
    client, user = ClientFactory(), UserFactory()
    family, code = _grant_and_code(client, user)
    with CaptureQueriesContext(connection) as queries:
        insert_with_parent(family, code, "authorization")
    kinds = [q["sql"].split()[0] for q in queries.captured_queries if q["sql"].split()[0] in ("WITH", "INSERT")]
    assert kinds == (["WITH"] if connection.vendor == "postgresql" else ["INSERT", "INSERT"])
    assert family.pk is not None and code.pk is not None and code.authorization_id == family.pk
    assert family._state.adding is False and code._state.adding is False and code._state.db == "default"
    stored = AuthorizationCode.objects.select_related("authorization").get(pk=code.pk)
    assert (stored.authorization.pk, stored.authorization.client_id, stored.authorization.claims) == (
        family.pk, client.pk, {"id_token": {"acr": None}}
    )
    assert [getattr(stored, f.attname) for f in code._meta.concrete_fields] == [
        getattr(code, f.attname) for f in code._meta.concrete_fields
    ]
    assert stored.authorization.created_at == family.created_at


def test_a_grant_and_its_code_are_stored_together_or_not_at_all():
    """A code that cannot be stored (its hash taken) leaves no grant behind, on every database."""
    client, user = ClientFactory(), UserFactory()
    family, code = _grant_and_code(client, user)
    insert_with_parent(family, code, "authorization")
    before = Authorization.objects.count()
    again, clash = _grant_and_code(client, user)
    clash.code_hash = code.code_hash
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        insert_with_parent(again, clash, "authorization")
    assert Authorization.objects.count() == before


def test_the_pair_goes_through_save_when_a_model_has_save_receivers():
    """A receiver must see every save: insert_pair declines, and the rows are saved one by one."""
    seen: list[object] = []

    def receiver(sender, instance, created, **kwargs):
        seen.append(instance)

    family, code = _grant_and_code(ClientFactory(), UserFactory())
    post_save.connect(receiver, sender=AuthorizationCode)
    try:
        assert insert_pair(family, code, "authorization") is False
        assert family.pk is None and code.pk is None
        insert_with_parent(family, code, "authorization")
    finally:
        post_save.disconnect(receiver, sender=AuthorizationCode)
    assert seen == [code] and code.authorization_id == family.pk


def _tokens(client, user, family) -> tuple[AccessToken, RefreshToken]:
    now = secrets.now()
    access = AccessToken(token_hash=secrets.hash_token(secrets.generate_token()), client=client, user=user,
                         authorization=family, scope="read", created_at=now, expires_at=now, act={"sub": "x"})
    refresh = RefreshToken(token_hash=secrets.hash_token(secrets.generate_token()), authorization=family,
                           scope="read", expires_at=now)
    return access, refresh


def test_an_access_and_a_refresh_token_are_one_statement_on_postgresql_and_two_inserts_elsewhere():
    client, user = ClientFactory(), UserFactory()
    family = _family(client, user)
    access, refresh = _tokens(client, user, family)
    with CaptureQueriesContext(connection) as queries:
        insert_both(access, refresh)
    kinds = [q["sql"].split()[0] for q in queries.captured_queries]
    assert kinds == (["WITH"] if connection.vendor == "postgresql" else ["INSERT", "INSERT"])
    for row in (access, refresh):
        assert row.pk is not None and row._state.adding is False and row._state.db == "default"
        stored = type(row).objects.get(pk=row.pk)
        assert [getattr(stored, f.attname) for f in row._meta.concrete_fields] == [
            getattr(row, f.attname) for f in row._meta.concrete_fields
        ]


def test_two_tokens_are_stored_together_or_not_at_all():
    """The refresh token cannot be stored (its hash taken): the access token is not stored either."""
    from django.db import IntegrityError, transaction

    client, user = ClientFactory(), UserFactory()
    family = _family(client, user)
    access, refresh = _tokens(client, user, family)
    insert_both(access, refresh)
    again, clash = _tokens(client, user, family)
    clash.token_hash = refresh.token_hash
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_both(again, clash)
    assert not AccessToken.objects.filter(token_hash=again.token_hash).exists()


def test_two_rows_go_through_save_when_a_model_has_save_receivers():
    seen: list[object] = []

    def receiver(sender, instance, created, **kwargs):
        seen.append(instance)

    client, user = ClientFactory(), UserFactory()
    access, refresh = _tokens(client, user, _family(client, user))
    post_save.connect(receiver, sender=RefreshToken)
    try:
        assert insert_two(access, refresh) is False
        assert access.pk is None and refresh.pk is None
        insert_both(access, refresh)
    finally:
        post_save.disconnect(receiver, sender=RefreshToken)
    assert seen == [refresh] and access.pk is not None


def _stored_code(client, user) -> AuthorizationCode:
    family, code = _grant_and_code(client, user)
    insert_with_parent(family, code, "authorization")
    return code


def _writes(queries) -> list[str]:
    return [q["sql"].split()[0] for q in queries.captured_queries
            if q["sql"].split()[0] in ("WITH", "INSERT", "UPDATE")]


@pytest.mark.req("6749-4.1.2-single-use")
def test_tokens_are_stored_only_under_their_condition_in_one_statement_on_postgresql():
    """insert_if: the code is consumed and both tokens stored, or, once it is consumed,
    nothing is stored; on PostgreSQL each is one statement, elsewhere the UPDATE comes first."""
    client, user = ClientFactory(), UserFactory()
    code = _stored_code(client, user)
    access, refresh = _tokens(client, user, code.authorization)
    when = secrets.now()
    with CaptureQueriesContext(connection) as queries:
        assert insert_if(code_unconsumed(code.pk, when), access, refresh) is True
    assert _writes(queries) == (["WITH"] if connection.vendor == "postgresql" else ["UPDATE", "INSERT", "INSERT"])
    assert AuthorizationCode.objects.get(pk=code.pk).consumed_at == when
    for row in (access, refresh):
        assert row.pk is not None and row._state.adding is False and row._state.db == "default"
        stored = type(row).objects.get(pk=row.pk)
        assert [getattr(stored, f.attname) for f in row._meta.concrete_fields] == [
            getattr(row, f.attname) for f in row._meta.concrete_fields
        ]

    again, also = _tokens(client, user, code.authorization)
    with CaptureQueriesContext(connection) as queries:
        assert insert_if(code_unconsumed(code.pk, when + timedelta(seconds=1)), again, also) is False
    assert _writes(queries) == (["WITH"] if connection.vendor == "postgresql" else ["UPDATE"])
    assert again.pk is None and also.pk is None and again._state.adding is True
    assert (AccessToken.objects.count(), RefreshToken.objects.count()) == (1, 1)
    assert AuthorizationCode.objects.get(pk=code.pk).consumed_at == when


def test_one_row_is_stored_only_under_its_condition():
    """A kept refresh token: the new access token is stored while the refresh token is live,
    not once it is revoked (the UPDATE changes no row)."""
    client, user = ClientFactory(), UserFactory()
    family = _family(client, user)
    now = secrets.now()
    token = RefreshToken.objects.create(token_hash=secrets.hash_token(secrets.generate_token()), authorization=family,
                                        scope="read", created_at=now, expires_at=now + timedelta(days=1))
    access, _ = _tokens(client, user, family)
    later = now + timedelta(days=2)
    with CaptureQueriesContext(connection) as queries:
        assert insert_if(refresh_kept(token.pk, now, later), access) is True
    assert _writes(queries) == (["WITH"] if connection.vendor == "postgresql" else ["UPDATE", "INSERT"])
    assert AccessToken.objects.get(pk=access.pk).token_hash == access.token_hash
    assert RefreshToken.objects.get(pk=token.pk).expires_at == later
    RefreshToken.objects.filter(pk=token.pk).update(revoked_at=now)
    again, _ = _tokens(client, user, family)
    assert insert_if(refresh_kept(token.pk, now, later + timedelta(days=1)), again) is False
    assert again.pk is None and AccessToken.objects.count() == 1
    assert RefreshToken.objects.get(pk=token.pk).expires_at == later


def test_conditional_rows_go_through_save_when_a_model_has_save_receivers():
    """A receiver must see every save: the rows are saved one by one after the UPDATE, in one
    transaction, and not at all when the condition fails."""
    seen: list[object] = []

    def receiver(sender, instance, created, **kwargs):
        seen.append(instance)

    client, user = ClientFactory(), UserFactory()
    code = _stored_code(client, user)
    access, refresh = _tokens(client, user, code.authorization)
    post_save.connect(receiver, sender=AccessToken)
    try:
        with CaptureQueriesContext(connection) as queries:
            assert insert_if(code_unconsumed(code.pk, secrets.now()), access, refresh) is True
        again, also = _tokens(client, user, code.authorization)
        assert insert_if(code_unconsumed(code.pk, secrets.now()), again, also) is False
    finally:
        post_save.disconnect(receiver, sender=AccessToken)
    assert seen == [access] and access.pk is not None and refresh.pk is not None
    assert _writes(queries)[0] == "UPDATE" and "WITH" not in _writes(queries)
    assert again.pk is None and also.pk is None and AccessToken.objects.count() == 1


def test_insert_if_stores_one_or_two_rows():
    client, user = ClientFactory(), UserFactory()
    code = _stored_code(client, user)
    access, refresh = _tokens(client, user, code.authorization)
    with pytest.raises(ValueError, match="one or two"):
        insert_if(code_unconsumed(code.pk, secrets.now()))
    with pytest.raises(ValueError, match="one or two"):
        extra, _ = _tokens(client, user, code.authorization)
        insert_if(code_unconsumed(code.pk, secrets.now()), access, refresh, extra)
    assert AuthorizationCode.objects.get(pk=code.pk).consumed_at is None


@pytest.mark.req("6749-4.1.2-single-use")
def test_consume_code_wins_once():
    family = _family(ClientFactory(), UserFactory())
    code = AuthorizationCode.objects.create(
        code_hash=secrets.hash_token("x"), authorization=family, code_challenge="c" * 43,
        expires_at=secrets.now() + timedelta(seconds=60),
    )
    when = secrets.now()
    assert code_unconsumed(code.pk, when).run() is True
    assert code_unconsumed(code.pk, when + timedelta(seconds=1)).run() is False
    code.refresh_from_db()
    assert code.consumed_at == when


def test_rotation_wins_once_and_the_grace_retry_is_spent_once_inside_the_window():
    family = _family(ClientFactory(), UserFactory())
    token = RefreshToken.objects.create(
        token_hash=secrets.hash_token("r"), authorization=family, scope="read",
        expires_at=secrets.now() + timedelta(days=1),
    )
    first = secrets.now()
    grace = timedelta(seconds=10)
    assert refresh_unrotated(token.pk, first).run() is True
    assert refresh_unrotated(token.pk, first + timedelta(seconds=1)).run() is False
    assert spend_refresh_grace(token.pk, first + timedelta(seconds=11), grace) is False  # window over
    assert spend_refresh_grace(token.pk, first + timedelta(seconds=5), grace) is True
    assert spend_refresh_grace(token.pk, first + timedelta(seconds=6), grace) is False  # spent
    token.refresh_from_db()
    assert token.rotated_at == first and token.revoked_at == first + timedelta(seconds=5)


def test_only_the_familys_own_client_is_attached_to_it(django_assert_num_queries):
    """``attach_client`` (the refresh grant hands a family the authenticated client) refuses a
    client that is not the family's, whichever side of it its key falls: a slip in a caller
    must not make another client pass for the family's."""
    lower, owner = ClientFactory(), ClientFactory()
    higher = ClientFactory()
    family = Authorization.objects.get(pk=_family(owner, UserFactory()).pk)
    for stranger in (lower, higher):
        with pytest.raises(ValueError, match="not the family's"):
            attach_client(family, stranger)
    attach_client(family, owner)
    with django_assert_num_queries(0):
        assert family.client is owner


@pytest.mark.parametrize("state", ["rotated", "revoked", "expired"])
def test_a_kept_refresh_token_is_extended_only_while_it_is_still_good(state):
    """``REFRESH_TOKEN_ROTATION`` keeping a token moves its expiry only while it is unrotated,
    unrevoked and unexpired (RFC 9700 §4.14.2): a revocation or rotation that lands between the
    read and the UPDATE is never undone, and an expired token is not brought back."""
    family = _family(ClientFactory(), UserFactory())
    now = secrets.now()
    later = now + timedelta(days=30)
    token = RefreshToken.objects.create(
        token_hash=secrets.hash_token("k"), authorization=family, scope="read", expires_at=now + timedelta(days=1),
    )
    assert refresh_kept(token.pk, now, later).run() is True
    token.refresh_from_db()
    assert token.expires_at == later
    dead = {"rotated": {"rotated_at": now}, "revoked": {"revoked_at": now},
            "expired": {"expires_at": now - timedelta(seconds=1)}}[state]
    RefreshToken.objects.filter(pk=token.pk).update(**dead)
    assert refresh_kept(token.pk, now, later + timedelta(days=1)).run() is False
    token.refresh_from_db()
    assert token.expires_at == dead.get("expires_at", later)


def test_a_statement_is_compiled_once_and_again_after_a_settings_change(monkeypatch):
    compiled: list[object] = []
    real = _prepared._compile
    monkeypatch.setattr(_prepared, "_compile", lambda *args: compiled.append(args) or real(*args))
    client, user = ClientFactory(), UserFactory()
    raw = secrets.generate_token()
    _access(raw, client, user, None)
    with override_settings(OAUTH_PROVIDER={"ISSUER": "https://other.example/o"}):
        for _ in range(3):
            assert access_token_by_value(raw) is not None
        assert len(compiled) == 1
    assert access_token_by_value(raw) is not None
    assert len(compiled) == 2


def test_values_are_prepared_by_their_field_as_the_orm_would():
    """A JWT's ``sub`` is a string: the integer key it names is found, junk raises the ORM's
    own error, and the adapter turns that (and an inactive user) into "no user"."""
    from oauth_provider.models.store import user_by_pk
    from oauth_provider.registry import adapter

    user, inactive = UserFactory(), UserFactory(is_active=False)
    assert user_by_pk(str(user.pk)) == user
    with pytest.raises(ValueError):
        user_by_pk("not-a-key")
    assert adapter().get_user_by_subject(str(user.pk)) == user
    assert adapter().get_user_by_subject(str(inactive.pk)) is None
    assert adapter().get_user_by_subject("not-a-key") is None
    assert adapter().get_user_by_subject(str(user.pk + inactive.pk + 1000)) is None


def test_every_hot_statement_is_really_prepared_on_this_database():
    """A statement that silently fell back to the ORM would still pass the tests above; this
    one fails instead, on each backend the suite runs on."""
    from oauth_provider.models.store import device_code_by_user_code, device_code_by_value, user_by_pk

    _prepared._generation[0] += 1
    client, user = ClientFactory(), UserFactory()
    family = _family(client, user)
    insert(Authorization(client=client, scope="read"))
    access_token_by_value("x" * 43), code_by_value("x"), refresh_token_by_value("x")
    refresh_token_by_value("x", with_client=True), client_by_id(client.client_id)
    consent_of(user, client), user_by_pk(user.pk), code_unconsumed(family.pk, secrets.now()).run()
    device_code_by_value("x" * 43), device_code_by_user_code("BCDFGHJKLM")
    plans = {key: plan for key, plan in _prepared._plans().items() if _prepared._generation[0] in key}
    assert len(plans) == 11
    assert all(plan is not None for plan in plans.values()), plans
    access, refresh = _tokens(client, user, family)
    insert_if(code_unconsumed(family.pk, secrets.now()), access, refresh)  # no such code: stores nothing
    conditional = [plan for key, plan in _prepared._plans().items()
                   if key[0] == "insert-if" and _prepared._generation[0] in key]
    assert conditional == ([conditional[0]] if connection.vendor == "postgresql" else [])
    assert all(plan is not None for plan in conditional)


def _lookup_answers_through_the_orm(raw: str, stored: AccessToken, queries_per_call: list[int]) -> None:
    """The bearer lookup finds ``stored`` with its related rows (reading them costs no query),
    making ``queries_per_call[i]`` statements on the i-th call, and is no longer prepared."""
    _prepared._generation[0] += 1
    for expected_queries in queries_per_call:
        with CaptureQueriesContext(connection) as queries:
            row = access_token_by_value(raw)
            assert row is not None
            seen = (row.pk, row.client.client_id, row.user.pk, row.authorization.pk)
        assert seen == (stored.pk, stored.client.client_id, stored.user.pk, stored.authorization.pk)
        assert len(queries.captured_queries) == expected_queries
        assert all("token_hash" in q["sql"] for q in queries.captured_queries)
    plans = [plan for key, plan in _prepared._plans().items() if _prepared._generation[0] in key]
    assert plans == [None]
    assert access_token_by_value(secrets.generate_token()) is None


def _stored_token() -> tuple[str, AccessToken]:
    client, user = ClientFactory(), UserFactory()
    raw = secrets.generate_token()
    return raw, _access(raw, client, user, _family(client, user))


@pytest.mark.parametrize("change", ["removed", "signature"])
def test_a_changed_populator_internal_falls_back_to_the_orm(monkeypatch, change):
    """``get_related_populators`` gone (a failed import) or taking other arguments (as Django
    6.1 added ``fetch_mode``): the statement is not prepared, the ORM answers in one query."""
    def other_signature(klass_info, select, db, fetch_mode, something_new):
        raise AssertionError("never called with the arguments it wants")

    monkeypatch.setattr(_prepared, "get_related_populators", None if change == "removed" else other_signature)
    raw, stored = _stored_token()
    _lookup_answers_through_the_orm(raw, stored, [1, 1])


def test_an_internal_failing_on_the_fetched_row_falls_back_to_the_orm(monkeypatch):
    """A populator that no longer fills rows the way this module calls it: that request is
    answered by the ORM (one more query, once), later ones by the ORM alone."""
    class ChangedPopulator:
        def populate_row(self, row, obj):  # the method this module calls is gone
            raise AssertionError("not called")

    monkeypatch.setattr(_prepared, "get_related_populators", lambda *args: [ChangedPopulator()])
    monkeypatch.setattr(_prepared, "_POPULATORS_TAKE_FETCH_MODE", False)
    raw, stored = _stored_token()
    _lookup_answers_through_the_orm(raw, stored, [2, 1])


@pytest.mark.skipif(connection.vendor != "sqlite", reason="Django's SQLite cursor rewrites placeholders")
def test_on_sqlite_each_statement_has_its_placeholders_rewritten_once(monkeypatch):
    """Django's SQLite cursor turns ``%s`` into ``?`` by a regular expression on every execute
    (a third of the bearer lookup's CPU); this module's statements are rewritten once, by
    Django's own rewrite, and run through Django's cursor wrapper (logged, counted)."""
    rewrites: list[str] = []
    django_rewrite = _prepared._SQLiteCursor.convert_query

    def counted(self, query, *args, **kwargs):
        rewrites.append(query)
        return django_rewrite(self, query, *args, **kwargs)

    monkeypatch.setattr(_prepared._SQLiteCursor, "convert_query", counted)
    monkeypatch.setattr(_prepared, "_qmark", {})
    _prepared._generation[0] += 1  # statements compiled afresh (an earlier test may have left one to the ORM)
    raw, stored = _stored_token()
    rewrites.clear()
    for _ in range(3):
        with CaptureQueriesContext(connection) as queries:
            assert access_token_by_value(raw).pk == stored.pk
            assert code_unconsumed(stored.authorization.pk, secrets.now()).run() is False
        assert len(queries.captured_queries) == 2
        assert "token_hash" in queries.captured_queries[0]["sql"]
    assert len(rewrites) == 2  # the lookup's and the UPDATE's, each once
    assert all("%s" in sql and sql.replace("%s", "?") == _prepared._qmark[sql] for sql in rewrites)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="Django's SQLite cursor rewrites placeholders")
def test_on_sqlite_a_backend_making_its_own_cursors_keeps_them(monkeypatch):
    """A host's SQLite backend that overrides ``create_cursor`` (instrumentation, a custom
    cursor class) gets its own cursors for these statements too, as for every other query."""
    made: list[object] = []
    backend = type(connections["default"])
    django_create = backend.create_cursor

    def own_cursor(self, name=None):
        cursor = django_create(self, name)
        made.append(cursor)
        return cursor

    monkeypatch.setattr(backend, "create_cursor", own_cursor)
    _prepared._generation[0] += 1
    raw, stored = _stored_token()
    made.clear()
    assert access_token_by_value(raw).pk == stored.pk
    assert code_unconsumed(stored.authorization.pk, secrets.now()).run() is False
    assert len(made) == 2 and not any(isinstance(c, _prepared._RewrittenOnceCursor) for c in made)


# -- the conditions that hold a row while tokens are stored from it (an outside race review) ------

def test_an_exchange_is_stored_only_while_its_subject_or_grant_is_unrevoked(db):
    """``exchanged_from``: the stored subject token (and its family), or the grant an ID token
    came from; a revoked one stores nothing, an unrevoked one lets the row in."""
    from oauth_provider.models import AccessToken, Authorization
    from oauth_provider.models.store import exchanged_from, insert_if
    from tests.support.factories import AccessTokenFactory, AuthorizationFactory

    def child(**links) -> AccessToken:
        return AccessToken(token_hash=secrets.hash_token(secrets.generate_token()), client=subject.client,
                           user=subject.user, scope="read", expires_at=subject.expires_at, exchange_depth=1, **links)

    family = AuthorizationFactory()
    subject = AccessTokenFactory(authorization=family, client=family.client, user=family.user)
    assert exchanged_from(None, None) is None
    assert insert_if(exchanged_from(subject, None), child(subject_token=subject, authorization=family))
    assert insert_if(exchanged_from(None, family), child(authorization=family))
    Authorization.objects.filter(pk=family.pk).update(revoked_at=secrets.now())
    assert not insert_if(exchanged_from(None, family), child(authorization=family))
    assert not insert_if(exchanged_from(subject, None), child(subject_token=subject, authorization=family))
    assert AccessToken.objects.count() == 3


def test_a_revoked_actor_token_is_not_held_nor_a_used_successor_shared(db):
    from oauth_provider.models import AccessToken, RefreshToken
    from oauth_provider.models.store import hold_access_token, share_refresh_token
    from tests.support.factories import AccessTokenFactory, RefreshTokenFactory

    actor = AccessTokenFactory()
    assert hold_access_token(actor)
    AccessToken.objects.filter(pk=actor.pk).update(revoked_at=secrets.now())
    assert not hold_access_token(actor)
    successor = RefreshTokenFactory()
    assert share_refresh_token(successor.pk, secrets.now())
    RefreshToken.objects.filter(pk=successor.pk).update(rotated_at=secrets.now())
    assert not share_refresh_token(successor.pk, secrets.now())

"""The hot-path statements compiled once (``oauth_provider.models._prepared``) behave exactly
like the ORM calls they replace: same rows, same related objects without extra queries, same
saved values and keys, same row counts, and the ORM itself when preparing is not possible."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models.signals import post_save
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from oauth_provider import secrets
from oauth_provider.models import AccessToken, Authorization, AuthorizationCode, Consent, RefreshToken
from oauth_provider.models._prepared import PreparedLookup, insert
from oauth_provider.models.store import (
    access_token_by_value,
    client_by_id,
    code_by_value,
    consent_of,
    consume_code,
    refresh_token_by_value,
    rotate_refresh_token,
    spend_refresh_grace,
)

from .factories import ClientFactory, UserFactory

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


@pytest.mark.req("6749-4.1.2-single-use")
def test_consume_code_wins_once():
    family = _family(ClientFactory(), UserFactory())
    code = AuthorizationCode.objects.create(
        code_hash=secrets.hash_token("x"), authorization=family, code_challenge="c" * 43,
        expires_at=secrets.now() + timedelta(seconds=60),
    )
    when = secrets.now()
    assert consume_code(code.pk, when) is True
    assert consume_code(code.pk, when + timedelta(seconds=1)) is False
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
    assert rotate_refresh_token(token.pk, first) is True
    assert rotate_refresh_token(token.pk, first + timedelta(seconds=1)) is False
    assert spend_refresh_grace(token.pk, first + timedelta(seconds=11), grace) is False  # window over
    assert spend_refresh_grace(token.pk, first + timedelta(seconds=5), grace) is True
    assert spend_refresh_grace(token.pk, first + timedelta(seconds=6), grace) is False  # spent
    token.refresh_from_db()
    assert token.rotated_at == first and token.revoked_at == first + timedelta(seconds=5)


def test_a_statement_is_compiled_once_and_again_after_a_settings_change(monkeypatch):
    from oauth_provider.models import _prepared

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
    from oauth_provider.models import _prepared
    from oauth_provider.models.store import user_by_pk

    _prepared._generation[0] += 1
    client, user = ClientFactory(), UserFactory()
    family = _family(client, user)
    insert(Authorization(client=client, scope="read"))
    access_token_by_value("x" * 43), code_by_value("x"), refresh_token_by_value("x")
    refresh_token_by_value("x", with_client=True), client_by_id(client.client_id)
    consent_of(user, client), user_by_pk(user.pk), consume_code(family.pk, secrets.now())
    plans = {key: plan for key, plan in _prepared._plans().items() if _prepared._generation[0] in key}
    assert len(plans) == 9
    assert all(plan is not None for plan in plans.values()), plans


def test_sqlite_statements_skip_djangos_per_execute_placeholder_rewrite():
    """On SQLite with a Django whose cursor takes named parameters, a prepared statement goes
    out with ``%(pN)s`` placeholders and a mapping (Django formats it once, instead of a regular
    expression over the whole statement); the query log still shows the real values."""
    from oauth_provider.models import _prepared

    if connection.vendor != "sqlite" or not _prepared._SQLITE_TAKES_NAMES:
        pytest.skip("only SQLite with Django >= 5 rewrites placeholders per execute")
    client, user = ClientFactory(), UserFactory()
    raw = secrets.generate_token()
    _access(raw, client, user, None)
    _prepared._generation[0] += 1
    with CaptureQueriesContext(connection) as queries:
        assert access_token_by_value(raw).client == client
        assert consume_code(-1, secrets.now()) is False
    plans = [plan for key, plan in _prepared._plans().items() if _prepared._generation[0] in key]
    statements = [plan.statement if isinstance(plan, _prepared._Plan) else plan[0] for plan in plans]
    assert statements and all(s.names and "%(p0)s" in s.sql and "%s" not in s.sql for s in statements)
    assert secrets.hash_token(raw) in queries.captured_queries[0]["sql"]


def test_a_statement_with_a_literal_percent_keeps_positional_placeholders():
    from oauth_provider.models._prepared import _Statement

    statement = _Statement.of("SELECT 'a%%' WHERE 1 = %s", connection)
    assert statement.names is None and statement.sql.endswith("1 = %s")
    with connection.cursor() as cursor:
        statement.execute(cursor, [1])
        assert cursor.fetchone() == ("a%",)

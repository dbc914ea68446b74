"""On PostgreSQL (psycopg 3) the hot statements of ``oauth_provider.models._prepared`` are
prepared on the server (a named, protocol-level statement, planned once per connection) with
Django's default database settings, and left unprepared wherever that could break: when the
host says so, when a pooler sits between, or when a pooler's error shows up.

Each test starts from a new connection (``transaction=True``, so it may be closed), whose
server session has no prepared statement yet; ``pg_prepared_statements`` is the server's own
list of them."""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.db import DatabaseError, connection, connections, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from oauth_provider import secrets
from oauth_provider.models import AccessToken, Authorization
from oauth_provider.models import _prepared as prepared_module
from oauth_provider.models._prepared import _execute
from oauth_provider.models.store import access_token_by_value, client_by_id, code_unconsumed
from tests.support.factories import ClientFactory, UserFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's prepared statements"),
    pytest.mark.django_db(transaction=True),
]

ISSUER = "https://testserver/o"


@pytest.fixture(autouse=True)
def _fresh_session():
    """A new server session, and this module's memory of the old one gone."""
    connection.close()
    prepared_module._generation[0] += 1
    prepared_module._local.modes = {}
    prepared_module._pooled.clear()
    yield
    prepared_module._pooled.clear()
    connection.close()


def _server_prepared() -> list[str]:
    """The statements the server holds prepared for this session (asked through psycopg, so
    the question is no statement of its own here)."""
    with connection.connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
        return [row[0] for row in cursor.fetchall()]


def _token(*, family_revoked: bool = False) -> tuple[str, AccessToken]:
    client, user = ClientFactory(), UserFactory()
    now = secrets.now()
    family = Authorization.objects.create(
        client=client, user=user, scope="read", revoked_at=now if family_revoked else None,
    )
    raw = secrets.generate_token()
    row = AccessToken.objects.create(
        token_hash=secrets.hash_token(raw), client=client, user=user, authorization=family, scope="read",
        created_at=now, expires_at=now + timedelta(hours=1),
    )
    return raw, row


def _lookups(raw: str, times: int) -> list[tuple[AccessToken | None, list[str]]]:
    """``times`` bearer lookups: each row and the SQL Django logged for it."""
    seen = []
    for _ in range(times):
        with CaptureQueriesContext(connection) as queries:
            row = access_token_by_value(raw)
            if row is not None:  # reading the joined rows costs nothing more
                _ = (row.client.client_id, row.user.pk, row.authorization.revoked_at)
        seen.append((row, [q["sql"] for q in queries.captured_queries]))
    return seen


def test_the_bearer_lookup_is_prepared_from_its_second_run_with_default_settings():
    raw, stored = _token()
    assert "prepare_threshold" not in connection.settings_dict["OPTIONS"]  # Django's defaults
    for row, sql in _lookups(raw, 3):
        assert row is not None and row.pk == stored.pk
        assert row.client.pk == stored.client_id and row.user.pk == stored.user_id
        assert len(sql) == 1 and stored.token_hash in sql[0]  # one statement, logged with its value
    statements = [s for s in _server_prepared() if "token_hash" in s]
    assert len(statements) == 1 and '"oauth_provider_accesstoken"."token_hash" = $1' in statements[0]
    assert access_token_by_value(secrets.generate_token()) is None  # the prepared statement, no row


def test_the_first_run_on_a_connection_is_not_prepared():
    """A connection that serves one request (``CONN_MAX_AGE = 0``) pays no extra round trip."""
    raw, _ = _token()
    _lookups(raw, 1)
    assert not [s for s in _server_prepared() if "token_hash" in s]


def test_a_revoked_family_is_seen_by_the_prepared_statement_at_once():
    """Exactly-once revocation holds with the plan cached: the family's flag is read by the
    same statement, every time, and a token issued into a revoked family is never live."""
    raw, stored = _token()
    assert all(row is not None and row.is_live() for row, _ in _lookups(raw, 3))
    Authorization.objects.filter(pk=stored.authorization_id).revoke()
    assert all(row is not None and not row.is_live() for row, _ in _lookups(raw, 2))
    late, _ = _token(family_revoked=True)
    assert all(row is not None and not row.is_live() for row, _ in _lookups(late, 3))
    assert [s for s in _server_prepared() if "token_hash" in s]


def test_updates_and_client_lookups_are_prepared_too():
    client = ClientFactory()
    for _ in range(2):
        assert client_by_id(client.client_id) == client
        assert code_unconsumed(10**9, secrets.now()).run() is False
    prepared = _server_prepared()
    assert any('"client_id" = $1' in s for s in prepared)
    assert any(s.startswith('UPDATE "oauth_provider_authorizationcode"') for s in prepared)


@pytest.mark.parametrize("how", ["setting", "pgbouncer_settings", "pooler_between"])
def test_left_unprepared_when_a_pooler_may_sit_between(monkeypatch, how):
    """``False``; or ``"auto"`` with ``DISABLE_SERVER_SIDE_CURSORS`` (what Django asks of a
    transaction-pooling PgBouncer's users); or ``"auto"`` on a connection whose server
    process is not the one that opened it: the statements run as Django runs them."""
    raw, stored = _token()
    if how == "pooler_between":
        monkeypatch.setattr(prepared_module, "_is_direct", lambda connection, raw: False)
    if how == "pgbouncer_settings":
        monkeypatch.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", True)
    value = False if how == "setting" else "auto"
    with override_settings(OAUTH_PROVIDER={"ISSUER": ISSUER, "POSTGRESQL_PREPARED_STATEMENTS": value}):
        for row, sql in _lookups(raw, 3):
            assert row is not None and row.pk == stored.pk and len(sql) == 1
        assert not [s for s in _server_prepared() if "token_hash" in s]


def test_the_pooler_probe_finds_a_direct_connection():
    connection.ensure_connection()
    assert prepared_module._is_direct(connection, connection.connection) is True


def test_true_prepares_without_asking_the_server(monkeypatch):
    monkeypatch.setattr(prepared_module, "_is_direct", lambda connection, raw: pytest.fail("asked"))
    monkeypatch.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", True)
    raw, _ = _token()
    with override_settings(OAUTH_PROVIDER={"ISSUER": ISSUER, "POSTGRESQL_PREPARED_STATEMENTS": True}):
        _lookups(raw, 2)
        assert [s for s in _server_prepared() if "token_hash" in s]


def _lose_the_prepared_statements() -> None:
    """What a transaction-pooling PgBouncer without ``max_prepared_statements`` does to a
    session: its next statement lands on a server connection that never saw the Parse
    (psycopg still believes the statements prepared)."""
    with connection.connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")


def test_a_pooler_error_in_autocommit_is_answered_unprepared_and_turns_preparing_off(caplog):
    raw, stored = _token()
    _lookups(raw, 2)
    _lose_the_prepared_statements()
    with caplog.at_level(logging.WARNING, logger="oauth_provider"):
        (row, sql), = _lookups(raw, 1)
    assert row is not None and row.pk == stored.pk
    assert len(sql) == 2  # the failed prepared run, then the same statement unprepared
    assert "prepared statements turned off" in caplog.text and "does not exist" in caplog.text
    assert connection.alias in prepared_module._pooled
    for row, sql in _lookups(raw, 2):  # from now on as Django runs them
        assert row is not None and len(sql) == 1
    assert not [s for s in _server_prepared() if "token_hash" in s]


def test_a_pooler_error_inside_a_transaction_is_raised_not_retried():
    """The error aborted the transaction: running the statement again cannot answer, the
    caller's transaction fails as it would for any database error (and preparing stops)."""
    raw, _ = _token()
    _lookups(raw, 2)
    _lose_the_prepared_statements()
    with pytest.raises(DatabaseError), transaction.atomic():
        access_token_by_value(raw)
    assert connection.alias in prepared_module._pooled
    assert access_token_by_value(raw) is not None


def test_a_statement_error_that_is_not_a_poolers_is_raised():
    connection.ensure_connection()
    sql = "SELECT 1 / %s"
    assert _execute(connection, sql, [1]) == (1,)
    with pytest.raises(DatabaseError):
        _execute(connection, sql, [0])  # prepared now: division by zero is the caller's error
    assert not prepared_module._pooled


@pytest.mark.parametrize(("value", "databases", "ids"), [
    ("auto", {}, []),
    (False, {}, []),
    ("sometimes", {}, ["oauth_provider.W150"]),
    (True, {}, []),
    (True, {"DISABLE_SERVER_SIDE_CURSORS": True}, ["oauth_provider.W151"]),
    ("auto", {"DISABLE_SERVER_SIDE_CURSORS": True}, []),
])
def test_system_checks(monkeypatch, value, databases, ids):
    for key, setting in databases.items():
        monkeypatch.setitem(settings.DATABASES["default"], key, setting)
    with override_settings(OAUTH_PROVIDER={"ISSUER": ISSUER, "POSTGRESQL_PREPARED_STATEMENTS": value}):
        found = [m.id for m in run_checks() if m.id in ("oauth_provider.W150", "oauth_provider.W151")]
    assert found == ids


# -- behind a real PgBouncer in transaction mode ----------------------------------------------
PGBOUNCER = shutil.which("pgbouncer") or next(
    (path for path in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(path, os.X_OK)), None
)


@pytest.fixture
def pgbouncer():
    """A transaction-pooling PgBouncer in front of the test database, without
    ``max_prepared_statements`` (which only 1.21+ has): the pooler that mixes up named
    statements. Yields a function making Django connections through it."""
    if PGBOUNCER is None:
        pytest.skip("pgbouncer is not installed (Debian: apt-get install pgbouncer)")
    tmp_path = Path(tempfile.mkdtemp(prefix="oauth-provider-pgbouncer-"))  # not under pytest's 0700 root
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    db = connection.settings_dict
    (tmp_path / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']}"
        + (f" password={db['PASSWORD']}" if db["PASSWORD"] else "") + "\n"
        "[pgbouncer]\nlisten_addr = 127.0.0.1\n"
        f"listen_port = {port}\nauth_type = any\npool_mode = transaction\ndefault_pool_size = 2\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
        f"logfile = {tmp_path / 'pgbouncer.log'}\n"
    )
    command = [PGBOUNCER, "-q", str(tmp_path / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root with no postgres user to run pgbouncer as")
        os.chown(tmp_path, user.pw_uid, user.pw_gid)
        os.chown(tmp_path / "pgbouncer.ini", user.pw_uid, user.pw_gid)
        command[1:1] = ["-u", "postgres"]
    process = subprocess.Popen(command)
    wrappers = []

    def through_pgbouncer():
        settings_dict = {**db, "HOST": "127.0.0.1", "PORT": str(port)}
        wrapper = type(connections[connection.alias])(settings_dict, alias=connection.alias)
        wrappers.append(wrapper)
        return wrapper

    try:
        for _ in range(50):
            with socket.socket() as attempt:
                if attempt.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            pytest.fail(f"pgbouncer did not start: {(tmp_path / 'pgbouncer.log').read_text()!r}")
        yield through_pgbouncer
    finally:
        for wrapper in wrappers:
            wrapper.close()
        process.terminate()
        process.wait(10)
        shutil.rmtree(tmp_path, ignore_errors=True)


def _through(wrappers, rounds: int, lookup) -> list[object]:
    """``lookup()`` ``rounds`` times on each Django connection in turn (as two worker
    threads would, each with its own connection through the same pool)."""
    original = connections[connection.alias]
    answers = []
    try:
        for _ in range(rounds):
            for wrapper in wrappers:
                connections[connection.alias] = wrapper
                answers.append(lookup())
    finally:
        connections[connection.alias] = original
    return answers


def test_behind_a_transaction_pooling_pgbouncer_auto_prepares_nothing(pgbouncer):
    raw, stored = _token()
    wrappers = [pgbouncer(), pgbouncer()]
    answers = _through(wrappers, 10, lambda: access_token_by_value(raw))
    assert [row.pk for row in answers] == [stored.pk] * 20
    for wrapper in wrappers:  # the probe saw the pooler: nothing was prepared anywhere
        assert prepared_module._states[wrapper.connection].direct is False
        assert not wrapper.connection._prepared._names
    assert not prepared_module._pooled


def test_forced_on_behind_an_old_pgbouncer_the_errors_turn_it_off_and_every_answer_is_right(pgbouncer, caplog):
    raw, stored = _token()
    client = ClientFactory()
    wrappers = [pgbouncer(), pgbouncer()]
    with override_settings(OAUTH_PROVIDER={"ISSUER": ISSUER, "POSTGRESQL_PREPARED_STATEMENTS": True}), \
            caplog.at_level(logging.WARNING, logger="oauth_provider"):
        answers = _through(wrappers, 10, lambda: (access_token_by_value(raw), client_by_id(client.client_id)))
        assert [(row.pk, found.pk) for row, found in answers] == [(stored.pk, client.pk)] * 20
        assert connection.alias in prepared_module._pooled
    assert "prepared statements turned off" in caplog.text


def test_one_psycopg_cursor_serves_the_prepared_statements_and_logging_follows_the_request():
    """The cursor is kept per connection, but wrapped per statement as Django wraps one: a
    statement run while queries are not logged is not, the next one that is, is."""
    raw, stored = _token()
    client = ClientFactory()
    for _ in range(3):  # not logged: prepared from the second run
        assert access_token_by_value(raw) is not None and client_by_id(client.client_id) == client
    state = prepared_module._states[connection.connection]
    kept = state.cursor
    assert kept is not None and not kept.closed
    with CaptureQueriesContext(connection) as queries:
        assert access_token_by_value(raw).pk == stored.pk
        assert client_by_id(client.client_id) == client
    assert [stored.token_hash in queries[0]["sql"], client.client_id in queries[1]["sql"]] == [True, True]
    assert state.cursor is kept
    with override_settings(OAUTH_PROVIDER={"ISSUER": ISSUER}):  # a settings change: a new cursor
        assert access_token_by_value(raw) is not None
        assert access_token_by_value(raw) is not None
        assert state.cursor is not kept


def _timestamps(row: AccessToken) -> list[object]:
    related = (row, row.client, row.user, row.authorization)
    return [getattr(obj, field.attname) for obj in related for field in obj._meta.concrete_fields
            if field.get_internal_type() == "DateTimeField"]


@pytest.mark.parametrize("tz_settings", [{}, {"TIME_ZONE": "Asia/Kathmandu"}, {"USE_TZ": False}])
def test_prepared_lookups_read_timestamps_with_psycopgs_compiled_loader_exactly_as_django_does(tz_settings):
    """Django's ``timestamptz`` loader parses in Python; the kept cursor reads them with
    psycopg's compiled loader and puts on each the time zone Django's would (UTC, or none
    without ``USE_TZ``): the same values, the same ``tzinfo`` objects, as the ORM reads."""
    with override_settings(**tz_settings):
        raw, stored = _token()
        stored.user.last_login = secrets.now() - timedelta(days=3, microseconds=5)
        stored.user.save()
        from_orm = AccessToken.objects.select_related("client", "user", "authorization").get(pk=stored.pk)
        for _ in range(3):
            prepared = access_token_by_value(raw)
        expected = _timestamps(from_orm)
        assert len(expected) >= 5 and all(value is not None for value in expected[:2])
        got = _timestamps(prepared)
        assert got == expected
        assert [getattr(v, "tzinfo", None) for v in got] == [getattr(v, "tzinfo", None) for v in expected]
        if not tz_settings.get("USE_TZ", True):
            assert all(value is None or value.tzinfo is None for value in got)
        cursor = prepared_module._states[connection.connection].cursor
        loader = cursor.adapters.get_loader(prepared_module._TIMESTAMPTZ, prepared_module.psycopg.pq.Format.TEXT)
        instance = loader(prepared_module._TIMESTAMPTZ, cursor)
        # ours wraps psycopg's loader (Django up to 5.2 parses in Python); Django 6.1's own does
        parser = instance._load.__self__ if loader.__name__ == "_TimestamptzLoader" else instance.orig_loader
        assert not type(parser).__module__.startswith("psycopg.")  # psycopg[binary]'s compiled one

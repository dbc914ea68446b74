"""Hot-path statements compiled once per thread and database connection.

Django compiles a queryset to SQL every time it is evaluated, and on the requests this
library serves most (a client by ``client_id``; a token by its hash, joined to its client,
user and family) that compilation costs several times the query itself. So:

* :class:`PreparedLookup` lets the ORM build the statement once, with a marker where the
  looked-up value goes, then re-runs that SQL with the real value and turns the row into
  model instances with the ORM's own converters and related-object populators, exactly as
  ``QuerySet.__iter__`` would;
* on SQLite, the statements' placeholders are rewritten for the driver once (Django's SQLite
  cursor does it by a regular expression on every run: a third of the bearer lookup's CPU);
* :class:`PreparedUpdate` is a conditional UPDATE (consume a code, rotate a refresh token)
  written once and re-run with new values; the row count decides who won;
* :func:`insert` stores a new token, code or family row as ``save()`` would, with an
  ``INSERT ... RETURNING`` written once from the model's fields. On PostgreSQL, :func:`insert_pair`
  (a grant and its first code, the code's key taken from the grant's ``RETURNING``) and
  :func:`insert_two` (an access and a refresh token) put two such INSERTs in one statement
  (``WITH ... AS (INSERT ... RETURNING key) INSERT ...``): atomic on its own, one round trip;
  :func:`insert_if` puts a conditional UPDATE in front of them (``WITH guard AS (UPDATE ...
  RETURNING 1) INSERT ... SELECT ... FROM guard``), so the rows are stored only if it changed
  its row: a code consumed and its tokens stored in one statement.

Each is still one ``cursor.execute`` through Django's connection, so query logging,
``assert_num_queries`` and execute wrappers see it. What each buys, measured, is in
``docs/performance.md`` ("Prepared statements: what they buy"), with what was measured and
dropped (SQLite named placeholders; the INSERT compiled by the ORM's ``InsertQuery``).

Correctness never depends on this module: a statement that cannot be prepared is run by the
ORM, and so is one whose prepared run meets an internal it does not recognise.

Private ORM internals used, and what happens when one changes
--------------------------------------------------------------
"Fallback": the ORM (or ``save()``) does the work, every time, with the same statements as
before. ``tests/test_prepared.py`` fails when a statement silently stops being prepared
(``test_every_hot_statement_is_really_prepared_on_this_database``) and ``.ci/run`` runs it,
with the query-budget tests, against the newest Django pip finds, pre-releases included.

=============================================  ==============================  ==================
internal                                       used for                        if it changes
=============================================  ==============================  ==================
``QuerySet.query.get_compiler(using=)``        the ORM compiles a lookup once  fallback
``SQLCompiler.as_sql()`` -> (sql, params)      the SQL; where the marker sits  fallback (marker
                                                                               not found once)
``SQLCompiler.klass_info`` (``model``,         which columns build which       fallback
``select_fields``, related infos)              instance
``SQLCompiler.select`` (``col.target``)        the field names for from_db     fallback
``SQLCompiler.annotation_col_map``             refuse annotated querysets      fallback
``SQLCompiler.get_converters()`` ->            column values as Python (JSON,  fallback
``{index: (functions, expression)}``, each     dates on SQLite, ...)
``function(value, expression, connection)``
``django.db.models.query                       the ``select_related``          fallback (a failed
.get_related_populators``,                     instances                       import included)
``RelatedPopulator.populate(row, obj)``
``fetch_mode``: ``QuerySet._fetch_mode`` and   Django 6.1+, passed where the   fallback (and a
the argument of the populators and             signature takes it, as          mode tracking peers,
``Model.from_db``                              ``ModelIterable`` does          FETCH_PEERS, is
                                                                               left to the ORM)
``Model.from_db(db, names, values)``           the instance (documented API)   fallback
``Model._prepare_related_fields_for_save``     insert() refuses an unsaved     fallback to save()
                                               related object as save() does
``Options.parents``, ``auto_field``,           the INSERT's columns; which     fallback to save()
``concrete_fields``                            models it can be written for
``Field.generated``, ``db_returning``,         columns the INSERT leaves to    renamed: the INSERT
``get_placeholder``                            save() (computed by the         fails for a model
                                               database, custom SQL)           with such a column
                                                                               (this library has
                                                                               none)
``Field.target_field``, ``get_prep_value``,    values prepared as the ORM      fails, as the ORM
``get_db_prep_value(prepared=True)``,          prepares them                   fails: a bad value
``get_db_prep_save``, ``pre_save``                                             raises its error
SQLite: ``SQLiteCursorWrapper.convert_query``  each statement's ``%s`` turned  Django's cursor
(subclassed), ``DatabaseWrapper.               into ``?`` once, by Django's    rewrites them on
create_cursor`` (what a backend not            own rewrite                     every run, as
overriding it makes)                                                           before
=============================================  ==============================  ==================

On PostgreSQL with psycopg 3 the statements are also prepared on the server (the section
"PostgreSQL" below; ``POSTGRESQL_PREPARED_STATEMENTS``). That relies on psycopg's public API
(``Connection.cursor_factory``, ``prepare_threshold``, ``Cursor.execute(prepare=True)``,
``info.backend_pid``), on the database wrapper's backend API to open and wrap the one cursor
kept per connection (``create_cursor()``, ``make_cursor()``/``make_debug_cursor()`` chosen by
``queries_logged``, ``validate_thread_sharing()``, ``wrap_database_errors``) and on one private
detail: Django logs a psycopg 3 query as
``cursor._query.query`` (the SQL a client-side binding cursor sent), which a prepared run
leaves None, so the preparing cursor puts the SQL with its values there. If either side
changes, the logged SQL is None or the server's form; the statements still run. The kept
cursor also reads ``timestamptz`` columns with psycopg's compiled loader
(``psycopg.adapters.get_loader``, the ``Loader`` API) instead of Django's Python one, and puts
on each value the ``timezone`` attribute of Django's loader (``BaseTzLoader``, private), as
Django's does; where Django's loader is not a ``TimestamptzLoader`` with that attribute, or
psycopg has no compiled loader, the cursor keeps Django's.

A fallback decided while compiling costs nothing more. A failure while turning a fetched
row into instances costs that one request a second query (the ORM's); after it the
statement is no longer prepared in that thread.

Two of these moved recently. Django 6.0 renamed
``DatabaseOperations.fetch_returned_insert_columns()`` (a ``fetchone()``) to
``fetch_returned_rows()`` (a ``fetchall()``): :func:`insert` calls neither, it reads its one
``RETURNING`` row with ``cursor.fetchone()`` as the base backend of SQLite, PostgreSQL and
MariaDB does (Oracle, whose ``RETURNING`` binds out-parameters, gets ``save()``). Django 6.1,
not 6.0, added ``fetch_mode`` to ``get_related_populators()`` and ``Model.from_db()``: it is
passed here when the signature has it.
"""

from __future__ import annotations

import inspect
import logging
import secrets
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.core.signals import setting_changed
from django.db import DatabaseError, connections, router, transaction
from django.db.models import Model, QuerySet
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from ..conf import provider_settings

try:
    from django.db.models.query import get_related_populators
except ImportError:  # pragma: no cover - moved or renamed in a future Django: the ORM answers
    get_related_populators = None  # type: ignore[assignment]

try:
    from django.db.backends.sqlite3.base import DatabaseWrapper as _SQLiteWrapper
    from django.db.backends.sqlite3.base import SQLiteCursorWrapper as _SQLiteCursor
except Exception:  # noqa: BLE001 pragma: no cover - moved in a future Django: Django's cursor runs them
    _SQLiteWrapper = _SQLiteCursor = None  # type: ignore[assignment,misc]
#: how Django's SQLite backend makes a cursor; a backend that makes them otherwise keeps its own
_DJANGO_SQLITE_CREATE_CURSOR = getattr(_SQLiteWrapper, "create_cursor", None)

try:
    import psycopg
    from psycopg.types.datetime import TimestamptzLoader as _PsycopgTimestamptzLoader
except ImportError:  # pragma: no cover - psycopg2 or no PostgreSQL: statements run unprepared
    psycopg = None  # type: ignore[assignment]

logger = logging.getLogger("oauth_provider")

#: stands for the looked-up value while the ORM compiles; never sent to the database
_MARKER = f"oauth-provider-prepared-{secrets.token_hex(8)}"
_local = threading.local()
#: bumped by ``setting_changed``: every thread's plans from before are ignored
_generation = [0]


def _takes(function: Any, name: str) -> bool:
    """Whether ``function`` accepts an argument called ``name`` (or any keyword)."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


#: Django 6.1 passes the queryset's fetch mode to the related populators (and to from_db)
_POPULATORS_TAKE_FETCH_MODE = get_related_populators is not None and _takes(get_related_populators, "fetch_mode")


@dataclass(frozen=True)
class _Plan:
    sql: str
    params: tuple[Any, ...]
    positions: tuple[int, ...]
    #: column index -> (converters, expression), from the ORM's compiler
    converters: dict[int, tuple[list[Any], Any]]
    from_db: Callable[..., Model]
    init_list: list[str]
    start: int
    end: int
    populators: list[Any]

    def instance(self, row: list[Any], alias: str, connection: Any) -> Model:
        """The model instance (with its related ones) for ``row``, as the ORM builds it."""
        for index, (functions, expression) in self.converters.items():
            converted = row[index]
            for function in functions:
                converted = function(converted, expression, connection)
            row[index] = converted
        obj = self.from_db(alias, self.init_list, row[self.start:self.end])
        for populator in self.populators:
            populator.populate(row, obj)
        return obj


#: marker integers: negative, and inside even a SmallAutoField's range (Django compiles an
#: out-of-range value to an empty result instead of a parameter)
_INT_MARKER_BASE = -7001
_INTEGER_TYPES = frozenset({
    "AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField", "SmallIntegerField",
    "PositiveIntegerField", "PositiveBigIntegerField", "PositiveSmallIntegerField",
})
_STRING_TYPES = frozenset({"CharField", "TextField"})


def _target(model: type[Model], name: str) -> Any:
    """The field whose column holds ``name``'s value (a foreign key's target field)."""
    field: Any = model._meta.pk if name == "pk" else model._meta.get_field(name)
    return field.target_field if field.is_relation else field


def _marker(model: type[Model], name: str, index: int) -> Any | None:
    """A value that stands for the ``index``-th looked-up value while the ORM compiles: of
    the field's own type, and unlike any real value. None for other field types."""
    kind = _target(model, name).get_internal_type()
    if kind in _INTEGER_TYPES:
        return _INT_MARKER_BASE - index
    if kind in _STRING_TYPES:
        return f"{_MARKER}-{index}"
    return None


def _compile(queryset: QuerySet[Any], alias: str, markers: list[Any]) -> _Plan | None:
    """The plan for ``queryset`` compiled with ``markers``, or None when its SQL or the ORM's
    internals are not what this module expects (see the table in the module docstring)."""
    if get_related_populators is None:
        return None
    compiler = queryset.query.get_compiler(using=alias)
    sql, params = compiler.as_sql()
    positions = []
    for marker in markers:
        found = [i for i, value in enumerate(params) if type(value) is type(marker) and value == marker]
        if len(found) != 1:
            return None
        positions.append(found[0])
    klass_info = compiler.klass_info
    if not klass_info or compiler.annotation_col_map:
        return None
    model = klass_info["model"]
    select = compiler.select
    # typed loosely: its signature depends on the Django version (and on the stubs')
    populators_of: Any = get_related_populators
    if _POPULATORS_TAKE_FETCH_MODE:
        # Django 6.1+: what ModelIterable does with the queryset's fetch mode. A mode that
        # links the instances of one result to each other (FETCH_PEERS) is left to the ORM.
        fetch_mode = queryset._fetch_mode  # type: ignore[attr-defined]
        if getattr(fetch_mode, "track_peers", True):
            return None
        populators = populators_of(klass_info, select, alias, fetch_mode)
        from_db = model.from_db
        if _takes(from_db, "fetch_mode"):  # else a from_db() override from before 6.1, as the ORM calls it
            from_db = partial(from_db, fetch_mode=fetch_mode)
    else:
        populators = populators_of(klass_info, select, alias)
        from_db = model.from_db
    fields = klass_info["select_fields"]
    start, end = fields[0], fields[-1] + 1
    return _Plan(
        sql=sql,
        params=tuple(params),
        positions=tuple(positions),
        converters=compiler.get_converters([column[0] for column in select]),
        from_db=from_db,
        init_list=[column[0].target.attname for column in select[start:end]],
        start=start,
        end=end,
        populators=populators,
    )


def _plans() -> dict[Any, Any]:
    plans: dict[Any, Any] | None = getattr(_local, "plans", None)
    if plans is None:
        plans = _local.plans = {}
    return plans


# -- PostgreSQL: statements the server parses and plans once per connection ------------------
#
# Django's default PostgreSQL cursor (psycopg 3's ``ClientCursor``) interpolates the values into
# the SQL and sends a new query every time, so the server parses and plans the four-table bearer
# lookup on every request: ~0.2 ms of planning for ~0.03 ms of execution. Here the hot statements
# run through a psycopg cursor that binds on the server and prepares them (a named statement,
# protocol-level Parse/Bind, never SQL ``PREPARE``), still opened by Django's ``cursor()``, so
# logging, ``assert_num_queries`` and execute wrappers see them.

#: psycopg prepares a statement only when the connection's ``prepare_threshold`` is not None
#: (Django sets None); while a statement of this module runs it is this, so nothing else is
#: prepared by count: only the statements asked with ``prepare=True``
_EXPLICIT_ONLY = 2**31 - 1
#: SQLSTATEs of a named statement the server does not have (26000) or has already (42P05): what
#: a pooler that moves a session between server connections (PgBouncer in transaction mode
#: without ``max_prepared_statements``) makes of prepared statements
_POOLER_SQLSTATES = frozenset({"26000", "42P05"})
#: "cached plan must not change result type": a table changed under a prepared statement
_CHANGED_SQLSTATE = "0A000"
#: databases where a prepared statement met a pooler's error: never prepared again here
_pooled: set[str] = set()


class _ConnectionState:
    """What this module knows about one psycopg connection."""

    __slots__ = ("cursor", "direct", "generation", "seen")

    def __init__(self) -> None:
        #: the server process that answers is the one the connection opened (no pooler between)
        self.direct: bool | None = None
        #: statements run once on this connection: the second run prepares
        self.seen: set[str] = set()
        #: the psycopg cursor the prepared statements run on, kept open (opening one per
        #: statement cost a third of the lookup's CPU), and the settings generation it was
        #: made in (Django registers a time-zone loader on a cursor when the settings ask)
        self.cursor: Any = None
        self.generation = -1


_states: weakref.WeakKeyDictionary[Any, _ConnectionState] = weakref.WeakKeyDictionary()

if psycopg is not None:

    class _ComposedLater:
        """What Django logs of a statement run by :class:`_PreparingCursor` (it reads
        ``cursor._query.query``, the SQL a client-side binding cursor sent; None after a
        prepared run): the SQL with its values, composed only when read."""

        __slots__ = ("connection", "params", "sql")

        def __init__(self, connection: Any, sql: Any, params: Any) -> None:
            self.connection, self.sql, self.params = connection, sql, params

        @property
        def query(self) -> bytes:
            return str(psycopg.ClientCursor(self.connection).mogrify(self.sql, self.params)).encode()

    class _PreparingCursor(psycopg.Cursor[Any]):
        """A psycopg cursor binding on the server that prepares what it executes."""

        def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None,
                    binary: bool | None = None) -> Any:
            connection = self.connection
            if connection.prepare_threshold is None:  # Django's default: psycopg prepares nothing
                connection.prepare_threshold = _EXPLICIT_ONLY
                try:
                    super().execute(query, params, prepare=True, binary=binary)
                finally:
                    connection.prepare_threshold = None
            else:  # the host let psycopg prepare by count
                super().execute(query, params, prepare=True, binary=binary)
            self._query = _ComposedLater(connection, query, params)  # type: ignore[assignment]
            return self

    _TIMESTAMPTZ = psycopg.postgres.types["timestamptz"].oid
    _fast_loaders: dict[tuple[type[Any], Any], type[Any]] = {}

    def _fast_timestamptz_loader(compiled: type[Any], timezone: Any) -> type[Any]:
        """A loader of ``timestamptz`` text doing what Django's does (psycopg's loader, then the
        connection's time zone put on the result), with psycopg's ``compiled`` loader."""
        if (compiled, timezone) not in _fast_loaders:

            class _TimestamptzLoader(psycopg.adapt.Loader):
                def __init__(self, oid: int, context: Any = None) -> None:
                    super().__init__(oid, context)
                    self._load = compiled(oid, context).load

                def load(self, data: Any) -> Any:
                    return self._load(data).replace(tzinfo=timezone)

            _fast_loaders[(compiled, timezone)] = _TimestamptzLoader
        return _fast_loaders[(compiled, timezone)]

    def _load_timestamps_in_c(cursor: Any) -> None:
        """Let ``cursor`` read ``timestamptz`` columns with psycopg's compiled loader.

        Django's loader (``BaseTzLoader``, up to Django 5.2) is a Python subclass of psycopg's
        pure-Python one, so each timestamp is parsed by a regular expression in Python: 7 per
        bearer lookup, about a tenth of its client CPU. The compiled loader (psycopg[binary] or
        [c]) parses the same text; the time zone Django's loader on this cursor puts on the
        result is then put on it as Django does. Without a compiled loader, or with a Django
        loader of another shape (Django 6.1's wraps psycopg's loader itself), the cursor keeps
        Django's."""
        text = psycopg.pq.Format.TEXT
        django_loader = cursor.adapters.get_loader(_TIMESTAMPTZ, text)
        compiled = psycopg.adapters.get_loader(_TIMESTAMPTZ, text)
        if (django_loader is None or compiled is None or not hasattr(django_loader, "timezone")
                or not issubclass(django_loader, _PsycopgTimestamptzLoader)
                or compiled.__module__.startswith("psycopg.")):  # psycopg's own Python loader: no gain
            return
        cursor.adapters.register_loader(_TIMESTAMPTZ, _fast_timestamptz_loader(compiled, django_loader.timezone))


def _prepare_mode(connection: Any) -> str | None:
    """``"always"``, ``"auto"`` or None (Django's own cursor) for this database, from
    ``POSTGRESQL_PREPARED_STATEMENTS``; remembered per thread until a setting changes."""
    modes: dict[Any, str | None] | None = getattr(_local, "modes", None)
    if modes is None:
        modes = _local.modes = {}
    key = (connection.alias, _generation[0])
    if key not in modes:
        setting = provider_settings.POSTGRESQL_PREPARED_STATEMENTS
        mode: str | None = None
        if psycopg is not None and connection.vendor == "postgresql" and setting is not False:
            if setting is True:
                mode = "always"
            elif not connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS"):
                # Django's documented setting for a transaction-pooling PgBouncer: the host
                # says a pooler sits in between, so "auto" leaves statements unprepared.
                mode = "auto"
        modes[key] = mode
    return modes[key]


def _is_direct(connection: Any, raw: Any) -> bool | None:
    """Is the server process answering the one that opened the connection (no pooler moving
    the session between servers)? Asked once per connection, as Django sets the time zone:
    straight on the psycopg connection, so it counts as no statement of a request. None: cannot
    tell now (a failed transaction)."""
    if raw.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
        return None
    with connection.wrap_database_errors, raw.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    # A pooler answers the startup with a process id of its own making (its cancel key).
    return bool(pid == raw.info.backend_pid)


def _preparing_cursor(connection: Any, sql: str) -> Any | None:
    """Django's cursor wrapper over the connection's psycopg cursor that prepares ``sql``, or
    None: run it as Django would. A statement is prepared on its second run on a connection (a connection that
    serves one request, ``CONN_MAX_AGE = 0``, pays no extra round trip to prepare), and in
    the ``"auto"`` mode only on a connection no pooler sits behind."""
    mode = _prepare_mode(connection)
    if mode is None or connection.alias in _pooled:
        return None
    connection.ensure_connection()
    raw = connection.connection
    if not isinstance(raw, psycopg.Connection):  # psycopg2: no server-side binding
        return None
    state = _states.get(raw)
    if state is None:
        state = _states[raw] = _ConnectionState()
    if sql not in state.seen:
        state.seen.add(sql)
        return None
    if state.direct is None:
        state.direct = True if mode == "always" else _is_direct(connection, raw)
    if not state.direct:
        return None
    cursor = state.cursor
    if cursor is None or cursor.closed or state.generation != _generation[0]:
        factory = raw.cursor_factory
        raw.cursor_factory = _PreparingCursor
        try:
            with connection.wrap_database_errors:
                cursor = connection.create_cursor()  # Django's own: its time-zone loader when needed
        finally:
            raw.cursor_factory = factory
        _load_timestamps_in_c(cursor)
        state.cursor, state.generation = cursor, _generation[0]
    # wrapped per statement as connection.cursor() wraps one: logged when queries are
    # (assert_num_queries turns that on at any time), through the execute wrappers
    connection.validate_thread_sharing()
    return connection.make_debug_cursor(cursor) if connection.queries_logged else connection.make_cursor(cursor)


def _stop_preparing(connection: Any, error: DatabaseError) -> bool:
    """After ``error`` from a prepared statement: stop preparing where it cannot work, and
    say whether the statement may be run again unprepared."""
    sqlstate = getattr(error.__cause__, "sqlstate", None)
    if sqlstate in _POOLER_SQLSTATES:
        _pooled.add(connection.alias)
        logger.warning(
            "PostgreSQL prepared statements turned off for database %r: %s. A pooler moves sessions "
            "between server connections (PgBouncer in transaction mode needs 1.22+ with "
            "max_prepared_statements); set OAUTH_PROVIDER['POSTGRESQL_PREPARED_STATEMENTS'] = False "
            "to say so.", connection.alias, error,
        )
    elif sqlstate == _CHANGED_SQLSTATE:
        state = _states.get(connection.connection)
        if state is not None:  # the table changed under it: no more preparing on this connection
            state.direct = False
    else:
        return False
    return True


# -- SQLite: each statement rewritten to its placeholders once ---------------------------------
#
# Django's SQLite cursor turns every ``%s`` of a statement into ``?`` with a regular expression
# on each execute: on the 75-column bearer lookup a third of its CPU (33 of 112 µs, measured
# alone on an idle machine). The statements of this module are a fixed set, so their rewritten
# form is kept (per process: the rewrite depends on the SQL alone).

#: the SQL of this module's statements as Django's SQLite cursor rewrites them
_qmark: dict[str, str] = {}

if _SQLiteCursor is not None and callable(getattr(_SQLiteCursor, "convert_query", None)):

    class _RewrittenOnceCursor(_SQLiteCursor):
        """Django's SQLite cursor, remembering how it rewrote each statement's placeholders."""

        def convert_query(self, query: str, *args: Any, **kwargs: Any) -> str:
            if args or kwargs.get("param_names") is not None:  # "pyformat" placeholders: not ours
                return str(super().convert_query(query, *args, **kwargs))
            converted = _qmark.get(query)
            if converted is None:
                converted = _qmark[query] = str(super().convert_query(query))
            return converted

else:  # pragma: no cover - a future Django's SQLite cursor: its own rewrite every time
    _RewrittenOnceCursor = None  # type: ignore[assignment,misc]


def _sqlite_cursor(connection: Any) -> Any | None:
    """Django's cursor wrapper over a SQLite cursor that rewrites this module's statements
    once, or None: Django's own cursor (another database, or a backend that makes its cursors
    otherwise)."""
    if (_RewrittenOnceCursor is None or connection.vendor != "sqlite"
            or getattr(type(connection), "create_cursor", None) is not _DJANGO_SQLITE_CREATE_CURSOR):
        return None
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = connection.connection.cursor(factory=_RewrittenOnceCursor)
    connection.validate_thread_sharing()
    return connection.make_debug_cursor(cursor) if connection.queries_logged else connection.make_cursor(cursor)


def _execute(connection: Any, sql: str, params: list[Any], *, rowcount: bool = False) -> Any:
    """Run ``sql`` through Django's cursor (prepared on PostgreSQL where it can be, its
    placeholders rewritten once on SQLite): the fetched row, or the row count."""
    if connection.vendor == "sqlite":
        rewritten = _sqlite_cursor(connection)
        if rewritten is not None:
            with rewritten as cursor:
                cursor.execute(sql, params)
                return cursor.rowcount if rowcount else cursor.fetchone()
    prepared = _preparing_cursor(connection, sql)
    if prepared is not None:
        try:  # not closed after: the psycopg cursor serves the connection's next statement
            prepared.execute(sql, params)
            return prepared.rowcount if rowcount else prepared.fetchone()
        except DatabaseError as error:
            # Run again unprepared, unless a transaction is open: the error aborted it.
            if not _stop_preparing(connection, error) or connection.in_atomic_block \
                    or not connection.get_autocommit():
                raise
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount if rowcount else cursor.fetchone()


class PreparedLookup:
    """At most one row by exact values of ``fields`` (``user`` for a foreign key, by primary
    key), with the ``select_related`` rows joined: :meth:`get` returns it or None.

    ``model`` returns the model queried (called per lookup, so a swappable model resolves
    late); the database is the one the router picks for reading it. Values are prepared by
    their fields as the ORM would (``"7"`` for an integer key is 7; ``"x"`` raises the ORM's
    ``ValueError``). Fields of other types than integers and strings are looked up through
    the ORM each time."""

    def __init__(
        self, model: Callable[[], type[Model]], fields: tuple[str, ...], select_related: tuple[str, ...] = ()
    ) -> None:
        self.model = model
        self.fields = fields
        self.select_related = select_related

    def queryset(self, model: type[Model], values: tuple[Any, ...]) -> QuerySet[Any]:
        """The ORM's queryset for ``values``, as the prepared statement is built from."""
        queryset = model._default_manager.all()
        if self.select_related:
            queryset = queryset.select_related(*self.select_related)
        return queryset.filter(**dict(zip(self.fields, values, strict=True)))[:1]

    def _plan(self, model: type[Model], alias: str) -> tuple[Any, _Plan | None]:
        plans = _plans()
        key = (id(self), model, alias, _generation[0])
        if key not in plans:
            markers = [_marker(model, name, i) for i, name in enumerate(self.fields)]
            try:
                plans[key] = (
                    None if None in markers else _compile(self.queryset(model, tuple(markers)), alias, markers)
                )
            except Exception:  # noqa: BLE001 - whatever stops preparing, the ORM path answers
                plans[key] = None
        return key, plans[key]

    def _orm(self, model: type[Model], alias: str, values: tuple[Any, ...]) -> Any | None:
        rows = list(self.queryset(model, values).using(alias))
        return rows[0] if rows else None

    def get(self, *values: Any) -> Any | None:
        """The row whose ``fields`` equal ``values``, with its related rows, or None."""
        model = self.model()
        alias = router.db_for_read(model)
        key, plan = self._plan(model, alias)
        if plan is None:
            return self._orm(model, alias, values)
        connection = connections[alias]
        params = list(plan.params)
        for position, name, value in zip(plan.positions, self.fields, values, strict=True):
            # As the ORM's exact lookup prepares its value: a bad one raises the same error.
            target = _target(model, name)
            params[position] = target.get_db_prep_value(target.get_prep_value(value), connection, prepared=True)
        fetched = _execute(connection, plan.sql, params)
        if fetched is None:
            return None
        try:
            return plan.instance(list(fetched), alias, connection)
        except Exception:  # noqa: BLE001 - an internal changed shape: stop preparing, let the ORM answer
            _plans()[key] = None
            return self._orm(model, alias, values)


def _share_lock(connection: Any) -> str:
    """The clause that makes a SELECT lock the rows it reads against writers until the end of
    the transaction: PostgreSQL's ``FOR SHARE``, MySQL's and MariaDB's ``LOCK IN SHARE MODE``;
    none on SQLite, where one writer at a time holds the whole database."""
    return {"postgresql": " FOR SHARE", "mysql": " LOCK IN SHARE MODE"}.get(connection.vendor, "")


def _family_live(connection: Any, table: str, by_name: dict[str, Any]) -> str:
    """``EXISTS (the row's grant, unrevoked, read under a shared lock)`` for ``{family_live}``
    (only a model with an ``authorization`` foreign key has it)."""
    if "authorization" not in by_name:
        return ""
    from .tokens import Authorization

    quote = connection.ops.quote_name
    family = quote(Authorization._meta.db_table)
    return (
        f"EXISTS (SELECT 1 FROM {family} WHERE {family}.{quote(Authorization._meta.pk.column)} = "  # noqa: S608  (quoted names from the models, no value)
        f"{table}.{quote(by_name['authorization'].column)} AND {family}.{quote('revoked_at')} IS NULL"
        f"{_share_lock(connection)})"
    )


class PreparedUpdate:
    """A conditional UPDATE written once, run with new values; returns the row count.

    ``template`` names the table ``{table}`` and columns by field name (``{consumed_at}``);
    they are quoted for the database in use. Each ``%s`` takes the value of the field named
    in ``fields``, in order, prepared by that field as the ORM would. ``{family_live}`` is the
    condition that the row's grant (``{table}.authorization_id``) is unrevoked, reading that
    grant's row with a shared lock held to the end of the transaction (:func:`_share_lock`):
    a revocation of the grant waits for the statement's transaction to end, or the statement
    for the revocation's, and then finds the grant revoked."""

    def __init__(self, model: Callable[[], type[Model]], template: str, fields: tuple[str, ...]) -> None:
        self.model = model
        self.template = template
        self.fields = fields

    def statement(self, values: tuple[Any, ...]) -> tuple[str, Any, str, list[Any]]:
        """(alias, connection, sql, params) of this UPDATE with ``values``, the SQL written
        once per database."""
        model = self.model()
        alias = router.db_for_write(model)
        connection = connections[alias]
        plans = _plans()
        key = (id(self), alias, _generation[0])
        if key not in plans:
            quote = connection.ops.quote_name
            by_name = {field.name: field for field in model._meta.concrete_fields}
            table = quote(model._meta.db_table)
            sql = self.template.format(
                table=table, family_live=_family_live(connection, table, by_name),
                **{name: quote(str(f.column)) for name, f in by_name.items()},
            )
            plans[key] = (sql, [by_name[name] for name in self.fields])
        sql, fields = plans[key]
        params = [
            field.get_db_prep_save(value, connection=connection)
            for field, value in zip(fields, values, strict=True)
        ]
        return alias, connection, sql, params

    def run(self, *values: Any) -> int:
        alias, connection, sql, params = self.statement(values)
        with transaction.mark_for_rollback_on_error(using=alias):
            return int(_execute(connection, sql, params, rowcount=True))


#: refuses an unsaved related object (and re-reads a related key) as ``save()`` does; private,
#: so when a Django renames it, :func:`insert` leaves the row to ``save()``
_prepare_related: Any = getattr(Model, "_prepare_related_fields_for_save", None)
#: integer primary keys the database generates: what RETURNING gives back needs no conversion
_AUTO_TYPES = frozenset({"AutoField", "BigAutoField", "SmallAutoField"})


def _insert_statement(model: type[Model], connection: Any) -> tuple[str, list[Any], str] | None:
    """``INSERT INTO t (every column but the key) VALUES (%s, ...) RETURNING key``, written
    once like :class:`PreparedUpdate`'s statements, or None where ``save()`` must do it: a
    model with parents, no integer auto key, a column the database computes or that needs
    its own placeholder SQL, or a backend without a plain ``RETURNING`` (Oracle binds it)."""
    meta = model._meta
    auto = meta.auto_field
    if (
        meta.parents or auto is None or auto.get_internal_type() not in _AUTO_TYPES
        or connection.vendor == "oracle" or not connection.features.can_return_columns_from_insert
    ):
        return None
    fields = [f for f in meta.concrete_fields if f is not auto]
    if not fields or any(
        getattr(f, "generated", False) or getattr(f, "db_returning", False) or hasattr(f, "get_placeholder")
        for f in fields
    ):
        return None
    quote = connection.ops.quote_name
    # names quoted from the model's own metadata; every value goes as a parameter
    sql = "INSERT INTO {} ({}) VALUES ({}) RETURNING {}".format(  # noqa: S608
        quote(meta.db_table), ", ".join(quote(f.column) for f in fields), ", ".join(["%s"] * len(fields)),
        quote(auto.column),
    )
    return sql, fields, auto.attname


def _insert_plan(obj: Model) -> tuple[str, Any, tuple[str, list[Any], str]] | None:
    """(alias, connection, plan) to store the new ``obj`` with one written INSERT, or None
    where ``save()`` must store it: the model overrides ``save()`` or has ``pre_save`` /
    ``post_save`` receivers (they must see every save), ``obj`` has a key already, or the
    statement cannot be written (see :func:`_insert_statement`)."""
    model = type(obj)
    if (
        obj.pk is not None or _prepare_related is None or model.save is not Model.save
        or pre_save.has_listeners(model) or post_save.has_listeners(model)
    ):
        return None
    alias = router.db_for_write(model, instance=obj)
    connection = connections[alias]
    plans = _plans()
    key = ("insert", model, alias, _generation[0])
    if key not in plans:
        try:
            plans[key] = _insert_statement(model, connection)
        except Exception:  # noqa: BLE001 - whatever stops writing it, save() stores the row
            plans[key] = None
    plan = plans[key]
    return None if plan is None else (alias, connection, plan)


def _insert_values(obj: Model, fields: list[Any], connection: Any) -> list[Any] | None:
    """The INSERT's parameters for ``obj`` as ``save()`` prepares them (each field's
    ``pre_save()``, then ``get_db_prep_save()``), or None when a value is an expression."""
    raw = [field.pre_save(obj, True) for field in fields]
    if any(hasattr(value, "resolve_expression") for value in raw):
        return None
    return [field.get_db_prep_save(value, connection=connection) for field, value in zip(fields, raw, strict=True)]


def _stored(obj: Model, key_attname: str, pk: Any, alias: str) -> None:
    setattr(obj, key_attname, pk)
    obj._state.db = alias
    obj._state.adding = False


def insert(obj: Model) -> None:
    """Store the new, unsaved ``obj`` as ``obj.save()`` would (defaults, each field's
    ``pre_save()``, the new primary key set on it), with one INSERT written once. ``save()``
    does it when :func:`_insert_plan` says so or a value is an expression."""
    found = _insert_plan(obj)
    if found is None:
        obj.save()
        return
    alias, connection, (sql, fields, key_attname) = found
    _prepare_related(obj, operation_name="save")  # first, as in save(): refuses an unsaved related object
    params = _insert_values(obj, fields, connection)
    if params is None:
        obj.save()
        return
    with transaction.mark_for_rollback_on_error(using=alias):
        (pk,) = _execute(connection, sql, params)
    _stored(obj, key_attname, pk, alias)


def _pair_statement(parent: type[Model], child: type[Model], link: Any, connection: Any) -> str | None:
    """PostgreSQL: ``WITH p AS (INSERT INTO parent ... RETURNING key) INSERT INTO child
    (..., link, ...) VALUES (..., (SELECT key FROM p), ...) RETURNING key, link``: both rows
    in one statement, so one round trip and no BEGIN/COMMIT (a statement is atomic). None
    elsewhere (SQLite and MariaDB/MySQL have no data-modifying WITH) or when either INSERT
    cannot be written."""
    if connection.vendor != "postgresql":
        return None
    parent_plan, child_plan = _insert_statement(parent, connection), _insert_statement(child, connection)
    if parent_plan is None or child_plan is None or link not in child_plan[1]:
        return None
    quote = connection.ops.quote_name
    parent_key: Any = parent._meta.auto_field
    child_key: Any = child._meta.auto_field
    values = ", ".join(
        f"(SELECT {quote(parent_key.column)} FROM {quote('parent')})" if field is link else "%s"  # noqa: S608
        for field in child_plan[1]
    )
    parent_sql = parent_plan[0]
    # names quoted from the models' own metadata; every value goes as a parameter
    return "WITH {} AS ({}) INSERT INTO {} ({}) VALUES ({}) RETURNING {}, {}".format(  # noqa: S608
        quote("parent"), parent_sql, quote(child._meta.db_table),
        ", ".join(quote(f.column) for f in child_plan[1]), values,
        quote(child_key.column), quote(link.column),
    )


def insert_pair(parent: Model, child: Model, link: str) -> bool:
    """Store the new ``parent`` and the new ``child`` whose foreign key ``link`` points at it,
    as :func:`insert` would each, in one statement where the database can (PostgreSQL, see
    :func:`_pair_statement`): True. False, having stored nothing, where it cannot; the caller
    then stores them one after the other in a transaction. ``child`` may hold no other
    related object (it would have to be checked as ``save()`` checks it)."""
    if connections[router.db_for_write(type(parent), instance=parent)].vendor != "postgresql":
        return False  # decided before anything else: SQLite and MariaDB pay nothing for this
    found_parent, found_child = _insert_plan(parent), _insert_plan(child)
    if found_parent is None or found_child is None or found_parent[0] != found_child[0]:
        return False
    alias, connection, (_, parent_fields, parent_key) = found_parent
    child_fields, child_key = found_child[2][1], found_child[2][2]
    field: Any = type(child)._meta.get_field(link)
    if any(f.is_relation and f is not field for f in child_fields) or field.remote_field.model is not type(parent):
        return False
    plans = _plans()
    key = ("insert-pair", type(parent), type(child), link, alias, _generation[0])
    if key not in plans:
        try:
            plans[key] = _pair_statement(type(parent), type(child), field, connection)
        except Exception:  # noqa: BLE001 - whatever stops writing it, two INSERTs store the rows
            plans[key] = None
    sql = plans[key]
    if sql is None:
        return False
    _prepare_related(parent, operation_name="save")
    parent_params = _insert_values(parent, parent_fields, connection)
    child_params = _insert_values(child, [f for f in child_fields if f is not field], connection)
    if parent_params is None or child_params is None:
        return False
    with transaction.mark_for_rollback_on_error(using=alias):
        child_pk, parent_pk = _execute(connection, sql, parent_params + child_params)
    _stored(parent, parent_key, parent_pk, alias)
    setattr(child, field.attname, parent_pk)
    _stored(child, child_key, child_pk, alias)
    return True


def _two_statement(first: type[Model], second: type[Model], connection: Any) -> str | None:
    """PostgreSQL: ``WITH f AS (INSERT INTO first ... RETURNING key) INSERT INTO second ...
    RETURNING key, (SELECT key FROM f)``: two unrelated rows in one statement. None elsewhere
    or when either INSERT cannot be written."""
    if connection.vendor != "postgresql":
        return None
    first_plan, second_plan = _insert_statement(first, connection), _insert_statement(second, connection)
    if first_plan is None or second_plan is None:
        return None
    quote = connection.ops.quote_name
    first_key: Any = first._meta.auto_field
    # both statements are this module's own, written from the models' metadata
    return "WITH {} AS ({}) {}, (SELECT {} FROM {})".format(  # noqa: S608
        quote("first"), first_plan[0], second_plan[0], quote(first_key.column), quote("first"),
    )


def insert_two(first: Model, second: Model) -> bool:
    """Store the new ``first`` and ``second`` (neither referring to the other), as
    :func:`insert` would each, in one statement where the database can (PostgreSQL, see
    :func:`_two_statement`): True. False, having stored nothing, where it cannot."""
    if connections[router.db_for_write(type(first), instance=first)].vendor != "postgresql":
        return False  # decided before anything else: SQLite and MariaDB pay nothing for this
    found_first, found_second = _insert_plan(first), _insert_plan(second)
    if found_first is None or found_second is None or found_first[0] != found_second[0]:
        return False
    alias, connection, (_, first_fields, first_key) = found_first
    second_fields, second_key = found_second[2][1], found_second[2][2]
    plans = _plans()
    key = ("insert-two", type(first), type(second), alias, _generation[0])
    if key not in plans:
        try:
            plans[key] = _two_statement(type(first), type(second), connection)
        except Exception:  # noqa: BLE001 - whatever stops writing it, two INSERTs store the rows
            plans[key] = None
    sql = plans[key]
    if sql is None:
        return False
    _prepare_related(first, operation_name="save")
    _prepare_related(second, operation_name="save")
    first_params = _insert_values(first, first_fields, connection)
    second_params = _insert_values(second, second_fields, connection)
    if first_params is None or second_params is None:
        return False
    with transaction.mark_for_rollback_on_error(using=alias):
        second_pk, first_pk = _execute(connection, sql, first_params + second_params)
    _stored(first, first_key, first_pk, alias)
    _stored(second, second_key, second_pk, alias)
    return True


def _guarded_statement(update_sql: str, models: list[type[Model]], connection: Any) -> str | None:
    """PostgreSQL: ``WITH guard AS (UPDATE ... RETURNING 1)[, first AS (INSERT INTO first
    (...) SELECT %s, ... FROM guard RETURNING key)] INSERT INTO last (...) SELECT %s, ...
    FROM guard RETURNING key[, (SELECT key FROM first)]``: the rows are inserted once per row
    the UPDATE changed, so not at all when its condition failed, and the statement is atomic
    on its own. None elsewhere or when an INSERT cannot be written."""
    if connection.vendor != "postgresql":
        return None
    quote = connection.ops.quote_name
    guard = quote("guard")
    inserts: list[tuple[str, str]] = []  # (the INSERT ... SELECT, its model's key column)
    for model in models:
        plan = _insert_statement(model, connection)
        if plan is None:
            return None
        key: Any = model._meta.auto_field
        # names quoted from the model's own metadata; every value goes as a parameter
        inserts.append(("INSERT INTO {} ({}) SELECT {} FROM {} RETURNING {}".format(  # noqa: S608
            quote(model._meta.db_table), ", ".join(quote(f.column) for f in plan[1]),
            ", ".join(["%s"] * len(plan[1])), guard, quote(key.column),
        ), key.column))
    ctes = [f"{guard} AS ({update_sql} RETURNING 1)"]
    (last_sql, _), tail = inserts[-1], ""
    if len(inserts) == 2:
        first_sql, first_key = inserts[0]
        ctes.append(f"{quote('first')} AS ({first_sql})")
        tail = ", (SELECT {} FROM {})".format(quote(first_key), quote("first"))  # noqa: S608
    return "WITH {} {}{}".format(", ".join(ctes), last_sql, tail)


def insert_if(update: PreparedUpdate, values: tuple[Any, ...], rows: tuple[Model, ...]) -> bool | None:
    """Run ``update`` (a conditional UPDATE) with ``values`` and store the new ``rows`` (one,
    or two that do not refer to each other) only if it changed a row, as :func:`insert` would
    each, in one statement where the database can (PostgreSQL, see
    :func:`_guarded_statement`): True when the condition held and the rows are stored, False
    when it did not and nothing was stored. None, having run nothing, where it cannot: the
    caller then runs the UPDATE and the INSERTs in a transaction."""
    if not 1 <= len(rows) <= 2:
        raise ValueError("insert_if stores one or two rows")
    if connections[router.db_for_write(update.model())].vendor != "postgresql":
        return None  # decided before anything else: SQLite and MariaDB pay nothing for this
    alias, connection, update_sql, update_params = update.statement(values)
    written = [plan for plan in map(_insert_plan, rows) if plan is not None and plan[0] == alias]
    if len(written) != len(rows):
        return None
    models = [type(row) for row in rows]
    plans = _plans()
    key = ("insert-if", id(update), *models, alias, _generation[0])
    if key not in plans:
        try:
            plans[key] = _guarded_statement(update_sql, models, connection)
        except Exception:  # noqa: BLE001 - whatever stops writing it, the caller's transaction stores the rows
            plans[key] = None
    sql = plans[key]
    if sql is None:
        return None
    params = list(update_params)
    key_names = []
    for row, (_, _, (_, fields, key_name)) in zip(rows, written, strict=True):
        _prepare_related(row, operation_name="save")
        row_params = _insert_values(row, fields, connection)
        if row_params is None:
            return None
        params += row_params
        key_names.append(key_name)
    with transaction.mark_for_rollback_on_error(using=alias):
        keys = _execute(connection, sql, params)
    if keys is None:  # the UPDATE changed no row: nothing was inserted
        return False
    for row, key_name, pk in zip(reversed(rows), reversed(key_names), keys, strict=True):
        _stored(row, key_name, pk, alias)
    return True


@receiver(setting_changed)
def _forget_plans(**kwargs: Any) -> None:
    # A test may swap models or databases; plans are cheap to rebuild.
    _generation[0] += 1
    _local.plans = {}
    _local.modes = {}
    _pooled.clear()

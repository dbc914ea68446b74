"""Hot-path statements compiled once per database connection.

Django compiles a queryset to SQL every time it is evaluated. On the requests this library
serves most (a client by ``client_id``; a token by its hash, joined to its client, user and
family) that compilation costs several times the query itself: the 50-column join of the
bearer lookup takes ~450 µs through the ORM on SQLite, ~50 µs to execute and ~70 µs with the
statement prepared here. :class:`PreparedLookup` lets the ORM build the statement once, with
a marker where the looked-up value goes, then re-runs that SQL with the real value and turns
the row into model instances with the ORM's own converters and related-object populators,
exactly as ``QuerySet.__iter__`` would. The query is still one ``cursor.execute`` through
the connection, so query logging, ``assert_num_queries`` and execute wrappers see it.

The same holds for the INSERT of a new token row (:func:`insert`: ``Model.save()`` minus
the per-call compile, ~100 -> ~35 µs) and for the conditional UPDATEs that consume a code or
rotate a refresh token (:class:`PreparedUpdate`, ~95 -> ~15 µs).

On SQLite, Django turns every ``%s`` of a statement into ``?`` with a regular expression on
each execute: ~45 µs for the 2,400 characters of the bearer lookup, as much as the query
itself. Where Django's SQLite cursor takes named parameters (``param_names``, Django 5.x),
the statements here are sent with ``%(pN)s`` placeholders and a mapping instead, which
Django substitutes with one ``%`` formatting (~2 µs): same SQL, same logging.

A statement the ORM did not compile into the expected shape (the marker not appearing
exactly once among the parameters; a backend without ``INSERT ... RETURNING``; a model with
``pre_save``/``post_save`` receivers, which must keep seeing every save) is not prepared: the
ORM does the work as usual, so correctness never depends on this module.
"""

from __future__ import annotations

import inspect
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.signals import setting_changed
from django.db import connections, router, transaction
from django.db.models import Field, Model, QuerySet
from django.db.models.query import get_related_populators
from django.db.models.signals import post_save, pre_save
from django.db.models.sql import InsertQuery
from django.dispatch import receiver

#: stands for the looked-up value while the ORM compiles; never sent to the database
_MARKER = f"oauth-provider-prepared-{secrets.token_hex(8)}"
_local = threading.local()
#: bumped by ``setting_changed``: every thread's plans from before are ignored
_generation = [0]


@dataclass(frozen=True)
class _Plan:
    statement: _Statement
    params: tuple[Any, ...]
    positions: tuple[int, ...]
    #: column index -> (converters, expression), from the ORM's compiler
    converters: dict[int, tuple[list[Any], Any]]
    model: type[Model]
    init_list: list[str]
    start: int
    end: int
    populators: list[Any]


#: Django's own pattern for a ``%s`` placeholder (``FORMAT_QMARK_REGEX`` of the SQLite backend)
_PLACEHOLDER = re.compile(r"(?<!%)%s")


def _sqlite_takes_names() -> bool:
    try:
        from django.db.backends.sqlite3.base import SQLiteCursorWrapper
    except ImportError:  # pragma: no cover - no sqlite3 module in this Python
        return False
    return "param_names" in inspect.signature(SQLiteCursorWrapper.convert_query).parameters


_SQLITE_TAKES_NAMES = _sqlite_takes_names()


@dataclass(frozen=True)
class _Statement:
    """SQL as sent: with ``%s`` placeholders (``names`` None) or ``%(pN)s`` ones (``names``
    the keys of the mapping :meth:`execute` passes instead of a list)."""

    sql: str
    names: tuple[str, ...] | None = None

    @classmethod
    def of(cls, sql: str, connection: Any) -> _Statement:
        if connection.vendor != "sqlite" or not _SQLITE_TAKES_NAMES or "%%" in sql:
            return cls(sql)
        count = iter(range(sql.count("%s") + 1))
        named = _PLACEHOLDER.sub(lambda _: f"%(p{next(count)})s", sql)
        return cls(named, tuple(f"p{i}" for i in range(next(count))))

    def execute(self, cursor: Any, params: list[Any]) -> None:
        cursor.execute(self.sql, params if self.names is None else dict(zip(self.names, params, strict=True)))


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
    select = compiler.select
    try:
        populators = get_related_populators(klass_info, select, alias)  # type: ignore[call-arg]
    except TypeError:  # a Django whose populators take more (6.0: fetch_mode): the ORM does it
        return None
    fields = klass_info["select_fields"]
    start, end = fields[0], fields[-1] + 1
    return _Plan(
        statement=_Statement.of(sql, connections[alias]),
        params=tuple(params),
        positions=tuple(positions),
        converters=compiler.get_converters([column[0] for column in select]),
        model=klass_info["model"],
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

    def _plan(self, model: type[Model], alias: str) -> _Plan | None:
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
        return plans[key]  # type: ignore[no-any-return]

    def get(self, *values: Any) -> Any | None:
        """The row whose ``fields`` equal ``values``, with its related rows, or None."""
        model = self.model()
        alias = router.db_for_read(model)
        plan = self._plan(model, alias)
        if plan is None:
            rows = list(self.queryset(model, values).using(alias))
            return rows[0] if rows else None
        connection = connections[alias]
        params = list(plan.params)
        for position, name, value in zip(plan.positions, self.fields, values, strict=True):
            # As the ORM's exact lookup prepares its value: a bad one raises the same error.
            target = _target(model, name)
            params[position] = target.get_db_prep_value(target.get_prep_value(value), connection, prepared=True)
        with connection.cursor() as cursor:
            plan.statement.execute(cursor, params)
            fetched = cursor.fetchone()
        if fetched is None:
            return None
        row = list(fetched)
        for index, (functions, expression) in plan.converters.items():
            converted = row[index]
            for function in functions:
                converted = function(converted, expression, connection)
            row[index] = converted
        obj = plan.model.from_db(alias, plan.init_list, row[plan.start:plan.end])
        for populator in plan.populators:
            populator.populate(row, obj)
        return obj


@dataclass(frozen=True)
class _InsertPlan:
    statement: _Statement
    fields: list[Field[Any, Any]]
    returning: list[Field[Any, Any]]
    converters: dict[int, tuple[list[Any], Any]]


def _compile_insert(model: type[Model], alias: str) -> _InsertPlan | None:
    connection = connections[alias]
    meta = model._meta
    if meta.parents or meta.auto_field is None or not connection.features.can_return_columns_from_insert:
        return None
    fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field and not getattr(f, "generated", False)]
    if any(getattr(f, "get_placeholder", None) is not None for f in fields):
        return None
    returning = list(meta.db_returning_fields)
    query = InsertQuery(model)
    query.insert_values(fields, [model()])
    compiler = query.get_compiler(using=alias)
    compiler.returning_fields = returning
    statements = compiler.as_sql()
    if len(statements) != 1 or compiler.returning_params or len(statements[0][1]) != len(fields):
        return None
    return _InsertPlan(
        statement=_Statement.of(statements[0][0], connection),
        fields=fields,
        returning=returning,
        converters=compiler.get_converters([f.get_col(meta.db_table) for f in returning]),
    )


def insert(obj: Model) -> None:
    """Store the new, unsaved ``obj`` as ``obj.save()`` would (defaults, ``pre_save()`` of
    each field, its new primary key set on it), with one INSERT compiled once. Falls back to
    ``obj.save()`` when the model has ``pre_save``/``post_save`` receivers, ``obj`` has a
    primary key already, or the backend cannot return the new key."""
    model = type(obj)
    if obj.pk is not None or pre_save.has_listeners(model) or post_save.has_listeners(model):
        obj.save()
        return
    alias = router.db_for_write(model, instance=obj)
    plans = _plans()
    key = ("insert", model, alias, _generation[0])
    if key not in plans:
        plans[key] = _compile_insert(model, alias)
    plan: _InsertPlan | None = plans[key]
    raw = [] if plan is None else [field.pre_save(obj, True) for field in plan.fields]
    if plan is None or any(hasattr(value, "resolve_expression") for value in raw):
        obj.save()
        return
    obj._prepare_related_fields_for_save(operation_name="save")  # type: ignore[attr-defined]
    connection = connections[alias]
    params = [
        field.get_db_prep_save(value, connection=connection) for field, value in zip(plan.fields, raw, strict=True)
    ]
    with transaction.mark_for_rollback_on_error(using=alias), connection.cursor() as cursor:
        plan.statement.execute(cursor, params)
        # What every backend without RETURNING out-parameters (the plan excludes those)
        # does: fetch_returned_insert_columns() before Django 6.0, fetch_returned_rows() after.
        returned = list(cursor.fetchone())
    for index, (functions, expression) in plan.converters.items():
        for function in functions:
            returned[index] = function(returned[index], expression, connection)
    for field, value in zip(plan.returning, returned, strict=True):
        setattr(obj, field.attname, value)
    obj._state.db = alias
    obj._state.adding = False


class PreparedUpdate:
    """A conditional UPDATE written once, run with new values; returns the row count.

    ``template`` names the table ``{table}`` and columns by field name (``{consumed_at}``);
    they are quoted for the database in use. Each ``%s`` takes the value of the field named
    in ``fields``, in order, prepared by that field as the ORM would."""

    def __init__(self, model: Callable[[], type[Model]], template: str, fields: tuple[str, ...]) -> None:
        self.model = model
        self.template = template
        self.fields = fields

    def run(self, *values: Any) -> int:
        model = self.model()
        alias = router.db_for_write(model)
        connection = connections[alias]
        plans = _plans()
        key = (id(self), alias, _generation[0])
        if key not in plans:
            quote = connection.ops.quote_name
            by_name = {field.name: field for field in model._meta.concrete_fields}
            sql = self.template.format(
                table=quote(model._meta.db_table), **{name: quote(str(f.column)) for name, f in by_name.items()}
            )
            plans[key] = (_Statement.of(sql, connection), [by_name[name] for name in self.fields])
        statement, fields = plans[key]
        params = [
            field.get_db_prep_save(value, connection=connection)
            for field, value in zip(fields, values, strict=True)
        ]
        with transaction.mark_for_rollback_on_error(using=alias), connection.cursor() as cursor:
            statement.execute(cursor, params)
            return int(cursor.rowcount)


@receiver(setting_changed)
def _forget_plans(**kwargs: Any) -> None:
    # A test may swap models or databases; plans are cheap to rebuild.
    _generation[0] += 1
    _local.plans = {}

"""Hot-path SELECTs compiled once per database connection.

Django compiles a queryset to SQL every time it is evaluated. On the requests this library
serves most (a client by ``client_id``; a token by its hash, joined to its client, user and
family) that compilation costs several times the query itself: the 50-column join of the
bearer lookup takes ~450 µs through the ORM on SQLite, ~50 µs to execute and ~70 µs with the
statement prepared here. :class:`PreparedLookup` lets the ORM build the statement once, with
a marker where the looked-up value goes, then re-runs that SQL with the real value and turns
the row into model instances with the ORM's own converters and related-object populators,
exactly as ``QuerySet.__iter__`` would. The query is still one ``cursor.execute`` through
the connection, so query logging, ``assert_num_queries`` and execute wrappers see it.

A statement the ORM did not compile into the expected shape (the marker not appearing
exactly once among the parameters) is not prepared: the lookup then evaluates the queryset
normally, so correctness never depends on this module.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.signals import setting_changed
from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators
from django.dispatch import receiver

#: stands for the looked-up value while the ORM compiles; never sent to the database
_MARKER = f"oauth-provider-prepared-{secrets.token_hex(8)}"
_local = threading.local()
#: bumped by ``setting_changed``: every thread's plans from before are ignored
_generation = [0]


@dataclass(frozen=True)
class _Plan:
    sql: str
    params: tuple[Any, ...]
    position: int
    #: column index -> (converters, expression), from the ORM's compiler
    converters: dict[int, tuple[list[Any], Any]]
    model: type[Model]
    init_list: list[str]
    start: int
    end: int
    populators: list[Any]


def _compile(queryset: QuerySet[Any], alias: str) -> _Plan | None:
    compiler = queryset.query.get_compiler(using=alias)
    sql, params = compiler.as_sql()
    positions = [i for i, value in enumerate(params) if isinstance(value, str) and value == _MARKER]
    klass_info = compiler.klass_info
    if len(positions) != 1 or not klass_info or compiler.annotation_col_map:
        return None
    select = compiler.select
    fields = klass_info["select_fields"]
    start, end = fields[0], fields[-1] + 1
    return _Plan(
        sql=sql,
        params=tuple(params),
        position=positions[0],
        converters=compiler.get_converters([column[0] for column in select]),
        model=klass_info["model"],
        init_list=[column[0].target.attname for column in select[start:end]],
        start=start,
        end=end,
        populators=get_related_populators(klass_info, select, alias),
    )


class PreparedLookup:
    """One row by one value: ``build(value)`` must return the queryset (a single-object
    lookup, sliced ``[:1]``) for ``value``; :meth:`get` returns its first row or None.

    ``model`` returns the model queried (called per lookup, so a swappable model resolves
    late); the database is the one the router picks for reading it."""

    def __init__(self, model: Callable[[], type[Model]], build: Callable[[str], QuerySet[Any]]) -> None:
        self.model = model
        self.build = build

    def _plan(self, alias: str) -> _Plan | None:
        plans: dict[tuple[int, str, int], _Plan | None] | None = getattr(_local, "plans", None)
        if plans is None:
            plans = _local.plans = {}
        key = (id(self), alias, _generation[0])
        if key not in plans:
            plans[key] = _compile(self.build(_MARKER), alias)
        return plans[key]

    def get(self, value: str) -> Any | None:
        """The first row for ``value`` with its related rows, or None."""
        alias = router.db_for_read(self.model())
        plan = self._plan(alias)
        if plan is None:
            rows = list(self.build(value).using(alias))
            return rows[0] if rows else None
        params = list(plan.params)
        params[plan.position] = value
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute(plan.sql, params)
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


@receiver(setting_changed)
def _forget_plans(**kwargs: Any) -> None:
    # A test may swap models or databases; plans are cheap to rebuild.
    _generation[0] += 1
    _local.plans = {}

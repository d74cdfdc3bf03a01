"""Querysets compiled to SQL once per process, then run with new ids.

Building an ORM query (clone, filter, resolve, compile) costs several times what PostgreSQL
spends answering a lookup by primary or foreign key, and a page that shows one patient makes
several such lookups on every request. ``CompiledQuery`` takes a function that builds the
queryset from integer arguments (ids). It is called once per process and database with
sentinel numbers; the SQL is compiled and the sentinels' positions among its parameters are
remembered. Each later call runs the same SQL with the real ids and turns the rows into
model instances as the ORM's iterator does (the select's converters, then ``Model.from_db``),
so callers get the same objects in the same order.

Querysets this cannot reproduce (related selects, prefetches, annotations, ``values()``, a
sentinel that is not exactly one of the parameters) are run through the ORM instead, each
time, so the result is always the queryset's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.query import ModelIterable

_SENTINEL = 918_273_645_000  # no real id looks like this (as in uscpis.fasturl)


class _Plan:
    __slots__ = ("sql", "params", "slots", "start", "end", "attnames", "converters")

    def __init__(self, sql, params, slots, start, end, attnames, converters):
        self.sql, self.params, self.slots = sql, params, slots
        self.start, self.end, self.attnames, self.converters = start, end, attnames, converters


class CompiledQuery:
    """``build(*ids)`` -> queryset of ``model``, compiled once per database alias.

    ``all(*ids)`` is ``list(build(*ids))``; ``first(*ids)`` its first row or ``None``;
    ``statement(*ids)`` and ``objects(rows)`` split that in two, for callers that send several
    statements in one round trip (:func:`fetch_together`). Every argument must be an ``int``.
    """

    def __init__(self, model: type[Model], build: Callable[..., QuerySet]):
        self.model = model
        self.build = build
        self._plans: dict[tuple[str, int], _Plan | None] = {}

    def _using(self) -> str:
        return router.db_for_read(self.model)

    def _plan(self, using: str, nargs: int) -> _Plan | None:
        key = (using, nargs)
        try:
            return self._plans[key]
        except KeyError:
            pass
        plan = self._compile(using, nargs)
        self._plans[key] = plan
        return plan

    def _compile(self, using: str, nargs: int) -> _Plan | None:
        sentinels = [_SENTINEL + i for i in range(nargs)]
        qs = self.build(*sentinels).using(using)
        query = qs.query
        if (
            qs.model is not self.model
            or qs._iterable_class is not ModelIterable
            or qs._prefetch_related_lookups
            or qs._known_related_objects
            or query.select_related
            or query.combinator
        ):
            return None
        compiler = query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        if compiler.klass_info is None or compiler.annotation_col_map:
            return None
        if compiler.klass_info["model"] is not self.model:
            return None
        slots = [sentinels.index(p) if type(p) is int and p in sentinels else None for p in params]
        if sorted(s for s in slots if s is not None) != list(range(nargs)):
            return None  # a sentinel missing, repeated or transformed: let the ORM run it
        select_fields = compiler.klass_info["select_fields"]
        start, end = select_fields[0], select_fields[-1] + 1
        attnames = tuple(col.target.attname for col, _, _ in compiler.select[start:end])
        converters = tuple(compiler.get_converters([col for col, _, _ in compiler.select]).items())
        return _Plan(sql, tuple(params), tuple(slots), start, end, attnames, converters)

    def statement(self, *ids: int) -> tuple[str, list] | None:
        """(sql, params) for ``ids``; ``None`` when the queryset must go through the ORM."""
        plan = self._plan(self._using(), len(ids))
        if plan is None:
            return None
        return plan.sql, [
            p if s is None else ids[s] for p, s in zip(plan.params, plan.slots, strict=True)
        ]

    def objects(self, rows: Sequence[Sequence[Any]], nargs: int) -> list:
        """Model instances from rows fetched with ``statement``'s SQL."""
        using = self._using()
        plan = self._plan(using, nargs)
        connection = connections[using]
        out = []
        for row in rows:
            if plan.converters:  # as SQLCompiler.apply_converters does
                row = list(row)
                for pos, (functions, expression) in plan.converters:
                    for convert in functions:
                        row[pos] = convert(row[pos], expression, connection)
            out.append(self.model.from_db(using, plan.attnames, tuple(row[plan.start : plan.end])))
        return out

    def all(self, *ids: int) -> list:
        for value in ids:
            if type(value) is not int:
                raise TypeError(f"CompiledQuery arguments are ints, not {type(value).__name__}")
        stmt = self.statement(*ids)
        if stmt is None:
            return list(self.build(*ids))
        connection = connections[self._using()]
        with connection.cursor() as cursor:
            cursor.execute(*stmt)
            rows = cursor.fetchall()
        return self.objects(rows, len(ids))

    def first(self, *ids: int):
        rows = self.all(*ids)
        return rows[0] if rows else None


def fetch_together(
    statements: Sequence[tuple[str, Sequence[Any]]], using: str = "default"
) -> list[list[tuple]]:
    """Each statement's rows, all sent in one round trip (one simple query, which client-side
    parameter binding allows); one round trip each if the connection binds parameters
    server-side, which refuses several statements in one query."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.settings_dict.get("OPTIONS", {}).get("server_side_binding"):
            results = []
            for sql, params in statements:
                cursor.execute(sql, params)
                results.append(cursor.fetchall())
            return results
        cursor.execute(
            "; ".join(sql for sql, _ in statements),
            [p for _, params in statements for p in params],
        )
        results = [cursor.fetchall()]
        while cursor.nextset():
            results.append(cursor.fetchall())
        return results

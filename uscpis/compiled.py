"""SQL built once per process, rows turned into the model instances the ORM would make.

Building an ORM query (clone, filter, resolve, compile) costs several times what PostgreSQL
spends answering a lookup by primary or foreign key, and a page that shows one patient makes
several such lookups on every request. This module is the one place that skips that work:

- ``CompiledQuery`` takes a function that builds the queryset from its arguments (ids,
  token keys: ``int`` or ``str``). It is called once per process, database and argument
  types with sentinel values; the SQL is compiled and the sentinels' positions among its
  parameters are remembered. Each later call runs the same SQL with the real arguments.
- ``RowReader`` turns a SELECT's rows into instances as the ORM's ``ModelIterable`` does:
  each column through its converters (the backend's, then the field's ``from_db_value``),
  ``Model.from_db`` for the model's columns, and ``select_related``'s models through
  Django's own ``RelatedPopulator`` (nested relations; ``None`` where a LEFT JOIN found
  nothing). ``columns``/``build``/``width``/``split`` give the same reading to SQL written
  by hand (``inventory.fastread``, ``billing.screens``).
- ``CompiledCount`` is the same for ``build(*args).count()`` (arguments may also be aware
  datetimes), so several counts can go in one round trip.
- ``fetch_together`` sends several statements in one round trip.

Querysets ``CompiledQuery`` cannot reproduce (prefetches, annotations, ``values()``, known
related objects, composite keys, a sentinel that is not exactly one of the parameters) are
run through the ORM instead, each time, so the result is always the queryset's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from django.core.exceptions import EmptyResultSet, FieldDoesNotExist, FullResultSet, ValidationError
from django.db import DEFAULT_DB_ALIAS, connections, router
from django.db.models import Field, Model, QuerySet
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query import ModelIterable, get_related_populators
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init
from django.db.models.sql.datastructures import BaseTable

from uscpis import prepared

_INT_SENTINEL = 918_273_645_000  # no real id looks like this (as in uscpis.fasturl)
# For a 32-bit integer column (django-otp's devices, say) Django finds the big sentinel out
# of the column's range and compiles the lookup to nothing (EmptyResultSet): the query is
# then compiled again with these, near the top of that range, where no id gets either.
_INT4_SENTINEL = 2_147_483_000
_DATETIME_SENTINEL = datetime(1901, 2, 3, 4, 5, 6, tzinfo=UTC)  # no real figure is this old
_KINDS = (int, str)
_OUT_OF_RANGE = object()  # a compile that found a sentinel out of its column's range


def _sentinel(kind: type, n: int, base: int = _INT_SENTINEL):
    if kind is int:
        return base + n
    if kind is datetime:
        return _DATETIME_SENTINEL + timedelta(microseconds=n)
    return f"\x00uscpis-compiled-{n}\x00"  # NUL: no real key holds one (PostgreSQL refuses it)


# --- Rows to instances -----------------------------------------------------------------------


class RowReader:
    """Rows of one SELECT into instances of ``model``: ``converters`` ((position, (functions,
    expression)) pairs, as ``SQLCompiler.get_converters`` gives) applied to the whole row,
    ``row[start:end]`` read into ``model`` with ``attnames``, then each related populator
    (``select_related``) fills in its model from the same row."""

    __slots__ = ("model", "using", "start", "end", "attnames", "converters", "populators", "pk_at")

    def __init__(self, model, using, start, end, attnames, converters=(), populators=()):
        self.model, self.using, self.start, self.end = model, using, start, end
        self.attnames, self.converters, self.populators = attnames, converters, populators
        pk = model._meta.pk.attname
        self.pk_at = attnames.index(pk) if pk in attnames else None

    @classmethod
    def from_compiler(cls, compiler, using: str) -> RowReader | None:
        """The reader of ``compiler``'s (compiled) SELECT, as ``ModelIterable`` reads it;
        ``None`` when its rows hold more than model instances and their related models."""
        info = compiler.klass_info
        if info is None or compiler.annotation_col_map:
            return None
        select = compiler.select
        expressions = [col for col, _, _ in select[: compiler.col_count]]
        if compiler.has_composite_fields(expressions):
            return None
        start, end = info["select_fields"][0], info["select_fields"][-1] + 1
        attnames = tuple(col.target.attname for col, _, _ in select[start:end])
        converters = tuple(compiler.get_converters(expressions).items())
        populators = tuple(get_related_populators(info, select, using))
        return cls(info["model"], using, start, end, attnames, converters, populators)

    def convert(self, row: Sequence, connection) -> Sequence:
        """``row`` with each column through its converters (as
        ``SQLCompiler.apply_converters``)."""
        if not self.converters:
            return row
        row = list(row)
        for pos, (functions, expression) in self.converters:
            value = row[pos]
            for convert in functions:
                value = convert(value, expression, connection)
            row[pos] = value
        return row

    def instance(self, row: Sequence, connection=None):
        """One row's instance (with its related instances); ``connection`` defaults to the
        reader's database's."""
        if self.converters:
            row = self.convert(row, connection or connections[self.using])
        obj = self.model.from_db(self.using, self.attnames, tuple(row[self.start : self.end]))
        for populator in self.populators:
            populator.populate(row, obj)
        return obj

    def instances(self, rows: Sequence[Sequence]) -> list:
        connection = connections[self.using]
        return [self.instance(row, connection) for row in rows]


@lru_cache(maxsize=64)
def model_reader(model: type[Model], using: str = DEFAULT_DB_ALIAS) -> RowReader:
    """The reader of a row holding every concrete column of ``model`` in field order (what
    :func:`columns` selects)."""
    connection = connections[using]
    converters = []
    for pos, field in enumerate(model._meta.concrete_fields):
        col = field.get_col(model._meta.db_table)
        functions = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if functions:
            converters.append((pos, (functions, col)))
    attnames = tuple(f.attname for f in model._meta.concrete_fields)
    return RowReader(model, using, 0, len(attnames), attnames, tuple(converters))


@lru_cache(maxsize=64)
def columns(model: type[Model], alias: str) -> tuple[str, tuple[str, ...], tuple]:
    """For SQL written by hand: (the select list of ``model``'s concrete columns under table
    alias ``alias``, their attnames, their converters), in the order :func:`build` reads."""
    reader = model_reader(model)
    sql = ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)
    return sql, reader.attnames, reader.converters


def build(model: type[Model], values: Sequence):
    """A ``model`` instance from a row holding :func:`columns`'s columns in order."""
    return model_reader(model).instance(values)


def width(model: type[Model]) -> int:
    """How many columns :func:`columns` selects for ``model``."""
    return len(model._meta.concrete_fields)


def _plain_attribute(model: type[Model], attname: str) -> bool:
    """Whether ``Model.__init__`` sets ``attname`` as a plain value in the instance's
    ``__dict__`` (Django's own descriptors for a column: no conversion, no side effect on
    a new instance)."""
    return type(getattr(model, attname, None)) in (DeferredAttribute, ForeignKeyDeferredAttribute)


@lru_cache(maxsize=64)
def _fast_attnames(model: type[Model], field_names: tuple[str, ...]) -> tuple[str, ...] | None:
    """The attnames ``Model.from_db(db, field_names, values)`` sets, in the order it reads
    ``values``; ``None`` when an instance must be made by ``from_db`` itself (a model with
    its own ``__init__`` or ``from_db``, or a column with another descriptor)."""
    fields = model._meta.concrete_fields
    if len(field_names) == len(fields):
        names = tuple(f.attname for f in fields)
    else:
        names = tuple(f.attname for f in fields if f.attname in field_names)
    if (
        model.__init__ is not Model.__init__
        or model.from_db.__func__ is not Model.from_db.__func__
        or not all(_plain_attribute(model, name) for name in names)
    ):
        return None
    return names


def instances_from_db(model: type[Model], using: str, field_names: tuple[str, ...], rows):
    """``[model.from_db(using, field_names, row) for row in rows]`` without calling
    ``Model.__init__`` for each row: the instances ``from_db`` makes (the same ``__dict__``:
    the state, not adding, on ``using``, then each loaded column; the others deferred),
    filled in directly. ``from_db`` makes them when anything could see the difference: a
    ``pre_init``/``post_init`` receiver for the model, or :func:`_fast_attnames`' cases."""
    names = _fast_attnames(model, field_names)
    if names is None or pre_init.has_listeners(model) or post_init.has_listeners(model):
        return [model.from_db(using, field_names, row) for row in rows]
    new = model.__new__
    out = []
    for row in rows:
        obj = new(model)
        state = ModelState()
        state.adding = False
        state.db = using
        values = obj.__dict__
        values["_state"] = state
        values.update(zip(names, row, strict=True))
        out.append(obj)
    return out


def model_rows(model, using: str, fields: list, rows) -> list:
    """Model instances from rows of ``fields``' columns (in the model's field order),
    converted as the ORM does (the backend's and each field's converters), then made as
    ``Model.from_db`` makes them (``uscpis.compiled.instances_from_db``)."""
    connection = connections[using]
    table = model._meta.db_table
    converters = [
        (i, convs, col)
        for i, f in enumerate(fields)
        if (
            convs := connection.ops.get_db_converters(col := f.get_col(table))
            + f.get_db_converters(connection)
        )
    ]
    if converters:
        converted = []
        for row in rows:
            row = list(row)
            for i, convs, col in converters:
                for convert in convs:
                    row[i] = convert(row[i], col, connection)
            converted.append(row)
        rows = converted
    return instances_from_db(model, using, tuple(f.attname for f in fields), rows)


def loaded_fields(qs: QuerySet) -> list:
    """The concrete fields of ``qs``'s model that it loads (``only``/``defer`` kept), in the
    model's field order, as the ORM selects them."""
    names, defer = qs.query.deferred_loading  # defer(*names), or only(*names)

    def loaded(field) -> bool:
        named = field.name in names or field.attname in names
        return field.primary_key or (not named if defer else named)

    return [f for f in qs.model._meta.concrete_fields if loaded(f)]


def plain_order(model, order_by) -> list[tuple[Field, bool]] | None:
    """``order_by`` as (field, descending) pairs when each item names a concrete field of
    ``model`` itself (a relation by its column, ``user_id``: ``user`` sorts by the related
    model's own order); None for anything else (expressions, random, related lookups)."""
    order = []
    for item in order_by:
        if not isinstance(item, str) or item.startswith("?"):
            return None
        name = item.removeprefix("-")
        try:
            field = model._meta.pk if name == "pk" else model._meta.get_field(name)
        except FieldDoesNotExist:
            return None
        if not field.concrete or field.model is not model:
            return None
        if field.is_relation and name != field.attname:
            return None
        order.append((field, item.startswith("-")))
    return order


def one_table_select(qs: QuerySet, connection, columns: str) -> tuple[str, list] | None:
    """``SELECT columns FROM table WHERE ... ORDER BY ... LIMIT ... OFFSET ...`` for a list of
    one table in an order of plain fields, written from the query's parts (only its filter
    is compiled) rather than by the whole query compiler; None for any other list (the
    compiler writes it: joins, grouping, DISTINCT, ``reverse()``, extra tables or ordering,
    locking, set operations, no explicit order). Raises ``EmptyResultSet`` as the compiler does."""
    query = qs.query
    if (
        query.distinct
        or not query.standard_ordering  # reverse(): the compiler turns the order around
        or query.group_by
        or query.extra_order_by
        or query.extra_tables
        or query.distinct_fields
        or query.select_for_update
        or query.combinator
        or not query.order_by
        or len(query.alias_map) > 1  # none yet: only raw SQL filters, on the model's table
        or not all(isinstance(table, BaseTable) for table in query.alias_map.values())
    ):
        return None
    model, quote = qs.model, connection.ops.quote_name
    table = quote(model._meta.db_table)
    plain = plain_order(model, query.order_by)
    if plain is None:
        return None
    order = [f"{table}.{quote(f.column)}" + (" DESC" if desc else "") for f, desc in plain]
    try:
        where, params = query.get_compiler(connection=connection).compile(query.where)
    except FullResultSet:
        where, params = "", []
    sql = f"SELECT {columns} FROM {table}"  # noqa: S608 (our SQL; values are parameters)
    if where:
        sql += f" WHERE {where}"
    sql += f" ORDER BY {', '.join(order)}"
    if query.high_mark is not None:
        sql += f" LIMIT {int(query.high_mark - query.low_mark)}"
    if query.low_mark:
        sql += f" OFFSET {int(query.low_mark)}"
    return sql, list(params)


class PlainModelIterable(ModelIterable):
    """``ModelIterable`` whose instances are made by :func:`instances_from_db` (no
    ``Model.__init__`` per row: the same instances) when the query selects its model's own
    columns and nothing else; ``ModelIterable`` itself otherwise (``select_related``,
    annotations, extra columns, known related objects). A list of one table in a plain
    order is read with the SQL :func:`one_table_select` writes from the query's parts
    (the same statement, without the whole query compiler)."""

    def __iter__(self):
        queryset = self.queryset
        query = queryset.query
        if (
            queryset._known_related_objects
            or query.select_related
            or query.annotation_select
            or query.extra_select
        ):
            yield from super().__iter__()
            return
        db = queryset.db
        if not (
            self.chunked_fetch  # iterator(): rows fetched a chunk at a time, by the compiler
            or query.annotations
            or query.extra
            or queryset._prefetch_related_lookups
        ):
            connection = connections[db]
            fields = loaded_fields(queryset)
            table = connection.ops.quote_name(query.model._meta.db_table)
            columns = ", ".join(f"{table}.{connection.ops.quote_name(f.column)}" for f in fields)
            try:
                found = one_table_select(queryset, connection, columns)
            except EmptyResultSet:
                return
            if found is not None:  # the SQL the compiler would write, written from its parts
                with connection.cursor() as cursor:
                    cursor.execute(*found)
                    rows = cursor.fetchall()
                yield from model_rows(query.model, db, fields, rows)
                return
        compiler = query.get_compiler(using=db)
        results = compiler.execute_sql(chunked_fetch=self.chunked_fetch, chunk_size=self.chunk_size)
        names = tuple(col.target.attname for col, _, _ in compiler.select)
        yield from instances_from_db(query.model, db, names, compiler.results_iter(results))


def plain_instances(qs: QuerySet) -> QuerySet:
    """``qs`` read by :class:`PlainModelIterable` (a list of model instances, as the ORM
    makes them, for less); any other queryset (``values()``, ...) unchanged."""
    if qs._iterable_class is not ModelIterable:
        return qs
    qs = qs._chain()
    qs._iterable_class = PlainModelIterable
    return qs


def split(row: Sequence, models: Sequence[type[Model]]) -> list:
    """``row`` (:func:`columns` of each of ``models`` in turn) cut into one instance per
    model; ``None`` where a LEFT JOIN found nothing (its primary key is NULL)."""
    out, at = [], 0
    for model in models:
        reader = model_reader(model)
        part = row[at : at + reader.end]
        at += reader.end
        out.append(None if part[reader.pk_at] is None else reader.instance(part))
    return out


# --- Querysets compiled once -----------------------------------------------------------------


class _Plan:
    __slots__ = ("sql", "params", "slots", "reader", "in_order")

    def __init__(self, sql, params, slots, reader):
        self.sql, self.params, self.slots, self.reader = sql, params, slots, reader
        # The parameters are the arguments themselves, in order (the usual lookup by key).
        self.in_order = slots == tuple(range(len(slots)))


_UNSEEN = object()


class _CompiledPerArgumentTypes:
    """What ``CompiledQuery`` and ``CompiledCount`` share: ``build``, and the plan made by
    ``_compile(using, kinds)`` once per database alias and argument types (``kinds``)."""

    kinds: tuple[type, ...] = ()

    def __init__(self, model: type[Model], build: Callable[..., QuerySet]):
        self.model = model
        self.build = build
        self._plans: dict[tuple, Any] = {}

    def _plan(self, using: str, args: Sequence):
        kinds = tuple(map(type, args))
        key = (using, kinds)
        try:
            return self._plans[key]
        except KeyError:
            pass
        for kind in kinds:
            if kind not in self.kinds:
                allowed = ", ".join(k.__name__ for k in self.kinds)
                raise TypeError(
                    f"{type(self).__name__} arguments are {allowed}, not {kind.__name__}"
                )
        plan = self._plans[key] = self._compile(using, kinds)
        return plan

    def _compile(self, using: str, kinds: tuple[type, ...]):
        for sentinels in _sentinel_sets(kinds):
            plan = self._compile_with(using, sentinels)
            if plan is not _OUT_OF_RANGE:
                return plan
        return None

    def _compile_with(self, using: str, sentinels: list):
        """The plan for the query built with ``sentinels``; None when the ORM must run
        it, ``_OUT_OF_RANGE`` when Django compiled it to nothing (``EmptyResultSet``)."""
        raise NotImplementedError


class CompiledQuery(_CompiledPerArgumentTypes):
    """``build(*args)`` -> queryset of ``model``, compiled once per database alias and
    argument types (each argument an ``int`` or a ``str``; anything else is a TypeError).

    ``all(*args)`` is ``list(build(*args))`` (``select_related`` included); ``first(*args)``
    its first row or ``None``; ``statement(*args)`` and ``objects(rows, *args)`` split that
    in two, for callers that send several statements in one round trip
    (:func:`fetch_together`).

    ``prepare``: ``all``/``first`` send the statement prepared on the connection
    (``uscpis.prepared``), for a lookup whose best plan is the same for any argument (a
    key found through its index); ``statement`` gives it as :class:`PreparedSQL` too.
    """

    kinds = _KINDS

    def __init__(
        self, model: type[Model], build: Callable[..., QuerySet], *, prepare: bool = False
    ):
        super().__init__(model, build)
        self.prepare = prepare

    def _compile_with(self, using: str, sentinels: list):
        try:
            qs = self.build(*sentinels).using(using)
        except (TypeError, ValueError, ValidationError):
            return None  # e.g. a str for an integer field: the ORM says what it makes of it
        query = qs.query
        if (
            qs.model is not self.model
            or qs._iterable_class is not ModelIterable
            or qs._prefetch_related_lookups
            or qs._known_related_objects
            or query.combinator
        ):
            return None
        compiler = query.get_compiler(using=using)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            return _OUT_OF_RANGE
        except (TypeError, ValueError, ValidationError):
            return None
        reader = RowReader.from_compiler(compiler, using)
        if reader is None or reader.model is not self.model:
            return None
        slots = _slots(sql, params, sentinels)
        return None if slots is None else _Plan(sql, tuple(params), slots, reader)

    def statement(self, *args) -> tuple[str, list] | None:
        """(sql, params) for ``args``; ``None`` when the queryset must go through the ORM."""
        plan = self._plan(router.db_for_read(self.model), args)
        if plan is None:
            return None
        return (prepared.prepared_sql(plan.sql) if self.prepare else plan.sql), _bind(plan, args)

    def objects(self, rows: Sequence[Sequence[Any]], *args) -> list:
        """Model instances from rows fetched with ``statement(*args)``'s SQL (only the
        arguments' number and types matter here)."""
        plan = self._plan(router.db_for_read(self.model), args)
        return plan.reader.instances(rows)

    def all(self, *args) -> list:
        using = router.db_for_read(self.model)
        plan = self._plans.get((using, tuple(map(type, args))), _UNSEEN)
        if plan is _UNSEEN:
            plan = self._plan(using, args)
        if plan is None:
            return list(self.build(*args))
        connection = connections[using]
        params = list(args) if plan.in_order else _bind(plan, args)
        if self.prepare:
            rows = fetch_together([(prepared.prepared_sql(plan.sql), params)], using)[0]
        else:
            with connection.cursor() as cursor:
                cursor.execute(plan.sql, params)
                rows = cursor.fetchall()
        reader = plan.reader
        return [reader.instance(row, connection) for row in rows]

    def first(self, *args):
        rows = self.all(*args)
        return rows[0] if rows else None


class CompiledCount(_CompiledPerArgumentTypes):
    """``build(*args).count()``, its SQL compiled once per database alias and argument types
    (``int``, ``str`` or an aware ``datetime``), as ``CompiledQuery`` does for rows:
    ``SELECT COUNT(*)`` over the queryset's primary keys, which PostgreSQL plans as the
    count itself. ``statement(*args)`` gives the SQL to send with others
    (:func:`fetch_together`); ``None`` when the ORM must count (a sentinel did not reach the
    parameters unchanged), and ``count(*args)`` then runs the queryset's own ``count()``."""

    kinds = (*_KINDS, datetime)

    def _compile_with(self, using: str, sentinels: list):
        try:
            qs = self.build(*sentinels).using(using)
        except (TypeError, ValueError, ValidationError):
            return None
        if qs.model is not self.model or qs.query.combinator or qs.query.is_sliced:
            return None
        try:
            sql, params = qs.order_by().values("pk").query.get_compiler(using=using).as_sql()
        except EmptyResultSet:
            return _OUT_OF_RANGE
        except (TypeError, ValueError, ValidationError):
            return None
        slots = _slots(sql, params, sentinels)
        if slots is None:
            return None
        return _Plan(f"SELECT COUNT(*) FROM ({sql}) AS counted", tuple(params), slots, None)  # noqa: S608

    def statement(self, *args) -> tuple[str, list] | None:
        plan = self._plan(router.db_for_read(self.model), args)
        return None if plan is None else (plan.sql, _bind(plan, args))

    def count(self, *args) -> int:
        statement = self.statement(*args)
        if statement is None:
            return self.build(*args).count()
        ((value,),) = fetch_together([statement], router.db_for_read(self.model))[0]
        return value


def _sentinel_sets(kinds: tuple[type, ...]):
    """The sentinels to compile a query with for arguments of ``kinds``: the usual ones, and
    then (when an argument is an ``int``) ones that fit a 32-bit integer column."""
    yield [_sentinel(kind, n) for n, kind in enumerate(kinds)]
    if int in kinds:
        yield [_sentinel(kind, n, _INT4_SENTINEL) for n, kind in enumerate(kinds)]


def _slots(sql: str, params, sentinels: list) -> tuple | None:
    """Which argument each parameter is (None: a constant of the query), or None when a
    sentinel is missing, repeated or transformed, or written into the SQL itself (then
    the ORM must run the queryset)."""
    slots = tuple(_slot(p, sentinels) for p in params)
    if sorted(s for s in slots if s is not None) != list(range(len(sentinels))):
        return None
    if any(type(s) is str and s in sql for s in sentinels):
        return None
    return slots


def _slot(param, sentinels: list) -> int | None:
    """Which argument ``param`` is (its sentinel, of the same type), or None."""
    for n, sentinel in enumerate(sentinels):
        if type(param) is type(sentinel) and param == sentinel:
            return n
    return None


def _bind(plan: _Plan, args: Sequence) -> list:
    return [p if s is None else args[s] for p, s in zip(plan.params, plan.slots, strict=True)]


# --- Several statements, one round trip ------------------------------------------------------


def fetch_together(
    statements: Sequence[tuple[str, Sequence[Any] | Mapping[str, Any]]],
    using: str = DEFAULT_DB_ALIAS,
) -> list[list[tuple]]:
    """Each statement's rows, all sent in one round trip (one simple query, which client-side
    parameter binding allows); one round trip each if the connection binds parameters
    server-side, which refuses several statements in one query. Parameters are lists
    (``%s``), or mappings (``%(name)s``) that share the names they have in common.
    Statements given as ``uscpis.prepared.PreparedSQL`` go as ``EXECUTE`` of a statement
    prepared on the connection (prepared in the same round trip the first time)."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.settings_dict.get("OPTIONS", {}).get("server_side_binding"):
            results = []
            for sql, params in statements:
                cursor.execute(str(sql), params)
                results.append(cursor.fetchall())
            return results
        statements, preamble, preparing, executing = prepared.plan(connection, statements)
        try:
            cursor.execute(
                "; ".join([*preamble, *(sql for sql, _ in statements)]), _joined(statements)
            )
        except Exception:
            if executing:
                prepared.prepared_failed(connection)
            raise
        if preparing:
            prepared.prepared_ok(connection, preparing)
        for _ in preamble:  # the PREPAREs' results (no rows)
            cursor.nextset()
        results = [cursor.fetchall()]
        while cursor.nextset():
            results.append(cursor.fetchall())
        return results


def _joined(statements) -> list | Mapping:
    params = [p for _, p in statements]
    if not any(isinstance(p, Mapping) for p in params):
        return [value for p in params for value in p]
    if not all(isinstance(p, Mapping) for p in params):
        raise TypeError("fetch_together: list and named parameters cannot be mixed")
    if all(p is params[0] for p in params):
        return params[0]
    merged: dict = {}
    for p in params:
        for name, value in p.items():
            if merged.setdefault(name, value) is not value and merged[name] != value:
                raise ValueError(f"fetch_together: two values for %({name})s")
    return merged

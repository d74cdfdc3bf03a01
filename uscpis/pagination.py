"""Pagination that stays fast on large tables."""

from __future__ import annotations

from contextlib import nullcontext
from functools import partial

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.core.paginator import Paginator
from django.db import connections, transaction
from django.db.models.query import BaseIterable, ModelIterable, QuerySet
from django.db.models.sql.datastructures import BaseTable
from django.utils.functional import cached_property

from uscpis.compiled import (
    fetch_together,
    loaded_fields,
    model_rows,
    one_table_select,
    plain_order,
)
from uscpis.prepared import prepared_sql


class CappedPaginator(Paginator):
    """Counts at most ``cap`` matching rows.

    A broad search over 100,000 patients or millions of audit events would otherwise spend
    most of the request in ``COUNT(*)``; past the cap the page says "more than N" and asks
    the user to narrow the search.

    ``when_few`` (optional) re-orders the rows when they turned out to be at most ``cap``:
    PostgreSQL assumes matches are spread evenly through an index, so for a first page
    in name order it walks the name index and filters, which is fast when matches are
    many and slow (tens of thousands of rows discarded) when they are few and clustered
    ("quinones ram": every match under Q). Once the count says they are few, sorting just
    them is always cheap; ``when_few`` expresses the order so the index cannot serve it.
    """

    def __init__(self, object_list, per_page, *, cap: int = 1000, when_few=None, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.cap = cap
        self.capped = False
        self.when_few = when_few

    @cached_property
    def count(self) -> int:
        # Without ORDER BY the scan can stop at the cap instead of walking an index in order.
        counted = self.object_list.order_by()[: self.cap + 1].count()
        self.capped = counted > self.cap
        if not self.capped and self.when_few is not None:
            self.object_list = self.when_few(self.object_list)
        return min(counted, self.cap)


class CappedSortingPaginator(CappedPaginator):
    """A ``CappedPaginator`` for searches whose matches are often few. One statement finds
    the matches (at most ``cap + 1``, in no order, as the count does) and counts them; when
    they are at most ``cap`` it sorts just them for the page asked for, and when they are
    more it reads that page in the list's order (walking an index in order is fast when
    matches are many). The same statement then reads the page's rows by primary key (a
    list that also reads related rows reads them with a second, ORM query).

    So a search with few matches reads them once, not twice (once to count, once more to
    sort them for the page), the page costs one round trip and no ORM compilation, and
    whichever way the page was found its rows are in the list's order. This needs a model list read from
    its own table alone (no joins, annotations or slicing) in an order of plain fields
    ending with a unique one (``order_by("last_name", "first_name", "id")``); any other
    list is paginated as by ``CappedPaginator``.

    ``write`` (a :class:`PageWrite`, optional) goes in that statement (the page's read
    event, say); its ``keys`` are then the ids of the rows read for the page asked for (the
    page shows the first ``per_page`` of them, more on a last page with orphans). It is
    not sent when the list cannot be read that way, and ``keys`` stays ``None``.

    ``prepare``: the caller knows that one plan serves the list's filter for any of its
    values, so the statement is prepared on the connection (``uscpis.prepared``) and
    PostgreSQL stops planning it on every request (for a search, ~0.5 ms of a ~1.9 ms
    statement). A filtered list then counts the matches (and sorts them when few) in that
    statement; past the cap, a second, unprepared statement reads the page in the list's
    order (a kept plan would be the one for few matches).
    """

    def __init__(
        self,
        object_list,
        per_page,
        *,
        cap: int = 1000,
        write: PageWrite | None = None,
        prepare: bool = False,
        **kwargs,
    ):
        super().__init__(object_list, per_page, cap=cap, **kwargs)
        self.write = write
        self.prepare = prepare
        self.past_cap = False
        self._wanted = 1
        self._page_ids: dict[int, list] = {}
        self._page_rows: dict[int, list] = {}
        self._few_order = False  # when_few still to apply before the ORM reads a page

    def wanted(self, number) -> int:
        """The page ``get_page(number)`` reads in its one statement: ``number`` itself
        when that page may exist; 1 for anything but a whole number (``get_page`` serves
        the first page); for a number below 1 (``get_page`` serves the last page, not
        known before the count) or past any page the cap allows, the first page that cannot
        exist, so nothing is read (or written with ``write``) for it."""
        try:
            number = int(number)
        except (TypeError, ValueError):
            return 1
        beyond = -(-self.cap // self.per_page) + 1
        return number if 1 <= number < beyond else beyond

    def get_page(self, number):
        self._wanted = self.wanted(number)
        return super().get_page(number)

    def _order(self) -> tuple[list[str], str] | None:
        """The ordering's fields (attribute names) and its ORDER BY over their columns, or
        None when the order is not plain fields of the model ending with a unique one."""
        model, query = self.object_list.model, self.object_list.query
        quote = connections[self.object_list.db].ops.quote_name
        order = plain_order(model, query.order_by)
        if not order or not order[-1][0].unique:
            return None
        sql = ", ".join(quote(f.column) + (" DESC" if desc else "") for f, desc in order)
        return [f.attname for f, _ in order], sql

    def _one_table(self) -> bool:
        """A plain model list read from its own table alone: no joins, annotations, extra
        columns, DISTINCT, set operations or slicing."""
        qs = self.object_list
        query = qs.query
        return (
            isinstance(qs, QuerySet)
            and qs._iterable_class is ModelIterable
            and not (query.is_sliced or query.annotations or query.extra or query.distinct)
            and not query.combinator
            and not any(  # a join still referenced (trimmed ones have no references)
                query.alias_refcount.get(alias) and not isinstance(table, BaseTable)
                for alias, table in query.alias_map.items()
            )
            and sum(isinstance(t, BaseTable) for t in query.alias_map.values()) <= 1
        )

    @cached_property
    def count(self) -> int:
        order = self._order()
        if order is None or not self._one_table():
            return super().count
        names, order_sql = order
        qs = self.object_list
        connection = connections[qs.db]
        try:
            where, params = qs.query.get_compiler(using=qs.db).compile(qs.query.where)
        except EmptyResultSet:
            return 0
        except FullResultSet:
            where, params = "", []
        fields = self._loaded_fields()
        write = self.write if fields is not None else None
        statement = partial(self._statement, connection, names, order_sql, where, params, fields)
        if where and self.past_cap:  # known to match more than the cap: nothing to count
            rows = self._run(connection, *statement(few=False, many=True), write)
            rows[0] = (self.cap + 1, *rows[0][1:])
        elif not where or not self.prepare:  # an unfiltered list's plan is good for any page
            rows = self._run(
                connection,
                *statement(few=True, many=bool(where)),
                write,
                prepare=self.prepare and not where,
            )
        else:
            # Prepared (``prepare``): the statement that counts the matches and sorts them
            # when few has a plan good for any values (the trigram index finds them), so
            # PostgreSQL keeps one instead of planning it each time. The page of many
            # matches is read in the list's order by a second statement, planned for
            # them (kept, that plan would be the one for few matches).
            rows = self._run(connection, *statement(few=True, many=False), write, prepare=True)
            if rows[0][0] > self.cap:
                counted = rows[0][0]
                rows = self._run(connection, *statement(few=False, many=True), write)
                rows[0] = (counted, *rows[0][1:])
        counted = rows[0][0]
        _, few, many = rows[0][:3]
        self.capped = counted > self.cap
        if few or many:
            ids = few or many
            if fields is None:
                self._page_ids[self._wanted] = ids
            else:
                by_pk = {row.pk: row for row in self._from_db(fields, [r[3:] for r in rows])}
                self._page_rows[self._wanted] = [by_pk[k] for k in ids if k in by_pk]
        # Any page not read by the statement (past the last) is read with the ORM, in the
        # few-match order when the matches are few: applied then (``page``), as building
        # that queryset costs more than most pages that never need it.
        self._few_order = not self.capped and self.when_few is not None
        return min(counted, self.cap)

    def _statement(
        self, connection, names, order_sql, where, params, fields, *, few: bool, many: bool
    ) -> tuple[str, list, str, str]:
        """The statement (its WITH part, its parameters, the SQL of the page's ids and its
        final SELECT) that reads the matches' count (``few``: with the page's ids sorted
        from them when at most ``cap``) and (``many``) the page's ids in the list's order
        when they are more, then the page's rows by those ids, in that order."""
        model = self.object_list.model
        quote = connection.ops.quote_name
        pk = quote(model._meta.pk.column)
        columns = ", ".join(
            dict.fromkeys([pk, *(quote(model._meta.get_field(n).column) for n in names)])
        )
        table = quote(model._meta.db_table)
        page = [self.per_page + self.orphans, (self._wanted - 1) * self.per_page]
        # The matches (at most cap + 1, in no order) are counted; when they are few, the
        # page's ids are sorted from them; when they are many, the page's ids are read in
        # the list's order (each branch runs only when its condition holds); then the
        # page's rows are read by those ids, in that order (a list that also reads related
        # rows reads them afterwards, with the ORM). An unfiltered list is the whole table:
        # it is counted (up to the cap) without reading any column, and its page is read in
        # the list's order whatever the count (walking an index in order is as cheap for a
        # few rows as for many).
        if not where:
            page_ids = "p.few"
            sql = (
                "WITH c AS MATERIALIZED (SELECT count(*) AS n FROM "  # noqa: S608 (our SQL; values are parameters)
                f"(SELECT 1 FROM {table} LIMIT %s) AS m), "
                "p AS MATERIALIZED (SELECT (SELECT n FROM c) AS n, "
                f"ARRAY(SELECT {pk} FROM {table} ORDER BY {order_sql} LIMIT %s OFFSET %s) AS few, "
                "NULL AS many)"
            )
            args = [self.cap + 1, *page]
        elif not few:  # the count is known to be past the cap
            page_ids = "p.many"
            sql = (
                "WITH p AS MATERIALIZED (SELECT NULL AS n, NULL AS few, "  # noqa: S608 (our SQL; values are parameters)
                f"ARRAY(SELECT {pk} FROM {table} WHERE {where} "
                f"ORDER BY {order_sql} LIMIT %s OFFSET %s) AS many)"
            )
            args = [*params, *page]
        else:
            page_ids = "array_cat(p.few, p.many)" if many else "p.few"
            many_sql = (
                f"ARRAY(SELECT {pk} FROM {table} WHERE (SELECT n FROM c) > %s "  # noqa: S608 (our SQL; values are parameters)
                f"AND ({where}) ORDER BY {order_sql} LIMIT %s OFFSET %s)"
                if many
                else "NULL"
            )
            sql = (
                f"WITH m AS MATERIALIZED (SELECT {columns} FROM {table} WHERE {where} LIMIT %s), "  # noqa: S608 (our SQL; values are parameters)
                "c AS MATERIALIZED (SELECT count(*) AS n FROM m), "
                "p AS MATERIALIZED (SELECT (SELECT n FROM c) AS n, "
                f"ARRAY(SELECT {pk} FROM m WHERE (SELECT n FROM c) <= %s "
                f"ORDER BY {order_sql} LIMIT %s OFFSET %s) AS few, {many_sql} AS many)"
            )
            args = [*params, self.cap + 1, self.cap, *page]
            if many:
                args += [self.cap, *params, *page]
        rows_sql, rows_join = "", ""
        if fields is not None:
            rows_sql = ", " + ", ".join(f"r.{quote(f.column)}" for f in fields)
            loaded = ", ".join(f"t.{quote(f.column)}" for f in fields)
            rows_join = (
                f" LEFT JOIN LATERAL (SELECT u.page_order, {loaded} "  # noqa: S608 (our SQL; values are parameters)
                f"FROM unnest({page_ids}) WITH ORDINALITY AS u(page_key, page_order) "
                f"JOIN {table} AS t ON t.{pk} = u.page_key) AS r ON true ORDER BY r.page_order"
            )
        select = f" SELECT p.n, p.few, p.many{rows_sql} FROM p{rows_join}"  # noqa: S608 (our SQL)
        return sql, list(args), page_ids, select

    def _run(self, connection, sql, args, page_ids, select, write, *, prepare=False) -> list:
        """The rows of the statement ``_statement`` made (with ``write``: its write in it,
        reading the page's keys as ``page(page_key, page_order)``, the same ids in the same
        order as the rows; ``write.keys`` is then set), prepared on the connection when
        ``prepare`` (``uscpis.prepared``)."""
        if write is not None:
            sql = (
                f"{sql}, page AS MATERIALIZED (SELECT u.page_key, u.page_order FROM p, "  # noqa: S608 (our SQL; values are parameters)
                f"unnest({page_ids}) WITH ORDINALITY AS u(page_key, page_order)), "
                f"written AS ({write.sql})"
            )
            args = [*args, *write.params]
        sql += select
        if prepare:
            with _write_guard(connection) if write is not None else nullcontext():
                (rows,) = fetch_together([(prepared_sql(sql), args)], using=connection.alias)
        elif write is not None:
            rows = _execute_with_write(connection, sql, args)
        else:
            with connection.cursor() as cursor:
                cursor.execute(sql, args)
                rows = cursor.fetchall()
        if write is not None:
            _, few, many = rows[0][:3]
            write.keys = list(few or many or [])
        return rows

    def _page_bounds(self, number) -> int:
        """How many rows page ``number`` shows (as ``Paginator.page``: the last page ends
        at the (capped) count and takes the orphans)."""
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        return max(top - bottom, 0)

    def page(self, number):
        number = self.validate_number(number)
        rows = self._page_rows.get(number)
        if rows is not None:
            return self._get_page(rows[: self._page_bounds(number)], number, self)
        ids = self._page_ids.get(number)
        if ids is None:
            if self._few_order:
                self._few_order = False
                self.object_list = self.when_few(self.object_list)
            return super().page(number)
        ids = ids[: self._page_bounds(number)]
        by_pk = {row.pk: row for row in self._rows_by_pk(ids)}
        return self._get_page([by_pk[pk] for pk in ids if pk in by_pk], number, self)

    def _loaded_fields(self) -> list | None:
        """The model fields the list loads (``only``/``defer`` kept), or None when it also
        reads related rows (``select_related``, ``prefetch_related``)."""
        base = self.object_list
        if base.query.select_related or base._prefetch_related_lookups:
            return None
        return loaded_fields(base)

    def _from_db(self, fields: list, rows) -> list:
        """Model instances from rows of ``fields``' columns, converted as the ORM does."""
        return model_rows(self.object_list.model, self.object_list.db, fields, rows)

    def _rows_by_pk(self, ids: list) -> list:
        """The list's rows with these primary keys (the columns it loads, ``only``/``defer``
        kept), read with one plain SELECT rather than through the query compiler."""
        base = self.object_list
        model, connection = base.model, connections[base.db]
        fields = self._loaded_fields()
        if fields is None:
            rows = model._default_manager.using(base.db).filter(pk__in=ids).order_by()
            rows.query.select_related = base.query.select_related
            rows.query.deferred_loading = base.query.deferred_loading
            return list(rows.prefetch_related(*base._prefetch_related_lookups))
        quote = connection.ops.quote_name
        sql = (
            f"SELECT {', '.join(quote(f.column) for f in fields)} "  # noqa: S608 (our SQL; values are parameters)
            f"FROM {quote(model._meta.db_table)} WHERE {quote(model._meta.pk.column)} = ANY(%s)"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [list(ids)])
            return self._from_db(fields, cursor.fetchall())


class PageWrite:
    """A data-modifying statement (``sql``, ``params``) sent inside the statement that
    reads a page of :func:`rows_found_by_keys` or of a :class:`CappedSortingPaginator`
    (one round trip, one statement): it may read the page's keys as
    ``page(page_key, page_order)`` (``page_order`` from 1, in the list's order) and runs
    whether or not it returns rows. Once the page is read, ``keys`` holds the primary keys
    the statement found, in order; it stays ``None`` when no statement was sent (a filter
    that matches nothing), and then nothing was written."""

    __slots__ = ("sql", "params", "keys")

    def __init__(self, sql: str, params: list):
        self.sql, self.params = sql, list(params)
        self.keys: list | None = None


def _write_guard(connection):
    """Around a statement that writes: in a caller's transaction, a failure marks it for
    rollback (as any failed write in it would); on its own, nothing."""
    if connection.in_atomic_block:
        return transaction.atomic(using=connection.alias, savepoint=False)
    return nullcontext()


def _execute_with_write(connection, sql: str, params: list) -> list:
    """The rows of ``sql``, a statement holding a write (its parameters in ``params``). In a
    caller's transaction a failed write marks it for rollback (as any write)."""
    with _write_guard(connection), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


class _RowsFoundByKeys(BaseIterable):
    """Evaluates a queryset that loads only its sort keys (``only``) in one statement that
    finds the rows reading those keys (the queryset's own SQL: its filter, order, cursor
    position and slice), then reads the found rows, every concrete field, by primary key,
    in that order (with ``write``, a :class:`PageWrite` sent in the same statement)."""

    def __init__(self, queryset, *args, write: PageWrite | None = None, **kwargs):
        super().__init__(queryset, *args, **kwargs)
        self.write = write

    def __iter__(self):
        qs = self.queryset
        model, using = qs.model, qs.db
        connection = connections[using]
        try:
            found = _plain_keys_sql(qs, connection)
            keys_sql, params = found or qs.query.get_compiler(using=using).as_sql()
        except EmptyResultSet:
            return
        quote = connection.ops.quote_name
        pk = quote(model._meta.pk.column)
        fields = list(model._meta.concrete_fields)
        columns = ", ".join(f"t.{quote(f.column)}" for f in fields)
        keys = f"unnest(ARRAY(SELECT k.{pk} FROM ({keys_sql}) AS k)) WITH ORDINALITY"  # noqa: S608 (our SQL; values are parameters)
        table = quote(model._meta.db_table)
        write = self.write
        if write is None:
            sql = (
                f"SELECT {columns} FROM {keys} AS u(page_key, page_order) "  # noqa: S608 (our SQL; values are parameters)
                f"JOIN {table} AS t ON t.{pk} = u.page_key ORDER BY u.page_order"
            )
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                rows = cursor.fetchall()
        else:
            sql = (
                f"WITH page AS MATERIALIZED (SELECT * FROM {keys} AS u(page_key, page_order)), "  # noqa: S608 (our SQL; values are parameters)
                f"written AS ({write.sql}) SELECT {columns} FROM page "
                f"JOIN {table} AS t ON t.{pk} = page.page_key ORDER BY page.page_order"
            )
            rows = _execute_with_write(connection, sql, [*params, *write.params])
            at = fields.index(model._meta.pk)
            write.keys = [row[at] for row in rows]
        yield from model_rows(model, using, fields, rows)


def _plain_keys_sql(qs: QuerySet, connection) -> tuple[str, list] | None:
    """``SELECT pk FROM table WHERE ... ORDER BY ... LIMIT ... OFFSET ...`` for a list of one
    table in an order of plain fields, written from the query's parts (only its filter is
    compiled) rather than by the whole query compiler; None for any other list (the
    compiler writes it). Raises ``EmptyResultSet`` as the compiler does."""
    table = connection.ops.quote_name(qs.model._meta.db_table)
    pk = connection.ops.quote_name(qs.model._meta.pk.column)
    return one_table_select(qs, connection, f"{table}.{pk}")


def rows_found_by_keys(
    qs: QuerySet, keys: list[str], *, write: PageWrite | None = None
) -> QuerySet:
    """``qs``, whose rows are found reading only the fields ``keys`` (and the primary key)
    and then read whole by primary key, in one statement. With keys that an index carries,
    finding a page (``order_by``, filters, a slice: what cursor pagination does) is an
    index-only walk instead of a table read for every row passed; the result is the same
    model instances, in the same order, as evaluating ``qs`` itself. ``qs`` must be a
    plain list of its model (no ``select_related``, ``values``, annotations or
    prefetches). ``write``: a statement sent in the page's statement (:class:`PageWrite`)."""
    if (
        qs._iterable_class is not ModelIterable
        or qs.query.select_related
        or qs._prefetch_related_lookups
        or qs.query.annotations
        or qs.query.extra
        or qs.query.combinator
    ):
        raise ValueError("rows_found_by_keys needs a plain model queryset")
    found = qs.only(*keys)
    found._iterable_class = (
        _RowsFoundByKeys if write is None else partial(_RowsFoundByKeys, write=write)
    )
    return found

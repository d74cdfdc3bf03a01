"""Hand-written SQL for the busiest inventory screens (the stock overview, an item's page
and its ledger), read into ordinary model instances.

Building an ORM query (clone, resolve, compile) for these pages cost several times what
PostgreSQL spent answering it: the overview's page query alone took ~1.7 ms of Python to
compile, and its count another ~1 ms. Here the SQL is written once; the rows are read by
``uscpis.compiled`` (each column's converters, then ``Model.from_db``) exactly as the ORM
would deliver them, so everything downstream sees the same objects.
``tests/inventory/test_fastread.py`` checks every read against the ORM query it stands in
for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.core.paginator import Page, Paginator
from django.db import connection
from django.utils.functional import cached_property

from uscpis.compiled import build, columns, fetch_together, width

__all__ = [  # columns, build and width are uscpis.compiled's: the screens import them here
    "RawPaginator",
    "RawRows",
    "build",
    "columns",
    "fetch",
    "fetch_many",
    "width",
]


def fetch(sql: str, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def fetch_many(statements: Sequence[str], params) -> list[list[tuple]]:
    """Each statement's rows, all sent in one round trip (``uscpis.compiled.fetch_together``),
    every statement with the same ``params``."""
    return fetch_together([(sql, params) for sql in statements], connection.alias)


class RawRows:
    """A sliceable, countable row source for ``Paginator``: ``count_sql`` answers the count
    (capped when ``cap`` is given: it reads at most ``cap + 1`` rows), ``rows_sql`` (with
    ``%(limit)s`` and ``%(offset)s``) one page, and ``make`` turns the fetched rows into the
    objects the page shows."""

    def __init__(
        self,
        count_sql: str,
        rows_sql: str,
        params: dict,
        make: Callable[[list[tuple]], list],
        cap: int | None = None,
    ):
        self.count_sql, self.rows_sql, self.params, self.make = count_sql, rows_sql, params, make
        self.cap = cap

    def _params(self, **extra) -> dict:
        cap = {} if self.cap is None else {"cap": self.cap + 1}
        return {**self.params, **cap, **extra}

    def count(self) -> int:
        return fetch(self.count_sql, self._params())[0][0]

    def statements(self, start: int, stop: int) -> tuple[list[str], dict]:
        """The count's and ``self[start:stop]``'s statements and parameters, for a caller
        that sends them along with its own (then :meth:`prime` with what they answered)."""
        return [self.count_sql, self.rows_sql], self._params(
            limit=max(0, stop - start), offset=start
        )

    def prime(self, start: int, stop: int, counted: list[tuple], rows: list[tuple]) -> None:
        """What :meth:`statements` ``(start, stop)`` answered: the next
        :meth:`count_and_slice` of that slice uses it instead of querying."""
        self._primed = ((start, stop), counted, rows)

    def count_and_slice(self, start: int, stop: int) -> tuple[int, list]:
        """The count and ``self[start:stop]`` in one round trip (:func:`fetch_many`), or
        none when :meth:`prime` gave them."""
        primed, self._primed = getattr(self, "_primed", None), None
        if primed is not None and primed[0] == (start, stop):
            counted, rows = primed[1], primed[2]
        else:
            counted, rows = fetch_many(*self.statements(start, stop))
        return counted[0][0], self.make(rows)

    def __getitem__(self, key):
        if not isinstance(key, slice) or key.step is not None:
            raise TypeError("RawRows supports plain slices only")
        start = key.start or 0
        limit = max(0, key.stop - start)
        return self.make(fetch(self.rows_sql, {**self.params, "limit": limit, "offset": start}))


class RawPaginator(Paginator):
    """``Paginator`` over :class:`RawRows`; with ``cap``, it behaves like
    ``uscpis.pagination.CappedPaginator`` (counts at most ``cap`` rows, sets ``capped``)."""

    def __init__(self, rows: RawRows, per_page: int, **kwargs):
        super().__init__(rows, per_page, **kwargs)
        self.cap = rows.cap
        self.capped = False

    def _capped(self, counted: int) -> int:
        if self.cap is None:
            return counted
        self.capped = counted > self.cap
        return min(counted, self.cap)

    @cached_property
    def count(self) -> int:
        return self._capped(self.object_list.count())

    @staticmethod
    def number_asked(number) -> int:
        """The page number as ``get_page`` reads it (not a whole number: 1)."""
        try:
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            return int(number)
        except (TypeError, ValueError):
            return 1

    def first_row(self, number: int) -> int:
        """The offset ``get_page(number)`` reads its rows from first (before it knows
        whether the number is past the end)."""
        return (max(number, 1) - 1) * self.per_page

    def get_page(self, number) -> Page:
        """``Paginator.get_page`` (a page number that is not a whole number: the first page;
        past either end: the last page), reading the count and the rows in one round trip;
        a second only when the number was past the end."""
        if self.orphans:
            return super().get_page(number)
        number = self.number_asked(number)
        bottom = self.first_row(number)
        counted, rows = self.object_list.count_and_slice(bottom, bottom + self.per_page)
        self.__dict__["count"] = self._capped(counted)
        if number < 1 or number > self.num_pages:
            return self.page(self.num_pages)
        # As Paginator.page: the rows up to the (capped) count.
        return self._get_page(rows[: max(0, self.count - bottom)], number, self)

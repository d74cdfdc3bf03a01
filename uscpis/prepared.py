"""Statements PostgreSQL parses and plans once per connection (``PREPARE``/``EXECUTE``).

PostgreSQL parses, analyses and plans every statement it is sent. For the wide joins of the
busiest pages that is most of what the statement costs: the invoice page's invoice with its
patient, users, coverage and payer took ~0.9 ms of the backend's CPU to answer, ~0.1 ms as
``EXECUTE`` of a statement prepared on the connection. A statement marked
:class:`PreparedSQL` is sent by ``uscpis.compiled.fetch_together`` as ``EXECUTE name(...)``
of a statement prepared on that connection: the first time the connection sees it, its
``PREPARE`` goes first in the same round trip (so a page's statements and round trips are
the same whether or not it is the first). PostgreSQL then plans it once, for any value
(the backend opens every connection with ``plan_cache_mode = force_generic_plan``,
``uscpis/pgbackend/base.py``), and analyses it again by itself when a table it reads
changes. That kept plan is made for any value of the parameters: a statement whose best
plan depends on them (a long-standing patient's rows against a new one's) is better left
unprepared (``named_statement(prepare=False)``), or given an index that the plan for any
value reads well.

Parameters are still bound client-side, as literals in the ``EXECUTE``; PostgreSQL infers
each ``$n``'s type from where it stands. A statement is sent as it is, unprepared, when a
parameter could be read differently there: anything but ``None``, ``bool``, ``str``,
``date``/``datetime``, ``Decimal`` or a whole number that fits a 32-bit integer (an id
typed ``integer`` by the statement would refuse a larger one, which the literal compares
fine), named parameters, or a connection that binds parameters server-side.

Prepared statements belong to the database session: they outlive transactions (a rollback
keeps them) and end with the connection, so the names are tracked per connection object.
If a round trip holding prepared statements fails, which of its ``PREPARE``s ran (or
whether the server still has the others) is not known: the connection's names are
forgotten and later statements are prepared under new ones.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

_PLACEHOLDER = re.compile(r"%%|%s|%\(")
# At most this many statements are prepared on one connection (each keeps its plans in the
# server process's memory); any other statement is sent as it is. A search's statement
# differs with the shape of the words searched (how many, which are checked whole), so
# their number is bounded but not small.
MAX_PER_CONNECTION = 200
_INT32 = range(-(2**31), 2**31)
_SAFE_TYPES = (type(None), bool, str, date, datetime, Decimal)


class PreparedSQL(str):
    """SQL with positional ``%s`` parameters (and ``%%`` for a percent sign) that
    ``fetch_together`` sends as ``EXECUTE`` of a statement prepared on the connection.
    It is an ordinary ``str`` of that SQL everywhere else (sent as it is where a statement
    cannot be prepared)."""

    body: str  # the statement with $1, $2, ... (``%%`` kept: the round trip is interpolated)
    key: str
    count: int  # how many parameters
    args: str  # the EXECUTE's parameter list: "(%s, %s)", or "" for none

    def __new__(cls, sql: str) -> PreparedSQL:
        self = super().__new__(cls, sql)
        count = 0

        def number(match) -> str:
            nonlocal count
            token = match.group(0)
            if token == "%(":
                raise ValueError("PreparedSQL takes positional %s parameters only")
            if token == "%%":
                return token
            count += 1
            return f"${count}"

        self.body = _PLACEHOLDER.sub(number, sql)
        self.count = count
        self.args = f"({', '.join(['%s'] * count)})" if count else ""
        self.key = hashlib.sha1(sql.encode(), usedforsecurity=False).hexdigest()[:24]
        return self


@lru_cache(maxsize=256)
def prepared_sql(sql: str) -> PreparedSQL:
    """``PreparedSQL(sql)``, made once per distinct SQL."""
    return PreparedSQL(sql)


def _positional(sql: str) -> tuple[str, tuple[str, ...]]:
    names = tuple(re.findall(r"%\((\w+)\)s", sql))
    return re.sub(r"%\((\w+)\)s", "%s", sql), names


@lru_cache(maxsize=256)
def prepared_named(sql: str) -> tuple[PreparedSQL, tuple[str, ...]]:
    """SQL with named ``%(name)s`` parameters as :class:`PreparedSQL` (each ``%(name)s`` a
    ``%s``) and the names in the order they stand, to make its parameter list from a
    mapping (:func:`named_statement`)."""
    plain, names = _positional(sql)
    return PreparedSQL(plain), names


def named_statement(
    sql: str, params: Mapping[str, Any], *, prepare: bool = True
) -> tuple[str, list]:
    """``(sql, params)`` with named parameters as a prepared statement (``prepare=False``:
    the same SQL, planned each time it is sent) and its list of parameters."""
    prepared, names = prepared_named(sql)
    return prepared if prepare else str(prepared), [params[name] for name in names]


def _preparable(sql, params) -> bool:
    if type(sql) is not PreparedSQL or isinstance(params, Mapping):
        return False
    if len(params) != sql.count:
        return False
    for value in params:
        kind = type(value)
        if kind is int:
            if value not in _INT32:
                return False
        elif kind not in _SAFE_TYPES:
            return False
    return True


class _Session:
    """The statements prepared on one database connection (``connection.connection``)."""

    __slots__ = ("raw", "names", "generation")

    def __init__(self, raw, generation: int = 0):
        self.raw, self.names, self.generation = raw, set(), generation

    def name(self, sql: PreparedSQL) -> str:
        return f"uscpis_{sql.key}_{self.generation}"


def _session(connection) -> _Session:
    raw = connection.connection
    session = connection.__dict__.get("_uscpis_prepared")
    if session is None or session.raw is not raw:
        session = _Session(raw)
        connection._uscpis_prepared = session
    return session


def plan(connection, statements: Sequence[tuple[str, Any]]):
    """For one round trip on ``connection`` (connected): the statements to send (each
    :class:`PreparedSQL` that can be, as its ``EXECUTE``), the ``PREPARE``s to send before
    them (their results carry no rows), the names they prepare (:func:`prepared_ok` once
    the round trip has succeeded) and whether any statement is an ``EXECUTE``
    (:func:`prepared_failed` if the round trip fails)."""
    session = _session(connection)
    sent, preamble, new, executing = [], [], [], False
    for sql, params in statements:
        if not _preparable(sql, params):
            sent.append((str(sql), params))
            continue
        name = session.name(sql)
        if name not in session.names and name not in new:
            if len(session.names) + len(new) >= MAX_PER_CONNECTION:
                sent.append((str(sql), params))  # enough kept on this connection
                continue
            preamble.append(f"PREPARE {name} AS {sql.body}")
            new.append(name)
        sent.append((f"EXECUTE {name}{sql.args}", params))
        executing = True
    return sent, preamble, new, executing


def prepared_ok(connection, names: Sequence[str]) -> None:
    """The round trip that prepared ``names`` succeeded."""
    _session(connection).names.update(names)


def prepared_failed(connection) -> None:
    """A round trip that prepared statements failed: forget the connection's names (some
    of its ``PREPARE``s may have run) and use new ones from now on."""
    session = _session(connection)
    connection._uscpis_prepared = _Session(session.raw, session.generation + 1)

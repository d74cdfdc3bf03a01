"""Django's PostgreSQL backend, with a health check that costs no round trip.

With ``CONN_HEALTH_CHECKS`` Django checks a reused connection before a request's first query
by sending ``SELECT 1`` to the server and waiting for the answer: a round trip, parsed and
answered by PostgreSQL, on every request that touches the database. This backend first asks
the operating system instead. A connection that is idle (no transaction, nothing failed since
it was last used) and has nothing waiting to be read is as usable as ``SELECT 1`` would find
it: when the server ends a session (a restart, ``pg_terminate_backend``, an idle timeout) it
sends an error message and closes the socket, and both make the socket readable. Whenever
anything is waiting, the connection is in a transaction, or an error occurred, the check is
Django's own ``SELECT 1``, so what the bytes were (a notice, a notification, the goodbye) is
read and judged by psycopg as before.

What neither check can see is a peer that vanished without a word (a cut cable): ``SELECT 1``
would wait for the TCP timeout, and the request's first query waits the same here.

It plans the statements prepared on a connection (``uscpis.prepared``) once: each connection
starts with ``plan_cache_mode = force_generic_plan``. Left to itself PostgreSQL plans a
prepared statement afresh on its first five executions, then keeps a generic plan only when
its estimated cost is close to theirs; for the patient list's statements the estimate never
was, so every page of the list and every search by ID number was planned again (~0.25 ms of
the backend's CPU, about as much as running it) for the same plan. The prepared statements
are written so one plan serves any parameters (a statement whose best plan depends on its
values is sent unprepared), and the database's own functions (triggers) only look rows up
by key, so nothing here is better planned per value.

It also reads ``timestamptz`` values with psycopg's C loader. Django registers its own
loader (``psycopg_any.BaseTzLoader``), a subclass of psycopg's pure-Python one, so that every
value comes back in the connection's time zone as Django configured it: each value is
parsed by a Python regular expression and then has its ``tzinfo`` replaced. With
``USE_TZ`` Django's time zone is UTC and Django sets the session's ``TimeZone`` to UTC when it
connects (``ensure_timezone``); psycopg's C loader (psycopg-binary) then returns the very same
value, aware in ``datetime.timezone.utc``, parsed in C. A page of 25 patients has 50 such
values, and every list of events, visits or invoices has one or more per row.
"""

from __future__ import annotations

import select
from datetime import UTC
from functools import lru_cache

import psycopg
from django.db.backends.postgresql import base
from psycopg import adapt, pq
from psycopg.postgres import types as pg_types

_OK = pq.ConnStatus.OK
_IDLE = pq.TransactionStatus.IDLE


def idle_and_quiet(connection) -> bool:
    """Whether a psycopg connection is open, idle and has nothing waiting to be read."""
    if connection.closed or connection.broken:
        return False
    pgconn = connection.pgconn
    if pgconn.status != _OK or pgconn.transaction_status != _IDLE:
        return False
    try:
        poller = select.poll()
        poller.register(pgconn.socket, select.POLLIN | select.POLLPRI)
        return not poller.poll(0)  # readable, hung up or in error: not quiet
    except (OSError, ValueError, psycopg.Error):  # no socket any more
        return False


_TIMESTAMPTZ = pg_types["timestamptz"].oid
_C_TIMESTAMPTZ_LOADER = psycopg.adapters.get_loader(_TIMESTAMPTZ, pq.Format.TEXT)


def _c_loader_available() -> bool:
    """Whether psycopg's default ``timestamptz`` loader is its C one (psycopg-binary or
    psycopg-c): the pure-Python one is what Django's loader already extends."""
    return _C_TIMESTAMPTZ_LOADER.__module__.startswith(("psycopg_binary", "psycopg_c"))


class UtcTimestamptzLoader:
    """psycopg's C ``timestamptz`` loader, which answers in the session's time zone (UTC here:
    see the module's docstring), registered under a class that says so: ``timezone`` is what
    Django's ``create_cursor`` compares with its own to decide whether a cursor needs a
    loader of its own. (The C class itself cannot be subclassed; psycopg makes a loader by
    calling the registered class, and reads C loaders in C whatever class made them.)"""

    format = pq.Format.TEXT
    timezone = UTC

    def __new__(cls, oid, context=None):
        return _C_TIMESTAMPTZ_LOADER(oid, context)


@lru_cache
def _with_c_timestamptz_loader(template: adapt.AdaptersMap) -> adapt.AdaptersMap:
    """Django's adapters (``get_adapters_template``), ``timestamptz`` read in C."""
    context = adapt.AdaptersMap(template)
    context.register_loader(_TIMESTAMPTZ, UtcTimestamptzLoader)
    return context


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self):
        params = super().get_connection_params()
        template = params.get("context")
        if (
            template is not None
            and _c_loader_available()
            and self.timezone is UTC
            and self.timezone_name == "UTC"
        ):
            params["context"] = _with_c_timestamptz_loader(template)
        return params

    def _configure_connection(self, connection):
        # Django's per-connection set-up (time zone, role), for new and pooled connections
        # alike; True: a commit is needed when the connection does not autocommit.
        super()._configure_connection(connection)
        with connection.cursor() as cursor:  # see the module's docstring
            cursor.execute("SET plan_cache_mode = force_generic_plan")
        return True

    def is_usable(self) -> bool:
        if self.connection is None:
            return False
        if not self.errors_occurred and idle_and_quiet(self.connection):
            return True
        return super().is_usable()  # Django's SELECT 1

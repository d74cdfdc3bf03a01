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
"""

from __future__ import annotations

import select

import psycopg
from django.db.backends.postgresql import base
from psycopg import pq

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


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        if self.connection is None:
            return False
        if not self.errors_occurred and idle_and_quiet(self.connection):
            return True
        return super().is_usable()  # Django's SELECT 1

"""Advisory locks that keep restores, backups and verifications from overlapping."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psycopg
from django.db import connection

from monitoring import pg
from monitoring.pg import BackupError

# A session-level advisory lock held, on a connection of its own, for as long as a restore
# runs (from the web's worker or from ``manage.py backup restore``): two restores never run
# at once, and when the process running one dies the lock goes with its connection.
RESTORE_LOCK_KEY = 7_368_270_101


_guard_depth = threading.local()


@contextmanager
def restore_guard() -> Iterator[None]:
    """Hold the restore lock; ``BackupError`` when another restore holds it.

    Re-entrant within a thread, so the worker can hold it around ``backup_restore`` (which
    takes it too) until the job's outcome is recorded.
    """
    if getattr(_guard_depth, "n", 0):
        _guard_depth.n += 1
        try:
            yield
        finally:
            _guard_depth.n -= 1
        return
    conn = pg.connect()  # autocommit: an idle session the restore does not terminate
    try:
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", [RESTORE_LOCK_KEY]).fetchone()[0]
        if not got:
            raise BackupError("Another restore is running right now; wait for it to finish.")
        _guard_depth.n = 1
        try:
            yield
        finally:
            _guard_depth.n = 0
            with suppress(psycopg.Error):  # release now, visibly to others (see job_guard)
                conn.execute("SELECT pg_advisory_unlock(%s)", [RESTORE_LOCK_KEY])
    finally:
        conn.close()


def restore_running() -> bool:
    """Whether some process holds the restore lock (it is running a restore now)."""

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1)",
            [RESTORE_LOCK_KEY >> 32, RESTORE_LOCK_KEY & 0xFFFFFFFF],
        )
        return cursor.fetchone()[0]


# While a process makes or verifies a backup it holds a session-level advisory lock keyed
# by the backup's id, on a connection of its own: a row still "running" while nobody holds
# its lock belongs to a process that died (the lock went with its connection).
_JOB_LOCK_CLASS = {"backup": 736_827_011, "verify": 736_827_012}


@contextmanager
def job_guard(kind: str, backup_id: int) -> Iterator[bool]:
    """Hold the ``kind`` ("backup" or "verify") lock of one backup; yields False (and
    holds nothing) when another process holds it."""
    conn = pg.connect()
    key = [_JOB_LOCK_CLASS[kind], backup_id]
    got = False
    try:
        got = conn.execute("SELECT pg_try_advisory_lock(%s::int, %s::int)", key).fetchone()[0]
        yield got
    finally:
        # Release now: closing alone frees it only once the backend has exited, which other
        # sessions may not see yet (a reaper would find it still "held"). A broken
        # connection frees it anyway when closed.
        with suppress(psycopg.Error):
            if got:
                conn.execute("SELECT pg_advisory_unlock(%s::int, %s::int)", key)
        conn.close()


def jobs_running_sql(kind: str) -> tuple[str, list[int]]:
    """SQL (and parameters) selecting the ids of the backups a live process is making
    ("backup") or verifying ("verify"): for use inside a guarded UPDATE, so the check and
    the change are one statement (``pg_locks`` is read live, not from a snapshot)."""
    return (
        "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND classid::bigint = %s AND objsubid = 2",
        [_JOB_LOCK_CLASS[kind]],
    )

"""The database backend's reuse check: the socket first, ``SELECT 1`` only when in doubt.

Each test opens its own connection beside the test's one (autocommit, outside the test's
transaction) and watches it from the server's side in ``pg_stat_activity``.
"""

from __future__ import annotations

import time

import pytest
from django.db import connection, connections
from django.db.backends.postgresql import base as django_base

from uscpis.pgbackend.base import DatabaseWrapper, idle_and_quiet

pytestmark = pytest.mark.django_db


@pytest.fixture
def select_one_checks(monkeypatch):
    """Counts Django's own SELECT 1 checks, still running them."""
    calls = []
    original = django_base.DatabaseWrapper.is_usable

    def spy(self):
        calls.append(self)
        return original(self)

    monkeypatch.setattr(django_base.DatabaseWrapper, "is_usable", spy)
    return calls


def _backend_pid(wrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _last_query(pid: int) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # a fresh look inside the transaction
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row[0] if row else None


def _wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_the_project_uses_this_backend():
    assert isinstance(connections["default"], DatabaseWrapper)
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True


def test_a_quiet_idle_connection_is_usable_without_sending_anything(other, select_one_checks):
    with other.cursor() as cursor:
        cursor.execute("SELECT 'the last thing this connection said'")
    pid = _backend_pid(other)
    with other.cursor() as cursor:
        cursor.execute("SELECT 'the last thing this connection said'")

    assert other.is_usable() is True

    assert select_one_checks == []
    # The server saw no SELECT 1: its record of the session's last statement is unchanged.
    assert _last_query(pid) == "SELECT 'the last thing this connection said'"


def test_a_connection_the_server_ended_is_replaced_before_the_next_query(other):
    pid = _backend_pid(other)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    _wait_until(lambda: _last_query(pid) is None)
    _wait_until(lambda: not idle_and_quiet(other.connection))

    assert other.is_usable() is False
    # A request's start, then its first query, as Django runs them for a reused connection.
    other.close_if_unusable_or_obsolete()
    new_pid = _backend_pid(other)

    assert new_pid != pid
    assert _last_query(new_pid) == "SELECT pg_backend_pid()"


def test_waiting_bytes_are_left_to_select_one_to_judge(other, select_one_checks):
    """A notification waiting on the socket is not a failure: SELECT 1 reads it and passes."""
    with other.cursor() as cursor:
        cursor.execute("LISTEN uscpis_backend_test")
    notifier = connections.create_connection("default")
    try:
        with notifier.cursor() as cursor:
            cursor.execute("NOTIFY uscpis_backend_test")
    finally:
        notifier.close()
    _wait_until(lambda: not idle_and_quiet(other.connection))

    assert other.is_usable() is True
    assert select_one_checks == [other]


def test_after_an_error_or_inside_a_transaction_the_check_is_select_one(other, select_one_checks):
    other.errors_occurred = True
    assert other.is_usable() is True
    other.errors_occurred = False

    with other.cursor() as cursor:
        cursor.execute("BEGIN")
        assert other.is_usable() is True
        cursor.execute("ROLLBACK")

    assert select_one_checks == [other, other]
    assert other.is_usable() is True
    assert len(select_one_checks) == 2


def test_a_closed_connection_is_not_usable(other):
    raw = other.connection
    other.close()
    assert idle_and_quiet(raw) is False
    assert other.is_usable() is False

"""Statements prepared on a connection are planned once: every connection the backend opens
has ``plan_cache_mode = force_generic_plan`` (``uscpis/pgbackend/base.py``)."""

from __future__ import annotations

import pytest
from django.db import connection, connections

from uscpis import prepared
from uscpis.compiled import fetch_together
from uscpis.prepared import PreparedSQL

pytestmark = pytest.mark.django_db


def _setting(wrapper) -> str:
    with wrapper.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        return cursor.fetchone()[0]


def test_a_new_connection_plans_prepared_statements_once(other):
    assert _setting(other) == "force_generic_plan"


def test_the_setting_survives_a_rolled_back_transaction(other):
    other.set_autocommit(False)
    with other.cursor() as cursor:
        cursor.execute("SELECT 1")
    other.rollback()
    other.set_autocommit(True)
    assert _setting(other) == "force_generic_plan"


def test_a_prepared_statement_is_never_planned_per_value(monkeypatch):
    """PostgreSQL would plan its first five executions for their values (custom plans)."""
    # the test run's connection may already hold as many statements as one connection keeps
    monkeypatch.setattr(prepared, "MAX_PER_CONNECTION", 10**6)
    sql = PreparedSQL(
        "SELECT count(*) FROM accounts_user WHERE id > %s AND email LIKE %s /* generic-plan test */"
    )
    for n in range(7):
        (rows,) = fetch_together([(sql, [n, "%@%"])])
        assert rows[0][0] >= 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE %s",
            ["%generic-plan test%"],
        )
        assert cursor.fetchall() == [(7, 0)]


def test_a_connection_that_does_not_autocommit_keeps_the_setting(settings):
    """With AUTOCOMMIT off the SET opens a transaction: it is committed, not left open."""
    wrapper = connections.create_connection("default")
    wrapper.settings_dict = {**wrapper.settings_dict, "AUTOCOMMIT": False}
    try:
        wrapper.ensure_connection()
        wrapper.rollback()  # a commit that had not happened would undo the SET here
        assert _setting(wrapper) == "force_generic_plan"
    finally:
        wrapper.close()

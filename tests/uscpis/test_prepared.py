"""Statements prepared once per connection (uscpis/prepared.py, through
uscpis.compiled.fetch_together): the same rows as the plain SQL, the PREPARE in the same
round trip the first time and never again on that connection, and plain SQL wherever a
prepared statement could read a parameter differently."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from uscpis.compiled import fetch_together
from uscpis.prepared import PreparedSQL, named_statement, prepared_sql

pytestmark = pytest.mark.django_db

_PERCENT_SQL = "SELECT %s::int + 1, '100%%' || %s::text, coalesce(%s, DATE '2000-01-01')"


def _prepared_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {row[0] for row in cursor.fetchall()}


def _sent(statements):
    with CaptureQueriesContext(connection) as queries:
        rows = fetch_together(statements)
    assert len(queries.captured_queries) == 1  # one round trip, prepared or not
    return rows, queries.captured_queries[0]["sql"]


def test_placeholders_become_numbered_parameters():
    sql = PreparedSQL(_PERCENT_SQL)
    assert sql == _PERCENT_SQL  # a plain str of the SQL everywhere else
    assert sql.body == "SELECT $1::int + 1, '100%%' || $2::text, coalesce($3, DATE '2000-01-01')"
    assert (sql.count, sql.args) == (3, "(%s, %s, %s)")
    assert PreparedSQL("SELECT 1").args == ""
    with pytest.raises(ValueError):
        PreparedSQL("SELECT %(pk)s")
    statement, params = named_statement(
        "SELECT %(a)s::int + %(b)s::int + %(a)s::int", {"a": 1, "b": 2}
    )
    assert (statement.body, params) == ("SELECT $1::int + $2::int + $3::int", [1, 2, 1])
    plain, _ = named_statement("SELECT %(a)s::int", {"a": 1}, prepare=False)
    assert type(plain) is str


@pytest.mark.django_db(transaction=True)  # the connection is closed in the middle
def test_prepared_once_per_connection_with_the_plain_sqls_rows():
    connection.close()  # a connection that has prepared nothing yet
    plain = fetch_together([(_PERCENT_SQL, [41, "x", None])])
    sql = prepared_sql(_PERCENT_SQL)
    first, sent = _sent([(sql, [41, "x", None]), ("SELECT %s::int", [7])])
    assert first == [*plain, [(7,)]] == [[(42, "100%x", date(2000, 1, 1))], [(7,)]]
    assert sent.startswith("PREPARE uscpis_") and "EXECUTE uscpis_" in sent
    (name,) = {n for n in _prepared_names() if n.startswith("uscpis_")}
    again, sent = _sent([(sql, [1, "%", date(2024, 2, 29)])])
    assert again == [[(2, "100%%", date(2024, 2, 29))]]
    assert sent.startswith(f"EXECUTE {name}(") and "PREPARE" not in sent
    connection.close()  # prepared statements end with their connection: prepared again
    _, sent = _sent([(sql, [1, "y", None])])
    assert sent.startswith("PREPARE ")


def test_a_rolled_back_transaction_keeps_the_statement():
    sql = prepared_sql("SELECT %s::int * 2")
    with transaction.atomic():
        assert fetch_together([(sql, [2])]) == [[(4,)]]
        transaction.set_rollback(True)
    rows, sent = _sent([(sql, [3])])
    assert rows == [[(6,)]] and sent.startswith("EXECUTE ")


@pytest.mark.parametrize(
    "value",
    [2**31, -(2**31) - 1, 10**20, 1.5, [1, 2], b"x"],
)
def test_a_parameter_it_could_read_differently_is_sent_plain(value):
    sql = prepared_sql("SELECT %s = %s")
    rows, sent = _sent([(sql, [value, value])])
    assert rows == [[(True,)]]
    assert "EXECUTE" not in sent and "PREPARE" not in sent


def test_safe_parameters_are_prepared():
    sql = prepared_sql("SELECT %s::bigint, %s::numeric, %s::boolean, %s::text")
    rows, sent = _sent([(sql, [2**31 - 1, Decimal("1.50"), True, "it's"])])
    assert rows == [[(2**31 - 1, Decimal("1.50"), True, "it's")]]
    assert "EXECUTE" in sent
    _, sent = _sent([(sql, [0, Decimal("2"), False, "b"])])
    assert sent.startswith("EXECUTE ")


def test_a_failed_round_trip_forgets_the_connections_names():
    good = prepared_sql("SELECT 10 / %s::int")
    assert fetch_together([(good, [5])]) == [[(2,)]]
    with pytest.raises(DatabaseError), transaction.atomic():  # PREPARE ran, EXECUTE failed
        fetch_together([(prepared_sql("SELECT 1 / %s::int"), [0])])
    with pytest.raises(DatabaseError), transaction.atomic():  # the PREPARE itself fails
        fetch_together([(good, [5]), (prepared_sql("SELECT nosuchcolumn + %s"), [1])])
    # Whatever ran before the failures, later statements are prepared under new names.
    rows, sent = _sent([(good, [2]), (prepared_sql("SELECT 1 / %s::int"), [1])])
    assert rows == [[(5,)], [(1,)]]
    assert sent.startswith("PREPARE ") and sent.count("PREPARE ") == 2


def test_server_side_binding_sends_the_plain_sql(monkeypatch):
    options = {**connection.settings_dict.get("OPTIONS", {}), "server_side_binding": True}
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", options)
    sql = prepared_sql("SELECT %s::int + 2")
    with CaptureQueriesContext(connection) as queries:
        assert fetch_together([(sql, [1])]) == [[(3,)]]
    assert "EXECUTE" not in queries.captured_queries[0]["sql"]


@pytest.mark.django_db(transaction=True)  # the connection is closed first
def test_past_the_limit_a_connection_sends_new_statements_as_they_are(monkeypatch):
    from uscpis import prepared

    connection.close()
    monkeypatch.setattr(prepared, "MAX_PER_CONNECTION", 2)
    kept = [prepared_sql(f"SELECT %s::int + {n}") for n in range(3)]
    sent = [_sent([(sql, [1])]) for sql in kept]
    assert [rows for rows, _ in sent] == [[[(1,)]], [[(2,)]], [[(3,)]]]
    assert [text.split(" ")[0] for _, text in sent] == ["PREPARE", "PREPARE", "SELECT"]
    assert _sent([(kept[0], [5])])[1].startswith("EXECUTE uscpis_")  # the kept ones still run
    assert len({n for n in _prepared_names() if n.startswith("uscpis_")}) == 2

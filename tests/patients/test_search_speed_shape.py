"""Issue 15: the patient search's first page is sorted from the matches when they are few
(the trigram index finds them) and walked in name order when they are many; the order the
user sees is the same either way. "Registered today" counts through an index."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from patients import dashboard
from patients.models import Patient
from tests.conftest import login, sql_run
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db


def _search_sql(client, q):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/patients/", {"q": q})
    assert response.status_code == 200
    searched = [sql for sql in sql_run(ctx.captured_queries) if "LIKE" in sql]
    return response, searched


def test_few_matches_are_sorted_not_walked_and_keep_name_order(client, doctor_user):
    for last, first in [("Quiñones", "Ramon"), ("Quinones", "Ramil"), ("Abad", "Ramon")]:
        PatientFactory(last_name=last, first_name=first)
    login(client, doctor_user)
    response, searched = _search_sql(client, "quinones ram")
    # The matches are read once: the statement that counts them sorts them for the page
    # and reads the page's rows by primary key, so no query walks the name index.
    assert len(searched) == 1 and "ARRAY(" in searched[0]
    names = [p.first_name for p in response.context["page"]]
    assert sorted(names) == ["Ramil", "Ramon"]
    expected = list(
        Patient.objects.filter(pk__in=[p.pk for p in response.context["page"]])
        .order_by("last_name", "first_name", "id")
        .values_list("first_name", flat=True)
    )
    assert names == expected


def test_many_matches_keep_the_index_order(client, doctor_user, monkeypatch):
    from uscpis import pagination

    PatientFactory.create_batch(4, last_name="Magno")
    original = pagination.CappedPaginator.__init__

    def small_cap(self, *args, **kwargs):
        original(self, *args, **{**kwargs, "cap": 2})

    monkeypatch.setattr(pagination.CappedPaginator, "__init__", small_cap)
    login(client, doctor_user)
    response, searched = _search_sql(client, "magno")
    # A statement (kept by PostgreSQL: one plan for any words) counts the matches; as they
    # are past the cap (the branch that sorts few matches does not run), a second one,
    # planned for them, reads the page in name order; no "||" order. (The read event
    # written in the second statement follows the page's CTE.)
    assert len(searched) == 2 and "PREPARE" in searched[0] and "PREPARE" not in searched[1]
    search = searched[1].split(", page AS MATERIALIZED")[0]
    assert "||" not in search and "count(*)" not in search
    assert re.search(r'LIKE .*ORDER BY "last_name", "first_name", "id" LIMIT', search)
    page = response.context["page"]
    assert page.paginator.capped and [p.last_name for p in page] == ["Magno"] * 2  # the cap


@pytest.mark.parametrize("q", ["", "quinones", "Q-00"])
def test_the_list_reads_its_rows_in_one_statement_and_only_the_columns_it_shows(
    client, doctor_user, q
):
    for i in range(30):
        PatientFactory(last_name="Quiñones", first_name=f"Ana {i}", id_number=f"Q-{i:04d}")
    login(client, doctor_user)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/patients/", {"q": q} if q else {})
    read = [sql for sql in sql_run(ctx.captured_queries) if '"patients_patient"' in sql]
    assert len(read) == 1, read  # counted, sorted when few, and the page's rows read
    assert all('"address"' not in sql and '"search_text", ' not in sql for sql in read)
    page = response.context["page"]
    assert len(page.object_list) == 25 and page.paginator.count == 30
    content = response.content.decode()
    assert "Quiñones, Ana 0" in content and "Q-0000" in content


def test_registered_today_counts_only_today(front_desk_user):
    PatientFactory.create_batch(2)
    old = PatientFactory()
    Patient.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    card = next(c for c in dashboard.cards(front_desk_user) if c.title == "Registered today")
    assert card.value == Patient.objects.count() - 1
    assert any(index.fields == ["created_at"] for index in Patient._meta.indexes), (
        "the count needs an index on created_at"
    )


def test_a_search_with_many_matches_walks_the_name_index_without_the_table():
    """The name-order index carries what the search filters on, so walking it in name
    order tests each entry without reading the table (an index-only scan)."""
    PatientFactory.create_batch(3, last_name="Magno")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM patients_patient WHERE id_number = 'mag' "
            "OR search_text LIKE '%%mag%%' ORDER BY last_name, first_name, id LIMIT 25"
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Only Scan using patients_patient_name_order" in plan, plan

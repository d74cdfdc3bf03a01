"""The patient list's statement is prepared on the connection (PostgreSQL keeps its plan)
when one plan serves any search words; the page, its count and its read event are the
same as the statement planned each time gives."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditEvent
from patients import selectors
from tests.patients.factories import PatientFactory
from uscpis.pagination import CappedSortingPaginator

pytestmark = pytest.mark.django_db


@pytest.fixture
def patients():
    for i in range(12):
        PatientFactory(last_name="Dimaculangan", first_name=f"Ana {i % 5}")
    for i in range(3):
        PatientFactory(last_name="Quiñones", first_name=f"Ramon {i}", id_number=f"Q-2023-{i:04d}")
    PatientFactory(last_name="Yu", first_name="Bo")


def _page(q: str, number, *, prepare: bool, cap: int = 1000, write=None):
    qs = selectors.patient_search(q=q).only(*selectors.PATIENT_LIST_FIELDS)
    paginator = CappedSortingPaginator(
        qs,
        5,
        cap=cap,
        when_few=selectors.patient_search_few_order,
        prepare=prepare,
        write=write,
    )
    page = paginator.get_page(number)
    return [p.pk for p in page], paginator.count, paginator.capped, page.number


@pytest.mark.parametrize("q", ["", "dimacul", "dimacul ana", "quinones ram", "yu", "2023", "zzzq"])
@pytest.mark.parametrize("number", ["1", "2", "3", "9", "0", "x"])
@pytest.mark.parametrize("cap", [1000, 6])
def test_the_prepared_statement_serves_the_same_page(patients, q, number, cap):
    expected = _page(q, number, prepare=False, cap=cap)
    assert _page(q, number, prepare=True, cap=cap) == expected
    assert _page(q, number, prepare=True, cap=cap) == expected  # executed, not prepared again


def test_a_search_is_prepared_once_per_connection_and_then_executed(patients):
    _page("dimacul", "1", prepare=True)
    with CaptureQueriesContext(connection) as ctx:
        _page("dimacul", "2", prepare=True)
        _page("quinones", "1", prepare=True)  # another word, the same statement
    sent = [q["sql"] for q in ctx.captured_queries]
    assert len(sent) == 2 and all(s.startswith("EXECUTE uscpis_") for s in sent)


def test_many_matches_are_counted_by_the_kept_statement_and_paged_by_a_planned_one(patients):
    with CaptureQueriesContext(connection) as ctx:
        ids, count, capped, _ = _page("dimacul", "2", prepare=True, cap=6)
    first, second = (q["sql"] for q in ctx.captured_queries)
    assert "EXECUTE uscpis_" in first and not second.startswith(("PREPARE", "EXECUTE"))
    assert 'ORDER BY "last_name", "first_name", "id" LIMIT' in second
    assert capped and count == 6 and len(ids) == 1  # the cap's second page: row 6


def test_the_read_event_is_written_once_whichever_statement_reads_the_page(patients, doctor_user):
    for cap in (1000, 10):  # 12 matches: few, then past the cap (two full pages)
        for number in ("1", "2"):
            audit = selectors.PatientsServedWithPage(
                doctor_user, detail={"view": "test"}, size=5, reverse=False
            )
            last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
            ids, *_ = _page("dimacul", number, prepare=True, cap=cap, write=audit.write)
            (event,) = AuditEvent.objects.filter(id__gt=last)
            assert event.detail == {"view": "test", "patients": ids}
            assert audit.write.keys == ids


@pytest.mark.parametrize(
    ("filters", "alike"),
    [
        ({}, True),
        ({"q": "dimacul ana"}, True),
        ({"q": "Q-2023-0001"}, True),
        ({"q": "ana@usc.edu.ph"}, False),
        ({"q": "dimacul", "college": "Engineering"}, False),
        ({"year_level": 2}, False),
        ({"patient_type": "student"}, False),
    ],
)
def test_only_name_and_id_searches_keep_one_plan(filters, alike):
    assert selectors.patient_search_plans_alike(**filters) is alike

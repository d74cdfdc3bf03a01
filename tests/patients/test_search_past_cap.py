"""A search known to match more than the list's cap is paged without counting, until a
patient is saved or deleted (``patients.search_cache``): the same page, count and cap as
counting gives."""

from __future__ import annotations

from functools import partial

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditEvent
from patients import search_cache, selectors
from patients.models import Patient
from patients.selectors import trigram_index_available, trigram_sample
from patients.views import registry
from tests.conftest import login
from tests.patients.factories import PatientFactory
from uscpis.pagination import CappedSortingPaginator

pytestmark = pytest.mark.django_db

CAP = 30  # above the list's 25 a page, as the real cap (1,000) is


@pytest.fixture
def magnos(monkeypatch):
    if not trigram_index_available():
        pytest.skip("pg_trgm is not installed")
    for i in range(36):
        PatientFactory(last_name=f"Magno{'x' * (i % 3)}", first_name=f"Ana {i}")
    PatientFactory(last_name="Yu", first_name="Bo")
    # the list's cap made small, and "mag" expected past it by the trigram sample
    monkeypatch.setattr(
        registry, "CappedSortingPaginator", partial(CappedSortingPaginator, cap=CAP)
    )
    trigram_sample.reset({"mag": 500, "yub": 1}, sampled=1000, table=10_000)
    yield
    trigram_sample.reset()


def _get(client, **params):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/patients/", params)
    assert response.status_code == 200
    page = response.context["page"]
    sent = [q["sql"] for q in ctx.captured_queries if "patients_patient" in q["sql"]]
    counted = any("count(*)" in sql for sql in sent)
    return ([p.pk for p in page], page.paginator.count, page.paginator.capped), counted


def test_a_search_counted_past_the_cap_is_then_paged_without_counting(
    magnos, client, doctor_user, django_capture_on_commit_callbacks
):
    login(client, doctor_user)
    first, counted = _get(client, q="mag")
    assert counted and first[1:] == (CAP, True) and len(first[0]) == 25
    again, counted = _get(client, q="mag")
    assert not counted and again == first  # known past the cap: the same page, no count
    second, counted = _get(client, q="mag", page="2")
    assert not counted and second[1:] == (CAP, True) and len(second[0]) == CAP - 25
    assert not set(second[0]) & set(first[0])
    assert _get(client, q="mag ana")[1]  # other words: counted

    # any patient saved (or deleted) makes the next such search count again
    with django_capture_on_commit_callbacks(execute=True):
        Patient.objects.filter(last_name="Yu").get().save()
    _, counted = _get(client, q="mag")
    assert counted
    with django_capture_on_commit_callbacks(execute=True):
        Patient.objects.filter(last_name__startswith="Magno").exclude(first_name="Ana 0").delete()
    now, counted = _get(client, q="mag")
    assert counted and now[1:] == (1, False)  # one Magno left: counted, and not kept
    assert _get(client, q="mag")[1]


def test_the_read_event_lists_the_page_served_without_counting(magnos, client, doctor_user):
    login(client, doctor_user)
    _get(client, q="mag")
    last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    (ids, *_), counted = _get(client, q="mag")
    assert not counted
    (event,) = AuditEvent.objects.filter(id__gt=last, object_type="patients.patient")
    assert event.detail["patients"] == ids and event.detail["page"] == 1


def test_searches_expected_to_find_few_never_ask(magnos, client, doctor_user, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a search expected to find few asked the cache")

    monkeypatch.setattr(search_cache, "PastCap", refuse)
    login(client, doctor_user)
    assert _get(client, q="yu")[0][1:] == (1, False)
    assert _get(client, q="mag", college="Nowhere")[0][1] == 0  # a filter: counted


@pytest.mark.parametrize("number", ["1", "2", "3", "0", "x", "99"])
def test_paging_past_the_cap_without_counting_serves_the_counted_page(magnos, number):
    def page(past_cap: bool):
        qs = selectors.patient_search(q="mag").only(*selectors.PATIENT_LIST_FIELDS)
        paginator = CappedSortingPaginator(
            qs, 2, cap=CAP, when_few=selectors.patient_search_few_order
        )
        paginator.past_cap = past_cap
        served = paginator.get_page(number)
        return [p.pk for p in served], paginator.count, paginator.capped, served.number

    assert page(True) == page(False)

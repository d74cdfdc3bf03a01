"""The patient list (and search) writes its read event in the statement that reads the page
(one round trip): the same event ``patients_served`` writes for the page served (the
patients in the order shown, the one patient named when there is one, the page's number,
nothing for an empty page), whichever page is asked for."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditEvent
from patients.views import registry as registry_views
from tests.conftest import sql_run
from tests.patients.factories import PatientFactory
from uscpis.pagination import CappedSortingPaginator

pytestmark = pytest.mark.django_db

_FIELDS = ("actor_id", "actor_email", "action", "object_type", "object_id", "patient_id")


def _last_id() -> int:
    last = AuditEvent.objects.order_by("-id").first()
    return last.pk if last else 0


def _list_events(since: int) -> list[tuple]:
    return [
        (*(getattr(e, f) for f in _FIELDS), e.allowed, e.path, e.detail)
        for e in AuditEvent.objects.filter(id__gt=since, path__startswith="/patients/").order_by(
            "id"
        )
    ]


@pytest.mark.parametrize("q", ["", "dimacul", "dimacul ana"])
def test_the_page_and_its_read_event_are_one_round_trip(client_for, doctor_user, q):
    for i in range(30):
        PatientFactory(last_name="Dimaculangan", first_name=f"Ana {i:02d}")
    client = client_for(doctor_user)
    client.get("/patients/", {"q": "dimacul"})  # the trigram sample, read once
    since = _last_id()
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/patients/", {"q": q} if q else {})
    touching = [
        sql
        for sql in sql_run(ctx.captured_queries)
        if "accounts_auditevent" in sql or '"patients_patient"' in sql
    ]
    assert len(touching) == 1 and "INSERT INTO accounts_auditevent" in touching[0]
    shown = [p.pk for p in response.context["page"]]
    assert len(shown) == 25
    ((*who, allowed, path, detail),) = _list_events(since)
    assert who == [doctor_user.pk, doctor_user.email, "read", "patients.patient", "", None]
    assert allowed and path.startswith("/patients/")
    assert detail == {"view": "patient_list", "page": 1, "searched": bool(q), "patients": shown}


def test_one_match_names_the_patient_and_no_match_records_nothing(client_for, doctor_user):
    only = PatientFactory(last_name="Zyxwvutsr", first_name="Una")
    client = client_for(doctor_user)
    since = _last_id()
    response = client.get("/patients/", {"q": "zyxwvutsr"})
    assert [p.pk for p in response.context["page"]] == [only.pk]
    ((*who, _allowed, _path, detail),) = _list_events(since)
    assert who[-1] == only.pk and detail["patients"] == [only.pk]
    since = _last_id()
    response = client.get("/patients/", {"q": "qqqnomatchqqq"})
    assert list(response.context["page"]) == [] and b"No patients match." in response.content
    assert _list_events(since) == []


@pytest.mark.parametrize("asked", ["1", "2", "3", "4", "99", "0", "abc"])
def test_every_page_records_what_patients_served_records(
    client_for, doctor_user, monkeypatch, asked
):
    """Pages 1-3 of 60 matches, and pages past the end or not numbers (the last or first
    page is served): the event names the page served and lists its patients in the order
    shown, exactly as the two-step path (read, then ``patients_served``) records them."""
    for i in range(60):
        PatientFactory(last_name="Dimaculangan", first_name=f"Ana {i % 7}")
    client = client_for(doctor_user)
    client.get("/patients/", {"q": "dimacul"})

    def visit() -> tuple[list, list]:
        since = _last_id()
        page = client.get("/patients/", {"q": "dimacul", "page": asked}).context["page"]
        events = _list_events(since)
        return [p.pk for p in page], [(*e[:-2], e[-1]) for e in events]

    shown, events = visit()
    assert len(events) == 1 and events[0][-1]["patients"] == shown
    expected_page = {"1": 1, "2": 2, "3": 3, "4": 3, "99": 3, "0": 3, "abc": 1}[asked]
    assert events[0][-1]["page"] == expected_page
    assert len(shown) == (10 if expected_page == 3 else 25)

    class TwoSteps(CappedSortingPaginator):  # the page read alone, then patients_served
        write = property(lambda self: None, lambda self, value: None)

    monkeypatch.setattr(registry_views, "CappedSortingPaginator", TwoSteps)
    assert visit() == (shown, events)

"""The API patient search writes its read event in the statement that reads the page (one
round trip): the same event ``patients_served`` writes for the page served (the patients
in the order served, the one patient named when there is one, nothing for an empty page),
on every cursor page, forward and back."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditEvent
from patients import selectors
from patients.models import Patient
from tests.patients.factories import PatientFactory
from uscpis.pagination import rows_found_by_keys
from uscpis.request_context import phi_accessed

pytestmark = pytest.mark.django_db

_FIELDS = ("actor_id", "actor_email", "action", "object_type", "object_id", "patient_id")


def _event_fields(event: AuditEvent) -> tuple:
    return (*(getattr(event, f) for f in _FIELDS), event.allowed, event.path, event.detail)


def _search_events(since: int) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(id__gt=since, path__startswith="/api/v1/patients/").order_by("id")
    )


def _last_id() -> int:
    last = AuditEvent.objects.order_by("-id").first()
    return last.pk if last else 0


def test_the_page_and_its_read_event_are_one_round_trip(world, api_client, doctor_user):
    for i in range(4):
        PatientFactory(last_name="Dimaculangan", first_name=f"Ana {i}")
    client = api_client(doctor_user)
    client.get("/api/v1/patients/", {"q": "dimacul"})  # the trigram sample, read once
    since = _last_id()
    with CaptureQueriesContext(connection) as ctx:
        body = client.get("/api/v1/patients/", {"q": "dimacul", "page_size": 3}).json()
    sent = [q["sql"] for q in ctx.captured_queries]
    touching = [s for s in sent if "accounts_auditevent" in s or '"patients_patient"' in s]
    assert len(touching) == 1 and "INSERT INTO accounts_auditevent" in touching[0]
    (event,) = _search_events(since)
    ids = [r["id"] for r in body["results"]]
    assert len(ids) == 3
    assert event.detail == {"via": "api", "view": "search", "patients": ids}
    assert (event.action, event.object_type, event.object_id, event.patient_id) == (
        "read",
        "patients.patient",
        "",
        None,
    )
    assert event.actor_id == doctor_user.pk and event.allowed


def test_one_match_names_the_patient_and_no_match_records_nothing(world, api_client, doctor_user):
    only = PatientFactory(last_name="Zyxwvutsr", first_name="Una")
    client = api_client(doctor_user)
    since = _last_id()
    body = client.get("/api/v1/patients/", {"q": "zyxwvutsr"}).json()
    assert [r["id"] for r in body["results"]] == [only.pk]
    (event,) = _search_events(since)
    assert event.patient_id == only.pk
    assert event.detail == {"via": "api", "view": "search", "patients": [only.pk]}
    since = event.pk
    assert client.get("/api/v1/patients/", {"q": "qqqnomatchqqq"}).json()["results"] == []
    assert _search_events(since) == []


@pytest.mark.parametrize("ordering", [None, "-birth_date"])
def test_every_cursor_page_records_what_patients_served_records(
    world, api_client, doctor_user, ordering, monkeypatch
):
    """Forward through "next" and back through "previous" (reversed cursors): each page's
    event lists that page's patients in the order served, and the events are those the
    two-step path (read, then ``patients_served``) writes."""
    from patients.api import rest

    for i in range(7):
        PatientFactory(last_name="Dimaculangan", first_name=f"Ana {i % 2}")
    client = api_client(doctor_user)
    params = {"q": "dimacul", "page_size": 2, **({"ordering": ordering} if ordering else {})}

    def walk() -> tuple[list, list]:
        since = _last_id()
        bodies = [client.get("/api/v1/patients/", params).json()]
        while bodies[-1]["next"]:
            bodies.append(client.get(bodies[-1]["next"]).json())
        while bodies[-1]["previous"]:
            bodies.append(client.get(bodies[-1]["previous"]).json())
        return bodies, [_event_fields(e) for e in _search_events(since)]

    bodies, events = walk()
    assert len(bodies) > 4 and len(events) == len(bodies)
    for body, event in zip(bodies, events, strict=True):
        assert event[-1]["patients"] == [r["id"] for r in body["results"]]
    monkeypatch.setattr(rest, "rows_found_by_keys", lambda qs, keys, **kw: qs)  # two steps
    assert walk() == (bodies, events)


def test_a_request_that_already_recorded_a_read_records_the_page_afterwards(world, doctor_user):
    """Which patients the page holds is not known before its statement runs, so a request
    that has recorded a read already sends the page alone and records it as before
    (``patients_served``, once per patient and purpose per request)."""
    PatientFactory(last_name="Dimaculangan")
    token = phi_accessed.set({(world.patient.pk, "read")})
    try:
        audit = selectors.PatientsServedWithPage(
            doctor_user, detail={"via": "api"}, size=25, reverse=False
        )
        assert audit.write is None
        since = _last_id()
        qs = selectors.patient_search(q="dimacul").order_by("last_name", "first_name", "id")
        page = list(rows_found_by_keys(qs, ["id", "last_name", "first_name"])[:26])[:25]
        audit.served(page)
    finally:
        phi_accessed.reset(token)
    (event,) = AuditEvent.objects.filter(id__gt=since)
    assert event.detail == {"via": "api", "patients": [p.pk for p in page]}


def test_a_page_other_than_the_one_listed_is_recorded_as_served(world, doctor_user):
    """Should the paginator serve other rows than the statement listed, the page served is
    recorded too (the trail never misses a patient shown)."""
    for _ in range(3):
        PatientFactory(last_name="Dimaculangan")
    audit = selectors.PatientsServedWithPage(
        doctor_user, detail={"via": "api"}, size=2, reverse=False
    )
    since = _last_id()
    qs = selectors.patient_search(q="dimacul").order_by("last_name", "first_name", "id")
    rows = list(rows_found_by_keys(qs, ["id", "last_name", "first_name"], write=audit.write)[:3])
    listed = AuditEvent.objects.get(id__gt=since)
    assert listed.detail["patients"] == [p.pk for p in rows[:2]]
    audit.served(rows[1:])
    served = AuditEvent.objects.filter(id__gt=listed.pk).get()
    assert served.detail["patients"] == [p.pk for p in rows[1:]]
    assert Patient.objects.filter(pk__in=served.detail["patients"]).count() == 2


def test_with_server_side_binding_the_page_and_its_event_are_still_one_statement(
    world, api_client, doctor_user, monkeypatch
):
    """A connection binding parameters server-side takes one statement per query: the
    page's statement still carries the event (which needs no statement before it)."""
    for i in range(2):
        PatientFactory(last_name="Dimaculangan", first_name=f"Ana {i}")
    client = api_client(doctor_user)
    client.get("/api/v1/patients/", {"q": "dimacul"})
    options = {**connection.settings_dict.get("OPTIONS", {}), "server_side_binding": True}
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", options)
    since = _last_id()
    with CaptureQueriesContext(connection) as ctx:
        body = client.get("/api/v1/patients/", {"q": "dimacul"}).json()
    page_sql = [
        q["sql"] for q in ctx.captured_queries if "INSERT INTO accounts_auditevent" in q["sql"]
    ]
    assert len(page_sql) == 1 and '"patients_patient"' in page_sql[0]
    assert page_sql[0].startswith("WITH page AS")
    (event,) = _search_events(since)
    assert event.detail["patients"] == [r["id"] for r in body["results"]]

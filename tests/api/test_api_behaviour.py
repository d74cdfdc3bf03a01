"""The REST API's common behaviour: problem+json errors with per-field details, cursor
pagination, whitelisted ordering, audited PHI reads, Idempotency-Key, throttling."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache

from accounts.models import AuditEvent
from appointments.models import Appointment
from inventory.models import StockMovement
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_validation_errors_are_problem_json_per_field(world, api_client, front_desk_user):
    client = api_client(front_desk_user)
    r = client.post(
        "/api/v1/patients/",
        {
            "id_number": "2025-0100",
            "first_name": "Ana",
            "last_name": "Reyes",
            "sex": "Q",
            "birth_date": "2999-01-01",
        },
        format="json",
    )
    assert r.status_code == 400
    assert r["Content-Type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 400 and body["type"] == "urn:uscpis:problem:validation"
    fields = {e["field"] for e in body["errors"]}
    assert {"sex"} <= fields


def test_service_rules_apply_through_the_api(world, api_client, front_desk_user):
    client = api_client(front_desk_user)
    payload = {
        "id_number": "2025-0101",
        "first_name": "Ana",
        "last_name": "Reyes",
        "sex": "F",
        "birth_date": "2999-01-01",
    }
    r = client.post("/api/v1/patients/", payload, format="json")
    assert r.status_code == 400
    assert r.json()["errors"][0] == {
        "field": "birth_date",
        "detail": "Birth date cannot be in the future.",
        "code": "invalid",
    }
    payload["birth_date"] = "2004-02-03"
    r = client.post("/api/v1/patients/", payload, format="json")
    assert r.status_code == 201, r.content
    pk = r.json()["id"]
    # Same ID number in another letter case: refused by the same rule as the form.
    r = client.post("/api/v1/patients/", {**payload, "first_name": "Other"}, format="json")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "id_number"
    # Same name and birth date: a possible duplicate is a 409 until confirmed.
    r = client.post("/api/v1/patients/", {**payload, "id_number": "2025-0102"}, format="json")
    assert r.status_code == 409
    r = client.post(
        "/api/v1/patients/",
        {**payload, "id_number": "2025-0102", "confirm_duplicate": True},
        format="json",
    )
    assert r.status_code == 201
    r = client.patch(f"/api/v1/patients/{pk}/", {"phone": "0917 123 4567"}, format="json")
    assert r.status_code == 200 and r.json()["phone"] == "0917 123 4567"
    assert AuditEvent.objects.filter(action="update", patient_id=pk).exists()


def test_lists_use_cursor_pagination(world, api_client, doctor_user):
    for i in range(7):
        PatientFactory(last_name=f"Paged{i}")
    client = api_client(doctor_user)
    r = client.get("/api/v1/patients/?page_size=4")
    body = r.json()
    assert set(body) == {"next", "previous", "results"} and len(body["results"]) == 4
    seen = [p["id"] for p in body["results"]]
    while body["next"]:
        body = client.get(body["next"]).json()
        seen += [p["id"] for p in body["results"]]
    assert len(seen) == len(set(seen)) == 9


def test_unknown_ordering_is_a_400_and_known_ordering_works(world, api_client, doctor_user):
    client = api_client(doctor_user)
    r = client.get("/api/v1/patients/?ordering=password")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "ordering"
    r = client.get("/api/v1/patients/?ordering=id_number;DROP TABLE")
    assert r.status_code == 400
    r = client.get("/api/v1/patients/?ordering=-birth_date")
    assert r.status_code == 200
    names = [p["last_name"] for p in r.json()["results"]]
    assert set(names) == {"Student", "Other"}


def test_patient_reads_are_audited_like_the_ui(world, api_client, doctor_user, patient_user):
    client = api_client(doctor_user)
    before = AuditEvent.objects.filter(action="read", patient_id=world.patient.pk).count()
    assert client.get(f"/api/v1/patients/{world.patient.pk}/").status_code == 200
    assert client.get(f"/api/v1/patients/{world.patient.pk}/allergies/").status_code == 200
    assert client.get(f"/api/v1/visits/{world.visit.pk}/").status_code == 200
    events = AuditEvent.objects.filter(action="read", patient_id=world.patient.pk).order_by("id")[
        before:
    ]
    assert [e.actor_id for e in events] == [doctor_user.pk] * 3
    assert all(e.detail.get("via") == "api" for e in events)
    # The patient sees these reads in the portal's access log.
    from patients.selectors import record_access_log

    assert record_access_log(world.patient).filter(actor=doctor_user).count() >= 3


def test_patients_see_only_their_signed_visits_and_own_appointments(
    world, api_client, patient_user
):
    client = api_client(patient_user)
    visits = client.get(f"/api/v1/patients/{world.patient.pk}/visits/").json()["results"]
    assert [v["id"] for v in visits] == [world.visit.pk]
    appts = client.get("/api/v1/appointments/").json()["results"]
    assert [a["id"] for a in appts] == [world.appointment.pk]
    assert client.get(f"/api/v1/appointments/{world.other_appointment.pk}/").status_code == 404
    assert client.get(f"/api/v1/visits/{world.other_visit.pk}/").status_code == 404


def test_booking_is_idempotent_and_a_taken_slot_is_409(
    world, api_client, front_desk_user, patient_user
):
    client = api_client(front_desk_user)
    start = world.at("14:00")
    body = {
        "patient": world.other.pk,
        "appointment_type": world.consult.pk,
        "provider": world.doctor.pk,
        "start": start.isoformat(),
    }
    r1 = client.post("/api/v1/appointments/", body, format="json", HTTP_IDEMPOTENCY_KEY="book-1")
    assert r1.status_code == 201, r1.content
    r2 = client.post("/api/v1/appointments/", body, format="json", HTTP_IDEMPOTENCY_KEY="book-1")
    assert r2.status_code == 201 and r2.json() == r1.json() and r2["Idempotent-Replayed"] == "true"
    assert Appointment.objects.filter(start=start).count() == 1
    # A new key for the same time: the slot is taken (the exclusion constraint's answer).
    r3 = client.post(
        "/api/v1/appointments/",
        {**body, "patient": world.patient.pk},
        format="json",
        HTTP_IDEMPOTENCY_KEY="book-2",
    )
    assert r3.status_code == 409 and r3["Content-Type"] == "application/problem+json"
    # The same key for a different request is refused.
    r4 = client.post(
        "/api/v1/appointments/",
        {**body, "reason": "x"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="book-1",
    )
    assert r4.status_code == 422


def test_patient_books_an_offered_slot_for_themself(world, api_client, patient_user):
    client = api_client(patient_user)
    slots = client.get(
        f"/api/v1/slots/?appointment_type={world.consult.pk}&date_from={world.day}&date_to={world.day}"
    ).json()
    assert slots["results"]
    slot = slots["results"][3]
    r = client.post(
        "/api/v1/appointments/",
        {
            "appointment_type": world.consult.pk,
            "provider": slot["provider"],
            "start": slot["start"],
            "patient": world.other.pk,
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    assert r.json()["patient"] == world.patient.pk  # always for themself
    appt = r.json()["id"]
    r = client.post(f"/api/v1/appointments/{appt}/cancel/", {"reason": "Exam"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"


def test_dispense_is_idempotent_and_refuses_more_than_stock(world, api_client, nurse_user):
    client = api_client(nurse_user)
    url = f"/api/v1/inventory/items/{world.item.pk}/dispense/"
    body = {"quantity": "10", "patient": world.patient.pk}
    r1 = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="disp-1")
    assert r1.status_code == 201, r1.content
    r2 = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="disp-1")
    assert r2.json() == r1.json()
    assert StockMovement.objects.filter(item=world.item, kind="dispense").count() == 1
    r = client.post(url, {"quantity": "1000", "patient": world.patient.pk}, format="json")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "quantity"
    stock = client.get(f"/api/v1/inventory/items/{world.item.pk}/").json()
    assert stock["usable"] == "90.000"


def test_anonymous_and_token_requests_are_throttled_with_retry_after(
    world, api_client, doctor_user, settings
):
    settings.API_RATE_USER = "3/min"
    settings.API_RATE_ANON = "2/min"
    cache.clear()
    client = api_client(doctor_user)
    codes = [client.get("/api/v1/appointment-types/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = client.get("/api/v1/appointment-types/")
    assert r.status_code == 429 and int(r["Retry-After"]) > 0
    assert r["Content-Type"] == "application/problem+json"
    anon = api_client()
    cert = world.patient.certificates.first()
    codes = [
        anon.get(f"/api/v1/certificates/verify/{cert.verification_code}/").status_code
        for _ in range(3)
    ]
    assert codes[-1] == 429


def test_unexpired_tokens_only(world, api_client, doctor_user):
    import time_machine

    client = api_client(doctor_user)
    assert client.get("/api/v1/appointment-types/").status_code == 200
    with time_machine.travel(timedelta(days=91), tick=False):
        assert client.get("/api/v1/appointment-types/").status_code == 401


@pytest.mark.parametrize("ordering", [None, "-birth_date"])
def test_patient_search_pages_by_sort_keys_then_reads_the_rows(
    world, api_client, doctor_user, ordering
):
    """The search's page is found reading only its sort keys (an index-only walk in the
    default name order) and the rows are then read by primary key, in the same statement:
    same patients, same order, every field, across cursor pages."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from patients.api.rest import PatientSerializer
    from patients.selectors import patient_search, trigram_sample

    for i in range(7):
        PatientFactory(last_name="Dimaculangan", first_name=f"Ana {i % 3}")
    client = api_client(doctor_user)
    params = {"q": "dimacul", "page_size": 3, **({"ordering": ordering} if ordering else {})}
    trigram_sample.counts()  # the hourly sample of trigram counts, read before, not counted
    with CaptureQueriesContext(connection) as ctx:
        body = client.get("/api/v1/patients/", params).json()
    read = [q["sql"] for q in ctx.captured_queries if '"patients_patient"' in q["sql"]]
    assert len(read) == 1 and "LIKE" in read[0]
    finds = read[0].split("FROM (SELECT ", 1)[1].split(" FROM ", 1)[0]  # the page's keys
    assert '"search_text"' not in finds and '"address"' not in finds
    results = body["results"]
    while body["next"]:
        body = client.get(body["next"]).json()
        results += body["results"]
    expected = patient_search(q="dimacul")
    if ordering:
        expected = expected.order_by("-birth_date", "id")
    assert results == [dict(PatientSerializer(p).data) for p in expected]
    assert len(results) == 7


@pytest.mark.parametrize("ordering", [None, "-birth_date", "created_at"])
def test_patient_search_pages_are_drfs_pages_of_the_plain_queryset(
    world, api_client, doctor_user, ordering, monkeypatch
):
    """Forward through the "next" links and back through the "previous" ones (reversed
    cursors, offsets among equal sort keys): every page, links included, is the page DRF
    makes from the search's queryset read whole."""
    from patients.api import rest

    for i in range(9):
        PatientFactory(last_name="Dimaculangan", first_name=f"Ana {i % 2}")
    client = api_client(doctor_user)
    params = {"q": "dimacul", "page_size": 2, **({"ordering": ordering} if ordering else {})}

    def walk() -> list:
        bodies = [client.get("/api/v1/patients/", params).json()]
        while bodies[-1]["next"]:
            bodies.append(client.get(bodies[-1]["next"]).json())
        while bodies[-1]["previous"]:
            bodies.append(client.get(bodies[-1]["previous"]).json())
        return bodies

    fast = walk()
    monkeypatch.setattr(rest, "rows_found_by_keys", lambda qs, keys, **kw: qs)
    assert fast == walk()
    assert len(fast) > 8

"""iCalendar: per-appointment files and secret, revocable feeds (parsed with icalendar)."""

from datetime import timedelta

import pytest
from django.test import Client
from icalendar import Calendar

from appointments.services import booking, feeds
from tests.appointments.factories import AppointmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def booked(clinic):
    a = AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.patient,
        start=clinic.at("10:00"),
    )
    b = AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.other,
        start=clinic.at("11:00"),
        status="cancelled",
        sequence=1,
    )
    return a, b


def events(body: bytes):
    cal = Calendar.from_ical(body)
    assert str(cal["VERSION"]) == "2.0" and cal["PRODID"]
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def test_provider_feed_lists_events_with_cancellations_and_can_be_revoked(
    clinic, booked, doctor_user
):
    feeds.provider_feed_regenerate(actor=doctor_user, provider=clinic.doctor)
    url = f"/appointments/feeds/{clinic.doctor.feed_token}.ics"
    response = Client().get(url)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    found = events(response.content)
    a, b = booked
    ev_a = next(e for uid, e in found.items() if uid.startswith(f"appointment-{a.pk}@"))
    ev_b = next(e for uid, e in found.items() if uid.startswith(f"appointment-{b.pk}@"))
    assert ev_a.decoded("DTSTART") == a.start and ev_a.decoded("DTEND") == a.end
    assert str(ev_a["STATUS"]) == "CONFIRMED" and str(ev_b["STATUS"]) == "CANCELLED"
    assert int(ev_b["SEQUENCE"]) == 1
    assert (
        clinic.patient.last_name not in response.content.decode()
    )  # initials only in provider feeds
    old = clinic.doctor.feed_token
    feeds.provider_feed_regenerate(actor=doctor_user, provider=clinic.doctor)
    assert Client().get(f"/appointments/feeds/{old}.ics").status_code == 404
    feeds.provider_feed_regenerate(actor=doctor_user, provider=clinic.doctor, revoke=True)
    assert Client().get(url).status_code == 404


def test_patient_feed_has_only_their_appointments(clinic, booked, patient_user):
    feed = feeds.patient_feed_regenerate(actor=patient_user, patient=clinic.patient)
    found = events(Client().get(f"/appointments/feeds/{feed.token}.ics").content)
    assert len(found) == 1 and "Consultation with" in str(next(iter(found.values()))["SUMMARY"])
    feeds.patient_feed_regenerate(actor=patient_user, patient=clinic.patient, revoke=True)
    assert Client().get(f"/appointments/feeds/{feed.token}.ics").status_code == 404


def test_feed_reflects_reschedule(clinic, booked, patient_user):
    a, _ = booked
    feed = feeds.patient_feed_regenerate(actor=patient_user, patient=clinic.patient)
    booking.appointment_reschedule(
        actor=patient_user, appointment=a, start=a.start + timedelta(hours=3)
    )
    ev = next(iter(events(Client().get(f"/appointments/feeds/{feed.token}.ics").content).values()))
    assert ev.decoded("DTSTART") == a.start + timedelta(hours=3) and int(ev["SEQUENCE"]) == 1


def test_unknown_token_is_404():
    assert Client().get("/appointments/feeds/nope.ics").status_code == 404


def test_appointment_download(clinic, booked, client_for, patient_user, other_patient_user):
    a, _ = booked
    response = client_for(patient_user).get(f"/appointments/my/{a.pk}/appointment.ics")
    assert response.status_code == 200
    assert len(events(response.content)) == 1
    assert (
        client_for(other_patient_user).get(f"/appointments/my/{a.pk}/appointment.ics").status_code
        == 404
    )


def test_a_capped_feed_keeps_every_upcoming_appointment(clinic, doctor_user, monkeypatch):
    """A busy provider's feed is capped; the cap drops the oldest past events, never the
    upcoming ones a subscriber needs."""
    from appointments import selectors

    monkeypatch.setattr(selectors, "FEED_LIMIT_PROVIDER", 4)
    past = [
        AppointmentFactory(
            provider=clinic.doctor,
            appointment_type=clinic.consult,
            patient=clinic.patient,
            start=clinic.at("09:00", day=clinic.day - timedelta(days=d)),
            status="completed",
        )
        for d in (10, 20, 30)
    ]
    upcoming = [
        AppointmentFactory(
            provider=clinic.doctor,
            appointment_type=clinic.consult,
            patient=clinic.other,
            start=clinic.at(hhmm),
        )
        for hhmm in ("09:00", "10:00", "11:00")
    ]
    feeds.provider_feed_regenerate(actor=doctor_user, provider=clinic.doctor)
    body = Client().get(f"/appointments/feeds/{clinic.doctor.feed_token}.ics").content
    found = {uid.split("@")[0] for uid in events(body)}
    assert found == {f"appointment-{a.pk}" for a in [past[0], *upcoming]}

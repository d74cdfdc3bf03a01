"""A patient may hold at most MAX_UPCOMING_APPOINTMENTS_PER_PATIENT upcoming appointments
through online booking."""

from __future__ import annotations

from datetime import timedelta

import pytest

from appointments.models import Appointment
from tests.appointments.factories import AppointmentFactory
from tests.appointments.test_views import slot_value
from tests.conftest import login

pytestmark = pytest.mark.django_db


def test_online_booking_stops_at_the_cap(client, clinic, patient_user, settings):
    settings.MAX_UPCOMING_APPOINTMENTS_PER_PATIENT = 3
    for days in (2, 3, 4):
        start = clinic.at("10:00") + timedelta(days=days)
        AppointmentFactory(
            patient=clinic.patient,
            provider=clinic.doctor,
            appointment_type=clinic.consult,
            start=start,
        )
    login(client, patient_user)
    response = client.post(
        f"/appointments/book/?type={clinic.consult.pk}",
        {"type": clinic.consult.pk, "slot": slot_value(clinic, "08:40"), "reason": "Cough"},
    )
    assert response.status_code == 409
    assert "3 upcoming appointments" in response.content.decode()
    assert Appointment.objects.filter(patient=clinic.patient).count() == 3
    settings.MAX_UPCOMING_APPOINTMENTS_PER_PATIENT = 4
    response = client.post(
        f"/appointments/book/?type={clinic.consult.pk}",
        {"type": clinic.consult.pk, "slot": slot_value(clinic, "08:40"), "reason": "Cough"},
    )
    assert response.status_code == 302


@pytest.mark.django_db(transaction=True)
def test_simultaneous_bookings_by_one_patient_never_pass_the_cap(
    clinic, patient_user, settings, monkeypatch
):
    """Two bookings submitted at once by a patient one below the cap: exactly one wins,
    even when both have counted before either has inserted (the check pauses to make sure)."""
    import threading
    import time

    from django.db import connection

    from appointments.services import booking

    check = booking._hold_booking_cap

    def slow_check(patient):
        check(patient)
        time.sleep(0.5)  # the other booking counts now, unless the patient row is locked

    monkeypatch.setattr(booking, "_hold_booking_cap", slow_check)

    settings.MAX_UPCOMING_APPOINTMENTS_PER_PATIENT = 3
    for days in (2, 3):
        AppointmentFactory(
            patient=clinic.patient,
            provider=clinic.doctor,
            appointment_type=clinic.consult,
            start=clinic.at("10:00") + timedelta(days=days),
        )
    starts = [clinic.at("09:00") + timedelta(days=5), clinic.at("11:00") + timedelta(days=5)]
    barrier = threading.Barrier(len(starts))
    results = []

    def book(start):
        try:
            barrier.wait()
            results.append(
                booking.appointment_book(
                    actor=patient_user,
                    patient=clinic.patient,
                    appointment_type=clinic.consult,
                    provider=clinic.doctor,
                    start=start,
                    source="online",
                )
            )
        except Exception as exc:  # noqa: BLE001 - the loser's refusal is the result
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=book, args=(s,)) for s in starts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refused = [r for r in results if isinstance(r, booking.BookingCapReached)]
    assert len(refused) == 1, results
    assert Appointment.objects.filter(patient=clinic.patient).count() == 3


def test_accepting_a_waitlist_offer_respects_the_cap(
    client, clinic, patient_user, settings, front_desk_user
):
    """The waitlist offer was the way around the cap: a patient holding the most upcoming
    appointments is refused (409, the cap's message, nothing booked, the offer still open);
    after cancelling one, accepting books the slot."""
    from django.utils import timezone

    from appointments.models import OfferStatus, WaitlistEntry, WaitlistOffer
    from appointments.services import booking

    settings.MAX_UPCOMING_APPOINTMENTS_PER_PATIENT = 3
    held = [
        AppointmentFactory(
            patient=clinic.patient,
            provider=clinic.doctor,
            appointment_type=clinic.consult,
            start=clinic.at("10:00") + timedelta(days=days),
        )
        for days in (2, 3, 4)
    ]
    login(client, patient_user)
    joined = client.post(
        "/appointments/waitlist/",
        {
            "type": clinic.consult.pk,
            "date_from": f"{clinic.day:%Y-%m-%d}",
            "date_to": f"{clinic.day:%Y-%m-%d}",
        },
    )
    assert joined.status_code == 302
    offer = WaitlistOffer.objects.create(
        entry=WaitlistEntry.objects.get(patient=clinic.patient),
        provider=clinic.doctor,
        start=clinic.at("10:00"),
        end=clinic.at("10:40"),
        expires_at=timezone.now() + timedelta(hours=1),
    )
    url = f"/appointments/waitlist/offers/{offer.pk}/"

    refused = client.post(url, {"decision": "accept"})

    assert refused.status_code == 409
    body = refused.content.decode()
    assert "You already have 3 upcoming appointments, the most you can book online." in body
    assert "Cancel one, or call the clinic." in body
    assert Appointment.objects.filter(patient=clinic.patient).count() == 3
    offer.refresh_from_db()
    assert offer.status == OfferStatus.PENDING and offer.appointment is None

    booking.appointment_cancel(actor=front_desk_user, appointment=held[0], reason="Moved away")
    accepted = client.post(url, {"decision": "accept"})
    assert accepted.status_code == 302
    offer.refresh_from_db()
    assert offer.status == OfferStatus.ACCEPTED
    assert offer.appointment.start == clinic.at("10:00")


def test_staff_booking_from_the_waitlist_is_not_capped(clinic, front_desk_user, settings):
    """The cap limits what a patient books for themself, not the front desk."""
    from appointments.services import booking

    settings.MAX_UPCOMING_APPOINTMENTS_PER_PATIENT = 1
    AppointmentFactory(
        patient=clinic.patient,
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        start=clinic.at("10:00") + timedelta(days=2),
    )
    booked = booking.appointment_book(
        actor=front_desk_user,
        patient=clinic.patient,
        appointment_type=clinic.consult,
        provider=clinic.doctor,
        start=clinic.at("10:00"),
        source="waitlist",
    )
    assert booked.patient == clinic.patient

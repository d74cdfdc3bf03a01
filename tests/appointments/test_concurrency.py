"""Real threads against PostgreSQL: exactly one booking wins a contested slot."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from appointments.models import Appointment
from appointments.services import booking
from appointments.slots import SlotTaken
from tests.appointments.factories import AppointmentTypeFactory, PatientFactory

pytestmark = pytest.mark.django_db(transaction=True)


def race(jobs):
    """Run ``jobs`` (callables) at the same moment in threads; collect results or exceptions."""
    barrier = threading.Barrier(len(jobs))
    results = [None] * len(jobs)

    def run(i, job):
        try:
            barrier.wait()
            results[i] = job()
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_twenty_people_race_for_one_slot_exactly_one_wins(clinic, front_desk_user):
    patients = [PatientFactory() for _ in range(20)]
    start = clinic.at("10:00")

    def attempt(patient):
        return lambda: booking.appointment_book(
            actor=front_desk_user,
            patient=patient,
            appointment_type=clinic.consult,
            provider=clinic.doctor,
            start=start,
            source="staff",
        )

    results = race([attempt(p) for p in patients])
    won = [r for r in results if isinstance(r, Appointment)]
    lost = [r for r in results if isinstance(r, SlotTaken)]
    assert len(won) == 1 and len(lost) == 19, results
    assert all("just taken" in e.messages[0] for e in lost)
    assert Appointment.objects.filter(provider=clinic.doctor).count() == 1


def test_overlapping_appointments_of_different_lengths_are_refused(clinic, front_desk_user):
    long_type = AppointmentTypeFactory(duration_minutes=90, buffer_minutes=0)
    short_type = AppointmentTypeFactory(duration_minutes=15, buffer_minutes=0)
    jobs = []
    # One 90-minute booking at 10:00 against six 15-minute bookings inside 10:00–11:30.
    jobs.append(
        lambda: booking.appointment_book(
            actor=front_desk_user,
            patient=PatientFactory(),
            appointment_type=long_type,
            provider=clinic.doctor,
            start=clinic.at("10:00"),
            source="staff",
        )
    )
    for minutes in (0, 15, 30, 45, 60, 75):
        at = clinic.at("10:00") + timedelta(minutes=minutes)
        patient = PatientFactory()
        jobs.append(
            lambda at=at, patient=patient: booking.appointment_book(
                actor=front_desk_user,
                patient=patient,
                appointment_type=short_type,
                provider=clinic.doctor,
                start=at,
                source="staff",
            )
        )
    results = race(jobs)
    assert not [
        r for r in results if isinstance(r, Exception) and not isinstance(r, ValidationError)
    ], results
    booked = list(Appointment.objects.filter(provider=clinic.doctor).order_by("start"))
    for a, b in zip(booked, booked[1:], strict=False):
        assert a.end_with_buffer <= b.start, "overlap slipped through"
    # Either the long one won (alone) or only short ones did.
    lengths = {a.duration_minutes for a in booked}
    assert lengths in ({90}, {15}), lengths

"""The front-desk dashboard's day counts, a provider's own count and a patient's next visit."""

import pytest
from django.urls import reverse
from django.utils import timezone

from appointments.models import AppointmentStatus
from tests.appointments.factories import AppointmentFactory, PatientFactory

pytestmark = pytest.mark.django_db


def _cards(client):
    return {c.title: c for c in client.get(reverse("accounts:home")).context["cards"]}


def test_front_desk_sees_the_days_counts(clinic, client_for, front_desk_user, doctor_user):
    today = timezone.localdate()
    statuses = [
        AppointmentStatus.BOOKED,
        AppointmentStatus.CONFIRMED,
        AppointmentStatus.CHECKED_IN,
        AppointmentStatus.CHECKED_IN,
        AppointmentStatus.COMPLETED,
        AppointmentStatus.NO_SHOW,
        AppointmentStatus.CANCELLED,
    ]
    for i, status in enumerate(statuses):
        AppointmentFactory(
            provider=clinic.doctor if i % 2 else clinic.dentist,
            patient=PatientFactory(),
            appointment_type=clinic.consult,
            start=clinic.at(f"{8 + i:02d}:00", day=today),
            status=status,
        )
    # Tomorrow's appointment is not today's business.
    AppointmentFactory(provider=clinic.doctor, patient=clinic.patient, start=clinic.at("09:00"))
    cards = _cards(client_for(front_desk_user))
    assert cards["Appointments today"].value == 6  # cancelled ones don't count
    assert cards["Appointments today"].detail == "2 still expected"
    assert cards["Waiting now"].value == 2
    assert cards["Completed today"].value == 1
    assert cards["No-shows today"].value == 1 and cards["No-shows today"].tone == "bad"
    # The doctor sees their own day: odd rows above, the cancelled one excluded.
    mine = _cards(client_for(doctor_user))["My appointments today"]
    assert mine.value == 3 and mine.url.endswith("?mine=1")

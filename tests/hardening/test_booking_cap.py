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

"""Leave or a holiday on booked time: the affected appointments are shown first, then
cancelled with the patients told, sent a link to book again and put on the waitlist."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse

from appointments.models import AvailabilityException, WaitlistEntry
from tests.appointments.factories import AppointmentFactory
from tests.conftest import login

pytestmark = pytest.mark.django_db


def _leave(clinic, **extra):
    day = clinic.day
    return {
        "form": "exception",
        "kind": "leave",
        "note": "Conference",
        "starts_at": f"{day:%Y-%m-%d}T08:00",
        "ends_at": f"{day:%Y-%m-%d}T12:00",
        **extra,
    }


def test_leave_over_booked_time_lists_them_first_then_cancels_and_tells_patients(
    client, clinic, admin_user, django_capture_on_commit_callbacks
):
    inside = AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.patient,
        start=clinic.at("10:00"),
    )
    outside = AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.other,
        start=clinic.at("14:00"),
    )
    login(client, admin_user)
    url = reverse("appointments:schedule_edit", args=[clinic.doctor.pk])

    first = client.post(url, _leave(clinic))
    assert first.status_code == 409
    body = first.content.decode()
    assert 'id="affected-appointments"' in body and "Pat Student" in body
    assert not AvailabilityException.objects.exists()  # nothing changed yet
    inside.refresh_from_db()
    assert inside.status == "booked"

    with django_capture_on_commit_callbacks(execute=True):
        confirmed = client.post(
            url, _leave(clinic, cancel_affected="1", affected_ids=str(inside.pk))
        )
    assert confirmed.status_code == 302
    assert AvailabilityException.objects.filter(provider=clinic.doctor, kind="leave").count() == 1
    inside.refresh_from_db()
    outside.refresh_from_db()
    assert inside.status == "cancelled" and outside.status == "booked"
    assert "/appointments/book/" in inside.cancel_reason
    to_patient = [m for m in mail.outbox if clinic.patient.user.email in m.to]
    assert to_patient, "the patient was not emailed"
    assert WaitlistEntry.objects.filter(patient=clinic.patient, status="waiting").exists()


def test_leave_on_free_time_is_added_straight_away(client, clinic, admin_user):
    login(client, admin_user)
    url = reverse("appointments:schedule_edit", args=[clinic.doctor.pk])
    assert client.post(url, _leave(clinic)).status_code == 302
    assert AvailabilityException.objects.count() == 1


def test_the_service_refuses_to_leave_bookings_in_the_way(clinic, admin_user):
    from django.core.exceptions import ValidationError

    from appointments.services.schedules import availability_exception_add

    AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.patient,
        start=clinic.at("10:00"),
    )
    exception = AvailabilityException(
        kind="leave", starts_at=clinic.at("08:00"), ends_at=clinic.at("12:00") + timedelta(hours=1)
    )
    with pytest.raises(ValidationError):
        availability_exception_add(actor=admin_user, provider=clinic.doctor, exception=exception)
    assert not AvailabilityException.objects.exists()

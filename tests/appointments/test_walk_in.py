"""Walk-ins: the first free slot within the hour, checked in at once, or a clear refusal."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from accounts.models import AuditEvent
from appointments.models import Appointment, AppointmentStatus, BookingSource
from appointments.services import booking
from tests.appointments.factories import AppointmentFactory

pytestmark = pytest.mark.django_db


def walk_in(clinic, actor, provider=None):
    return booking.appointment_walk_in(
        actor=actor,
        patient=clinic.patient,
        appointment_type=clinic.consult,
        provider=provider,
        reason="Fever since morning",
    )


def test_walk_in_takes_the_first_free_slot_and_is_checked_in(clinic, front_desk_user):
    with time_machine.travel(clinic.at("10:07"), tick=False):
        appointment = walk_in(clinic, front_desk_user, provider=clinic.doctor)
    assert appointment.provider == clinic.doctor
    assert clinic.at("10:00") <= appointment.start <= clinic.at("11:07")
    assert appointment.status == AppointmentStatus.CHECKED_IN
    assert appointment.source == BookingSource.WALK_IN
    event = AuditEvent.objects.get(action="create", object_id=str(appointment.pk))
    assert event.actor == front_desk_user and event.patient_id == clinic.patient.pk


def test_walk_in_without_a_provider_goes_to_whoever_is_free(clinic, front_desk_user):
    AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.other,
        start=clinic.at("10:00"),
        end=clinic.at("10:30"),
        end_with_buffer=clinic.at("10:40"),
    )
    with time_machine.travel(clinic.at("10:05"), tick=False):
        appointment = walk_in(clinic, front_desk_user)
    assert appointment.start >= clinic.at("10:40")
    assert appointment.start - clinic.at("10:05") <= timedelta(minutes=60)


def test_walk_in_is_refused_when_nobody_is_free_within_the_hour(clinic, front_desk_user):
    with time_machine.travel(clinic.at("16:50"), tick=False), pytest.raises(ValidationError):
        walk_in(clinic, front_desk_user, provider=clinic.doctor)
    assert not Appointment.objects.exists()

"""Provider schedules through their services: profiles, weekly blocks, exceptions, types."""

from __future__ import annotations

from datetime import time

import pytest

from accounts.models import AuditEvent
from appointments.models import (
    AppointmentType,
    AvailabilityException,
    ExceptionKind,
    ProviderProfile,
    WeeklyAvailability,
)
from appointments.services import schedules

pytestmark = pytest.mark.django_db


def test_missing_provider_profiles_are_created_once_and_audited(admin_user, nurse_user):
    assert not ProviderProfile.objects.filter(user=nurse_user).exists()
    created = schedules.provider_profiles_create_missing(actor=admin_user)
    assert [p.user for p in created] == [nurse_user]
    assert (
        AuditEvent.objects.filter(
            action="create", object_type="appointments.providerprofile", actor=admin_user
        ).count()
        == 1
    )
    assert schedules.provider_profiles_create_missing(actor=admin_user) == []


def test_blocks_are_added_and_removed_only_on_their_own_provider(clinic, admin_user):
    before = clinic.doctor.weekly_blocks.count()
    block = schedules.weekly_block_add(
        actor=admin_user,
        provider=clinic.doctor,
        block=WeeklyAvailability(weekday=6, start_time=time(18), end_time=time(20)),
    )
    assert block.provider == clinic.doctor
    assert clinic.doctor.weekly_blocks.count() == before + 1
    # The dentist's page cannot delete the doctor's block.
    schedules.weekly_block_delete(actor=admin_user, provider=clinic.dentist, block_id=block.pk)
    assert WeeklyAvailability.objects.filter(pk=block.pk).exists()
    schedules.weekly_block_delete(actor=admin_user, provider=clinic.doctor, block_id=block.pk)
    assert not WeeklyAvailability.objects.filter(pk=block.pk).exists()
    changes = AuditEvent.objects.filter(
        action="update", object_type="appointments.providerprofile", object_id=str(clinic.doctor.pk)
    )
    assert sorted(e.detail["schedule"] for e in changes) == ["block", "delete_block"]


def test_exceptions_record_who_made_them(clinic, admin_user):
    exception = schedules.availability_exception_add(
        actor=admin_user,
        provider=clinic.doctor,
        exception=AvailabilityException(
            kind=ExceptionKind.LEAVE, starts_at=clinic.at("08:00"), ends_at=clinic.at("12:00")
        ),
    )
    assert exception.created_by == admin_user and exception.provider == clinic.doctor
    schedules.availability_exception_delete(
        actor=admin_user, provider=clinic.doctor, exception_id=exception.pk
    )
    assert not AvailabilityException.objects.exists()


def test_appointment_types_are_audited_as_created_then_updated(admin_user):
    kind = schedules.appointment_type_save(
        actor=admin_user,
        appointment_type=AppointmentType(
            name="Vaccination", slug="vaccination", duration_minutes=15, provider_roles=["nurse"]
        ),
    )
    kind.duration_minutes = 20
    schedules.appointment_type_save(actor=admin_user, appointment_type=kind)
    events = AuditEvent.objects.filter(object_type="appointments.appointmenttype").order_by("id")
    assert [e.action for e in events] == ["create", "update"]
    assert AppointmentType.objects.get(pk=kind.pk).duration_minutes == 20


def test_a_garbled_delete_id_removes_nothing_and_is_not_an_error(clinic, client_for, admin_user):
    before = clinic.doctor.weekly_blocks.count()
    response = client_for(admin_user).post(
        f"/appointments/schedules/{clinic.doctor.pk}/", {"form": "delete_block", "id": "x'1"}
    )
    assert response.status_code == 302
    assert clinic.doctor.weekly_blocks.count() == before

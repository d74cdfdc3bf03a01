"""Slot computation: availability, exceptions, appointments, buffers, lead time, horizon, DST."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone

from accounts.roles import Role
from appointments.models import AppointmentStatus, AvailabilityException, ExceptionKind
from appointments.slots import SlotTaken, free_slots, parse_slot_value, validate_slot
from tests.appointments.conftest import local
from tests.appointments.factories import AppointmentFactory, AppointmentTypeFactory, ProviderFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def starts(slots):
    return [timezone.localtime(s.start).strftime("%H:%M") for s in slots]


def test_slots_follow_weekly_hours_and_step_by_duration_plus_buffer(clinic):
    slots = free_slots(
        appointment_type=clinic.consult,
        provider=clinic.doctor,
        date_from=clinic.day,
        date_to=clinic.day,
    )
    # 30 min + 10 min buffer → every 40 minutes from 08:00; the last one ends by 17:00.
    assert starts(slots)[:3] == ["08:00", "08:40", "09:20"]
    assert all(timezone.localtime(s.end).time() <= time(17, 0) for s in slots)
    assert starts(slots)[-1] == "16:00"


def test_existing_appointment_and_its_buffer_block_time(clinic):
    AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.other,
        start=clinic.at("09:00"),
        end=clinic.at("09:30"),
        end_with_buffer=clinic.at("09:40"),
    )
    slots = starts(
        free_slots(
            appointment_type=clinic.consult,
            provider=clinic.doctor,
            date_from=clinic.day,
            date_to=clinic.day,
        )
    )
    assert "08:00" in slots and "08:40" not in slots  # 08:40 + 30 + 10 buffer would overlap 09:00
    assert "09:40" in slots and "09:00" not in slots and "09:20" not in slots


def test_cancelled_appointments_free_their_time(clinic):
    AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.other,
        start=clinic.at("08:00"),
        end=clinic.at("08:30"),
        end_with_buffer=clinic.at("08:40"),
        status=AppointmentStatus.CANCELLED,
    )
    assert (
        starts(
            free_slots(
                appointment_type=clinic.consult,
                provider=clinic.doctor,
                date_from=clinic.day,
                date_to=clinic.day,
            )
        )[0]
        == "08:00"
    )


def test_leave_and_clinic_closure_remove_time_and_extra_hours_add_it(clinic):
    AvailabilityException.objects.create(
        provider=clinic.doctor,
        kind=ExceptionKind.LEAVE,
        starts_at=clinic.at("08:00"),
        ends_at=clinic.at("12:00"),
    )
    AvailabilityException.objects.create(
        provider=clinic.doctor,
        kind=ExceptionKind.EXTRA,
        starts_at=clinic.at("18:00"),
        ends_at=clinic.at("19:00"),
    )
    slots = starts(
        free_slots(
            appointment_type=clinic.consult,
            provider=clinic.doctor,
            date_from=clinic.day,
            date_to=clinic.day,
        )
    )
    assert slots[0] == "12:00" and "18:00" in slots and "18:40" not in slots
    day2 = clinic.day + timedelta(days=1)
    AvailabilityException.objects.create(
        provider=None,
        kind=ExceptionKind.HOLIDAY,
        starts_at=local(day2, "00:00"),
        ends_at=local(day2 + timedelta(days=1), "00:00"),
    )
    assert free_slots(appointment_type=clinic.consult, date_from=day2, date_to=day2) == []


def test_lead_time_and_horizon(clinic):
    now = clinic.at("10:05")
    clinic.consult.lead_time_minutes = 120
    clinic.consult.horizon_days = 2
    slots = free_slots(
        appointment_type=clinic.consult,
        provider=clinic.doctor,
        date_from=clinic.day,
        date_to=clinic.day + timedelta(days=5),
        now=now,
    )
    assert slots[0].start >= now + timedelta(hours=2)
    assert max(s.start for s in slots) <= now + timedelta(days=2)
    staff = free_slots(
        appointment_type=clinic.consult,
        provider=clinic.doctor,
        date_from=clinic.day,
        date_to=clinic.day,
        now=now,
        enforce_lead_time=False,
    )
    assert staff[0].start < slots[0].start


def test_any_provider_only_offers_providers_who_perform_the_type(clinic):
    slots = free_slots(appointment_type=clinic.cleaning, date_from=clinic.day, date_to=clinic.day)
    assert {s.provider_id for s in slots} == {clinic.dentist.pk}
    nurse = ProviderFactory(user=UserFactory(role=Role.NURSE))
    slots = free_slots(appointment_type=clinic.consult, date_from=clinic.day, date_to=clinic.day)
    assert {s.provider_id for s in slots} == {clinic.doctor.pk, nurse.pk}


def test_patient_own_appointments_are_excluded(clinic):
    AppointmentFactory(
        provider=clinic.dentist,
        appointment_type=clinic.cleaning,
        patient=clinic.patient,
        start=clinic.at("08:00"),
        end=clinic.at("08:45"),
        end_with_buffer=clinic.at("08:45"),
    )
    slots = starts(
        free_slots(
            appointment_type=clinic.consult,
            provider=clinic.doctor,
            date_from=clinic.day,
            date_to=clinic.day,
            patient_id=clinic.patient.pk,
        )
    )
    assert "08:00" not in slots and "08:45" in slots


@pytest.mark.parametrize(
    "case,message",
    [
        ("past", "in the past"),
        ("outside", "not available"),
        ("wrong_provider", "does not perform"),
        ("beyond_horizon", "days ahead"),
        ("off_grid", "not a valid slot"),
        ("lead_time", "notice"),
    ],
)
def test_validate_slot_refuses_bad_input_with_clear_errors(clinic, case, message):
    kwargs = {
        "appointment_type": clinic.consult,
        "provider": clinic.doctor,
        "start": clinic.at("10:00"),
        "patient_id": clinic.patient.pk,
        "by_staff": False,
    }
    if case == "past":
        kwargs["start"] = clinic.at("10:00") - timedelta(days=2)
    elif case == "outside":
        kwargs["start"] = clinic.at("20:00")
    elif case == "wrong_provider":
        kwargs["provider"] = clinic.dentist
    elif case == "beyond_horizon":
        kwargs["start"] = local(clinic.day + timedelta(days=40), "10:00")
    elif case == "off_grid":
        kwargs["start"] = clinic.at("10:03")
    elif case == "lead_time":
        kwargs["start"] = clinic.at("10:00")
        kwargs["now"] = clinic.at("09:30")
    with pytest.raises(ValidationError) as exc:
        validate_slot(**kwargs)
    assert message in " ".join(exc.value.messages)


def test_validate_slot_reports_taken_with_alternatives(clinic):
    AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.other,
        start=clinic.at("10:00"),
        end=clinic.at("10:30"),
        end_with_buffer=clinic.at("10:40"),
    )
    with pytest.raises(SlotTaken) as exc:
        validate_slot(
            appointment_type=clinic.consult,
            provider=clinic.doctor,
            start=clinic.at("10:20"),
            patient_id=clinic.patient.pk,
            by_staff=False,
        )
    assert exc.value.next_slots and all(s.start >= clinic.at("10:40") for s in exc.value.next_slots)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "abc",
        "1|",
        "x|2026-01-01T00:00:00Z",
        "5|2026-01-01T00:00:00",
        "0|2026-01-01T00:00:00Z",
        "5|not-a-date",
    ],
)
def test_tampered_slot_values_are_refused(value):
    with pytest.raises(ValidationError):
        parse_slot_value(value)


# --- Time zones and daylight saving ----------------------------------------------------------


@override_settings(TIME_ZONE="America/New_York")
def test_spring_forward_gap_has_no_phantom_slots(db, doctor_user):
    """On 8 Mar 2026 New York clocks jump 02:00 → 03:00: a 01:00–04:00 block is two real hours."""
    provider = ProviderFactory(user=doctor_user, hours=[("01:00", "04:00")])
    kind = AppointmentTypeFactory(duration_minutes=30, lead_time_minutes=0, horizon_days=365)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    slots = free_slots(
        appointment_type=kind,
        provider=provider,
        date_from=date(2026, 3, 8),
        date_to=date(2026, 3, 8),
        now=now,
    )
    ny = ZoneInfo("America/New_York")
    assert [s.start.astimezone(ny).strftime("%H:%M") for s in slots] == [
        "01:00",
        "01:30",
        "03:00",
        "03:30",
    ]
    assert [s.start.astimezone(UTC).strftime("%H:%M") for s in slots] == [
        "06:00",
        "06:30",
        "07:00",
        "07:30",
    ]


@override_settings(TIME_ZONE="America/New_York")
def test_fall_back_day_has_the_extra_hour_and_wall_clock_stays_put(db, doctor_user):
    """On 1 Nov 2026 01:00–02:00 happens twice: a 00:00–03:00 block is four real hours, and
    09:00 means 09:00 local on both sides of the change (UTC offset differs)."""
    provider = ProviderFactory(user=doctor_user, hours=[("00:00", "03:00"), ("09:00", "09:30")])
    kind = AppointmentTypeFactory(duration_minutes=60, lead_time_minutes=0, horizon_days=365)
    now = datetime(2026, 10, 25, tzinfo=UTC)
    slots = free_slots(
        appointment_type=kind,
        provider=provider,
        date_from=date(2026, 10, 31),
        date_to=date(2026, 11, 1),
        now=now,
    )
    utc = [s.start.astimezone(UTC) for s in slots]
    nov1 = [
        u for u in utc if u.astimezone(ZoneInfo("America/New_York")).date() == date(2026, 11, 1)
    ]
    assert len(nov1) == 4  # 00:00 EDT, 01:00 EDT, 01:00 EST, 02:00 EST
    assert nov1[0].hour == 4 and nov1[-1].hour == 7
    # 30-minute block can't hold a 60-minute type: no 09:00 slots either day.
    kind.duration_minutes = 30
    slots = free_slots(
        appointment_type=kind,
        provider=provider,
        date_from=date(2026, 10, 31),
        date_to=date(2026, 11, 2),
        now=now,
    )
    nine = [
        s.start.astimezone(UTC).hour
        for s in slots
        if s.start.astimezone(ZoneInfo("America/New_York")).hour == 9
    ]
    assert nine == [13, 14, 14]  # EDT (UTC-4) on 31 Oct, EST (UTC-5) on 1 and 2 Nov


def test_manila_slots_are_stored_in_utc_at_the_right_offset(clinic):
    slot = free_slots(
        appointment_type=clinic.consult,
        provider=clinic.doctor,
        date_from=clinic.day,
        date_to=clinic.day,
    )[0]
    assert slot.start.astimezone(UTC).hour == 0  # 08:00 Asia/Manila = 00:00 UTC
    provider_id, start = parse_slot_value(slot.value)
    assert provider_id == clinic.doctor.pk and start == slot.start

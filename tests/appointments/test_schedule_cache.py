"""The shared calendar is served from the cache, and every write that changes what it shows
is visible on the next request (appointments.schedule_cache, appointments.receivers).

Writes run inside ``django_capture_on_commit_callbacks(execute=True)``: the cache is bumped
when a transaction commits, as in production (the test's own transaction never does)."""

from datetime import UTC, time, timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.models import AuditEvent
from appointments.models import (
    AppointmentStatus,
    AvailabilityException,
    BookingSource,
    ExceptionKind,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistStatus,
    WeeklyAvailability,
)
from appointments.services import booking, lifecycle, waitlist
from appointments.slots import free_slots
from tests.appointments.factories import AppointmentFactory, PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(client_for, front_desk_user):
    return client_for(front_desk_user)


def _day_url(clinic, day=None):
    return f"/appointments/calendar/?date={(day or clinic.day):%Y-%m-%d}"


def _week_url(clinic):
    return f"/appointments/calendar/?view=week&date={clinic.day:%Y-%m-%d}"


def _html(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_second_view_comes_from_the_cache_and_is_still_audited(
    clinic, desk, django_assert_max_num_queries
):
    AppointmentFactory(
        provider=clinic.doctor,
        patient=PatientFactory(first_name="Cora", last_name="Cached"),
        appointment_type=clinic.consult,
        start=clinic.at("09:00"),
    )
    first = _html(desk, _day_url(clinic))
    events = AuditEvent.objects.filter(object_type="appointments.calendar").order_by("id")
    assert events.count() == 1
    # Cached: no appointment, provider or working-time query; the audit event is still written.
    with django_assert_max_num_queries(6) as queries:
        second = _html(desk, _day_url(clinic))
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "appointments_appointment" not in sql and "weeklyavailability" not in sql
    assert second.count("Cora Cached") == first.count("Cora Cached") >= 1
    assert events.count() == 2
    assert events.last().detail == {
        "view": "day",
        "date": f"{clinic.day:%Y-%m-%d}",
        "provider": None,
    }
    # The provider filter is part of what is cached, and audited as such.
    _html(desk, f"{_day_url(clinic)}&provider={clinic.doctor.pk}")
    assert events.last().detail["provider"] == clinic.doctor.pk


def test_booking_cancel_and_check_in_show_on_the_next_request(
    clinic, desk, front_desk_user, django_capture_on_commit_callbacks
):
    patient = PatientFactory(first_name="Nora", last_name="Newbooking")
    assert "Nora Newbooking" not in _html(desk, _day_url(clinic))
    assert "Nora Newbooking" not in _html(desk, _week_url(clinic))

    with django_capture_on_commit_callbacks(execute=True):
        appointment = booking.appointment_book(
            actor=front_desk_user,
            patient=patient,
            appointment_type=clinic.consult,
            provider=clinic.doctor,
            start=clinic.at("10:00"),
            source=BookingSource.STAFF,
        )
    day, week = _html(desk, _day_url(clinic)), _html(desk, _week_url(clinic))
    assert "Nora Newbooking" in day and "Nora Newbooking" in week
    assert f"/appointments/{appointment.pk}/" in day

    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.appointment_transition(
            actor=front_desk_user, appointment=appointment, to_status=AppointmentStatus.CONFIRMED
        )
    assert "st-confirmed" in _html(desk, _day_url(clinic))

    with django_capture_on_commit_callbacks(execute=True):
        booking.appointment_cancel(actor=front_desk_user, appointment=appointment, reason="ill")
    assert "Nora Newbooking" not in _html(desk, _day_url(clinic))
    assert "Nora Newbooking" not in _html(desk, _week_url(clinic))


def test_check_in_shows_on_the_next_request(
    clinic, desk, front_desk_user, django_capture_on_commit_callbacks
):
    appointment = AppointmentFactory(
        provider=clinic.doctor, appointment_type=clinic.consult, start=clinic.at("09:00")
    )
    assert "st-booked" in _html(desk, _day_url(clinic))
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.appointment_transition(
            actor=front_desk_user, appointment=appointment, to_status=AppointmentStatus.CHECKED_IN
        )
    html = _html(desk, _day_url(clinic))
    assert "st-checked_in" in html and "st-booked" not in html


def test_reschedule_leaves_the_old_day_and_shows_on_the_new_one(
    clinic, desk, front_desk_user, django_capture_on_commit_callbacks
):
    later = clinic.day + timedelta(days=1)
    appointment = AppointmentFactory(
        provider=clinic.doctor,
        patient=PatientFactory(first_name="Rita", last_name="Moved"),
        appointment_type=clinic.consult,
        start=clinic.at("09:00"),
    )
    assert "Rita Moved" in _html(desk, _day_url(clinic))
    assert "Rita Moved" not in _html(desk, _day_url(clinic, later))
    with django_capture_on_commit_callbacks(execute=True):
        booking.appointment_reschedule(
            actor=front_desk_user, appointment=appointment, start=clinic.at("11:00", day=later)
        )
    assert "Rita Moved" not in _html(desk, _day_url(clinic))
    assert "Rita Moved" in _html(desk, _day_url(clinic, later))


def test_names_hours_and_leave_show_on_the_next_request(
    clinic, desk, django_capture_on_commit_callbacks
):
    appointment = AppointmentFactory(
        provider=clinic.doctor,
        patient=PatientFactory(first_name="Old", last_name="Name"),
        appointment_type=clinic.consult,
        start=clinic.at("09:00"),
    )
    before = _html(desk, _day_url(clinic))
    with django_capture_on_commit_callbacks(execute=True):
        patient = appointment.patient
        patient.first_name = "Newer"
        patient.save()
    assert "Newer Name" in _html(desk, _day_url(clinic))

    with django_capture_on_commit_callbacks(execute=True):
        user = clinic.doctor.user
        user.last_name = "Renamedoctor"
        user.save()
    assert "Renamedoctor" in _html(desk, _day_url(clinic))

    free_blocks = before.count("cal-free")
    with django_capture_on_commit_callbacks(execute=True):
        WeeklyAvailability.objects.create(
            provider=clinic.dentist,
            weekday=clinic.day.weekday(),
            start_time=time(18),
            end_time=time(19),
        )
    assert _html(desk, _day_url(clinic)).count("cal-free") == free_blocks + 1

    with django_capture_on_commit_callbacks(execute=True):
        AvailabilityException.objects.create(
            provider=clinic.dentist,
            kind=ExceptionKind.LEAVE,
            starts_at=clinic.at("00:00"),
            ends_at=clinic.at("23:59"),
        )
    assert _html(desk, _day_url(clinic)).count("cal-free") == free_blocks - 1


# --- Free slots (booking pages, slots API) ------------------------------------------------------


def _slot_starts(clinic, **kwargs) -> set:
    slots = free_slots(
        appointment_type=clinic.consult,
        provider=clinic.doctor,
        date_from=clinic.day,
        date_to=clinic.day + timedelta(days=2),
        **kwargs,
    )
    return {s.start for s in slots}


@pytest.mark.parametrize("hhmm", ["00:00", "10:05", "16:50"])
def test_shared_slots_equal_the_live_computation(clinic, hhmm):
    """Whole dates read once and clipped to the window (lead time, horizon) give exactly the
    slots computed for the window, with appointments, leave, holds and extra hours."""
    clinic.consult.lead_time_minutes = 120
    clinic.consult.horizon_days = 2
    AppointmentFactory(
        provider=clinic.doctor, appointment_type=clinic.consult, start=clinic.at("11:00")
    )
    AppointmentFactory(  # from the evening before into the first date
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        start=clinic.at("22:00", day=clinic.day - timedelta(days=1)),
        end=clinic.at("08:30"),
        end_with_buffer=clinic.at("08:40"),
    )
    later = clinic.day + timedelta(days=1)
    AvailabilityException.objects.create(
        provider=clinic.doctor,
        kind=ExceptionKind.LEAVE,
        starts_at=clinic.at("13:00", day=later),
        ends_at=clinic.at("15:00", day=later),
    )
    AvailabilityException.objects.create(
        provider=clinic.doctor,
        kind=ExceptionKind.EXTRA,
        starts_at=clinic.at("18:00", day=later),
        ends_at=clinic.at("20:00", day=later),
    )
    _hold(clinic, "14:00")
    now = clinic.at(hhmm)
    for staff in (True, False):
        for patient_id in (None, clinic.patient.pk, clinic.other.pk):
            kwargs = {"now": now, "enforce_lead_time": not staff, "patient_id": patient_id}
            live = _slot_starts(clinic, **kwargs)
            assert _slot_starts(clinic, shared=True, **kwargs) == live  # built
            assert _slot_starts(clinic, shared=True, **kwargs) == live  # from the cache
            assert live


def _hold(clinic, hhmm, minutes=60):
    entry = WaitlistEntry.objects.create(
        patient=clinic.patient,
        appointment_type=clinic.consult,
        date_from=clinic.day,
        date_to=clinic.day,
        status=WaitlistStatus.OFFERED,
    )
    return WaitlistOffer.objects.create(
        entry=entry,
        provider=clinic.doctor,
        start=clinic.at(hhmm),
        end=clinic.at(hhmm) + timedelta(minutes=40),
        expires_at=timezone.now() + timedelta(minutes=minutes),
    )


def test_booking_page_shows_a_booking_and_a_freed_hold_on_the_next_request(
    clinic, desk, front_desk_user, django_capture_on_commit_callbacks
):
    url = (
        f"/appointments/new/?type={clinic.consult.pk}&provider={clinic.doctor.pk}"
        f"&date={clinic.day:%Y-%m-%d}"
    )
    ten = clinic.at("10:00").astimezone(UTC)
    value = f'value="{clinic.doctor.pk}|{ten:%Y-%m-%dT%H:%M:%SZ}"'
    assert value in _html(desk, url)
    with django_capture_on_commit_callbacks(execute=True):
        appointment = booking.appointment_book(
            actor=front_desk_user,
            patient=clinic.other,
            appointment_type=clinic.consult,
            provider=clinic.doctor,
            start=clinic.at("10:00"),
            source=BookingSource.STAFF,
        )
    assert value not in _html(desk, url)
    with django_capture_on_commit_callbacks(execute=True):
        booking.appointment_cancel(actor=front_desk_user, appointment=appointment)
    assert value in _html(desk, url)

    # A waitlist hold hides the slot; declining it (an update, no signal) frees it again.
    with django_capture_on_commit_callbacks(execute=True):
        offer = _hold(clinic, "10:00")
    assert value not in _html(desk, url)
    with django_capture_on_commit_callbacks(execute=True):
        waitlist.waitlist_offer_decline(actor=None, offer=offer)
    assert value in _html(desk, url)


def test_a_lapsed_hold_frees_its_slot_with_no_write(clinic, desk):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        _hold(clinic, "10:00", minutes=30)
        shown = _slot_starts(clinic, shared=True)
        assert clinic.at("10:00") not in shown
        traveller.shift(timedelta(minutes=31))
        assert clinic.at("10:00") in _slot_starts(clinic, shared=True)

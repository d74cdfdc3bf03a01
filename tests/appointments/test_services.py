"""Booking, rescheduling, cancellation, lifecycle and history."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import override_settings
from django.utils import timezone

from accounts.models import AuditEvent, Notification
from appointments.models import Appointment, AppointmentEvent, AppointmentStatus, BookingSource
from appointments.services import booking, lifecycle
from appointments.slots import SlotTaken
from tests.appointments.factories import AppointmentFactory

pytestmark = pytest.mark.django_db


def book(clinic, actor, hhmm="10:00", patient=None, **kw):
    return booking.appointment_book(
        actor=actor,
        patient=patient or clinic.patient,
        appointment_type=kw.pop("kind", clinic.consult),
        provider=kw.pop("provider", clinic.doctor),
        start=clinic.at(hhmm),
        **kw,
    )


def test_booking_saves_history_audit_notification_and_email(
    clinic, patient_user, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        a = book(clinic, patient_user, reason="Cough <script>")
    assert a.status == AppointmentStatus.BOOKED and a.end_with_buffer - a.end == timedelta(
        minutes=10
    )
    assert list(a.events.values_list("from_status", "to_status")) == [("", "booked")]
    assert AuditEvent.objects.filter(
        action="create", object_type="appointments.appointment", patient_id=clinic.patient.pk
    ).exists()
    assert Notification.objects.filter(user=patient_user, category="appointments").exists()
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert "Appointment booked" in mail.subject
    name, content, mimetype = mail.attachments[0]
    assert name.endswith(".ics") and mimetype.startswith("text/calendar")
    assert "/appointments/link/" in mail.body


def test_double_booking_is_refused_by_the_database_itself(clinic):
    AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.other,
        start=clinic.at("10:00"),
        end=clinic.at("10:30"),
        end_with_buffer=clinic.at("10:40"),
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        AppointmentFactory(
            provider=clinic.doctor,
            appointment_type=clinic.consult,
            patient=clinic.patient,
            start=clinic.at("10:35"),
            end=clinic.at("11:05"),
            end_with_buffer=clinic.at("11:05"),
        )
    # The patient can't be in two places either.
    with pytest.raises(IntegrityError), transaction.atomic():
        AppointmentFactory(
            provider=clinic.dentist,
            appointment_type=clinic.cleaning,
            patient=clinic.other,
            start=clinic.at("10:15"),
            end=clinic.at("11:00"),
            end_with_buffer=clinic.at("11:00"),
        )
    # Back-to-back after the buffer is fine.
    AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.patient,
        start=clinic.at("10:40"),
        end=clinic.at("11:10"),
        end_with_buffer=clinic.at("11:20"),
    )


def test_taken_slot_raises_slot_taken_with_next_slots_and_saves_nothing(
    clinic, patient_user, other_patient_user
):
    book(clinic, other_patient_user, patient=clinic.other)
    before = (
        Appointment.objects.count(),
        AppointmentEvent.objects.count(),
        AuditEvent.objects.count(),
    )
    with pytest.raises(SlotTaken) as exc:
        book(clinic, patient_user)
    assert "just taken" in exc.value.messages[0] and exc.value.next_slots
    assert (
        Appointment.objects.count(),
        AppointmentEvent.objects.count(),
        AuditEvent.objects.count(),
    ) == before


def test_integrity_error_from_a_race_becomes_slot_taken(clinic, patient_user, monkeypatch):
    """Validation passed (the other booking wasn't committed yet) but the insert collides."""
    AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.other,
        start=clinic.at("10:00"),
        end=clinic.at("10:30"),
        end_with_buffer=clinic.at("10:40"),
    )
    monkeypatch.setattr(booking, "validate_slot", lambda **kw: kw["start"] + timedelta(minutes=30))
    with pytest.raises(SlotTaken):
        book(clinic, patient_user, "10:20")


def test_patients_can_only_book_offered_slots(clinic, patient_user):
    with pytest.raises(ValidationError, match="offered slots"):
        book(
            clinic, patient_user, "08:05", offered_slots_only=True
        )  # valid time, but not an offered slot
    assert book(clinic, patient_user, "08:40", offered_slots_only=True).pk


def test_non_self_bookable_type_is_staff_only(clinic, patient_user, front_desk_user):
    clinic.consult.self_bookable = False
    clinic.consult.save()
    with pytest.raises(ValidationError, match="front desk"):
        book(clinic, patient_user)
    assert book(clinic, front_desk_user, source=BookingSource.STAFF).booked_by == front_desk_user


def test_reschedule_moves_bumps_sequence_and_resets_reminders(clinic, patient_user):
    a = book(clinic, patient_user)
    a.reminders.create(offset_minutes=120)
    moved = booking.appointment_reschedule(
        actor=patient_user, appointment=a, start=clinic.at("13:00")
    )
    assert (
        moved.start == clinic.at("13:00") and moved.sequence == 1 and not moved.reminders.exists()
    )
    assert "Rescheduled from" in moved.events.last().note


def test_reschedule_into_a_taken_slot_is_a_conflict(clinic, patient_user, other_patient_user):
    a = book(clinic, patient_user)
    book(clinic, other_patient_user, "13:00", patient=clinic.other)
    with pytest.raises(SlotTaken):
        booking.appointment_reschedule(actor=patient_user, appointment=a, start=clinic.at("13:20"))
    a.refresh_from_db()
    assert a.start == clinic.at("10:00")


@override_settings(APPOINTMENT_CANCEL_CUTOFF_MINUTES=24 * 60 * 3)
def test_cutoff_binds_patients_but_staff_may_override(clinic, patient_user, front_desk_user):
    a = book(clinic, patient_user)
    with pytest.raises(ValidationError, match="Please call the clinic"):
        booking.appointment_cancel(actor=patient_user, appointment=a)
    with pytest.raises(ValidationError, match="Please call the clinic"):
        booking.appointment_reschedule(actor=patient_user, appointment=a, start=clinic.at("14:00"))
    cancelled = booking.appointment_cancel(
        actor=front_desk_user, appointment=a, reason="Doctor away"
    )
    assert (
        cancelled.status == AppointmentStatus.CANCELLED
        and cancelled.cancelled_by == front_desk_user
    )
    assert cancelled.cancel_reason == "Doctor away"


def test_full_lifecycle_keeps_history_and_opens_the_visit(
    clinic, patient_user, front_desk_user, doctor_user
):
    a = book(clinic, patient_user)
    for actor, to in [
        (patient_user, "confirmed"),
        (front_desk_user, "checked_in"),
        (doctor_user, "in_consultation"),
        (doctor_user, "completed"),
    ]:
        a = lifecycle.appointment_transition(actor=actor, appointment=a, to_status=to)
    assert a.status == "completed" and a.checked_in_at and a.completed_at
    assert (
        a.visit is not None
        and a.visit.patient_id == clinic.patient.pk
        and a.visit.kind == "medical"
    )
    history = list(a.events.values_list("from_status", "to_status", "actor__email"))
    assert history[1:] == [
        ("booked", "confirmed", patient_user.email),
        ("confirmed", "checked_in", front_desk_user.email),
        ("checked_in", "in_consultation", doctor_user.email),
        ("in_consultation", "completed", doctor_user.email),
    ]


def test_front_desk_completing_opens_the_visit_for_the_provider(
    clinic, patient_user, front_desk_user, doctor_user
):
    """The front desk marks the appointment completed; the visit is the doctor's (they write
    the notes), and the audit trail says the front desk opened it."""
    from accounts.models import AuditEvent

    a = book(clinic, patient_user)
    a = lifecycle.appointment_transition(
        actor=front_desk_user, appointment=a, to_status="checked_in"
    )
    a = lifecycle.appointment_transition(
        actor=front_desk_user, appointment=a, to_status="completed"
    )
    assert a.status == "completed" and a.visit is not None
    assert a.visit.provider == doctor_user and a.visit.kind == "medical"
    event = AuditEvent.objects.get(object_type="patients.visit", object_id=str(a.visit.pk))
    assert event.actor == front_desk_user and event.detail["for_provider"] == doctor_user.email
    # Completing again (a retry) never opens a second visit.
    from patients.models import Visit

    assert Visit.objects.filter(appointment_ref=f"appointment:{a.pk}").count() == 1


def test_no_visit_when_the_provider_does_not_write_that_kind(
    clinic, patient_user, front_desk_user, nurse_user
):
    from tests.appointments.factories import ProviderFactory

    nurse = ProviderFactory(user=nurse_user, room="Triage")
    a = AppointmentFactory(
        provider=nurse,
        patient=clinic.patient,
        appointment_type=clinic.cleaning,
        start=clinic.at("09:00"),
        status="checked_in",
    )
    a = lifecycle.appointment_transition(
        actor=front_desk_user, appointment=a, to_status="completed"
    )
    assert a.status == "completed" and a.visit is None


@pytest.mark.parametrize(
    "start_status,to",
    [
        ("completed", "checked_in"),
        ("cancelled", "confirmed"),
        ("booked", "completed"),
        ("no_show", "checked_in"),
    ],
)
def test_illegal_transitions_are_refused(clinic, front_desk_user, start_status, to):
    a = AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.patient,
        start=clinic.at("10:00"),
        status=start_status,
    )
    with pytest.raises(ValidationError):
        lifecycle.appointment_transition(actor=front_desk_user, appointment=a, to_status=to)
    a.refresh_from_db()
    assert a.status == start_status


def test_no_show_job_marks_only_overdue_unattended_appointments(clinic):
    past = timezone.now() - timedelta(hours=2)
    overdue = AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.patient,
        start=past.replace(second=0, microsecond=0),
    )
    arrived = AppointmentFactory(
        provider=clinic.dentist,
        appointment_type=clinic.cleaning,
        patient=clinic.other,
        start=past.replace(second=0, microsecond=0),
        status="checked_in",
    )
    soon = AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.other,
        start=timezone.now() + timedelta(hours=1),
    )
    assert lifecycle.appointments_mark_no_shows() == 1
    assert lifecycle.appointments_mark_no_shows() == 0
    overdue.refresh_from_db(), arrived.refresh_from_db(), soon.refresh_from_db()
    assert (overdue.status, arrived.status, soon.status) == ("no_show", "checked_in", "booked")
    assert overdue.events.get().actor is None


def test_walk_in_is_checked_in_immediately(clinic, front_desk_user):
    with time_machine.travel(clinic.at("10:07"), tick=False):
        now = timezone.now()
        grid = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 5)
        a = booking.appointment_book(
            actor=front_desk_user,
            patient=clinic.patient,
            appointment_type=clinic.consult,
            provider=clinic.doctor,
            start=grid,
            source=BookingSource.WALK_IN,
        )
    assert a.status == "checked_in" and a.checked_in_at

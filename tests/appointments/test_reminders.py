"""Reminders go out once per (appointment, offset), however often beat or retries run."""

from datetime import timedelta
from unittest import mock

import pytest
from django.test import override_settings
from django.utils import timezone

from appointments import selectors, tasks
from appointments.models import ReminderClaim
from appointments.services import booking, reminders
from tests.appointments.factories import AppointmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _outbox_relays_after_the_beat_job(monkeypatch, django_capture_on_commit_callbacks):
    """The beat job writes outbox rows; here its commit's relay runs at once (the test's
    transaction never commits), as it does in production when the broker is up."""
    real = tasks.send_due_reminders

    def run(*args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return real(*args, **kwargs)

    monkeypatch.setattr(tasks, "send_due_reminders", run)


def _appointment(clinic, *, starts_in: timedelta, booked_before: timedelta, patient=None):
    """An appointment starting ``starts_in`` from now, booked ``booked_before`` its start."""
    start = (timezone.now() + starts_in).replace(second=0, microsecond=0)
    return AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=patient or clinic.patient,
        start=start,
        created_at=start - booked_before,
    )


@pytest.fixture
def soon(clinic):
    """Starts in 90 minutes; booked three days ago (so every reminder offset applies)."""
    return _appointment(clinic, starts_in=timedelta(minutes=90), booked_before=timedelta(days=3))


def later(minutes: int):
    """Run the code under test ``minutes`` from now (services read ``timezone.now``)."""
    return mock.patch(
        "django.utils.timezone.now", return_value=timezone.now() + timedelta(minutes=minutes)
    )


def test_due_job_twice_and_a_retry_send_only_the_nearest_reminder(soon, mailoutbox):
    """Both the 24 h and the 2 h reminder are due at once (the appointment is 90 min away and
    beat never sent the 24 h one): only the nearest, the 2 h reminder, goes out; the 24 h one
    is recorded as skipped and never sent later. Beat twice and retries send nothing more."""
    assert tasks.send_due_reminders() == 1
    assert tasks.send_due_reminders() == 0
    # A duplicate delivery / retry of either task sends nothing.
    assert tasks.send_reminder(appointment_id=soon.pk, offset_minutes=120) is False
    assert tasks.send_reminder(appointment_id=soon.pk, offset_minutes=1440) is False
    assert len(mailoutbox) == 1
    assert "Reminder" in mailoutbox[0].subject and mailoutbox[0].attachments
    claims = {c.offset_minutes: c for c in ReminderClaim.objects.filter(appointment=soon)}
    assert claims[120].sent_at is not None and claims[120].skipped_at is None
    assert claims[1440].sent_at is None and claims[1440].skipped_at is not None
    with later(60):
        assert tasks.send_due_reminders() == 0
    assert len(mailoutbox) == 1


def test_a_late_task_for_a_superseded_offset_is_skipped_not_sent(soon, mailoutbox):
    """A 24 h task that runs only once the 2 h reminder is due records itself as skipped."""
    assert reminders.reminder_send(appointment_id=soon.pk, offset_minutes=1440) is False
    assert ReminderClaim.objects.get(appointment=soon, offset_minutes=1440).skipped_at
    assert selectors.reminders_due() == [(soon.pk, 120)]
    assert mailoutbox == []


def test_booked_days_ahead_gets_the_24h_then_the_2h_reminder(clinic, mailoutbox):
    appointment = _appointment(
        clinic, starts_in=timedelta(hours=20), booked_before=timedelta(days=3)
    )
    assert selectors.reminders_due() == [(appointment.pk, 1440)]
    assert tasks.send_due_reminders() == 1
    assert tasks.send_due_reminders() == 0
    with later(19 * 60):  # 1 h before the start
        assert tasks.send_due_reminders() == 1
        assert tasks.send_due_reminders() == 0
    assert len(mailoutbox) == 2
    assert set(
        ReminderClaim.objects.filter(appointment=appointment, sent_at__isnull=False).values_list(
            "offset_minutes", flat=True
        )
    ) == {120, 1440}


def test_booked_less_than_2h_ahead_gets_no_reminder(
    clinic, patient_user, mailoutbox, django_capture_on_commit_callbacks
):
    """The confirmation email is the reminder: no 24 h or 2 h reminder right after it."""
    from appointments.models import AvailabilityException

    now = timezone.now()
    AvailabilityException.objects.create(
        provider=clinic.doctor,
        kind="extra",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=8),
    )
    start = (now + timedelta(minutes=100)).replace(second=0, microsecond=0)
    start -= timedelta(minutes=start.minute % 5)
    with django_capture_on_commit_callbacks(execute=True):
        booking.appointment_book(
            actor=patient_user,
            patient=clinic.patient,
            appointment_type=clinic.consult,
            provider=clinic.doctor,
            start=start,
        )
    assert len(mailoutbox) == 1  # the confirmation
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.send_due_reminders() == 0
        with later(60):
            assert tasks.send_due_reminders() == 0
    assert len(mailoutbox) == 1
    assert not ReminderClaim.objects.exists()


def test_booked_3_to_24h_ahead_gets_only_the_2h_reminder(clinic, mailoutbox):
    appointment = _appointment(
        clinic, starts_in=timedelta(hours=3), booked_before=timedelta(hours=3)
    )
    assert tasks.send_due_reminders() == 0  # the 24 h reminder would repeat the confirmation
    with later(65):  # 1 h 55 min before the start
        assert selectors.reminders_due() == [(appointment.pk, 120)]
        assert tasks.send_due_reminders() == 1
    assert len(mailoutbox) == 1
    assert not ReminderClaim.objects.filter(offset_minutes=1440).exists()


def test_reminders_are_timed_from_the_last_reschedule(clinic, front_desk_user, mailoutbox):
    """Booked days ago, then moved to a time 5 h away: the reschedule email stands in for the
    24 h reminder; the 2 h one still goes out."""
    from appointments.models import AvailabilityException

    now = timezone.now()
    AvailabilityException.objects.create(
        provider=clinic.doctor,
        kind="extra",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=8),
    )
    appointment = AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.patient,
        start=clinic.at("09:00", day=clinic.day + timedelta(days=2)),
        created_at=now - timedelta(days=3),
    )
    start = (now + timedelta(hours=5)).replace(second=0, microsecond=0)
    start -= timedelta(minutes=start.minute % 5)
    moved = booking.appointment_reschedule(
        actor=front_desk_user, appointment=appointment, start=start
    )
    assert moved.rescheduled_at >= now and moved.scheduled_at == moved.rescheduled_at
    assert selectors.reminders_due() == []
    assert selectors.reminders_due(now=start - timedelta(minutes=110)) == [(moved.pk, 120)]
    assert selectors.reminders_due(now=start - timedelta(hours=23)) == []


@override_settings(APPOINTMENT_REMINDER_OFFSETS=(120,))
def test_failed_send_releases_the_claim_so_the_retry_sends_once(soon, mailoutbox):
    with (
        mock.patch(
            "appointments.emails.send_templated_email", side_effect=ConnectionError("SES down")
        ),
        pytest.raises(ConnectionError),
    ):
        reminders.reminder_send(appointment_id=soon.pk, offset_minutes=120)
    assert not ReminderClaim.objects.exists()
    assert reminders.reminder_send(appointment_id=soon.pk, offset_minutes=120) is True
    assert reminders.reminder_send(appointment_id=soon.pk, offset_minutes=120) is False
    assert len(mailoutbox) == 1


@override_settings(APPOINTMENT_REMINDER_OFFSETS=(120,))
def test_claim_of_a_worker_that_died_is_taken_over_only_when_stale(soon, mailoutbox):
    claim = ReminderClaim.objects.create(
        appointment=soon, offset_minutes=120
    )  # died before sending
    assert reminders.reminder_send(appointment_id=soon.pk, offset_minutes=120) is False
    claim.claimed_at = timezone.now() - timedelta(hours=1)
    claim.save()
    assert reminders.reminder_send(appointment_id=soon.pk, offset_minutes=120) is True
    assert len(mailoutbox) == 1


def test_no_reminder_for_cancelled_or_far_appointments(clinic, mailoutbox):
    AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.patient,
        start=timezone.now() + timedelta(minutes=60),
        status="cancelled",
    )
    AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.other,
        start=timezone.now() + timedelta(days=3),
    )
    assert tasks.send_due_reminders() == 0
    assert mailoutbox == []


@override_settings(APPOINTMENT_REMINDER_OFFSETS=(120,))
def test_beat_takes_over_a_stale_unsent_claim_and_sends_once(soon, mailoutbox):
    """The worker died mid-send and the redelivered task gave up on the still-fresh claim:
    once the claim is older than the takeover window, the next beat sends it, once."""
    claim = ReminderClaim.objects.create(appointment=soon, offset_minutes=120)
    assert tasks.send_reminder(appointment_id=soon.pk, offset_minutes=120) is False
    ReminderClaim.objects.filter(pk=claim.pk).update(
        claimed_at=timezone.now() - reminders.STALE_CLAIM - timedelta(minutes=1)
    )
    assert selectors.reminders_due() == [(soon.pk, 120)]
    assert tasks.send_due_reminders() == 1
    assert tasks.send_due_reminders() == 0
    assert len(mailoutbox) == 1
    claim.refresh_from_db()
    assert claim.sent_at is not None


@override_settings(APPOINTMENT_REMINDER_OFFSETS=(120,))
def test_beat_leaves_a_fresh_unsent_claim_to_its_worker(soon, mailoutbox):
    ReminderClaim.objects.create(
        appointment=soon, offset_minutes=120, claimed_at=timezone.now() - timedelta(minutes=5)
    )
    assert selectors.reminders_due() == []
    assert tasks.send_due_reminders() == 0
    assert mailoutbox == []
    # Still unsent once the takeover window has passed: then beat sends it, once.
    with later(15):
        assert tasks.send_due_reminders() == 1
        assert tasks.send_due_reminders() == 0
    assert len(mailoutbox) == 1


@override_settings(APPOINTMENT_REMINDER_OFFSETS=(120,))
def test_a_skipped_reminder_is_never_taken_over(soon, mailoutbox):
    """A skipped claim is final, however old: neither beat nor a task sends it."""
    long_ago = timezone.now() - timedelta(hours=2)
    ReminderClaim.objects.create(
        appointment=soon, offset_minutes=120, claimed_at=long_ago, skipped_at=long_ago
    )
    assert selectors.reminders_due() == []
    assert reminders.reminder_send(appointment_id=soon.pk, offset_minutes=120) is False
    assert mailoutbox == []

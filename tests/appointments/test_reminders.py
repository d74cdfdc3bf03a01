"""Reminders go out once per (appointment, offset), however often beat or retries run."""

from datetime import timedelta
from unittest import mock

import pytest
from django.test import override_settings
from django.utils import timezone

from appointments import services, tasks
from appointments.models import ReminderClaim
from tests.appointments.factories import AppointmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def soon(clinic):
    return AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.patient,
        start=(timezone.now() + timedelta(minutes=90)).replace(second=0, microsecond=0),
    )


def test_due_job_twice_and_a_retry_send_one_email_per_offset(soon, mailoutbox):
    assert tasks.send_due_reminders() == 2  # both the 24 h and the 2 h reminder are due
    assert tasks.send_due_reminders() == 0
    # A duplicate delivery / retry of the same task sends nothing.
    assert tasks.send_reminder(appointment_id=soon.pk, offset_minutes=120) is False
    assert tasks.send_reminder(appointment_id=soon.pk, offset_minutes=1440) is False
    assert len(mailoutbox) == 2
    assert all("Reminder" in m.subject and m.attachments for m in mailoutbox)
    assert ReminderClaim.objects.filter(appointment=soon, sent_at__isnull=False).count() == 2


@override_settings(APPOINTMENT_REMINDER_OFFSETS=(120,))
def test_failed_send_releases_the_claim_so_the_retry_sends_once(soon, mailoutbox):
    with (
        mock.patch(
            "appointments.emails.send_templated_email", side_effect=ConnectionError("SES down")
        ),
        pytest.raises(ConnectionError),
    ):
        services.reminder_send(appointment_id=soon.pk, offset_minutes=120)
    assert not ReminderClaim.objects.exists()
    assert services.reminder_send(appointment_id=soon.pk, offset_minutes=120) is True
    assert services.reminder_send(appointment_id=soon.pk, offset_minutes=120) is False
    assert len(mailoutbox) == 1


@override_settings(APPOINTMENT_REMINDER_OFFSETS=(120,))
def test_claim_of_a_worker_that_died_is_taken_over_only_when_stale(soon, mailoutbox):
    claim = ReminderClaim.objects.create(
        appointment=soon, offset_minutes=120
    )  # died before sending
    assert services.reminder_send(appointment_id=soon.pk, offset_minutes=120) is False
    claim.claimed_at = timezone.now() - timedelta(hours=1)
    claim.save()
    assert services.reminder_send(appointment_id=soon.pk, offset_minutes=120) is True
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

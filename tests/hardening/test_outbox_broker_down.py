"""Broker down: booking, dispensing and approving a certificate still answer 2xx; when the
broker is back every email goes out exactly once (issue #11, "no 500 after a commit")."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts import outbox
from accounts.models import OutboxMessage
from appointments.models import Appointment
from inventory.models import StockMovement
from tests.appointments.test_views import slot_value
from tests.conftest import login
from tests.inventory.factories import ItemFactory, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down():
    from uscpis.celery import app

    def drop_pools():
        app._pool = None
        app.amqp._producer_pool = None

    previous = app.conf.broker_url, app.conf.task_always_eager
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nobody listens there
    app.conf.task_always_eager = False
    drop_pools()

    def back():
        app.conf.broker_url, app.conf.task_always_eager = previous
        drop_pools()

    yield back
    back()


def test_broker_down_then_back(
    client,
    clinic,
    patient_user,
    nurse_user,
    doctor_user,
    broker_down,
    django_capture_on_commit_callbacks,
):
    patient_user.email_notifications = True
    patient_user.save()
    item = ItemFactory(name="Paracetamol", strength="500 mg", form="Tablet", reorder_point=0)
    receive(item, quantity=50)
    portal = login(client.__class__(), patient_user)
    portal.post(reverse("patients:portal_certificates"), {"purpose": "PE class"})
    cert = clinic.patient.certificates.get()

    with django_capture_on_commit_callbacks(execute=True):
        booked = portal.post(
            f"/appointments/book/?type={clinic.consult.pk}",
            {"type": clinic.consult.pk, "slot": slot_value(clinic, "08:40"), "reason": "Cough"},
        )
    assert booked.status_code == 302
    nurse = login(client.__class__(), nurse_user)
    with django_capture_on_commit_callbacks(execute=True):
        dispensed = nurse.post(
            reverse("inventory:dispense"),
            {
                "item": item.pk,
                "quantity": "2",
                "recipient": "patient",
                "patient_id_number": clinic.patient.id_number,
            },
        )
    assert dispensed.status_code == 302
    doctor = login(client.__class__(), doctor_user)
    today = timezone.localdate()
    with django_capture_on_commit_callbacks(execute=True):
        approved = doctor.post(
            reverse("patients:certificate_decide", args=[cert.pk]),
            {
                "decision": "approve",
                "fitness": "fit",
                "findings": "Normal exam",
                "valid_from": today.isoformat(),
                "valid_until": (today + timedelta(days=30)).isoformat(),
            },
        )
    assert approved.status_code == 302

    assert Appointment.objects.filter(patient=clinic.patient).count() == 1
    assert StockMovement.objects.filter(item=item, quantity=Decimal("-2")).exists()
    waiting = OutboxMessage.objects.filter(sent_at__isnull=True)
    assert waiting.count() >= 2  # the booking confirmation and the certificate notification
    assert mail.outbox == []

    broker_down()  # the broker is back
    OutboxMessage.objects.update(available_at=timezone.now())
    outbox.relay()
    outbox.relay()  # a second beat run sends nothing again
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()
    subjects = sorted(m.subject for m in mail.outbox)
    assert len(subjects) == len(set(subjects)), subjects  # nothing twice
    assert any("approved" in s.lower() for s in subjects), subjects
    assert any("confirm" in s.lower() or "booked" in s.lower() for s in subjects), subjects
    # redelivering every message (a relay that died after publishing) sends nothing more
    count = len(mail.outbox)
    for message in OutboxMessage.objects.all():
        outbox._publish(message)
    assert len(mail.outbox) == count


def test_beat_fan_out_with_the_broker_down_waits_and_sends_each_once(
    clinic, broker_down, django_capture_on_commit_callbacks, mailoutbox
):
    """The reminder beat job queues through the outbox (it used to ``.delay()`` each
    reminder, which raised with the broker down and lost them): the job succeeds, the
    reminder waits, a second beat run during the outage adds nothing, and when the broker
    is back the relay hands it over once and it is sent once."""
    from appointments import tasks
    from tests.appointments.factories import AppointmentFactory

    start = (timezone.now() + timedelta(minutes=90)).replace(second=0, microsecond=0)
    appointment = AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.patient,
        start=start,
        created_at=start - timedelta(days=3),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.send_due_reminders() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.send_due_reminders() == 0  # still waiting: not queued twice
    waiting = OutboxMessage.objects.get(task="appointments.tasks.send_reminder")
    assert waiting.sent_at is None and waiting.last_error
    assert waiting.kwargs == {"appointment_id": appointment.pk, "offset_minutes": 120}
    assert mailoutbox == []

    broker_down()  # the broker is back
    OutboxMessage.objects.update(available_at=timezone.now())
    assert outbox.relay() == 1
    assert outbox.relay() == 0
    assert len(mailoutbox) == 1 and "Reminder" in mailoutbox[0].subject
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.send_due_reminders() == 0  # sent: nothing more to queue
    assert len(mailoutbox) == 1


def test_monthly_statements_with_the_broker_down_wait_and_go_out_once(
    billing_user, broker_down, django_capture_on_commit_callbacks, mailoutbox
):
    from billing import tasks
    from billing.catalogue import catalogue_ensure
    from tests.billing.conftest import issued_invoice
    from tests.patients.factories import PatientFactory

    catalogue_ensure()
    student = PatientFactory(patient_type="student")
    issued_invoice(student, billing_user)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.send_monthly_statements() == 1
    assert OutboxMessage.objects.filter(
        task="billing.tasks.send_statement", sent_at__isnull=True
    ).exists()
    assert mailoutbox == []
    broker_down()
    OutboxMessage.objects.update(available_at=timezone.now())
    assert outbox.relay() == 1 and outbox.relay() == 0
    assert len(mailoutbox) == 1 and "Statement of account" in mailoutbox[0].subject

"""The transactional outbox: work recorded with the change, relayed with retries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from accounts import outbox
from accounts.models import OutboxMessage
from accounts.services import notify as notification_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down():
    from uscpis.celery import app

    def drop_pools():
        app._pool = None
        app.amqp._producer_pool = None

    previous = app.conf.broker_url, app.conf.task_always_eager
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    app.conf.task_always_eager = False
    drop_pools()

    def back():
        app.conf.broker_url, app.conf.task_always_eager = previous
        drop_pools()

    yield back
    back()


def test_rolled_back_change_leaves_no_work(patient_user):
    with pytest.raises(RuntimeError), transaction.atomic():
        notification_create(user=patient_user, title="x")
        raise RuntimeError
    assert not OutboxMessage.objects.exists()


def test_broker_down_the_change_commits_and_the_work_waits(
    patient_user, broker_down, django_capture_on_commit_callbacks
):
    patient_user.email_notifications = True
    patient_user.save()
    with django_capture_on_commit_callbacks(execute=True):
        notification_create(user=patient_user, title="Your results are ready")  # no exception
    message = OutboxMessage.objects.get()
    assert message.sent_at is None and message.attempts == 1 and message.last_error
    assert message.available_at > timezone.now()
    assert mail.outbox == []
    # The beat relay waits for the backoff, then publishes once the broker is back.
    assert outbox.relay() == 0
    broker_down()
    OutboxMessage.objects.update(available_at=timezone.now() - timedelta(seconds=1))
    assert outbox.relay() == 1
    assert outbox.relay() == 0
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [patient_user.email]


def test_claim_is_true_once():
    message = OutboxMessage.objects.create(task="x.y", kwargs={})
    assert outbox.claim(message.pk) is True
    assert outbox.claim(message.pk) is False
    outbox.release(message.pk)
    assert outbox.claim(message.pk) is True
    assert outbox.claim(None) is True


def test_invitation_sent_exactly_once_even_if_delivered_twice(
    admin_user, django_capture_on_commit_callbacks
):
    from accounts.services import invitation_email_send, invitation_send

    with django_capture_on_commit_callbacks(execute=True):
        invitation_send(user=admin_user, actor=admin_user)
    message = OutboxMessage.objects.get(task="accounts.tasks.send_invitation_email")
    assert len(mail.outbox) == 1
    assert invitation_email_send(**message.kwargs) is False  # a second delivery sends nothing
    assert len(mail.outbox) == 1


def test_sent_messages_are_purged_after_a_week():
    old = OutboxMessage.objects.create(task="a", sent_at=timezone.now() - timedelta(days=8))
    new = OutboxMessage.objects.create(task="b", sent_at=timezone.now())
    waiting = OutboxMessage.objects.create(task="c")
    assert outbox.purge_sent() == 1
    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {new.pk, waiting.pk}
    assert old.pk not in OutboxMessage.objects.values_list("pk", flat=True)

"""notify(): in-app notification, bell, mark as read, and exactly-once email."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Notification
from accounts.services import notification_email_send, notify
from accounts.tasks import send_notification_email

pytestmark = pytest.mark.django_db


def test_notify_creates_in_app_and_emails_after_commit(
    nurse_user, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        n = notify(
            user=nurse_user, title="Low stock: Paracetamol", body="12 left", url="/inventory/"
        )
    assert len(callbacks) == 1
    assert len(mailoutbox) == 1 and "Low stock: Paracetamol" in mailoutbox[0].subject
    assert "12 left" in mailoutbox[0].body
    n.refresh_from_db()
    assert n.emailed_at is not None and n.read_at is None


def test_no_email_when_user_opted_out(nurse_user, mailoutbox, django_capture_on_commit_callbacks):
    nurse_user.email_notifications = False
    nurse_user.save()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        notify(user=nurse_user, title="Hello")
    assert callbacks == [] and mailoutbox == []
    assert Notification.objects.filter(user=nurse_user).count() == 1


def test_email_is_sent_once_even_if_the_task_runs_twice(
    nurse_user, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        n = notify(user=nurse_user, title="Once")
    send_notification_email.delay(notification_id=n.pk)
    send_notification_email.delay(notification_id=n.pk)  # duplicate delivery / second beat
    assert len(mailoutbox) == 1


def test_failed_send_releases_the_claim_for_a_retry(
    nurse_user, mailoutbox, monkeypatch, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        n = notify(user=nurse_user, title="Retry me")

    def boom(*args, **kwargs):
        raise ConnectionError("SES unreachable")

    monkeypatch.setattr("accounts.services.send_templated_email", boom)
    with pytest.raises(ConnectionError):
        notification_email_send(notification_id=n.pk)
    n.refresh_from_db()
    assert n.emailed_at is None
    monkeypatch.undo()
    assert notification_email_send(notification_id=n.pk) is True
    assert notification_email_send(notification_id=n.pk) is False
    assert len(mailoutbox) == 1


def test_bell_counts_unread_and_mark_read_via_htmx(client_for, nurse_user, other_patient_user):
    for i in range(3):
        notify(user=nurse_user, title=f"N{i}", email=False)
    mine = Notification.objects.filter(user=nurse_user).first()
    theirs = notify(user=other_patient_user, title="Not yours", email=False)
    client = client_for(nurse_user)
    bell = client.get(
        reverse("accounts:notification_bell"), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert '<span class="count" id="unread-count">3</span>' in bell
    response = client.post(
        reverse("accounts:notification_read", args=[mine.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and response["HX-Trigger"] == "notifications-changed"
    assert response.content.decode().lstrip().startswith('<div id="notification-list"')
    # Someone else's notification is untouched.
    client.post(reverse("accounts:notification_read", args=[theirs.pk]))
    theirs.refresh_from_db()
    assert theirs.read_at is None
    client.post(reverse("accounts:notification_read_all"))
    assert not Notification.objects.filter(user=nurse_user, read_at__isnull=True).exists()
    assert "count" not in client.get(reverse("accounts:notification_bell")).content.decode()


def test_notification_text_is_escaped(client_for, nurse_user):
    notify(
        user=nurse_user,
        title="<script>alert(1)</script>",
        body="<img src=x onerror=alert(1)>",
        email=False,
    )
    body = client_for(nurse_user).get(reverse("accounts:notifications")).content.decode()
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;" in body
    assert "<img src=x" not in body


def test_notification_list_paginates_with_constant_queries(
    client_for, nurse_user, django_assert_max_num_queries
):
    for i in range(45):
        notify(user=nurse_user, title=f"N{i}", email=False)
    client = client_for(nurse_user)
    with django_assert_max_num_queries(10):
        page = client.get(reverse("accounts:notifications"))
    assert page.content.decode().count('class="notification') == 20

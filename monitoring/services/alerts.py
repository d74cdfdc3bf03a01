"""Alerts to administrators (email and in-app), failed-task records and the test email."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from accounts.audit import audit_record
from accounts.models import AuditAction, User
from accounts.roles import Role
from accounts.services import notify
from monitoring.models import (
    TaskFailure,
)
from uscpis import mail

logger = logging.getLogger(__name__)


def admin_emails() -> list[str]:

    emails = set(settings.ADMINS_EMAILS)
    emails.update(
        User.objects.filter(role=Role.ADMIN, is_active=True).values_list("email", flat=True)
    )
    return sorted(emails)


def alert_recipients() -> list[str]:
    """Where monitoring alerts are emailed: active admins who take email notifications, and
    the ``ADMIN_EMAILS`` addresses."""

    emails = set(settings.ADMINS_EMAILS)
    emails.update(
        User.objects.filter(role=Role.ADMIN, is_active=True, email_notifications=True).values_list(
            "email", flat=True
        )
    )
    return sorted(e for e in emails if e)


def admin_alert_email_send(*, title: str, body: str, url: str = "") -> int:
    """Email an alert to ``alert_recipients()`` now, through the email backend itself.

    Never through the task broker: an alert is often about the broker or the workers being
    down. Returns the number of messages handed to the backend; raises what it raises.
    """

    to = alert_recipients()
    if not to:
        return 0
    return mail.send_templated_email(
        to=to,
        subject=title,
        template="monitoring_alert",
        context={"title": title, "body": body, "url": url},
    )


def _notify_admins_in_app(*, title: str, body: str, url: str, category: str) -> None:

    for admin in User.objects.filter(role=Role.ADMIN, is_active=True):
        notify(user=admin, title=title, body=body, url=url, category=category, email=False)


def alert_admins(*, title: str, body: str, url: str = "", category: str = "monitoring") -> None:
    """In-app notification to every active admin, and one email to ``alert_recipients()``
    sent by this process once the surrounding transaction commits (see
    ``admin_alert_email_send``). A failing email backend is logged, never raised: the
    alert's cause (a failed backup, say) is what the caller reports."""
    _notify_admins_in_app(title=title, body=body, url=url, category=category)

    def send() -> None:
        try:
            admin_alert_email_send(title=title, body=body, url=url)
        except Exception:
            logger.exception("Could not email the alert %r", title)

    transaction.on_commit(send, robust=True)


def task_failure_record(
    *, task_name: str, task_id: str, exception: str, traceback: str
) -> TaskFailure:
    return TaskFailure.objects.create(
        task_name=task_name[:200],
        task_id=(task_id or "")[:64],
        exception=exception[:4000],
        traceback=traceback[-8000:],
    )


def integration_test_email_send(*, actor: User | None) -> None:
    """Send a test email to ``actor`` through the configured backend now (errors raise)."""

    mail.send_templated_email(
        to=[actor.email],
        subject="Test email from the monitor page",
        template="monitoring_test",
        context={"user": actor},
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        object_type="monitoring.test_email",
        detail={"to": actor.email},
    )

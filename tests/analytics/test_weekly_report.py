"""The weekly report goes to the administrators once per week, with the PDF attached."""

from __future__ import annotations

from datetime import date
from unittest import mock

import pytest
from django.core import mail

from accounts.roles import Role
from analytics.models import WeeklyReportClaim
from analytics.services.reports import last_week, weekly_report_send
from analytics.tasks import send_weekly_report

pytestmark = pytest.mark.django_db
MONDAY = date(2026, 12, 7)


def test_last_week_is_monday_to_sunday():
    assert last_week(MONDAY) == (date(2026, 11, 30), date(2026, 12, 6))
    assert last_week(date(2026, 12, 9)) == (date(2026, 11, 30), date(2026, 12, 6))


def test_sent_once_to_administrators_with_the_pdf(make_user):
    admins = [make_user(Role.ADMIN), make_user(Role.ADMIN)]
    make_user(Role.DOCTOR)
    make_user(Role.ADMIN, is_active=False)
    assert weekly_report_send(today=MONDAY) is True
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert sorted(message.to) == sorted(a.email for a in admins)
    assert "Weekly clinic report" in message.subject
    ((name, content, mimetype),) = message.attachments
    assert name == "weekly-report-20261130.pdf" and mimetype == "application/pdf"
    assert content.startswith(b"%PDF")
    # A second beat the same week (or the task) sends nothing.
    assert weekly_report_send(today=MONDAY) is False
    assert send_weekly_report.apply().get() is not None
    assert len([m for m in mail.outbox if "Weekly clinic report 30 Nov" in m.subject]) == 1
    claim = WeeklyReportClaim.objects.get(week_start=date(2026, 11, 30))
    assert claim.sent_at is not None and claim.recipients == 2


def test_a_failed_send_releases_the_claim(make_user):
    make_user(Role.ADMIN)
    with (
        mock.patch("uscpis.mail.EmailMultiAlternatives.send", side_effect=OSError("smtp down")),
        pytest.raises(OSError),
    ):
        weekly_report_send(today=MONDAY)
    assert not WeeklyReportClaim.objects.exists()
    assert weekly_report_send(today=MONDAY) is True
    assert len(mail.outbox) == 1

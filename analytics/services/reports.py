"""The weekly report: a PDF of last week's figures emailed to the administrators on Monday
morning, once per week.

The week is claimed first (a ``WeeklyReportClaim`` row; its unique ``week_start`` makes a
second beat, a retry or a concurrent worker find the claim and send nothing). If sending
fails, the claim is released and the error re-raised so the task retries.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from analytics.models import AberrationSignal, WeeklyReportClaim
from analytics.pdf import dashboard_pdf
from analytics.selectors import dashboards
from analytics.selectors.common import Filters
from analytics.selectors.diagnoses import diagnoses_charts
from analytics.selectors.surveillance import weekly_report


def last_week(today: date) -> tuple[date, date]:
    """Monday–Sunday of the week before ``today``'s."""
    monday = today - timedelta(days=today.weekday())
    return monday - timedelta(days=7), monday - timedelta(days=1)


def weekly_report_pdf(week_start: date, week_end: date) -> tuple[bytes, list, list]:

    f = Filters(week_start, week_end)
    kpis = [k for k in dashboards.overview(f) if k.label not in ("Visits today", "Waiting now")]
    charts = dashboards.visits_charts(Filters(week_start - timedelta(days=77), week_end))[:1]
    charts += diagnoses_charts(f, None)[:1]
    signals = list(
        AberrationSignal.objects.filter(last_on__gte=week_start - timedelta(days=7)).select_related(
            "group"
        )
    )
    report = weekly_report(week_end, weeks=4)
    notes = [
        f"Outbreak signal: {s.group.name} from {s.started_on:%d %b} ({s.observed} cases)"
        for s in signals
    ]
    notes += [
        f"{r['group'].name}: "
        + ", ".join(
            f"MW{w['number'][1]} {v}" for w, v in zip(report["weeks"], r["values"], strict=True)
        )
        for r in report["rows"]
    ]
    pdf = dashboard_pdf(
        title=f"Weekly report {week_start:%d %b}–{week_end:%d %b %Y}",
        subtitle="Visits, no-shows, utilisation, certificates, stock, diagnoses and surveillance",
        kpis=kpis,
        charts=charts,
        notes=notes,
    )
    return pdf, kpis, signals


def weekly_report_send(*, today: date | None = None) -> bool:
    """Send last week's report to every active administrator; False if already sent."""
    # looked up when called, so a substitute (tests, tooling) is honoured
    from uscpis.mail import send_templated_email

    today = today or timezone.localdate()
    week_start, week_end = last_week(today)
    try:
        with transaction.atomic():
            claim = WeeklyReportClaim.objects.create(week_start=week_start)
    except IntegrityError:
        return False
    try:
        recipients = list(
            User.objects.filter(role=Role.ADMIN, is_active=True)
            .exclude(email="")
            .values_list("email", flat=True)
        )
        pdf, kpis, signals = weekly_report_pdf(week_start, week_end)
        if recipients:  # one message to every administrator: sent once, retried whole
            send_templated_email(
                to=recipients,
                subject=f"Weekly clinic report {week_start:%d %b}–{week_end:%d %b %Y}",
                template="analytics_weekly",
                context={
                    "week_start": week_start,
                    "week_end": week_end,
                    "kpis": kpis,
                    "signals": signals,
                    "url": reverse("analytics:overview"),
                },
                attachments=[(f"weekly-report-{week_start:%Y%m%d}.pdf", pdf, "application/pdf")],
            )
    except Exception:
        claim.delete()
        raise
    WeeklyReportClaim.objects.filter(pk=claim.pk).update(
        sent_at=timezone.now(), recipients=len(recipients)
    )
    return True

"""Incidents: opening and resolving them from health-check findings, and their emails."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from monitoring.backups.prune import backups_reap_stale
from monitoring.models import (
    Incident,
    IncidentKind,
)
from monitoring.services.alerts import (
    _notify_admins_in_app,
    admin_alert_email_send,
    alert_recipients,
)
from uscpis import mail

logger = logging.getLogger(__name__)


def incident_open(*, kind: str, detail: str) -> tuple[Incident, bool]:
    """Open an incident of ``kind`` unless one is open; returns it and whether it is new.

    A new incident notifies the admins in the app. The email goes out after commit, sent
    by this process (``incident_alert_send``), and is tried again on every later check
    until the email backend has taken it: ``alerted_at`` is only set then.
    """
    with transaction.atomic():
        incident, created = Incident.objects.get_or_create(
            kind=kind, resolved_at__isnull=True, defaults={"detail": detail[:2000]}
        )
        if created:
            _notify_admins_in_app(
                title=f"Problem: {incident.get_kind_display()}",
                body=detail[:1000],
                url=reverse("monitoring:monitor"),
                category="incident",
            )
    if incident.alerted_at is None:
        transaction.on_commit(
            lambda: _logged(incident_alert_send, incident_id=incident.pk), robust=True
        )
    return incident, created


def incident_resolve(*, kind: str) -> Incident | None:
    """Close the open incident of ``kind`` (if any); the recovery email goes out after
    commit (``incident_recovery_send``) and is retried by later checks until sent."""
    with transaction.atomic():
        incident = (
            Incident.objects.select_for_update().filter(kind=kind, resolved_at__isnull=True).first()
        )
        if incident is None:
            return None
        incident.resolved_at = timezone.now()
        incident.save(update_fields=["resolved_at"])
        _notify_admins_in_app(
            title=f"Recovered: {incident.get_kind_display()}",
            body=_recovery_text(incident),
            url=reverse("monitoring:monitor"),
            category="incident",
        )
    transaction.on_commit(
        lambda: _logged(incident_recovery_send, incident_id=incident.pk), robust=True
    )
    return incident


def _recovery_text(incident: Incident) -> str:
    lasted = (incident.resolved_at or timezone.now()) - incident.opened_at
    return f"Back to normal after {int(lasted.total_seconds() // 60)} minutes."


def _logged(send: Callable[..., bool], **kwargs) -> None:
    try:
        send(**kwargs)
    except Exception:
        logger.exception("Could not email the admins (%s %s)", send.__name__, kwargs)


def incident_alert_send(*, incident_id: int) -> bool:
    """Email the admins that the open incident began; True when sent now.

    The incident row stays locked while the email is handed to the backend and
    ``alerted_at`` is set only after the backend took it, so a failing backend leaves it
    for the next check (the error is raised) and two checks at once send one email.
    """
    with transaction.atomic():
        incident = (
            Incident.objects.select_for_update()
            .filter(pk=incident_id, resolved_at__isnull=True, alerted_at__isnull=True)
            .first()
        )
        if incident is None:
            return False
        admin_alert_email_send(
            title=f"Problem: {incident.get_kind_display()}",
            body=incident.detail[:1000],
            url=reverse("monitoring:monitor"),
        )
        incident.alerted_at = timezone.now()
        incident.save(update_fields=["alerted_at"])
    return True


def incident_recovery_send(*, incident_id: int) -> bool:
    """Email the admins that a resolved incident is over; same guarantees as
    ``incident_alert_send`` (``recovery_sent_at`` set only once the backend took it)."""
    with transaction.atomic():
        incident = (
            Incident.objects.select_for_update()
            .filter(pk=incident_id, resolved_at__isnull=False, recovery_sent_at__isnull=True)
            .first()
        )
        if incident is None:
            return False
        admin_alert_email_send(
            title=f"Recovered: {incident.get_kind_display()}",
            body=_recovery_text(incident),
            url=reverse("monitoring:monitor"),
        )
        incident.recovery_sent_at = timezone.now()
        incident.save(update_fields=["recovery_sent_at"])
    return True


RECOVERY_RETRY_WINDOW = timedelta(days=1)


def _retry_recovery_emails() -> None:
    """Recovery emails the backend refused earlier (within a day of the recovery)."""
    pending = Incident.objects.filter(
        resolved_at__gte=timezone.now() - RECOVERY_RETRY_WINDOW, recovery_sent_at__isnull=True
    ).values_list("pk", flat=True)
    for pk in pending:
        _logged(incident_recovery_send, incident_id=pk)


def incidents_evaluate(findings: dict[str, str | None]) -> dict[str, str]:
    """Apply findings (kind → problem text, or None when fine) to the incidents.

    Each kind is handled on its own: one that fails (logged, reported as "error: ...")
    does not keep the others from being opened, resolved or emailed.
    """
    outcome = {}
    for kind, problem in findings.items():
        if kind not in IncidentKind.values:
            continue
        try:
            if problem:
                incident, created = incident_open(kind=kind, detail=problem)
                outcome[kind] = "opened" if created else "still open"
                if not Incident.objects.filter(pk=incident.pk, alerted_at__isnull=False).exists():
                    outcome[kind] += "; email not sent yet"
            elif incident_resolve(kind=kind):
                outcome[kind] = "resolved"
        except Exception as exc:
            logger.exception("Health check: could not act on %s", kind)
            outcome[kind] = f"error: {exc.__class__.__name__}: {exc}"[:300]
    return outcome


DB_DOWN_KEY = "monitoring:database-down-since"


ADMIN_EMAILS_KEY = "monitoring:admin-emails"


def health_check_run(findings: dict[str, str | None]) -> dict[str, str]:
    """Act on health findings. A database outage cannot be recorded in the database, so it
    is tracked in the cache (one email to the admins' last known addresses) and written as
    an incident once the database answers again.

    Needs neither the broker nor a worker: every email is sent by this process. Also fails
    backup and verification rows left behind by a lost job (``backups_reap_stale``).
    """

    problem = findings.get("database")
    if problem:
        if cache.add(DB_DOWN_KEY, timezone.now().isoformat(), None):
            to = sorted(set(cache.get(ADMIN_EMAILS_KEY) or []) | set(settings.ADMINS_EMAILS))
            if to:
                mail.send_templated_email(
                    to=to,
                    subject="Problem: Database unreachable",
                    template="monitoring_alert",
                    context={"title": "Database unreachable", "body": problem, "url": ""},
                )
        return {"database": "down"}
    outcome = {}
    since = cache.get(DB_DOWN_KEY)
    if since:
        opened = parse_datetime(since) or timezone.now()
        incident = Incident.objects.create(
            kind=IncidentKind.DATABASE,
            detail="Database was unreachable",
            opened_at=opened,
            alerted_at=opened,
            resolved_at=timezone.now(),
        )
        _notify_admins_in_app(
            title="Recovered: Database unreachable",
            body=f"The database answers again (down since {opened:%Y-%m-%d %H:%M} UTC).",
            url=reverse("monitoring:monitor"),
            category="incident",
        )
        transaction.on_commit(
            lambda: _logged(incident_recovery_send, incident_id=incident.pk), robust=True
        )
        cache.delete(DB_DOWN_KEY)
        outcome["database"] = "resolved"
    try:
        cache.set(ADMIN_EMAILS_KEY, alert_recipients(), None)
    except Exception:
        logger.exception("Health check: could not remember the admins' addresses")
    _retry_recovery_emails()
    outcome.update(incidents_evaluate({k: v for k, v in findings.items() if k != "database"}))
    try:
        reaped = backups_reap_stale()
    except Exception as exc:
        logger.exception("Health check: could not look for stale backups")
        outcome["stale_backups"] = f"error: {exc.__class__.__name__}: {exc}"[:300]
    else:
        if reaped:
            outcome["stale_backups"] = f"{len(reaped)} marked failed: " + ", ".join(
                f"#{pk}" for pk in reaped
            )
    return outcome

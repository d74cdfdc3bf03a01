"""Monitoring's cards on the home dashboard (admins): backup age and open incidents."""

from django.urls import reverse
from django.utils import timezone

from accounts.roles import user_has_perm
from monitoring.models import Incident
from monitoring.selectors import BACKUP_MAX_AGE, age_text, last_good_backup
from uscpis.registry import Card


def cards(user) -> list[Card]:
    if not user_has_perm(user, "monitoring.view"):
        return []

    url = reverse("monitoring:monitor")
    last = last_good_backup()
    stale = last is None or timezone.now() - last.finished_at > BACKUP_MAX_AGE
    open_count = Incident.objects.filter(resolved_at__isnull=True).count()
    return [
        Card(
            "Last good backup",
            age_text(last.finished_at if last else None),
            detail="older than 26 hours"
            if stale and last
            else ("none yet" if not last else "database backup"),
            url=url,
            tone="bad" if stale else "good",
        ),
        Card(
            "Open incidents",
            open_count,
            detail="database, broker, worker, backups, disk",
            url=url,
            tone="bad" if open_count else "good",
        ),
    ]

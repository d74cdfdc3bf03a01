"""Analytics' card on the home dashboard: recent outbreak signals (one cheap query)."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from accounts.roles import user_has_perm
from analytics.models import AberrationSignal
from uscpis.registry import Card, clinic_figure


def cards(user) -> list[Card]:
    if not user_has_perm(user, "analytics.view"):
        return []

    since = timezone.localdate() - timedelta(days=14)
    recent = clinic_figure(  # the group names only (shared by every analytics user's home)
        f"analytics.recent_signals:{since.isoformat()}",
        lambda: [
            s.group.name
            for s in AberrationSignal.objects.filter(last_on__gte=since)
            .select_related("group")
            .order_by("-last_on")[:3]
        ],
    )
    if recent:
        names = ", ".join(recent)
        return [
            Card(
                "Outbreak signals",
                len(recent),
                detail=f"last 2 weeks: {names}",
                url=reverse("analytics:surveillance"),
                tone="bad",
            )
        ]
    return [
        Card(
            "Outbreak signals",
            0,
            detail="none in the last 2 weeks",
            url=reverse("analytics:surveillance"),
            tone="good",
        )
    ]

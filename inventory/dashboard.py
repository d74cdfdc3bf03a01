"""Inventory's tiles on the home dashboard: low stock and expiring lots (two cheap counts)."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from accounts.roles import user_has_perm
from inventory.models import AlertEpisode, AlertKind, LotStatus, StockLot
from uscpis.registry import Card


def cards(user) -> list[Card]:
    if not user_has_perm(user, "inventory.view_stock"):
        return []
    today = timezone.localdate()
    # Low stock comes from open alert episodes (kept current by the beat job): one count.
    low = AlertEpisode.objects.filter(kind=AlertKind.LOW_STOCK, closed_at__isnull=True).count()
    expiring = StockLot.objects.filter(
        status=LotStatus.AVAILABLE,
        quantity__gt=0,
        expiry_date__gte=today,
        expiry_date__lte=today + timedelta(days=30),
    ).count()
    return [
        Card(
            "Low stock",
            low,
            detail="items at or below reorder point",
            url=reverse("inventory:low_stock"),
            tone="bad" if low else "good",
        ),
        Card(
            "Expiring in 30 days",
            expiring,
            detail="lots to use first or return",
            url=reverse("inventory:expiry"),
            tone="warn" if expiring else "good",
        ),
    ]

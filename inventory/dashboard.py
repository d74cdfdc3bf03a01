"""Inventory's tiles on the home dashboard: low stock and expiring lots (two cheap counts)."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from accounts.roles import user_has_perm
from inventory import selectors
from inventory.models import LotStatus, StockLot
from uscpis.registry import Card, clinic_figure


def cards(user) -> list[Card]:
    if not user_has_perm(user, "inventory.view_stock"):
        return []
    today = timezone.localdate()
    # Counted live, like the low-stock page (not from the alert episodes the morning job
    # opens, which say 0 until it has run): one aggregate query.
    low = clinic_figure(
        f"inventory.low_stock:{today.isoformat()}",
        lambda: selectors.low_stock_items(today).order_by().count(),
    )
    expiring = clinic_figure(
        f"inventory.expiring:{today.isoformat()}",
        lambda: StockLot.objects.filter(
            status=LotStatus.AVAILABLE,
            quantity__gt=0,
            expiry_date__gte=today,
            expiry_date__lte=today + timedelta(days=30),
        ).count(),
    )
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

"""Reads for inventory screens, alerts and the reorder job. Each does its own joins so a
page costs a fixed number of queries however many rows it shows."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db.models import (
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Greatest
from django.http import Http404
from django.utils import timezone

from inventory.models import (
    OPEN_PO_STATUSES,
    AlertEpisode,
    Item,
    LotStatus,
    MaintenanceSchedule,
    PurchaseOrder,
    PurchaseOrderLine,
    StockLot,
    StockMovement,
)

QTY_FIELD = DecimalField(max_digits=16, decimal_places=3)
MONEY_FIELD = DecimalField(max_digits=18, decimal_places=2)
ZERO = Value(Decimal("0"), output_field=QTY_FIELD)
EXPIRY_WINDOWS = (30, 60, 90)


def _sum_subquery(qs: QuerySet, expression) -> Coalesce:
    return Coalesce(
        Subquery(
            qs.values("item").annotate(total=Sum(expression)).values("total")[:1],
            output_field=QTY_FIELD,
        ),
        ZERO,
    )


def usable_lots(today: date | None = None) -> QuerySet:
    today = today or timezone.localdate()
    return StockLot.objects.filter(status=LotStatus.AVAILABLE).filter(
        Q(expiry_date__isnull=True) | Q(expiry_date__gte=today)
    )


def items_with_stock(today: date | None = None) -> QuerySet:
    """Items annotated with ``on_hand`` (all lots), ``usable`` (available, unexpired) and
    ``on_order`` (outstanding on sent / partially received orders)."""
    today = today or timezone.localdate()
    outstanding = Greatest(F("quantity_ordered") - F("quantity_received"), ZERO)
    return Item.objects.annotate(
        on_hand=_sum_subquery(StockLot.objects.filter(item=OuterRef("pk")), "quantity"),
        usable=_sum_subquery(usable_lots(today).filter(item=OuterRef("pk")), "quantity"),
        on_order=_sum_subquery(
            PurchaseOrderLine.objects.filter(
                item=OuterRef("pk"), order__status__in=OPEN_PO_STATUSES
            ),
            outstanding,
        ),
    )


def low_stock_items(today: date | None = None) -> QuerySet:
    """Active items whose usable stock plus what is on order is at or below the reorder point."""
    return (
        items_with_stock(today)
        .filter(is_active=True, reorder_point__gt=0)
        .filter(usable__lte=F("reorder_point") - F("on_order"))
        .order_by("name", "id")
    )


def stock_overview(
    *, q: str = "", kind: str = "", category=None, location=None, status: str = ""
) -> QuerySet:
    qs = items_with_stock().select_related("category", "preferred_vendor").filter(is_active=True)
    if q:
        qs = qs.filter(search_text__contains=q.lower().strip())
    if kind:
        qs = qs.filter(kind=kind)
    if category:
        qs = qs.filter(category=category)
    if location:
        qs = qs.filter(lots__location=location, lots__quantity__gt=0).distinct()
    if status == "low":
        qs = qs.filter(reorder_point__gt=0, usable__lte=F("reorder_point") - F("on_order"))
    elif status == "out":
        qs = qs.filter(usable__lte=0)
    elif status == "expiring":
        soon = timezone.localdate() + timedelta(days=90)
        qs = qs.filter(_expiring_exists(soon))
    return qs.order_by("name", "id")


def _expiring_exists(until: date) -> Exists:
    return Exists(
        StockLot.objects.filter(
            item=OuterRef("pk"),
            status=LotStatus.AVAILABLE,
            quantity__gt=0,
            expiry_date__gte=timezone.localdate(),
            expiry_date__lte=until,
        )
    )


def on_order_map(item_ids=None) -> dict[int, Decimal]:
    qs = PurchaseOrderLine.objects.filter(order__status__in=OPEN_PO_STATUSES)
    if item_ids is not None:
        qs = qs.filter(item_id__in=list(item_ids))
    outstanding = Greatest(F("quantity_ordered") - F("quantity_received"), ZERO)
    return {
        row["item_id"]: row["total"]
        for row in qs.values("item_id").annotate(total=Sum(outstanding))
    }


def get_item(pk: int) -> Item:
    try:
        return (
            items_with_stock()
            .select_related("category", "preferred_vendor", "default_location")
            .get(pk=pk)
        )
    except (Item.DoesNotExist, ValueError, TypeError):
        raise Http404("No such item") from None


def item_lots(item: Item) -> QuerySet:
    return (
        StockLot.objects.filter(item=item)
        .select_related("location")
        .order_by(F("expiry_date").asc(nulls_last=True), "id")
    )


def item_ledger(item: Item) -> QuerySet:
    return (
        StockMovement.objects.filter(item=item)
        .select_related("lot", "lot__location", "actor", "patient", "purchase_order_line__order")
        .order_by("-created_at", "-id")
    )


def ledger_all() -> QuerySet:
    return StockMovement.objects.select_related(
        "item", "lot", "lot__location", "actor", "patient"
    ).order_by("-created_at", "-id")


def expiry_value_at_risk(today: date | None = None) -> list[dict]:
    """Value (quantity x unit cost) of usable stock expiring within 30, 60 and 90 days,
    plus stock already expired (quarantined, still on the shelf)."""
    today = today or timezone.localdate()
    value = ExpressionWrapper(F("quantity") * F("unit_cost"), output_field=MONEY_FIELD)
    base = StockLot.objects.filter(quantity__gt=0)
    aggregates = {
        f"d{days}": Coalesce(
            Sum(
                value,
                filter=Q(
                    status=LotStatus.AVAILABLE,
                    expiry_date__gte=today,
                    expiry_date__lte=today + timedelta(days=days),
                ),
            ),
            Value(Decimal("0"), output_field=MONEY_FIELD),
        )
        for days in EXPIRY_WINDOWS
    }
    aggregates["expired"] = Coalesce(
        Sum(value, filter=Q(expiry_date__lt=today)), Value(Decimal("0"), output_field=MONEY_FIELD)
    )
    totals = base.aggregate(**aggregates)
    rows = [{"label": "Already expired", "days": 0, "value": totals["expired"], "tone": "bad"}]
    tones = {30: "bad", 60: "warn", 90: "alt"}
    rows += [
        {"label": f"Within {d} days", "days": d, "value": totals[f"d{d}"], "tone": tones[d]}
        for d in EXPIRY_WINDOWS
    ]
    return rows


def expiring_lots(*, days: int = 90, today: date | None = None) -> QuerySet:
    today = today or timezone.localdate()
    return (
        StockLot.objects.filter(quantity__gt=0, expiry_date__lte=today + timedelta(days=days))
        .select_related("item", "location")
        .annotate(
            value_at_risk=ExpressionWrapper(
                F("quantity") * F("unit_cost"), output_field=MONEY_FIELD
            )
        )
        .order_by("expiry_date", "id")
    )


def purchase_orders(*, status: str = "") -> QuerySet:
    qs = PurchaseOrder.objects.select_related("vendor", "created_by").annotate(
        total=Coalesce(
            Sum(
                ExpressionWrapper(
                    F("lines__quantity_ordered") * F("lines__unit_cost"), output_field=MONEY_FIELD
                )
            ),
            Value(Decimal("0"), output_field=MONEY_FIELD),
        )
    )
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def schedules_between(start: date, end: date) -> QuerySet:
    return (
        MaintenanceSchedule.objects.filter(
            is_active=True, next_due_on__gte=start, next_due_on__lte=end
        )
        .select_related("equipment", "equipment__location")
        .order_by("next_due_on", "id")
    )


def open_alert_counts() -> dict[str, int]:
    rows = AlertEpisode.objects.filter(closed_at__isnull=True).values_list("kind", flat=True)
    counts: dict[str, int] = {}
    for kind in rows:
        counts[kind] = counts.get(kind, 0) + 1
    return counts

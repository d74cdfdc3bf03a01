"""Reads for inventory screens, alerts and the reorder job. Each does its own joins so a
page costs a fixed number of queries however many rows it shows."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Greatest, Lower
from django.http import Http404
from django.utils import timezone

from inventory.models import (
    OPEN_PO_STATUSES,
    AlertEpisode,
    Category,
    Equipment,
    Item,
    Location,
    LotStatus,
    MaintenanceSchedule,
    MovementKind,
    PurchaseOrder,
    PurchaseOrderLine,
    StockLot,
    StockMovement,
    Stocktake,
    StocktakeLine,
    StocktakeStatus,
)
from patients.models import Patient, Prescription

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


# Matches the expression index inventory_item_headroom_idx.
HEADROOM = ExpressionWrapper(
    F("stock_available") + F("stock_on_order") - F("reorder_point"), output_field=QTY_FIELD
)


def items_with_stock(today: date | None = None) -> QuerySet:
    """Items annotated with ``on_hand`` (all lots), ``usable`` (available, unexpired) and
    ``on_order`` (outstanding on sent / partially received orders).

    ``on_hand`` and ``on_order`` are the totals stored on the item (kept by the services, see
    ``inventory.totals``). ``usable`` depends on today's date, so it stays a subquery, which
    PostgreSQL evaluates only for the rows a page returns, never for every item."""
    today = today or timezone.localdate()
    return Item.objects.alias(headroom=HEADROOM).annotate(
        on_hand=F("stock_on_hand"),
        usable=_sum_subquery(usable_lots(today).filter(item=OuterRef("pk")), "quantity"),
        on_order=F("stock_on_order"),
    )


def _items_with_expired_available_stock(today: date) -> list[int]:
    """Items still holding available (not yet quarantined) stock past its expiry: normally
    none, as the morning job quarantines them (partial index inventory_lot_usable_exp_idx).
    Their stored ``stock_available`` overstates usable stock, so filters check them exactly."""
    return list(
        StockLot.objects.filter(status=LotStatus.AVAILABLE, quantity__gt=0, expiry_date__lt=today)
        .order_by()
        .values_list("item_id", flat=True)
        .distinct()
    )


def _usable_at_most(stored: Q, exact: Q, today: date) -> Q:
    """A condition on usable stock without summing lots for every item: usable equals the
    stored ``stock_available`` unless the item holds expired available lots, and only those
    few items (a literal id list, so an index OR) get the exact per-item sum."""
    stale = _items_with_expired_available_stock(today)
    if not stale:
        return stored
    return (stored & ~Q(pk__in=stale)) | (Q(pk__in=stale) & exact)


def low_stock_q(today: date) -> Q:
    """Usable stock plus what is on order is at or below the reorder point (needs the
    ``items_with_stock`` annotations); one small query for the expired-lot check."""
    return Q(is_active=True, reorder_point__gt=0) & _usable_at_most(
        Q(headroom__lte=0),
        Q(usable__lte=F("reorder_point") - F("stock_on_order")),
        today,
    )


def low_stock_items(today: date | None = None) -> QuerySet:
    """Active items whose usable stock plus what is on order is at or below the reorder point."""
    today = today or timezone.localdate()
    return items_with_stock(today).filter(low_stock_q(today)).order_by("name", "id")


def stock_overview(
    *, q: str = "", kind: str = "", category=None, location=None, status: str = ""
) -> QuerySet:
    today = timezone.localdate()
    qs = (
        items_with_stock(today)
        .select_related("category", "preferred_vendor")
        .filter(is_active=True)
    )
    if q:
        qs = qs.filter(search_text__contains=q.lower().strip())
    if kind:
        qs = qs.filter(kind=kind)
    if category:
        qs = qs.filter(category=category)
    if location:
        qs = qs.filter(
            pk__in=StockLot.objects.filter(location=location, quantity__gt=0).values("item_id")
        )
    if status == "low":
        qs = qs.filter(low_stock_q(today))
    elif status == "out":
        qs = qs.filter(_usable_at_most(Q(stock_available__lte=0), Q(usable__lte=0), today))
    elif status == "expiring":
        qs = qs.filter(pk__in=_expiring_lots(today, today + timedelta(days=90)).values("item_id"))
    return qs.order_by("name", "id")


def _expiring_lots(today: date, until: date) -> QuerySet:
    return StockLot.objects.filter(
        status=LotStatus.AVAILABLE,
        quantity__gt=0,
        expiry_date__gte=today,
        expiry_date__lte=until,
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


def _count_subquery(qs: QuerySet, key: str):
    """A correlated COUNT(*) per outer row (no join fan-out between several counts)."""
    counted = qs.filter(**{key: OuterRef("pk")}).values(key).annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counted[:1]), 0)


def locations_with_counts() -> QuerySet:
    """Every location (retired ones last) with its number of lots holding stock and of
    equipment kept there."""
    return Location.objects.annotate(
        lots_with_stock=_count_subquery(StockLot.objects.filter(quantity__gt=0), "location"),
        equipment_count=_count_subquery(Equipment.objects.all(), "location"),
    ).order_by("-is_active", Lower("name"), "id")


def categories_with_counts() -> QuerySet:
    """Every category with its number of active items."""
    return Category.objects.annotate(
        item_count=_count_subquery(Item.objects.filter(is_active=True), "category")
    ).order_by(Lower("name"), "id")


def stocktake_sheet(stocktake: Stocktake) -> list[StocktakeLine]:
    """The count sheet's lines in shelf order, each with its lot and item loaded, so
    ``variance`` (counted minus the lot's quantity now) and ``moved_since_start`` cost no
    query. On a posted sheet each line also carries ``posted_change``: the stocktake movement
    the ledger holds for its lot (None when none was needed). Two queries at most."""
    lines = list(
        stocktake.lines.select_related("lot__item").order_by(
            "lot__item__name", "lot__expiry_date", "id"
        )
    )
    if stocktake.status == StocktakeStatus.POSTED:
        posted = dict(stocktake.movements.values_list("lot_id", "quantity"))
        for line in lines:
            line.posted_change = posted.get(line.lot_id)
    return lines


_COURSE = re.compile(r"(\d{1,3})\s*(days?|d|weeks?|wks?)\b")
_COURSE_UNITS = {"day": 1, "days": 1, "d": 1, "week": 7, "weeks": 7, "wk": 7, "wks": 7}


def course_days(*texts: str) -> int | None:
    """The course length in days from the first text that states one: ``"7 days"``,
    ``"2 weeks"``, ``"every 8 hours for 5 days"``; None when none does."""
    for text in texts:
        match = _COURSE.search((text or "").lower())
        if match:
            return int(match.group(1)) * _COURSE_UNITS[match.group(2)]
    return None


def item_for_prescription(drug_name: str, dose: str) -> Item | None:
    """The active stock item a prescription most likely means: its name (or generic name)
    contains the drug's, preferring the one whose strength is the prescribed dose."""
    drug = " ".join((drug_name or "").lower().split())
    if not drug:
        return None
    # Every word of the drug name, in any order: "Paracetamol 500 mg tablet" (an item's
    # display name, as the prescription form offers it) matches the item whose search text
    # is "paracetamol paracetamol med-00001 500 mg tablet".
    qs = Item.objects.filter(is_active=True).exclude(kind="equipment")
    for word in drug.split()[:8]:
        qs = qs.filter(search_text__contains=word)
    candidates = list(qs.order_by("name", "id")[:20])
    for item in candidates:  # the exact display name first
        if item.display_name.lower() == drug:
            return item
    dose = (dose or "").strip().lower()
    for item in candidates:
        if dose and item.strength and item.strength.lower() == dose:
            return item
    return candidates[0] if candidates else None


def dispense_initial_for_prescription(user, pk) -> tuple[object, dict] | tuple[None, dict]:
    """The prescription ``pk`` (if ``user`` may see its patient) and the dispense form's
    starting values from it: item, quantity, patient, visit, course length."""

    try:
        rx = (
            Prescription.objects.select_related("visit__patient")
            .filter(pk=int(pk), visit__patient__in=Patient.objects.visible_to(user))
            .first()
        )
    except (TypeError, ValueError):
        rx = None
    if rx is None:
        return None, {}
    item = item_for_prescription(rx.drug_name, rx.dose)
    initial = {
        "prescription": rx.pk,
        "visit": rx.visit_id,
        "patient_id_number": rx.visit.patient.id_number,
        "recipient": "patient",
        "quantity": rx.quantity,
        "course_days": course_days(rx.duration, rx.frequency),
    }
    if item is not None:
        initial["item"] = item.pk
    return rx, initial


def dispensable_lots(item: Item, *, location: Location | None = None, today: date | None = None):
    """Lots that may be dispensed, first-expiry-first-out (no expiry last)."""
    today = today or timezone.localdate()
    qs = StockLot.objects.filter(item=item, status=LotStatus.AVAILABLE, quantity__gt=0).filter(
        Q(expiry_date__isnull=True) | Q(expiry_date__gte=today)
    )
    if location is not None:
        qs = qs.filter(location=location)
    return qs.order_by(F("expiry_date").asc(nulls_last=True), "received_at", "id")


def dispensing_to_cancel(pk: int) -> StockMovement | None:
    """A dispensing to a patient (the only kind that can be cancelled), or ``None``."""
    return (
        StockMovement.objects.select_related("item", "lot", "lot__location", "patient")
        .filter(pk=pk, kind=MovementKind.DISPENSE, patient__isnull=False)
        .first()
    )


def cancelled_dispensings(movements) -> set[int]:
    """Which of ``movements`` (dispensings) were cancelled: one query for the whole page."""
    # cycle: inventory.services.dispensing imports this module (dispensable_lots)
    from inventory.services.dispensing import cancel_marker

    ids = [m.pk for m in movements if m.kind == MovementKind.DISPENSE and m.patient_id]
    if not ids:
        return set()
    match = Q()
    for pk in ids:
        match |= Q(note__startswith=cancel_marker(pk))
    notes = list(
        StockMovement.objects.filter(match, kind=MovementKind.ADJUST).values_list("note", flat=True)
    )
    return {pk for pk in ids for note in notes if note.startswith(cancel_marker(pk))}

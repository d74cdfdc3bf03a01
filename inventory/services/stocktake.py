"""Stocktakes: counting a location's lots and posting the differences as adjustments."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction, User
from inventory import totals
from inventory.models import (
    STOCKTAKE_REASONS,
    Location,
    MovementKind,
    StockLot,
    Stocktake,
    StocktakeLine,
    StocktakeStatus,
)
from inventory.quantities import clean_quantity
from inventory.services.stock import _move


@transaction.atomic
def stocktake_start(*, actor: User | None, location: Location) -> Stocktake:
    """A count sheet listing every lot with stock at ``location`` (one open sheet per place)."""
    try:
        with transaction.atomic():
            stocktake = Stocktake.objects.create(location=location, created_by=actor)
    except IntegrityError:
        raise ValidationError(f"A count is already open for {location}.") from None
    lots = StockLot.objects.filter(location=location, quantity__gt=0).order_by(
        "item__name", "expiry_date", "id"
    )
    StocktakeLine.objects.bulk_create(
        StocktakeLine(stocktake=stocktake, lot=lot, expected_quantity=lot.quantity) for lot in lots
    )
    audit_record(actor=actor, action=AuditAction.CREATE, obj=stocktake)
    return stocktake


@transaction.atomic
def stocktake_record_counts(
    *, actor: User | None, stocktake: Stocktake, counts: dict[int, tuple[str, str]]
) -> Stocktake:
    """Save counted quantities (and reasons) by line id; blank leaves a line uncounted.

    Ids of other sheets' lines are ignored. Raises ``ValidationError`` keyed
    ``count_<line id>`` / ``reason_<line id>`` and saves nothing when any entry is bad."""
    stocktake = Stocktake.objects.select_for_update().get(pk=stocktake.pk)
    if stocktake.status != StocktakeStatus.OPEN:
        raise ValidationError("This count has already been posted.")
    lines = {line.pk: line for line in stocktake.lines.select_related("lot__item")}
    errors = {}
    for line_id, (raw, reason) in counts.items():
        line = lines.get(line_id)
        if line is None:
            continue
        if raw in (None, ""):
            line.counted_quantity = None
        else:
            try:
                line.counted_quantity = clean_quantity(line.lot.item, raw, allow_zero=True)
            except ValidationError as exc:
                errors[f"count_{line_id}"] = exc.messages
                continue
        if reason and reason not in STOCKTAKE_REASONS:
            errors[f"reason_{line_id}"] = ["Unknown reason."]
            continue
        line.reason_code = reason or ""
        line.save(update_fields=["counted_quantity", "reason_code"])
    if errors:
        raise ValidationError(errors)
    audit_record(  # the lines change; the sheet itself changes when it is posted
        actor=actor,
        action=AuditAction.UPDATE,
        object_type="inventory.stocktakeline",
        detail={
            "stocktake": stocktake.pk,
            "counted": sum(1 for raw, _ in counts.values() if raw not in (None, "")),
        },
    )
    return stocktake


@transaction.atomic
def stocktake_post(*, actor: User | None, stocktake: Stocktake) -> Stocktake:
    """Make every counted lot hold what was counted; lots left uncounted are untouched.

    A count states what is on the shelf now (stock dispensed, received or moved while the
    sheet was open is already in the lot), so each counted lot is locked, in id order, and
    gets one stocktake movement of counted minus its current quantity, with the line's
    reason, only when that is not zero. The result is the counted quantity, never below
    zero. Refused, with nothing posted, when the count was already posted or a difference
    has no reason."""
    claimed = Stocktake.objects.filter(pk=stocktake.pk, status=StocktakeStatus.OPEN).update(
        status=StocktakeStatus.POSTED, posted_by=actor, posted_at=timezone.now()
    )
    if not claimed:
        raise ValidationError("This count has already been posted.")
    lines = list(stocktake.lines.filter(counted_quantity__isnull=False).order_by("lot_id"))
    locked = {
        lot.pk: lot
        for lot in StockLot.objects.select_for_update(of=("self",))
        .select_related("item")
        .filter(pk__in=[line.lot_id for line in lines])
        .order_by("id")
    }
    for line in lines:
        line.lot = locked[line.lot_id]  # the variance is taken against the locked quantity
    moved = sum(line.moved_since_start for line in lines)
    missing = [line for line in lines if line.variance and not line.reason_code]
    if missing:
        raise ValidationError(
            "Give a reason for every difference: "
            + ", ".join(f"{x.lot.item.display_name} batch {x.lot.batch_number}" for x in missing)
        )
    posted = 0
    with totals.batch():  # lots locked above in id order, then their items once, in id order
        for line in lines:
            if not line.variance:
                continue
            _move(
                line.lot,
                kind=MovementKind.STOCKTAKE,
                reason=line.reason_code,
                delta=line.variance,
                actor=actor,
                stocktake=stocktake,
            )
            posted += 1
    stocktake.refresh_from_db()
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=stocktake,
        detail={
            "variances_posted": posted,
            "lots_moved_during_count": moved,
        },
    )
    return stocktake

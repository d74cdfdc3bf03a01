"""Purchase orders: drafting (by hand or for low stock), sending, cancelling and receiving."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts import outbox
from accounts.audit import audit_record
from accounts.models import AuditAction, User
from inventory import totals
from inventory.models import (
    Item,
    Location,
    POStatus,
    PurchaseOrder,
    PurchaseOrderLine,
    StockLot,
    Vendor,
)
from inventory.pdf import purchase_order_pdf
from inventory.quantities import clean_quantity, fmt_qty
from inventory.selectors import low_stock_items, on_order_map
from inventory.services.stock import stock_receive
from uscpis import mail

_REORDER_LOCK_KEY = 7_368_270_105  # serialises the purchase-order drafting job


def _new_draft(*, vendor: Vendor, actor: User | None, auto: bool) -> PurchaseOrder:
    order = PurchaseOrder.objects.create(
        number=f"tmp-{uuid.uuid4().hex[:14]}",
        vendor=vendor,
        created_by=actor,
        auto_drafted=auto,
    )
    order.number = f"PO-{order.created_at:%Y}-{order.pk:05d}"
    order.save(update_fields=["number"])
    return order


def _draft_for_vendor(*, vendor: Vendor, actor: User | None, auto: bool) -> PurchaseOrder:
    """The vendor's working draft, created if needed (one draft per vendor, race-free)."""
    existing = (
        PurchaseOrder.objects.select_for_update()
        .filter(vendor=vendor, status=POStatus.DRAFT)
        .first()
    )
    if existing:
        return existing
    try:
        with transaction.atomic():
            return _new_draft(vendor=vendor, actor=actor, auto=auto)
    except IntegrityError:
        return PurchaseOrder.objects.select_for_update().get(vendor=vendor, status=POStatus.DRAFT)


@transaction.atomic
def purchase_order_create(*, actor: User | None, vendor: Vendor) -> PurchaseOrder:
    """A new draft for ``vendor`` (or its existing draft: one working draft per vendor)."""
    order = _draft_for_vendor(vendor=vendor, actor=actor, auto=False)
    audit_record(actor=actor, action=AuditAction.CREATE, obj=order)
    return order


def _lock_order(order: PurchaseOrder) -> PurchaseOrder:
    return (
        PurchaseOrder.objects.select_for_update(of=("self",))
        .select_related("vendor")
        .get(pk=order.pk)
    )


@transaction.atomic
def purchase_order_add_line(
    *, actor: User | None, order: PurchaseOrder, item: Item, quantity, unit_cost=None
) -> PurchaseOrderLine:
    """Add ``quantity`` of ``item`` to a draft (adds to an existing line for the item)."""
    order = _lock_order(order)
    if order.status != POStatus.DRAFT:
        raise ValidationError("Only a draft order can be changed.")
    qty = clean_quantity(item, quantity)
    if unit_cost in (None, ""):
        unit_cost = (
            StockLot.objects.filter(item=item)
            .order_by("-received_at")
            .values_list("unit_cost", flat=True)
            .first()
            or 0
        )
    cost = Decimal(str(unit_cost))
    if cost < 0:
        raise ValidationError({"unit_cost": "The unit cost cannot be negative."})
    line, created = PurchaseOrderLine.objects.get_or_create(
        order=order, item=item, defaults={"quantity_ordered": qty, "unit_cost": cost}
    )
    if not created:
        line.quantity_ordered += qty
        line.unit_cost = cost
        line.save(update_fields=["quantity_ordered", "unit_cost"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=order,
        detail={"line_item": item.pk, "quantity": fmt_qty(qty)},
    )
    return line


@transaction.atomic
def purchase_order_remove_line(*, actor: User | None, line: PurchaseOrderLine) -> None:
    order = _lock_order(line.order)
    if order.status != POStatus.DRAFT:
        raise ValidationError("Only a draft order can be changed.")
    PurchaseOrderLine.objects.filter(pk=line.pk).delete()
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=order,
        detail={"removed_item": line.item_id},
    )


@transaction.atomic
def purchase_orders_draft_for_low_stock(
    *, actor: User | None = None, items: list[Item] | None = None
) -> list[PurchaseOrder]:
    """Add every low-stock item (or just ``items``) to its preferred vendor's draft order,
    for its reorder quantity minus what is already on order. Items already on a draft, with
    no preferred vendor, or fully covered by open orders are skipped. Serialised by an
    advisory lock, so two runs never double an order."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_REORDER_LOCK_KEY])
    if items is None:
        candidates = list(low_stock_items().select_related("preferred_vendor"))
    else:
        candidates = list(
            Item.objects.filter(pk__in=[i.pk for i in items]).select_related("preferred_vendor")
        )
    on_draft = set(
        PurchaseOrderLine.objects.filter(
            order__status=POStatus.DRAFT, item__in=candidates
        ).values_list("item_id", flat=True)
    )
    on_order = on_order_map([i.pk for i in candidates])
    touched: dict[int, PurchaseOrder] = {}
    for item in candidates:
        if (
            item.pk in on_draft
            or item.preferred_vendor is None
            or not item.preferred_vendor.is_active
        ):
            continue
        qty = item.reorder_quantity - on_order.get(item.pk, Decimal("0"))
        if not item.allows_fractions:
            qty = qty.to_integral_value(rounding=ROUND_CEILING)
        if qty <= 0:
            continue
        order = _draft_for_vendor(vendor=item.preferred_vendor, actor=actor, auto=actor is None)
        last_cost = (
            StockLot.objects.filter(item=item)
            .order_by("-received_at")
            .values_list("unit_cost", flat=True)
            .first()
        )
        PurchaseOrderLine.objects.create(
            order=order, item=item, quantity_ordered=qty, unit_cost=last_cost or 0
        )
        touched[order.pk] = order
    for order in touched.values():
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            obj=order,
            detail={"drafted": "low stock"},
        )
    return list(touched.values())


@transaction.atomic
def purchase_order_send(*, actor: User | None, order: PurchaseOrder) -> PurchaseOrder:
    """Draft → sent; the PDF is emailed to the vendor through the outbox (exactly once)."""
    order = _lock_order(order)
    if order.status != POStatus.DRAFT:
        raise ValidationError("This order has already been sent or closed.")
    if not order.lines.exists():
        raise ValidationError("Add at least one line before sending.")
    if not order.vendor.email:
        raise ValidationError(f"{order.vendor} has no email address; add one to the vendor first.")
    order.status = POStatus.SENT
    order.sent_at = timezone.now()
    order.expected_on = timezone.localdate() + timedelta(days=order.vendor.lead_time_days)
    order.save(update_fields=["status", "sent_at", "expected_on"])
    totals.touch(order.lines.values_list("item_id", flat=True))
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=order,
        detail={"status": "sent"},
    )
    outbox.enqueue("inventory.tasks.email_purchase_order", order_id=order.pk)
    return order


def purchase_order_email(*, order_id: int) -> bool:
    """Email a sent order's PDF to its vendor; claimed first so it goes out once. On a
    backend error the claim is released and the error re-raised (the task retries)."""

    claimed = PurchaseOrder.objects.filter(
        pk=order_id,
        emailed_at__isnull=True,
        status__in=[POStatus.SENT, POStatus.PARTIAL, POStatus.RECEIVED],
    ).update(emailed_at=timezone.now())
    if not claimed:
        return False
    order = PurchaseOrder.objects.select_related("vendor").get(pk=order_id)
    try:
        mail.send_templated_email(
            to=[order.vendor.email],
            subject=f"Purchase order {order.number}",
            template="inventory_purchase_order",
            context={"order": order, "lines": list(order.lines.select_related("item"))},
            attachments=[(f"{order.number}.pdf", purchase_order_pdf(order), "application/pdf")],
        )
    except Exception:
        PurchaseOrder.objects.filter(pk=order_id).update(emailed_at=None)
        raise
    return True


@transaction.atomic
def purchase_order_cancel(*, actor: User | None, order: PurchaseOrder) -> PurchaseOrder:
    order = _lock_order(order)
    if order.status in (POStatus.RECEIVED, POStatus.CANCELLED):
        raise ValidationError("This order is already closed.")
    order.status = POStatus.CANCELLED
    order.closed_at = timezone.now()
    order.save(update_fields=["status", "closed_at"])
    totals.touch(order.lines.values_list("item_id", flat=True))
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=order,
        detail={"status": "cancelled"},
    )
    return order


@dataclass
class Receipt:
    line_id: int
    quantity: Decimal
    batch_number: str
    expiry_date: date | None
    unit_cost: Decimal | None
    location: Location


@transaction.atomic
def purchase_order_receive(
    *,
    actor: User | None,
    order: PurchaseOrder,
    receipts: list[Receipt],
    confirm_over: bool = False,
) -> PurchaseOrder:
    """Receive goods against a sent order: each receipt becomes a lot (or tops up the batch)
    with a receive movement. More than ordered needs ``confirm_over``. All or nothing."""
    order = _lock_order(order)
    if order.status not in (POStatus.SENT, POStatus.PARTIAL):
        raise ValidationError("Only a sent order can be received.")
    if not receipts:
        raise ValidationError("Enter at least one quantity received.")
    lines = {
        line.pk: line for line in order.lines.select_for_update(of=("self",)).select_related("item")
    }
    errors: dict[str, list[str]] = {}
    for receipt in receipts:
        line = lines.get(receipt.line_id)
        if line is None:
            raise ValidationError("That line is not on this order.")
        qty = clean_quantity(line.item, receipt.quantity)
        if line.quantity_received + qty > line.quantity_ordered and not confirm_over:
            errors.setdefault("__all__", []).append(
                f"{line.item.display_name}: receiving {fmt_qty(qty)} would exceed the "
                f"{fmt_qty(line.outstanding)} still outstanding. Tick “confirm over-receipt” to accept it."
            )
    if errors:
        raise ValidationError(errors)
    with totals.batch():  # several items: lock and recompute them once, in id order
        for receipt in receipts:
            line = lines[receipt.line_id]
            stock_receive(
                actor=actor,
                item=line.item,
                location=receipt.location,
                batch_number=receipt.batch_number,
                expiry_date=receipt.expiry_date,
                quantity=receipt.quantity,
                unit_cost=line.unit_cost if receipt.unit_cost is None else receipt.unit_cost,
                po_line=line,
                note=order.number,
            )
            line.quantity_received += Decimal(str(receipt.quantity))
            line.save(update_fields=["quantity_received"])
        complete = all(line.quantity_received >= line.quantity_ordered for line in lines.values())
        order.status = POStatus.RECEIVED if complete else POStatus.PARTIAL
        order.closed_at = timezone.now() if complete else None
        order.save(update_fields=["status", "closed_at"])
        totals.touch(line.item_id for line in lines.values())
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=order,
        detail={"status": order.status},
    )
    return order

"""Alerts once per episode, draft PO quantities, sending, receiving, equipment due dates."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import Notification
from accounts.roles import Role
from inventory.alerts import alerts_run
from inventory.models import (
    AlertEpisode,
    AlertKind,
    Equipment,
    IntervalUnit,
    MaintenanceKind,
    MaintenanceSchedule,
    POStatus,
    PurchaseOrder,
    ReasonCode,
    StockLot,
)
from inventory.quantities import add_interval
from inventory.services import dispensing, equipment, purchasing, stock
from inventory.services.purchasing import Receipt
from tests.inventory.factories import ItemFactory, LocationFactory, VendorFactory, receive

pytestmark = pytest.mark.django_db


def test_low_stock_alert_is_sent_once_per_episode(
    inventory_user, make_user, mailoutbox, django_capture_on_commit_callbacks
):
    make_user(Role.NURSE)  # not an inventory manager: never notified
    item = ItemFactory(reorder_point=10, name="Amoxicillin")
    lot = receive(item, quantity=12, days=400)
    with django_capture_on_commit_callbacks(execute=True):
        assert alerts_run().opened == []
    dispensing.stock_dispense(actor=None, item=item, quantity=3, destination="Clinic")  # 9 <= 10
    with django_capture_on_commit_callbacks(execute=True):
        run = alerts_run()
    assert [e.kind for e in run.opened] == [AlertKind.LOW_STOCK]
    assert (
        len(mailoutbox) == 1
        and "Low stock" in mailoutbox[0].subject
        and mailoutbox[0].to == [inventory_user.email]
    )
    # Re-running (another beat) sends nothing new.
    with django_capture_on_commit_callbacks(execute=True):
        assert alerts_run().opened == []
    assert len(mailoutbox) == 1 and Notification.objects.filter(user=inventory_user).count() == 1
    # Stock recovers: the episode closes; falling again is a new episode and a new alert.
    receive(item, quantity=20, days=400, batch="NEW")
    alerts_run()
    assert AlertEpisode.objects.get(item=item).closed_at is not None
    stock.stock_adjust(
        actor=None,
        lot=StockLot.objects.get(batch_number="NEW"),
        quantity_change=-20,
        reason_code=ReasonCode.LOST,
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert len(alerts_run().opened) == 1
    assert len(mailoutbox) == 2 and AlertEpisode.objects.filter(item=item).count() == 2
    assert lot.pk


def test_stock_on_order_counts_against_low_stock(inventory_user):
    item = ItemFactory(reorder_point=10, reorder_quantity=50)
    receive(item, quantity=5, days=400)
    orders = purchasing.purchase_orders_draft_for_low_stock(actor=inventory_user)
    purchasing.purchase_order_send(actor=inventory_user, order=orders[0])
    assert alerts_run().opened == []  # 5 usable + 50 on order > 10


def test_expiry_alerts_escalate_through_windows_once_each(inventory_user):
    item = ItemFactory(reorder_point=0)
    receive(item, quantity=5, days=80)
    today = timezone.localdate()
    assert [(e.kind, e.window_days) for e in alerts_run(today=today).opened] == [
        (AlertKind.EXPIRING, 90)
    ]
    assert alerts_run(today=today).opened == []
    assert [e.window_days for e in alerts_run(today=today + timedelta(days=25)).opened] == [60]
    assert [e.window_days for e in alerts_run(today=today + timedelta(days=55)).opened] == [30]
    assert alerts_run(today=today + timedelta(days=56)).opened == []
    run = alerts_run(today=today + timedelta(days=81))  # expired → quarantined → episode closes
    assert run.quarantined == 1
    assert not AlertEpisode.objects.filter(kind=AlertKind.EXPIRING, closed_at__isnull=True).exists()


def test_draft_orders_group_by_vendor_and_subtract_on_order(inventory_user):
    v1, v2 = VendorFactory(), VendorFactory()
    a = ItemFactory(preferred_vendor=v1, reorder_point=20, reorder_quantity=100)
    b = ItemFactory(preferred_vendor=v1, reorder_point=10, reorder_quantity=40)
    c = ItemFactory(
        preferred_vendor=v2, reorder_point=5, reorder_quantity=30, unit="mL", allows_fractions=False
    )
    ok = ItemFactory(preferred_vendor=v2, reorder_point=5)
    receive(ok, quantity=50)
    no_vendor = ItemFactory(preferred_vendor=None, reorder_point=5)
    # 30 of item a is already on a sent order, but 0 + 30 <= 20 is false... make it low anyway:
    sent = purchasing.purchase_order_create(actor=inventory_user, vendor=v1)
    purchasing.purchase_order_add_line(actor=inventory_user, order=sent, item=a, quantity=15)
    purchasing.purchase_order_send(actor=inventory_user, order=sent)

    orders = purchasing.purchase_orders_draft_for_low_stock(actor=None)

    by_vendor = {
        o.vendor_id: {line.item_id: line.quantity_ordered for line in o.lines.all()} for o in orders
    }
    assert by_vendor == {
        v1.pk: {a.pk: Decimal("85"), b.pk: Decimal("40")},
        v2.pk: {c.pk: Decimal("30")},
    }
    assert all(o.status == POStatus.DRAFT and o.auto_drafted for o in orders)
    assert no_vendor.pk not in {i for lines in by_vendor.values() for i in lines}
    # A second run doubles nothing.
    assert purchasing.purchase_orders_draft_for_low_stock(actor=None) == []
    assert PurchaseOrder.objects.filter(status=POStatus.DRAFT).count() == 2


def test_send_emails_pdf_once_and_receiving_creates_lots(
    inventory_user, mailoutbox, django_capture_on_commit_callbacks
):
    vendor = VendorFactory(lead_time_days=3)
    item = ItemFactory(preferred_vendor=vendor)
    order = purchasing.purchase_order_create(actor=inventory_user, vendor=vendor)
    with pytest.raises(ValidationError):
        purchasing.purchase_order_send(actor=inventory_user, order=order)  # no lines
    line = purchasing.purchase_order_add_line(
        actor=inventory_user, order=order, item=item, quantity=100, unit_cost="1.25"
    )
    with django_capture_on_commit_callbacks(execute=True):
        purchasing.purchase_order_send(actor=inventory_user, order=order)
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [vendor.email]
    name, content, mimetype = mailoutbox[0].attachments[0]
    assert name.endswith(".pdf") and content.startswith(b"%PDF") and mimetype == "application/pdf"
    assert purchasing.purchase_order_email(order_id=order.pk) is False  # claimed: never twice
    with pytest.raises(ValidationError):
        purchasing.purchase_order_send(actor=inventory_user, order=order)

    loc = LocationFactory()
    expiry = timezone.localdate() + timedelta(days=500)
    receipt = Receipt(
        line_id=line.pk,
        quantity="60",
        batch_number="RX-1",
        expiry_date=expiry,
        unit_cost=None,
        location=loc,
    )
    purchasing.purchase_order_receive(actor=inventory_user, order=order, receipts=[receipt])
    order.refresh_from_db()
    lot = StockLot.objects.get(item=item, batch_number="RX-1")
    assert (
        order.status == POStatus.PARTIAL and lot.quantity == 60 and lot.unit_cost == Decimal("1.25")
    )
    assert lot.movements.get().purchase_order_line_id == line.pk

    # Over-receiving: refused without confirmation (nothing changes), accepted with it.
    over = Receipt(
        line_id=line.pk,
        quantity="50",
        batch_number="RX-2",
        expiry_date=expiry,
        unit_cost=None,
        location=loc,
    )
    with pytest.raises(ValidationError, match="exceed"):
        purchasing.purchase_order_receive(actor=inventory_user, order=order, receipts=[over])
    assert not StockLot.objects.filter(batch_number="RX-2").exists()
    purchasing.purchase_order_receive(
        actor=inventory_user, order=order, receipts=[over], confirm_over=True
    )
    order.refresh_from_db()
    assert order.status == POStatus.RECEIVED and order.closed_at is not None


def test_receiving_with_past_expiry_rolls_back_the_whole_receipt(inventory_user):
    vendor = VendorFactory()
    a, b = ItemFactory(preferred_vendor=vendor), ItemFactory(preferred_vendor=vendor)
    order = purchasing.purchase_order_create(actor=inventory_user, vendor=vendor)
    la = purchasing.purchase_order_add_line(actor=inventory_user, order=order, item=a, quantity=10)
    lb = purchasing.purchase_order_add_line(actor=inventory_user, order=order, item=b, quantity=10)
    purchasing.purchase_order_send(actor=inventory_user, order=order)
    loc, today = LocationFactory(), timezone.localdate()
    with pytest.raises(ValidationError):
        purchasing.purchase_order_receive(
            actor=inventory_user,
            order=order,
            receipts=[
                Receipt(la.pk, "10", "OK", today + timedelta(days=100), None, loc),
                Receipt(lb.pk, "10", "BAD", today - timedelta(days=1), None, loc),
            ],
        )
    assert not StockLot.objects.exists()
    la.refresh_from_db()
    assert la.quantity_received == 0


def test_add_interval_handles_month_ends():
    assert add_interval(date(2026, 1, 31), 1, IntervalUnit.MONTHS) == date(2026, 2, 28)
    assert add_interval(date(2026, 11, 15), 3, IntervalUnit.MONTHS) == date(2027, 2, 15)
    assert add_interval(date(2026, 1, 1), 90, IntervalUnit.DAYS) == date(2026, 4, 1)


def test_maintenance_moves_due_date_and_alerts_due_then_overdue(
    inventory_user, mailoutbox, django_capture_on_commit_callbacks
):
    today = timezone.localdate()
    eq = Equipment.objects.create(name="Autoclave", asset_tag="EQ-1", location=LocationFactory())
    sched = equipment.schedule_save(
        actor=inventory_user,
        schedule=MaintenanceSchedule(
            equipment=eq,
            kind=MaintenanceKind.CALIBRATION,
            interval_value=6,
            interval_unit=IntervalUnit.MONTHS,
            next_due_on=today + timedelta(days=10),
        ),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert [e.kind for e in alerts_run().opened] == [AlertKind.MAINTENANCE_DUE]
    assert alerts_run().opened == []
    assert [e.kind for e in alerts_run(today=today + timedelta(days=11)).opened] == [
        AlertKind.MAINTENANCE_OVERDUE
    ]
    with pytest.raises(ValidationError):
        equipment.maintenance_record(
            actor=inventory_user,
            equipment=eq,
            kind=MaintenanceKind.CALIBRATION,
            performed_on=today + timedelta(days=1),
            work_done="x",
            result="passed",
        )
    equipment.maintenance_record(
        actor=inventory_user,
        equipment=eq,
        kind=MaintenanceKind.CALIBRATION,
        performed_on=today,
        work_done="Calibrated with reference weights",
        result="passed",
    )
    sched.refresh_from_db()
    assert sched.last_done_on == today and sched.next_due_on == add_interval(
        today, 6, IntervalUnit.MONTHS
    )
    alerts_run()
    assert not AlertEpisode.objects.filter(schedule=sched, closed_at__isnull=True).exists()
    assert len(mailoutbox) == 1

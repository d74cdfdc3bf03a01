"""Stock services: FEFO, bad input changes nothing, receiving, transfers, ledger integrity."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from inventory.models import LotStatus, MovementKind, ReasonCode, StockLot, StockMovement
from inventory.services import dispensing, stock, stocktake
from tests.inventory.factories import ItemFactory, LocationFactory, PatientFactory, receive

pytestmark = pytest.mark.django_db


def test_dispense_picks_first_expiry_first_and_skips_expired_and_quarantined(nurse_user):
    item = ItemFactory()
    late = receive(item, quantity=10, days=300, batch="LATE")
    soon = receive(item, quantity=4, days=40, batch="SOON")
    quarantined = receive(item, quantity=50, days=20, batch="QUAR")
    stock.lot_set_status(actor=None, lot=quarantined, status=LotStatus.QUARANTINED)
    expired = receive(item, quantity=50, days=10, batch="OLD")
    StockLot.objects.filter(pk=expired.pk).update(
        expiry_date=timezone.localdate() - timedelta(days=1)
    )
    patient = PatientFactory()

    result = dispensing.stock_dispense(
        actor=nurse_user, item=item, quantity=6, patient=patient, course_days=60
    )

    assert [(m.lot.batch_number, m.quantity) for m in result.movements] == [
        ("SOON", Decimal("-4")),
        ("LATE", Decimal("-2")),
    ]
    for lot in (soon, late, expired, quarantined):
        lot.refresh_from_db()
    assert (soon.quantity, late.quantity, expired.quantity, quarantined.quantity) == (0, 8, 50, 50)
    assert (
        len(result.warnings) == 1 and "SOON" in result.warnings[0]
    )  # expires before the 60-day course ends
    assert all(
        m.patient_id == patient.pk and m.kind == MovementKind.DISPENSE for m in result.movements
    )


def test_dispensing_more_than_usable_changes_nothing(nurse_user):
    item = ItemFactory()
    lot = receive(item, quantity=5)
    with pytest.raises(ValidationError, match="Only 5 tablet"):
        dispensing.stock_dispense(
            actor=nurse_user, item=item, quantity=6, destination="Dental room"
        )
    lot.refresh_from_db()
    assert (
        lot.quantity == 5 and StockMovement.objects.filter(kind=MovementKind.DISPENSE).count() == 0
    )


@pytest.mark.parametrize("bad", ["-1", "0", "1.5", "abc", "NaN", "1e12"])
def test_bad_quantities_are_refused_for_whole_units(nurse_user, bad):
    item = ItemFactory(allows_fractions=False)
    receive(item, quantity=5)
    with pytest.raises(ValidationError):
        dispensing.stock_dispense(actor=nurse_user, item=item, quantity=bad, destination="Clinic")
    assert StockLot.objects.get(item=item).quantity == 5


def test_fractions_allowed_when_the_unit_allows(nurse_user):
    item = ItemFactory(unit="mL", allows_fractions=True)
    receive(item, quantity="100.5")
    dispensing.stock_dispense(actor=nurse_user, item=item, quantity="2.25", destination="Ward")
    assert StockLot.objects.get(item=item).quantity == Decimal("98.25")


def test_dispense_needs_exactly_one_recipient(nurse_user):
    item = ItemFactory()
    receive(item, quantity=5)
    with pytest.raises(ValidationError):
        dispensing.stock_dispense(actor=nurse_user, item=item, quantity=1)
    with pytest.raises(ValidationError):
        dispensing.stock_dispense(
            actor=nurse_user, item=item, quantity=1, patient=PatientFactory(), destination="Ward"
        )


def test_receipt_with_past_expiry_or_missing_batch_is_refused(inventory_user):
    item = ItemFactory()
    today = timezone.localdate()
    for kwargs in (
        {"expiry_date": today - timedelta(days=1), "batch_number": "X"},
        {"expiry_date": today, "batch_number": "X"},
        {"expiry_date": None, "batch_number": "X"},  # medication needs an expiry
        {"expiry_date": today + timedelta(days=100), "batch_number": "  "},
    ):
        with pytest.raises(ValidationError):
            stock.stock_receive(
                actor=inventory_user,
                item=item,
                location=item.default_location,
                quantity=10,
                unit_cost="1.00",
                **kwargs,
            )
    assert not StockLot.objects.exists() and not StockMovement.objects.exists()


def test_same_batch_received_twice_tops_up_one_lot_with_weighted_cost(inventory_user):
    item = ItemFactory()
    receive(item, quantity=10, batch="B1", cost="2.00", days=200)
    receive(item, quantity=30, batch="B1", cost="4.00", days=200)
    lot = StockLot.objects.get(item=item)
    assert lot.quantity == 40 and lot.unit_cost == Decimal("3.50")
    assert lot.movements.count() == 2


def test_transfer_moves_stock_and_keeps_batch(inventory_user):
    item = ItemFactory()
    lot = receive(item, quantity=10, batch="T1")
    dental = LocationFactory(name="Dental room", code="dental")
    dest = stock.stock_transfer(actor=inventory_user, lot=lot, to_location=dental, quantity=4)
    lot.refresh_from_db()
    assert (lot.quantity, dest.quantity, dest.batch_number, dest.expiry_date) == (
        6,
        4,
        "T1",
        lot.expiry_date,
    )
    refs = set(
        StockMovement.objects.filter(kind=MovementKind.TRANSFER).values_list(
            "transfer_ref", flat=True
        )
    )
    assert len(refs) == 1
    with pytest.raises(ValidationError):
        stock.stock_transfer(actor=inventory_user, lot=lot, to_location=dental, quantity=7)


def test_adjust_and_dispose_need_reasons_and_never_go_negative(inventory_user):
    item = ItemFactory()
    lot = receive(item, quantity=10)
    with pytest.raises(ValidationError):
        stock.stock_adjust(actor=inventory_user, lot=lot, quantity_change=-2, reason_code="")
    with pytest.raises(ValidationError):
        stock.stock_adjust(
            actor=inventory_user, lot=lot, quantity_change=-11, reason_code=ReasonCode.LOST
        )
    stock.stock_adjust(
        actor=inventory_user, lot=lot, quantity_change=-3, reason_code=ReasonCode.DAMAGED
    )
    stock.stock_dispose(actor=inventory_user, lot=lot, reason_code=ReasonCode.EXPIRED)
    lot.refresh_from_db()
    assert lot.quantity == 0
    assert list(lot.movements.order_by("id").values_list("quantity", flat=True)) == [10, -3, -7]


def test_database_refuses_negative_stock_and_ledger_edits():
    item = ItemFactory()
    lot = receive(item, quantity=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        StockLot.objects.filter(pk=lot.pk).update(quantity=-1)
    movement = lot.movements.get()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE inventory_stockmovement SET quantity = 99 WHERE id = %s", [movement.pk]
        )
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM inventory_stockmovement WHERE id = %s", [movement.pk])
    with pytest.raises(ValueError):
        movement.save()


def test_inventory_check_command_detects_drift(capsys):
    item = ItemFactory()
    lot = receive(item, quantity=3)
    call_command("inventory", "check")
    assert "OK" in capsys.readouterr().out
    StockLot.objects.filter(pk=lot.pk).update(quantity=5)  # bypassing the services
    with pytest.raises(CommandError, match="1 of 1 lots"):
        call_command("inventory", "check")
    assert f"lot {lot.pk}" in capsys.readouterr().out


def test_expired_lots_are_quarantined_once(inventory_user):
    item = ItemFactory()
    lot = receive(item, quantity=3, days=5)
    later = timezone.localdate() + timedelta(days=6)
    assert stock.lots_quarantine_expired(today=later) == 1
    assert stock.lots_quarantine_expired(today=later) == 0
    lot.refresh_from_db()
    assert lot.status == LotStatus.QUARANTINED
    with pytest.raises(ValidationError):  # cannot release an expired lot
        StockLot.objects.filter(pk=lot.pk).update(
            expiry_date=timezone.localdate() - timedelta(days=1)
        )
        stock.lot_set_status(actor=inventory_user, lot=lot, status=LotStatus.AVAILABLE)


def test_stocktake_posts_variances_with_reasons(inventory_user):
    item = ItemFactory()
    loc = item.default_location
    a = receive(item, quantity=10, batch="A")
    b = receive(item, quantity=5, batch="B", days=400)
    st = stocktake.stocktake_start(actor=inventory_user, location=loc)
    lines = {line.lot_id: line for line in st.lines.all()}
    stocktake.stocktake_record_counts(
        actor=inventory_user,
        stocktake=st,
        counts={
            lines[a.pk].pk: ("8", ""),
            lines[b.pk].pk: ("5", ""),
        },
    )
    with pytest.raises(ValidationError, match="reason"):
        stocktake.stocktake_post(actor=inventory_user, stocktake=st)
    a.refresh_from_db()
    assert a.quantity == 10  # nothing posted
    stocktake.stocktake_record_counts(
        actor=inventory_user, stocktake=st, counts={lines[a.pk].pk: ("8", ReasonCode.LOST)}
    )
    stocktake.stocktake_post(actor=inventory_user, stocktake=st)
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.quantity, b.quantity) == (8, 5)
    assert (
        StockMovement.objects.filter(kind=MovementKind.STOCKTAKE, stocktake=st).get().quantity == -2
    )
    with pytest.raises(ValidationError):
        stocktake.stocktake_post(actor=inventory_user, stocktake=st)

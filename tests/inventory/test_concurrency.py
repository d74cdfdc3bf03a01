"""20 real threads race for the last units of one lot: nothing is lost or oversold."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection

from inventory.models import MovementKind, StockLot, StockMovement
from inventory.services import dispensing
from tests.inventory.factories import ItemFactory, receive


@pytest.mark.django_db(transaction=True)
def test_twenty_threads_dispensing_the_last_units_never_oversell():
    item = ItemFactory()
    lot = receive(item, quantity=7)
    threads, results, errors = 20, [], []
    barrier = threading.Barrier(threads)
    lock = threading.Lock()

    def worker(n: int):
        try:
            barrier.wait()
            result = dispensing.stock_dispense(
                actor=None, item=item, quantity=n % 2 + 1, destination=f"Ward {n}"
            )
            with lock:
                results.append(result.total)
        except ValidationError:
            with lock:
                errors.append(n)
        finally:
            connection.close()

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()

    lot.refresh_from_db()
    dispensed = sum(results, Decimal("0"))
    assert len(results) + len(errors) == threads
    assert errors, "some threads must have been refused: there were only 7 units for 20 requests"
    assert dispensed <= 7 and lot.quantity >= 0
    assert lot.quantity == 7 - dispensed
    ledger = StockMovement.objects.filter(lot=lot).values_list("quantity", flat=True)
    assert sum(ledger) == lot.quantity
    assert (
        -sum(
            StockMovement.objects.filter(lot=lot, kind=MovementKind.DISPENSE).values_list(
                "quantity", flat=True
            )
        )
        == dispensed
    )
    assert lot.quantity < 2  # no request that fits was refused while stock remained
    assert StockLot.objects.filter(quantity__lt=0).count() == 0
    item.refresh_from_db()  # the stored per-item totals lost no update either
    assert item.stock_on_hand == item.stock_available == lot.quantity
    call_command("inventory", "check")  # lots vs ledger and items vs lots

"""Stocktakes: a count states what is on the shelf now, so stock that moves while the sheet is
open is never counted twice; the sheet flags lines that moved; the ledger always holds."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection, transaction
from django.urls import reverse

from accounts.models import AuditEvent
from inventory.models import MovementKind, ReasonCode, StockLot, StockMovement, Stocktake
from inventory.services import dispensing, stock, stocktake
from tests.inventory.factories import ItemFactory, count_sheet, receive

MARKER = "Moved since the count started: now"


def _ledger(lot) -> Decimal:
    return sum(
        StockMovement.objects.filter(lot=lot).values_list("quantity", flat=True), Decimal("0")
    )


def _stocktake_movements(st) -> list[tuple[int, Decimal, str]]:
    return list(
        StockMovement.objects.filter(kind=MovementKind.STOCKTAKE, stocktake=st)
        .order_by("lot_id")
        .values_list("lot_id", "quantity", "reason_code")
    )


def _count(actor, st, counts: dict) -> None:
    """counts: {lot: (quantity, reason)}"""
    lines = {line.lot_id: line.pk for line in st.lines.all()}
    stocktake.stocktake_record_counts(
        actor=actor,
        stocktake=st,
        counts={lines[lot.pk]: (str(qty), reason) for lot, (qty, reason) in counts.items()},
    )


@pytest.mark.django_db
def test_dispense_during_the_count_is_not_counted_twice(inventory_user, nurse_user, capsys):
    # The reported bug: posting added (counted - snapshot) to the current quantity, so this
    # ended at 10 with a spurious -5 stocktake movement.
    item = ItemFactory()
    lot = receive(item, quantity=20, batch="L1")
    st = stocktake.stocktake_start(actor=inventory_user, location=item.default_location)
    dispensing.stock_dispense(actor=nurse_user, item=item, quantity=5, destination="ER")
    _count(inventory_user, st, {lot: (15, ReasonCode.LOST)})

    stocktake.stocktake_post(actor=inventory_user, stocktake=st)

    lot.refresh_from_db()
    item.refresh_from_db()
    assert lot.quantity == 15
    assert _ledger(lot) == 15
    assert item.stock_on_hand == item.stock_available == 15
    assert _stocktake_movements(st) == []  # the shelf already held what the ledger said
    call_command("inventory", "check")
    assert "OK" in capsys.readouterr().out


@pytest.mark.django_db
def test_variance_is_counted_minus_the_quantity_at_posting(inventory_user, nurse_user):
    item = ItemFactory()
    dispensed_from = receive(item, quantity=20, batch="D", days=100)
    received_into = receive(item, quantity=10, batch="R", days=200)
    st = stocktake.stocktake_start(actor=inventory_user, location=item.default_location)
    dispensing.stock_dispense(actor=nurse_user, item=item, quantity=5, destination="ER")  # D: 15
    receive(item, quantity=6, batch="R", days=200)  # R: 16
    _count(
        inventory_user,
        st,
        {dispensed_from: (12, ReasonCode.LOST), received_into: (17, ReasonCode.FOUND)},
    )

    stocktake.stocktake_post(actor=inventory_user, stocktake=st)

    for lot in (dispensed_from, received_into):
        lot.refresh_from_db()
    assert (dispensed_from.quantity, received_into.quantity) == (12, 17)
    assert _stocktake_movements(st) == [
        (dispensed_from.pk, Decimal("-3"), ReasonCode.LOST),
        (received_into.pk, Decimal("1"), ReasonCode.FOUND),
    ]
    assert _ledger(dispensed_from) == 12 and _ledger(received_into) == 17
    call_command("inventory", "check")
    event = AuditEvent.objects.filter(object_type="inventory.stocktake", action="update").get()
    assert event.detail == {"variances_posted": 2, "lots_moved_during_count": 2}


@pytest.mark.django_db
def test_lot_without_movement_posts_its_variance_and_uncounted_lots_are_untouched(
    inventory_user,
):
    item = ItemFactory()
    short = receive(item, quantity=10, batch="SHORT", days=100)
    exact = receive(item, quantity=5, batch="EXACT", days=200)
    uncounted = receive(item, quantity=7, batch="SKIP", days=300)
    st = stocktake.stocktake_start(actor=inventory_user, location=item.default_location)
    # the uncounted lot moves during the count: posting must neither undo nor repeat that
    stock.stock_adjust(
        actor=inventory_user, lot=uncounted, quantity_change="-2", reason_code=ReasonCode.DAMAGED
    )
    _count(inventory_user, st, {short: (8, ReasonCode.LOST), exact: (5, "")})

    stocktake.stocktake_post(actor=inventory_user, stocktake=st)

    for lot in (short, exact, uncounted):
        lot.refresh_from_db()
    assert (short.quantity, exact.quantity, uncounted.quantity) == (8, 5, 5)
    assert _stocktake_movements(st) == [(short.pk, Decimal("-2"), ReasonCode.LOST)]
    assert not StockMovement.objects.filter(lot=uncounted, kind=MovementKind.STOCKTAKE).exists()
    call_command("inventory", "check")


@pytest.mark.django_db
def test_reason_is_required_for_a_difference_from_the_stock_now(inventory_user, nurse_user):
    item = ItemFactory()
    lot = receive(item, quantity=20)
    st = stocktake.stocktake_start(actor=inventory_user, location=item.default_location)
    dispensing.stock_dispense(actor=nurse_user, item=item, quantity=5, destination="ER")
    # 20 matches the snapshot but is 5 more than the lot holds now: that needs a reason
    _count(inventory_user, st, {lot: (20, "")})
    with pytest.raises(ValidationError, match="reason"):
        stocktake.stocktake_post(actor=inventory_user, stocktake=st)
    lot.refresh_from_db()
    st.refresh_from_db()
    assert lot.quantity == 15 and st.status == "open"  # nothing posted, sheet still open
    # 15 differs from the snapshot but matches the lot now: no reason needed, nothing posted
    _count(inventory_user, st, {lot: (15, "")})
    stocktake.stocktake_post(actor=inventory_user, stocktake=st)
    lot.refresh_from_db()
    assert lot.quantity == 15 and _stocktake_movements(st) == []


@pytest.mark.django_db
def test_count_of_zero_empties_the_lot_never_below(inventory_user, nurse_user):
    item = ItemFactory()
    lot = receive(item, quantity=20)
    st = stocktake.stocktake_start(actor=inventory_user, location=item.default_location)
    dispensing.stock_dispense(actor=nurse_user, item=item, quantity=18, destination="ER")
    _count(inventory_user, st, {lot: (0, ReasonCode.LOST)})
    stocktake.stocktake_post(actor=inventory_user, stocktake=st)
    lot.refresh_from_db()
    # before the fix this was 0 - 20 = -20 against 2 left: refused as negative stock
    assert lot.quantity == 0 and _stocktake_movements(st) == [
        (lot.pk, Decimal("-2"), ReasonCode.LOST)
    ]
    call_command("inventory", "check")


@pytest.mark.django_db
def test_count_sheet_flags_lines_that_moved_and_posts_like_the_service(
    inventory_user, nurse_user, client_for, capsys
):
    item = ItemFactory(name="Ibuprofen")
    lot = receive(item, quantity=20, batch="L1", days=100)
    still = receive(item, quantity=9, batch="L2", days=200)
    client = client_for(inventory_user)
    response = client.post(reverse("inventory:stocktakes"), {"location": item.default_location_id})
    st = Stocktake.objects.get()
    url = reverse("inventory:stocktake_detail", args=[st.pk])
    assert response.status_code == 302 and response["Location"] == url
    assert MARKER not in client.get(url).content.decode()

    dispensing.stock_dispense(actor=nurse_user, item=item, quantity=5, destination="ER")
    lines = {line.lot_id: line for line in st.lines.all()}
    client.post(url, count_sheet(st, {lines[lot.pk]: ("14", ""), lines[still.pk]: ("9", "")}))
    page = client.get(url).content.decode()
    assert page.count(MARKER) == 1 and f"{MARKER} 15" in page  # only the lot that moved
    assert "Stock moved on 1 line since this count started" in page
    assert 'class="num">-1<' in page  # variance now: 14 counted - 15 on hand, not 14 - 20

    response = client.post(
        url,
        {
            **count_sheet(st, {lines[lot.pk]: ("15", "lost"), lines[still.pk]: ("9", "")}),
            "post": "1",
        },
        follow=True,
    )
    lot.refresh_from_db()
    still.refresh_from_db()
    assert (lot.quantity, still.quantity) == (15, 9)
    assert _stocktake_movements(st) == []
    page = response.content.decode()
    assert "every counted lot already held what was counted" in page
    assert MARKER not in page and "Posted change" in page
    call_command("inventory", "check")
    assert "OK" in capsys.readouterr().out


@pytest.mark.django_db
def test_posted_sheet_shows_the_change_the_ledger_holds(inventory_user, nurse_user, client_for):
    item = ItemFactory()
    lot = receive(item, quantity=20)
    st = stocktake.stocktake_start(actor=inventory_user, location=item.default_location)
    dispensing.stock_dispense(actor=nurse_user, item=item, quantity=5, destination="ER")
    line = st.lines.get()
    client = client_for(inventory_user)
    url = reverse("inventory:stocktake_detail", args=[st.pk])
    response = client.post(
        url, {**count_sheet(st, {line: ("12", "lost")}), "post": "1"}, follow=True
    )
    page = response.content.decode()
    assert "Count posted: 1 stocktake adjustment recorded" in page
    assert 'class="num">-3<' in page and 'class="num">-8<' not in page
    lot.refresh_from_db()
    assert lot.quantity == 12 and _ledger(lot) == 12


@pytest.mark.django_db
def test_count_sheet_queries_do_not_grow_with_lines(
    inventory_user, nurse_user, client_for, django_assert_max_num_queries
):
    client = client_for(inventory_user)
    item = ItemFactory()
    place = item.default_location

    def sheet(lots: int) -> str:
        for n in range(lots):
            receive(ItemFactory(default_location=place), quantity=10, batch=f"Q{lots}-{n}")
        st = stocktake.stocktake_start(actor=inventory_user, location=place)
        # every lot moves and is counted, so each line shows a marker and a variance
        for lot in StockLot.objects.filter(location=place).select_related("item"):
            stock.stock_adjust(
                actor=inventory_user, lot=lot, quantity_change="-1", reason_code=ReasonCode.DAMAGED
            )
        _count(
            inventory_user,
            st,
            dict.fromkeys(StockLot.objects.filter(location=place), (5, ReasonCode.LOST)),
        )
        return reverse("inventory:stocktake_detail", args=[st.pk])

    small = sheet(2)
    with django_assert_max_num_queries(12) as captured:
        assert MARKER in client.get(small).content.decode()
    stocktake.stocktake_post(actor=inventory_user, stocktake=Stocktake.objects.get(status="open"))
    large = sheet(20)
    with django_assert_max_num_queries(len(captured.captured_queries)):
        page = client.get(large).content.decode()
    assert page.count(MARKER) == 22  # the two earlier lots (now 5 - 1) and the 20 new ones
    st = Stocktake.objects.get(status="open")
    stocktake.stocktake_post(actor=inventory_user, stocktake=st)
    posted_page = reverse("inventory:stocktake_detail", args=[st.pk])
    with django_assert_max_num_queries(len(captured.captured_queries) + 1):
        assert client.get(posted_page).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_post_waits_for_a_dispense_in_flight_and_counts_against_its_result(inventory_user):
    item = ItemFactory()
    lot = receive(item, quantity=20)
    st = stocktake.stocktake_start(actor=inventory_user, location=item.default_location)
    _count(inventory_user, st, {lot: (15, ReasonCode.LOST)})
    outcome: dict = {}

    def post():
        try:
            stocktake.stocktake_post(actor=inventory_user, stocktake=st)
            outcome["posted"] = True
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc
        finally:
            connection.close()

    with transaction.atomic():  # a dispense that has locked the lot but not yet committed
        dispensing.stock_dispense(actor=None, item=item, quantity=5, destination="ER")
        poster = threading.Thread(target=post)
        poster.start()
        deadline = time.monotonic() + 10
        with connection.cursor() as cursor:
            while time.monotonic() < deadline:
                cursor.execute("SELECT pg_stat_clear_snapshot()")  # stats are per-transaction
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                if cursor.fetchone()[0]:
                    break
                time.sleep(0.02)
            else:
                pytest.fail("posting did not wait for the lot lock")
    poster.join(timeout=10)

    assert outcome == {"posted": True}
    lot.refresh_from_db()
    assert lot.quantity == 15 and _ledger(lot) == 15
    assert not StockMovement.objects.filter(kind=MovementKind.STOCKTAKE).exists()
    call_command("inventory", "check")


@pytest.mark.django_db
def test_count_sheet_keeps_what_was_typed_when_a_count_is_refused(inventory_user, client_for):
    item = ItemFactory(name="Paracetamol")
    lot = receive(item, quantity=20, batch="P1", days=100)
    client = client_for(inventory_user)
    client.post(reverse("inventory:stocktakes"), {"location": item.default_location_id})
    st = Stocktake.objects.get()
    url = reverse("inventory:stocktake_detail", args=[st.pk])
    line = st.lines.get(lot=lot)
    refused = client.post(url, count_sheet(st, {line: ("twelve", "")}))
    assert refused.status_code == 422
    assert 'value="twelve"' in refused.content.decode()
    line.refresh_from_db()
    assert line.counted_quantity is None
    # The hand-written field names of old are not a count sheet any more.
    assert client.post(url, {f"count_{line.pk}": "12"}).status_code == 422
    line.refresh_from_db()
    assert line.counted_quantity is None
    saved = client.post(url, count_sheet(st, {line: ("12", "lost")}))
    assert saved.status_code == 302
    line.refresh_from_db()
    assert (line.counted_quantity, line.reason_code) == (12, "lost")

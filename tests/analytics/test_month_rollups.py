"""The monthly stock rollup equals the sums of the daily rows it covers, and every range
read through it (whole months, parts of months at either end, one day, the current month)
gives exactly the figures summed from the daily rows of the range."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics.models import StockFact, StockMonthFact, StockMonthTotal
from analytics.selectors import stock
from analytics.selectors.months import split_range
from analytics.services.monthly import next_month
from analytics.services.rollups import rollup_rebuild, rollup_refresh_day
from inventory.models import Category, Item, MovementKind, ReasonCode, StockMovement
from tests.analytics.factories import local
from tests.inventory.factories import ItemFactory, receive

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
START = TODAY - timedelta(days=100)


@pytest.fixture
def stock_history(db):
    """Three items over about a hundred days: dispensing on most days (some at 23:30),
    cancelled dispensings, expiry write-offs and days when one item was out of stock."""
    rng = random.Random(5)
    tablets = Category.objects.create(name="Tablets (month test)")
    syrups = Category.objects.create(name="Syrups (month test)")
    items = [ItemFactory(category=tablets), ItemFactory(category=syrups), ItemFactory()]
    lots = [receive(item, quantity=1, cost="2.00") for item in items]
    moves = []
    for d in range(101):
        day = START + timedelta(days=d)
        for item, lot in zip(items, lots, strict=True):
            if rng.random() < 0.3:
                continue
            if rng.random() < 0.2:
                moves.append((item, lot, MovementKind.RECEIVE, ReasonCode.PURCHASE, 30, day, 8))
            qty = rng.randint(1, 9)
            moves.append((item, lot, MovementKind.DISPENSE, ReasonCode.PATIENT, -qty, day, 23))
            if rng.random() < 0.15:
                moves.append((item, lot, MovementKind.ADJUST, ReasonCode.DATA_ENTRY, 1, day, 23))
            if rng.random() < 0.1:
                moves.append((item, lot, MovementKind.DISPOSE, ReasonCode.EXPIRED, -2, day, 12))
    StockMovement.objects.bulk_create(
        StockMovement(
            lot=lot,
            item=item,
            kind=kind,
            reason_code=reason,
            quantity=Decimal(qty),
            unit_cost=Decimal("2.00"),
            note="Cancels dispensing #1: wrong item" if kind == MovementKind.ADJUST else "",
            destination="Sports fest first-aid kit" if kind == MovementKind.DISPENSE else "",
            created_at=local(day, hh, 30),
        )
        for item, lot, kind, reason, qty, day, hh in moves
    )
    rollup_rebuild(since=START - timedelta(days=1), until=TODAY)
    return items


def _daily(first, last):
    """The figures straight from the daily rows of ``first``…``last``."""
    rows = StockFact.objects.filter(day__gte=first, day__lte=last)
    moved, levels, value = {}, {}, Decimal(0)
    for r in rows:
        value += r.dispensed_value
        level = levels.setdefault(r.item_id, {"closing_sum": Decimal(0), "stockout_days": 0})
        level["closing_sum"] += r.closing
        level["stockout_days"] += r.closing <= 0
        if r.dispensed or r.patient_returns or r.expired_value:
            m = moved.setdefault(
                r.item_id, {"used": Decimal(0), "value": Decimal(0), "expired": Decimal(0)}
            )
            m["used"] += r.dispensed - r.patient_returns
            m["value"] += r.dispensed_value
            m["expired"] += r.expired_value
    return moved, levels, value


def _via_months(first, last, ids):
    moved = {
        r["item_id"]: {k: r[k] for k in ("used", "value", "expired")}
        for r in stock.moved_per_item(first, last)
    }
    return moved, stock.stock_levels(first, last, ids), stock.dispensed_value(first, last)


def _ranges():
    yield START, TODAY
    yield TODAY - timedelta(days=89), TODAY  # the inventory page's default
    yield TODAY, TODAY
    month = TODAY.replace(day=1)
    previous = (month - timedelta(days=1)).replace(day=1)
    yield previous, month - timedelta(days=1)  # one whole month
    yield previous + timedelta(days=1), month  # a month less its first day, and one day
    yield previous + timedelta(days=20), month + timedelta(days=40)  # into the future
    rng = random.Random(3)
    for _ in range(25):
        a, b = sorted(START + timedelta(days=rng.randint(0, 100)) for _ in range(2))
        yield a, b


def test_month_rows_are_the_sums_of_their_daily_rows(stock_history):
    expected = defaultdict(lambda: defaultdict(Decimal))
    for r in StockFact.objects.all():
        cell = expected[(r.day.replace(day=1), r.item_id)]
        cell["days"] += 1
        cell["moved_days"] += bool(r.dispensed or r.patient_returns or r.expired_value)
        for name in ("received", "dispensed", "dispensed_value", "expired", "expired_value"):
            cell[name] += getattr(r, name)
        for name in ("returned", "disposed_other", "patient_returns", "adjusted"):
            cell[name] += getattr(r, name)
        cell["closing_sum"] += r.closing
        cell["stockout_days"] += r.closing <= 0
    actual = {
        (m.month, m.item_id): {name: getattr(m, name) for name in expected[(m.month, m.item_id)]}
        for m in StockMonthFact.objects.all()
    }
    assert len(actual) >= 3 * 4
    assert actual == {k: dict(v) for k, v in expected.items()}
    assert any(v["stockout_days"] for v in actual.values())
    assert any(v["expired_value"] for v in actual.values())
    totals = defaultdict(Decimal)
    for (month, _), cell in expected.items():
        totals[month] += cell["dispensed_value"]
    assert dict(StockMonthTotal.objects.values_list("month", "dispensed_value")) == totals


def _summary(moved, top):
    """What the inventory page draws, from per-item figures (``_daily``'s first part)."""
    rows = [{"item_id": i, **m} for i, m in moved.items()]
    ranked = sorted(rows, key=lambda r: (-r["used"], r["item_id"]))
    categories = {}
    for r in ranked:
        name = Item.objects.get(pk=r["item_id"]).category
        name = name.name if name else "(none)"
        categories[name] = categories.get(name, 0) + float(r["used"])
    return {
        "top": ranked[:top],
        "losses": sorted(
            (r for r in ranked if r["expired"]),
            key=lambda r: (-r["expired"], -r["used"], r["item_id"]),
        ),
        "categories": categories,
    }


def test_every_range_equals_its_daily_rows(stock_history):
    ids = [item.pk for item in stock_history]
    for first, last in _ranges():
        daily = _daily(first, last)
        assert _via_months(first, last, ids) == daily, (first, last)
        for top in (1, 2, 20):
            summary = stock.consumption_summary(first, last, top=top)
            assert summary == _summary(daily[0], top), (first, last, top)
    whole = stock.consumption_summary(START, TODAY, top=20)
    assert whole["losses"] and len(whole["categories"]) == 3


def test_a_refreshed_day_shows_in_its_month(stock_history):
    item = stock_history[0]
    day = TODAY - timedelta(days=40)
    StockMovement.objects.create(
        lot=StockMovement.objects.filter(item=item).first().lot,
        item=item,
        kind=MovementKind.DISPENSE,
        reason_code=ReasonCode.PATIENT,
        quantity=Decimal("-7"),
        unit_cost=Decimal("2.00"),
        destination="Sports fest first-aid kit",
        created_at=local(day, 10),
    )
    before = _via_months(day.replace(day=1), TODAY, [item.pk])
    rollup_refresh_day(day=day)
    after = _via_months(day.replace(day=1), TODAY, [item.pk])
    assert after[0][item.pk]["used"] == before[0][item.pk]["used"] + 7
    moved, levels, value = _daily(day.replace(day=1), TODAY)
    assert after == (moved, {item.pk: levels[item.pk]}, value)


def test_split_covers_each_day_of_the_range_once():
    first = TODAY - timedelta(days=400)
    for offset in range(0, 400, 7):
        for length in (0, 1, 13, 30, 31, 45, 90, 200, 364):
            a = first + timedelta(days=offset)
            b = a + timedelta(days=length)
            split = split_range(a, b, today=TODAY)
            count = defaultdict(int)
            for month in split.months:
                day = month
                while day.month == month.month:
                    count[day] += 1
                    day += timedelta(days=1)
            for day in split.plus:
                count[day] += 1
            for day in split.minus:
                count[day] -= 1
            covered = {d for d, n in count.items() if n}
            assert all(n in (0, 1) for n in count.values())
            assert covered == {a + timedelta(days=i) for i in range(length + 1)}
            # Never more daily rows than half a month's at each end (past days only).
            assert len([d for d in split.plus + split.minus if d <= TODAY]) <= 32


def test_inventory_page_shows_the_top_items_figures(stock_history, client_for, admin_user):
    first = TODAY - timedelta(days=50)
    moved, levels, _ = _daily(first, TODAY)
    top = max(moved, key=lambda i: moved[i]["used"])
    body = (
        client_for(admin_user)
        .get(
            reverse("analytics:inventory"),
            {"date_from": first.isoformat(), "date_to": TODAY.isoformat()},
        )
        .content.decode()
    )
    assert f"{int(moved[top]['used']):,}" in body
    assert str(levels[top]["stockout_days"]) in body


def test_refresh_rewrites_only_changed_month_rows_and_drops_orphans(stock_history):
    from django.db import connection

    month = (TODAY - timedelta(days=40)).replace(day=1)
    orphan = StockMonthFact.objects.create(month=month, item=ItemFactory(), days=1)

    def versions():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT item_id, xmin::text FROM analytics_stockmonthfact WHERE month = %s",
                [month],
            )
            return dict(cursor.fetchall())

    before = versions()
    rollup_refresh_day(day=month + timedelta(days=3))  # nothing changed that day
    after = versions()
    assert orphan.item_id not in after  # no daily rows: its month row is gone
    assert after == {k: v for k, v in before.items() if k != orphan.item_id}  # not rewritten
    moved, _, value = _daily(month, next_month(month) - timedelta(days=1))
    assert StockMonthTotal.objects.get(month=month).dispensed_value == value
    assert {m.item_id for m in StockMonthFact.objects.filter(month=month, moved_days__gt=0)} == set(
        moved
    )

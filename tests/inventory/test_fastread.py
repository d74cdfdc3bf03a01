"""inventory.screens (hand-written SQL for the stock overview and an item's page) returns
what the ORM queries in inventory.selectors return: the same rows in the same order, the same
field values, stock annotations and related objects, the same pagination."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.paginator import Paginator
from django.http import Http404
from django.test import override_settings
from django.utils import formats, timezone, translation

from inventory import screens, selectors
from inventory.models import Category, Item, ItemKind, Location, StockLot
from inventory.services import dispensing, purchasing, stock
from inventory.templatetags.stock_rows import _decimal_sep, _qty
from tests.inventory.factories import (
    ItemFactory,
    LocationFactory,
    PatientFactory,
    VendorFactory,
    receive,
)

pytestmark = pytest.mark.django_db


def _values(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def _same_item(fast: Item, orm: Item) -> None:
    assert _values(fast) == _values(orm)
    assert (fast.on_hand, fast.usable, fast.on_order) == (orm.on_hand, orm.usable, orm.on_order)


@pytest.fixture
def shelf(inventory_user):
    """Items of two kinds and categories at two places; one holds an expired lot the
    morning job has not quarantined yet (stored 'available' overstates its usable stock),
    one has stock on order, one none at all, one is inactive."""
    pills = Category.objects.create(name="Analgesics")
    dental = LocationFactory(name="Dental room", code="dental")
    items = {}
    for n, name in enumerate(["Amoxicillin", "Bandage 100% cotton", "Cetirizine", "Zinc_oxide"]):
        items[name] = ItemFactory(
            name=name,
            category=pills if n % 2 == 0 else None,
            reorder_point=Decimal("30"),
            allows_fractions=True,
        )
    items["Gauze"] = ItemFactory(name="Gauze", kind=ItemKind.MEDICAL_SUPPLY)
    items["Retired"] = ItemFactory(name="Retired", is_active=False)
    receive(items["Amoxicillin"], quantity=Decimal("12.5"))
    receive(items["Amoxicillin"], quantity=40, location=dental, batch="D-1")
    stale = receive(items["Cetirizine"], quantity=50)
    StockLot.objects.filter(pk=stale.pk).update(expiry_date=timezone.localdate() - timedelta(1))
    receive(items["Cetirizine"], quantity=5, days=900)
    receive(items["Gauze"], quantity=300, days=None)  # no expiry
    order = purchasing.purchase_order_create(actor=inventory_user, vendor=VendorFactory())
    purchasing.purchase_order_add_line(
        actor=inventory_user, order=order, item=items["Zinc_oxide"], quantity=25, unit_cost="1"
    )
    purchasing.purchase_order_send(actor=inventory_user, order=order)
    return {"items": items, "pills": pills, "dental": dental}


FILTERS = [
    {},
    {"q": "cotton"},
    {"q": "100%"},  # LIKE wildcards in the search are literal
    {"q": "c_oxide"},
    {"q": "  AMOX "},
    {"kind": ItemKind.MEDICAL_SUPPLY},
    {"category": "pills"},
    {"location": "dental"},
    {"q": "i", "category": "pills"},
    {"status": "low"},
    {"status": "out"},
]


@pytest.mark.parametrize("filters", FILTERS, ids=[str(f) for f in FILTERS])
@pytest.mark.parametrize("per_page", [2, 25])
def test_stock_overview_page_is_the_orm_overview(shelf, filters, per_page):
    filters = {
        k: shelf["pills"] if v == "pills" else shelf["dental"] if v == "dental" else v
        for k, v in filters.items()
    }
    orm = Paginator(selectors.stock_overview(**filters), per_page)
    for number in range(1, orm.num_pages + 2):  # past the end: the last page, as before
        expected = orm.get_page(number)
        got = screens.stock_overview_page(
            number, per_page=per_page, categories=Category.objects.all(), **filters
        )
        assert (got.number, got.paginator.count) == (expected.number, orm.count)
        assert got.paginator.num_pages == orm.num_pages
        assert len(got.object_list) == len(expected.object_list)
        for fast, ref in zip(got.object_list, expected.object_list, strict=True):
            _same_item(fast, ref)
            assert (fast.category.name if fast.category else None) == (
                ref.category.name if ref.category else None
            )


def test_stock_overview_usable_excludes_expired_and_quarantined_lots(shelf, inventory_user):
    page = screens.stock_overview_page(1, per_page=25, q="cetirizine")
    (row,) = page.object_list
    assert (row.on_hand, row.usable) == (55, 5)  # the expired 50 are not usable
    lot = StockLot.objects.get(item=row, expiry_date__gt=timezone.localdate())
    stock.lot_set_status(actor=inventory_user, lot=lot, status="quarantined")
    (row,) = screens.stock_overview_page(1, per_page=25, q="cetirizine").object_list
    assert (row.on_hand, row.usable) == (55, 0)


def test_overview_rows_read_missing_categories(shelf, django_assert_num_queries):
    with django_assert_num_queries(2):  # count and rows in one, the categories not supplied
        page = screens.stock_overview_page(1, per_page=25, categories=[])
        assert {i.category.name for i in page.object_list if i.category_id} == {"Analgesics"}


def test_get_item_is_the_orm_item(shelf):
    for item in shelf["items"].values():
        fast, orm = screens.get_item(item.pk), selectors.get_item(item.pk)
        _same_item(fast, orm)
        for fk in ("category", "preferred_vendor", "default_location"):
            related = getattr(orm, fk)
            assert (_values(getattr(fast, fk)) if related else None) == (
                _values(related) if related else None
            )
    for bad in (0, "x", None):
        with pytest.raises(Http404):
            screens.get_item(bad)


def test_item_lots_are_the_orm_lots(shelf, django_assert_num_queries):
    item = screens.get_item(shelf["items"]["Amoxicillin"].pk)
    with django_assert_num_queries(1):
        fast = screens.item_lots(item)
        assert [lot.location.name for lot in fast]
    orm = list(selectors.item_lots(item))
    assert [_values(lot) for lot in fast] == [_values(lot) for lot in orm]
    assert [_values(lot.location) for lot in fast] == [_values(lot.location) for lot in orm]


def test_item_ledger_page_is_the_orm_ledger(shelf, nurse_user, inventory_user):
    item = shelf["items"]["Gauze"]
    patient = PatientFactory(first_name="Maria")
    dispensing.stock_dispense(actor=nurse_user, item=item, quantity=2, patient=patient)
    for n in range(6):
        dispensing.stock_dispense(actor=None, item=item, quantity=1, destination=f"Room {n}")
    order = purchasing.purchase_order_create(actor=inventory_user, vendor=VendorFactory())
    line = purchasing.purchase_order_add_line(
        actor=inventory_user, order=order, item=item, quantity=10, unit_cost="1"
    )
    purchasing.purchase_order_send(actor=inventory_user, order=order)
    expiry = timezone.localdate() + timedelta(days=200)
    receipt = purchasing.Receipt(
        line.pk, Decimal("10"), "PO-1", expiry, None, item.default_location
    )
    purchasing.purchase_order_receive(actor=inventory_user, order=order, receipts=[receipt])
    lots = screens.item_lots(item)
    orm = list(selectors.item_ledger(item))
    assert len(orm) == 9
    for cap, per_page in ((2500, 25), (2500, 4), (5, 2)):
        reference = Paginator(orm[:cap], per_page)
        for number in range(1, reference.num_pages + 2):
            page = screens.item_ledger_page(item, number, lots=lots, per_page=per_page, cap=cap)
            expected = reference.get_page(number)
            assert page.paginator.count == min(len(orm), cap)
            assert page.paginator.capped == (len(orm) > cap)
            assert page.number == expected.number
            for fast, ref in zip(page.object_list, expected.object_list, strict=True):
                assert _values(fast) == _values(ref)
                assert _values(fast.lot) == _values(ref.lot)
                assert fast.lot.location.name == ref.lot.location.name
                assert (fast.actor.full_name if fast.actor_id else None) == (
                    ref.actor.full_name if ref.actor_id else None
                )
                assert (fast.patient.full_name if fast.patient_id else None) == (
                    ref.patient.full_name if ref.patient_id else None
                )
                assert (
                    fast.purchase_order_line.order.number if fast.purchase_order_line_id else None
                ) == (ref.purchase_order_line.order.number if ref.purchase_order_line_id else None)


VALUES = ["0", "-0", "12.500", "1200.000", "0.001", "-3.250", "123456789012.5", "1E+3", "7E-3"]


@pytest.mark.parametrize("language", ["en", "de", "fr"])
@pytest.mark.parametrize("grouping", [False, True])
def test_qty_writes_what_localize_writes(language, grouping):
    with translation.override(language), override_settings(USE_THOUSAND_SEPARATOR=grouping):
        sep = _decimal_sep()
        assert (sep is None) == grouping
        for text in VALUES:
            value = Decimal(text)
            assert _qty(value, sep) == _qty(value) == formats.localize(value.normalize())


def test_filter_lists_are_the_form_querysets(shelf):
    LocationFactory(name="Old store", code="old", is_active=False)
    Category.objects.create(name="antiseptics")  # lower case sorts as the database sorts
    categories, locations = screens.filter_lists()
    assert [_values(c) for c in categories] == [_values(c) for c in Category.objects.all()]
    active = Location.objects.filter(is_active=True)
    assert [_values(loc) for loc in locations] == [_values(loc) for loc in active]
    assert "Old store" not in {loc.name for loc in locations}


@pytest.mark.parametrize("number", [None, "", "abc", "2.5", 2.0, "0", "-3", 0, "2", "3", "99"])
@pytest.mark.parametrize("server_side_binding", [False, True])
def test_page_numbers_are_read_as_django_reads_them(
    shelf, number, server_side_binding, monkeypatch, django_assert_max_num_queries
):
    from django.db import connection

    options = {**connection.settings_dict.get("OPTIONS", {})}
    options["server_side_binding"] = server_side_binding  # then count and rows go separately
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", options)
    expected = Paginator(selectors.stock_overview(), 2).get_page(number)
    expected_ids = [i.pk for i in expected.object_list]
    past_an_end = number in ("0", "-3", 0, "99")  # the last page is read again
    with django_assert_max_num_queries((3 if server_side_binding else 2) + past_an_end):
        got = screens.stock_overview_page(number, per_page=2, categories=Category.objects.all())
        assert got.number == expected.number
        assert [i.pk for i in got.object_list] == expected_ids


@pytest.mark.parametrize("server_side_binding", [False, True])
def test_item_with_lots_is_item_and_lots_in_one_round_trip(
    shelf, server_side_binding, monkeypatch, django_assert_num_queries
):
    from django.db import connection

    options = {**connection.settings_dict.get("OPTIONS", {})}
    options["server_side_binding"] = server_side_binding  # then one round trip per statement
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", options)
    for item in shelf["items"].values():
        with django_assert_num_queries(2 if server_side_binding else 1):
            got, lots = screens.item_with_lots(item.pk)
        _same_item(got, selectors.get_item(item.pk))
        assert got.default_location.name == item.default_location.name
        assert [_values(lot) for lot in lots] == [_values(lot) for lot in selectors.item_lots(item)]
        assert all(lot.location.pk == lot.location_id for lot in lots)
    for bad in (0, "x"):
        with pytest.raises(Http404):
            screens.item_with_lots(bad)


@pytest.mark.parametrize("number", [None, "", "abc", "2.5", 2.0, "0", "-3", 1, "2", "3", "99"])
def test_item_page_is_item_lots_and_ledger_page_in_one_round_trip(
    shelf, number, django_assert_num_queries
):
    item = shelf["items"]["Gauze"]
    for n in range(7):
        dispensing.stock_dispense(actor=None, item=item, quantity=1, destination=f"Room {n}")
    receive(item, quantity=5, days=None, batch="G-2")
    past_an_end = number in ("0", "-3", "99")  # the last page is read again
    with django_assert_num_queries(1 + past_an_end):
        got, lots, page = screens.item_page(item.pk, number, per_page=3, cap=2500)
        rows = [(m.pk, m.lot.batch_number, m.lot.location.name) for m in page]
    ref_item, ref_lots = screens.item_with_lots(item.pk)
    ref_page = screens.item_ledger_page(item, number, lots=ref_lots, per_page=3, cap=2500)
    _same_item(got, ref_item)
    assert [_values(lot) for lot in lots] == [_values(lot) for lot in ref_lots]
    assert page.number == ref_page.number and page.paginator.count == ref_page.paginator.count
    assert page.paginator.num_pages == 3 and page.paginator.capped is False
    assert [_values(m) for m in page] == [_values(m) for m in ref_page]
    assert rows == [(m.pk, m.lot.batch_number, m.lot.location.name) for m in ref_page]
    assert all(m.lot is next(lot for lot in lots if lot.pk == m.lot_id) for m in page)


def test_item_page_of_no_item_is_a_404(shelf):
    for bad in (0, "x", None):
        with pytest.raises(Http404):
            screens.item_page(bad, 1, per_page=25, cap=2500)


def test_item_page_caps_the_count(shelf):
    item = shelf["items"]["Gauze"]
    for n in range(6):
        dispensing.stock_dispense(actor=None, item=item, quantity=1, destination=f"Room {n}")
    _item, _lots, page = screens.item_page(item.pk, 1, per_page=2, cap=4)
    assert (page.paginator.count, page.paginator.capped, page.paginator.num_pages) == (4, True, 2)

"""The API's unfiltered stock list reads its pages with one plain query
(``inventory.screens.ApiItemRows``) instead of the ORM and the serializer: every page, both
ways through the cursors, is what the generic path (ORM queryset, ``ItemSerializer``, the
same cursor paginator) answers, and filtered or ordered lists keep the generic path."""

from __future__ import annotations

from base64 import b64encode
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory import api, screens, selectors
from inventory.api import ItemSerializer, item_row_representation
from inventory.models import Category, Item, ItemKind, StockLot
from inventory.services import purchasing
from tests.inventory.factories import ItemFactory, LocationFactory, VendorFactory, receive

pytestmark = pytest.mark.django_db

URL = "/api/v1/inventory/items/"


@pytest.fixture
def shelf(inventory_user):
    """Items with and without a category, fractional and whole stock, an expired lot still
    marked available (usable below the stored total), stock on order, none at all, large
    quantities, an inactive item (never listed)."""
    pills = Category.objects.create(name="Analgésicos & <co>")
    room = LocationFactory(name="Room", code="room")
    items = [
        ItemFactory(
            name=f"Item {n}",
            category=pills if n % 3 == 0 else None,
            allows_fractions=n in (1, 3, 4, 9),
            reorder_point=Decimal("12.5") if n % 4 == 0 else Decimal("0"),
            reorder_quantity=Decimal("0.001") * n,
            strength="" if n % 5 == 0 else f"{n * 50} mg",
            kind=ItemKind.MEDICAL_SUPPLY if n % 2 else ItemKind.MEDICATION,
            default_location=room,
        )
        for n in range(11)
    ]
    receive(items[1], quantity=Decimal("12.5"))
    receive(items[9], quantity=40, days=None)  # a supply: no expiry
    stale = receive(items[3], quantity=50)
    StockLot.objects.filter(pk=stale.pk).update(expiry_date=timezone.localdate() - timedelta(1))
    receive(items[3], quantity=Decimal("0.125"), days=900)
    receive(items[4], quantity=Decimal("99999999.999"))
    order = purchasing.purchase_order_create(actor=inventory_user, vendor=VendorFactory())
    purchasing.purchase_order_add_line(
        actor=inventory_user, order=order, item=items[5], quantity=25, unit_cost="1"
    )
    purchasing.purchase_order_send(actor=inventory_user, order=order)
    ItemFactory(name="Retired", is_active=False)
    return items


def _generic(monkeypatch):
    """Make every list take the generic path."""
    monkeypatch.setattr(api, "PLAIN_LIST_PARAMS", frozenset())


def _walk(client, url: str, direction: str) -> list[dict]:
    pages = []
    while url:
        body = client.get(url).json()
        pages.append(body)
        url = body[direction]
    return pages


def test_rows_are_what_the_serializer_gives(shelf):
    rows = screens.ApiItemRows(lambda row: row).order_by("-id")[0:100]
    fast = [item_row_representation(row) for row in rows]
    items = list(selectors.stock_overview().order_by("-id"))
    generic = [dict(d) for d in ItemSerializer(items, many=True).data]
    assert fast == generic
    assert len(fast) == 11 and Item.objects.filter(is_active=False).exists()
    by_name = {d["name"]: d for d in fast}
    # The values the fixture was made to exercise, written as DRF writes them.
    assert by_name["Item 0"]["category"] == "Analgésicos & <co>"
    assert by_name["Item 1"]["category"] is None
    assert by_name["Item 1"]["on_hand"] == "12.500"
    assert (by_name["Item 3"]["on_hand"], by_name["Item 3"]["usable"]) == ("50.125", "0.125")
    assert by_name["Item 4"]["usable"] == "99999999.999"
    assert by_name["Item 5"]["on_order"] == "25.000"
    assert by_name["Item 6"]["usable"] == "0.000"  # no lots at all
    assert by_name["Item 8"]["reorder_point"] == "12.500"
    assert (by_name["Item 1"]["allows_fractions"], by_name["Item 2"]["allows_fractions"]) == (
        True,
        False,
    )


@pytest.mark.parametrize("page_size", [None, 1, 3, 11, 100])
def test_every_page_both_ways_is_the_generic_answer(
    shelf, inventory_user, api_client, monkeypatch, page_size
):
    client = api_client(inventory_user, scope="read")
    first = URL if page_size is None else f"{URL}?page_size={page_size}"
    fast_forward = _walk(client, first, "next")
    fast_back = _walk(client, fast_forward[-1]["next"] or fast_forward[-1]["previous"], "previous")
    _generic(monkeypatch)
    generic_forward = _walk(client, first, "next")
    assert fast_forward == generic_forward
    generic_back = _walk(
        client, generic_forward[-1]["next"] or generic_forward[-1]["previous"], "previous"
    )
    assert fast_back == generic_back
    # Every active item once, newest first.
    ids = [d["id"] for page in fast_forward for d in page["results"]]
    assert ids == sorted((i.pk for i in shelf), reverse=True)


def test_the_plain_list_is_one_query_after_authentication(shelf, inventory_user, api_client):
    client = api_client(inventory_user, scope="read")
    client.get(URL)  # the token's last use is written at most once a minute
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"{URL}?page_size=4").status_code == 200
    item_queries = [q["sql"] for q in queries if "inventory_item" in q["sql"]]
    assert len(item_queries) == 1 and len(queries) == 2  # the token, the page


def test_a_stock_change_shows_on_the_next_read(shelf, inventory_user, api_client):
    client = api_client(inventory_user, scope="read")
    item = shelf[7]
    before = next(d for d in client.get(URL).json()["results"] if d["id"] == item.pk)
    receive(item, quantity=2)
    after = next(d for d in client.get(URL).json()["results"] if d["id"] == item.pk)
    assert (before["on_hand"], after["on_hand"]) == ("0.000", "2.000")
    assert after["usable"] == "2.000"


@pytest.mark.parametrize(
    "query",
    ["q=item+1", "kind=medical_supply", "status=low", "ordering=name", "ordering=-sku", "kind="],
)
def test_filtered_and_ordered_lists_keep_the_generic_path(
    shelf, inventory_user, api_client, monkeypatch, query
):
    def refuse(*args, **kwargs):
        raise AssertionError("the plain-SQL path served a filtered list")

    client = api_client(inventory_user, scope="read")
    monkeypatch.setattr(screens, "ApiItemRows", refuse)
    body = client.get(f"{URL}?{query}&page_size=100").json()
    assert body["results"]


def test_a_cursor_position_that_is_no_number_is_an_invalid_cursor(
    shelf, inventory_user, api_client, monkeypatch
):
    client = api_client(inventory_user, scope="read")
    client.raise_request_exception = False
    cursor = b64encode(b"p=abc").decode()
    fast = client.get(f"{URL}?cursor={cursor}")
    _generic(monkeypatch)
    generic = client.get(f"{URL}?cursor={cursor}")
    assert fast.status_code == generic.status_code == 404
    assert fast.json()["detail"] == "Invalid cursor"


def test_row_source_accepts_only_what_the_paginator_asks():
    rows = screens.ApiItemRows(lambda row: row)
    with pytest.raises(ValueError):
        rows.order_by("name")
    with pytest.raises(ValueError):
        rows.filter(name__gt="a")
    with pytest.raises(TypeError):
        rows[3]

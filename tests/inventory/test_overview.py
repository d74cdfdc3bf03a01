"""The stock overview screen (inventory.overview): its filter bar and rows, read in one round
trip and drawn from plain rows, are what the form and the ORM overview drew before: the same
page, byte for byte, for valid, invalid and guessed-wrong submissions."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.paginator import Paginator
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from inventory import filters, overview, screens, selectors
from inventory.filters import FilterBar, StockFilterForm, filter_fields
from inventory.models import Category, ItemKind, StockLot
from inventory.views import items as item_views
from tests.inventory.factories import ItemFactory, LocationFactory, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def shelf():
    pills = Category.objects.create(name='Pills & "caps"')
    Category.objects.create(name="Empty <category>")
    dental = LocationFactory(name="Dental <room>", code="dental")
    retired = LocationFactory(name="Retired", code="retired", is_active=False)
    low = ItemFactory(
        name="Amoxicillin",
        strength="500 mg",
        form="Capsule",
        category=pills,
        reorder_point=30,
        allows_fractions=True,
    )
    receive(low, quantity=Decimal("12.5"))
    receive(low, quantity=4, location=dental, batch="D-1")
    cetirizine = ItemFactory(name='Cetirizine "10"', generic_name="cetirizine")
    stale = receive(cetirizine, quantity=50)
    # Past its expiry, not quarantined yet: on hand, not usable (the stored available
    # stock counts it; the rows take it off).
    StockLot.objects.filter(pk=stale.pk).update(expiry_date=timezone.localdate() - timedelta(1))
    receive(cetirizine, quantity=5, days=900)
    receive(ItemFactory(name="Gauze <b>", kind=ItemKind.MEDICAL_SUPPLY, unit="roll"), quantity=300)
    for n in range(4):
        ItemFactory(name=f"Zinc {n}", category=pills if n % 2 else None)
    return {"pills": pills.pk, "dental": dental.pk, "retired": retired.pk}


QUERIES = [
    {},
    {"page": "2"},
    {"page": "99"},
    {"page": "x"},
    {"q": "  AMOX "},
    {"q": "zinc", "page": "2"},
    {"q": "100%"},
    {"q": "nothing matches"},
    {"q": "zi\x00nc"},  # a null character voids the form: no filter
    {"kind": ItemKind.MEDICAL_SUPPLY},
    {"kind": "nonsense", "q": "zinc"},  # an invalid kind voids the whole form
    {"category": "PILLS"},
    {"category": "00PILLS"},  # the same number, not the same choice: invalid
    {"category": "999999", "q": "zinc"},
    {"category": "٣"},  # a digit, not an ASCII one
    {"location": "DENTAL"},
    {"location": "RETIRED"},  # not offered
    {"status": "low"},
    {"status": "out", "q": "e"},
    {"status": "expiring"},
    {"status": "bogus", "q": "zinc"},
    {"q": "zinc", "kind": ItemKind.MEDICATION, "category": "PILLS", "page": "2"},
]


def _query(shelf, query: dict) -> dict:
    return {
        k: re.sub(r"(PILLS|DENTAL|RETIRED)", lambda m: str(shelf[m[1].lower()]), v)
        for k, v in query.items()
    }


def _orm_screen(request, per_page: int) -> str:
    """The page as the view drew it before: the form read its lists and validated, the ORM
    overview gave the items, the template drew the form's fields and the items."""
    form = StockFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    qs = selectors.stock_overview(**{k: v for k, v in data.items() if v})
    page = Paginator(qs, per_page).get_page(request.GET.get("page"))
    bar = FilterBar(filter_fields(form), ())
    return render_to_string("inventory/stock.html", {"bar": bar, "page": page}, request=request)


def _without_csrf(html: str) -> str:
    return re.sub(r'(csrfmiddlewaretoken" value="|X-CSRFToken": ")[^"]+', r"\1", html)


@pytest.mark.parametrize("query", QUERIES, ids=[repr(q) for q in QUERIES])
def test_overview_page_is_what_the_form_and_orm_drew(
    shelf, query, client_for, inventory_user, monkeypatch
):
    monkeypatch.setattr(item_views, "PAGE_SIZE", 2)
    filters.filter_bar.cache_clear()
    client = client_for(inventory_user)
    for _ in range(2):  # drawn, then kept
        response = client.get(reverse("inventory:stock"), _query(shelf, query))
        assert response.status_code == 200
        expected = _orm_screen(response.wsgi_request, per_page=2)
        assert _without_csrf(response.content.decode()) == _without_csrf(expected)
    assert filters.filter_bar.cache_info().hits >= 1


def test_overview_rows_are_the_orm_items_rows(shelf):
    for query in QUERIES:
        data = _query(shelf, query)
        _bar, page = overview.stock_overview(data, data.get("page"), per_page=2)
        form = StockFilterForm(data or None)
        cleaned = form.cleaned_data if form.is_valid() else {}
        orm = Paginator(selectors.stock_overview(**{k: v for k, v in cleaned.items() if v}), 2)
        expected = orm.get_page(data.get("page"))
        assert (page.number, page.paginator.count) == (expected.number, orm.count)
        assert list(page.object_list) == [screens.StockRow.of(i) for i in expected.object_list]
    (row,) = overview.stock_overview({"q": "cetirizine"}, None, per_page=2)[1].object_list
    assert (row.on_hand, row.usable) == (55, 5)


@pytest.mark.parametrize(
    ("query", "queries"),
    [
        ({}, 1),  # the lists, the count and the page: one round trip
        ({"q": "zinc", "page": "2"}, 1),
        ({"q": "zinc", "category": "PILLS"}, 1),
        ({"q": "zinc", "page": "3"}, 2),  # past the end: the last page, read again
        ({"category": "999999"}, 2),  # guessed wrong: the page again, unfiltered
        ({"status": "low"}, 4),  # the lists, then the ORM overview (expired lots, count, page)
    ],
)
def test_overview_round_trips(shelf, query, queries, django_assert_num_queries):
    data = _query(shelf, query)
    filters.filter_bar.cache_clear()
    with django_assert_num_queries(queries):
        overview.stock_overview(data, data.get("page"), per_page=2)


def test_a_changed_list_draws_a_new_bar(shelf):
    data = {"category": str(shelf["pills"])}
    bar, _ = overview.stock_overview(data, None, per_page=2)
    Category.objects.filter(pk=shelf["pills"]).update(name="Tablets")
    again, page = overview.stock_overview(data, None, per_page=2)
    assert "Tablets" in again.html and "Tablets" not in bar.html
    assert {row.category for row in page.object_list} == {"Tablets"}
    new = Category.objects.create(name="Brand new")
    Category.objects.filter(pk=shelf["pills"]).update(name="Pills")
    ItemFactory(name="Zinc 0", category=new)
    bar, page = overview.stock_overview({}, None, per_page=50)
    assert "Brand new" in bar.html
    assert "Brand new" in {row.category for row in page.object_list}


def test_a_category_made_after_the_lists_were_read_is_named(shelf):
    names = {}
    page = screens.stock_rows_page(1, per_page=50, names=names)
    assert 'Pills & "caps"' in {row.category for row in page.object_list}
    assert names[shelf["pills"]] == 'Pills & "caps"'


def test_kept_stock_rows_are_the_rows_drawn_afresh(shelf):
    from django.utils import translation

    from inventory.templatetags.stock_rows import _kept_stock_row, stock_row, stock_rows

    _kept_stock_row.cache_clear()
    page = overview.stock_overview({}, None, per_page=50)[1]
    for language in ("en", "de", "en"):
        with translation.override(language):
            fresh = "".join(stock_row(row) for row in page)
            assert stock_rows(page) == fresh
            assert stock_rows(page) == fresh
    assert _kept_stock_row.cache_info().hits >= 2 * len(page.object_list)
    receive(ItemFactory(name="Gauze <b>"), quantity=1)  # a new row, drawn afresh
    page = overview.stock_overview({}, None, per_page=50)[1]
    assert stock_rows(page) == "".join(stock_row(row) for row in page)

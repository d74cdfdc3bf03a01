"""An item's page with its ledger read as plain rows (``screens.item_rows_page``,
``screens.LedgerRow``) is the page the movements as objects drew: the same rows for every
kind of movement and person on it, the same HTML for each role, the same round trips."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.paginator import Paginator
from django.template import Context, Template
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.roles import user_has_perm
from billing.catalogue import catalogue_ensure
from inventory import screens, selectors
from inventory.models import ADJUST_REASONS
from inventory.services import dispensing, purchasing, stock
from inventory.views import items as item_views
from tests.inventory.factories import (
    ItemFactory,
    LocationFactory,
    PatientFactory,
    VendorFactory,
    receive,
)
from tests.inventory.test_fastread import (
    assert_same_item_and_lots,
    orm_item,
    orm_ledger_page,
    orm_lots,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def item(nurse_user, inventory_user):
    """An item whose ledger has every kind of row: patient dispensings (one cancelled, one
    with a quote in the name), ward use, a purchase order receipt, system adjustments with
    notes, receipts by people."""
    catalogue_ensure()
    item = ItemFactory(name="Cetirizine", allows_fractions=True)
    lot = receive(item, quantity=Decimal("40"), actor=nurse_user, batch="B <1>")
    patient = PatientFactory(first_name="Ana <i>", middle_name="Cruz", last_name="O'Neil")
    done = dispensing.stock_dispense(actor=nurse_user, item=item, quantity=6, patient=patient)
    dispensing.stock_dispense_cancel(
        actor=nurse_user, movement=done.movements[0], reason="entered in error"
    )
    dispensing.stock_dispense(actor=nurse_user, item=item, quantity=2, patient=patient)
    for n in range(3):
        dispensing.stock_dispense(actor=None, item=item, quantity="0.5", destination=f"Ward {n}")
    stock.stock_adjust(
        actor=None, lot=lot, quantity_change="-2", reason_code=ADJUST_REASONS[0], note="wet <box>"
    )
    order = purchasing.purchase_order_create(actor=inventory_user, vendor=VendorFactory())
    line = purchasing.purchase_order_add_line(
        actor=inventory_user, order=order, item=item, quantity=10, unit_cost="1"
    )
    purchasing.purchase_order_send(actor=inventory_user, order=order)
    receipt = purchasing.Receipt(
        line.pk,
        Decimal("10"),
        "PO-1",
        timezone.localdate() + timedelta(days=200),
        None,
        item.default_location,
    )
    purchasing.purchase_order_receive(actor=inventory_user, order=order, receipts=[receipt])
    return item


def test_ledger_rows_are_the_orm_movements(item):
    orm = list(selectors.item_ledger(item))
    assert len(orm) >= 9
    for cap, per_page in ((2500, 25), (2500, 4), (5, 2)):
        reference = Paginator(orm[:cap], per_page)
        for number in [*range(1, reference.num_pages + 2), "x", -1]:
            got_item, lots, page = screens.item_rows_page(
                item.pk, number, per_page=per_page, cap=cap
            )
            expected = reference.get_page(number)
            assert (page.number, page.paginator.count) == (expected.number, reference.count)
            assert page.paginator.capped == (len(orm) > cap)
            assert list(page.object_list) == [screens.LedgerRow.of(m) for m in expected]
            assert got_item.pk == item.pk and [lot.pk for lot in lots] == [
                lot.pk for lot in selectors.item_lots(item)
            ]
    rows = screens.item_rows_page(item.pk, 1, per_page=25, cap=2500)[2].object_list
    assert {r.actor_name for r in rows} >= {"Nora Nurse", "Ivan Stock", ""}
    assert "Ana <i> C. O'Neil" in {r.patient_name for r in rows}
    assert any(r.order_number for r in rows)


def _without_csrf(html: str) -> str:
    return re.sub(r'(csrfmiddlewaretoken" value="|X-CSRFToken": ")[^"]+', r"\1", html)


@pytest.mark.parametrize("persona", ["nurse_user", "inventory_user", "doctor_user"])
@pytest.mark.parametrize("number", ["1", "2", "9"])
def test_item_page_is_what_the_movements_drew(
    item, persona, number, request, monkeypatch, client_for
):
    user = request.getfixturevalue(persona)
    if not user_has_perm(user, "inventory.view_stock"):
        pytest.skip("no access")
    monkeypatch.setattr(item_views, "PAGE_SIZE", 4)
    response = client_for(user).get(
        reverse("inventory:item_detail", args=[item.pk]), {"page": number}
    )
    assert response.status_code == 200
    page = orm_ledger_page(item, number, per_page=4, cap=item_views.LEDGER_CAP)
    context = {
        "item": orm_item(item.pk),
        "lots": orm_lots(item),
        "page": page,
        "show_patients": user_has_perm(user, "patients.view_demographics"),
        "can_dispense": user_has_perm(user, "inventory.dispense"),
        "cancelled": selectors.cancelled_dispensings(page),
    }
    expected = render_to_string(
        "inventory/item_detail.html", context, request=response.wsgi_request
    )
    assert _without_csrf(response.content.decode()) == _without_csrf(expected)


def test_item_page_round_trips(item, django_assert_num_queries):
    # The item, lots, count and page in one; the page's actors in one; patients, order
    # lines: one each, only when the page has them.
    with django_assert_num_queries(4):
        screens.item_rows_page(item.pk, 1, per_page=25, cap=2500)
    quiet = ItemFactory(name="Quiet")
    for n in range(3):
        receive(quiet, quantity=5, batch=f"Q{n}")
    with django_assert_num_queries(1):  # no one on these rows
        _item, _lots, page = screens.item_rows_page(quiet.pk, 1, per_page=25, cap=2500)
        assert len(page.object_list) == 3


# The item page's header as template code before it moved to stock_rows.item_header.
OLD_HEADER = (
    "{% load uscpis %}"
    + '<div class="page-header"><div><h1>{{ item.display_name }}</h1>\n<p class="subtitle">{{ item.sku }} · {{ item.get_kind_display }}{% if item.category %} · {{ item.category }}{% endif %}{% if item.generic_name %} · {{ item.generic_name }}{% endif %}</p></div>\n<div class="page-actions">\n  {% if user|can:"inventory.dispense" and item.kind != "equipment" %}<a class="button" href="{% url_for \'inventory:dispense\' %}?item={{ item.pk }}">Dispense</a>{% endif %}\n  {% if user|can:"inventory.manage_stock" %}<a class="button secondary" href="{% url_for \'inventory:item_receive\' item.pk %}">Receive</a>\n  <a class="button secondary" href="{% url_for \'inventory:item_edit\' item.pk %}">Edit</a>{% endif %}\n  <a class="button secondary" href="{% url_for \'inventory:item_ledger_export\' item.pk %}">Ledger CSV</a>\n</div></div>\n<div class="grid grid-4">\n  <div class="stat tone-neutral"><div class="stat-title">On hand</div><div class="stat-value" id="on-hand">{{ item.on_hand.normalize }}</div><div class="stat-detail">{{ item.unit }}{% if item.allows_fractions %} (fractions allowed){% endif %}</div></div>\n  <div class="stat {% if item.reorder_point and item.usable|add:item.on_order <= item.reorder_point %}tone-bad{% else %}tone-good{% endif %}"><div class="stat-title">Usable</div><div class="stat-value">{{ item.usable.normalize }}</div><div class="stat-detail">reorder at {{ item.reorder_point.normalize }}, order {{ item.reorder_quantity.normalize }}</div></div>\n  <div class="stat tone-neutral"><div class="stat-title">On order</div><div class="stat-value">{{ item.on_order.normalize }}</div><div class="stat-detail">{{ item.preferred_vendor|default:"no preferred vendor" }}</div></div>\n  <div class="stat tone-neutral"><div class="stat-title">Stored at</div><div class="stat-value small-value">{{ item.default_location|default:"—" }}</div><div class="stat-detail">default location</div></div>\n</div>'
)


@pytest.mark.parametrize("persona", ["nurse_user", "inventory_user", "doctor_user"])
def test_item_header_is_what_the_template_drew(item, persona, request):
    from inventory.models import Category, ItemKind, Location

    user = request.getfixturevalue(persona)
    plain = ItemFactory(
        name="Gauze <b>",
        generic_name="",
        unit="roll & box",
        kind=ItemKind.EQUIPMENT,
        category=None,
        preferred_vendor=None,
        default_location=None,
        reorder_point=0,
    )
    fractions = ItemFactory(
        name="Syrup",
        generic_name="paracetamol <syrup>",
        allows_fractions=True,
        reorder_point=Decimal("12"),
        category=Category.objects.create(name="Syr & ups"),
        preferred_vendor=VendorFactory(name="Vendor <one>"),
        default_location=Location.objects.create(name="Shelf 'A'", code="shelf-a"),
    )
    # Usable 10.6 + on order 1.5: 12.1 is over the reorder point, 10 + 1 is not (the
    # template's add filter cut both to whole numbers and called it low; the tag does not).
    receive(fractions, quantity=Decimal("10.6"))
    order = purchasing.purchase_order_create(actor=None, vendor=VendorFactory())
    purchasing.purchase_order_add_line(
        actor=None, order=order, item=fractions, quantity=Decimal("1.5"), unit_cost="1"
    )
    purchasing.purchase_order_send(actor=None, order=order)
    for one in (item, plain, fractions):
        got_item, _lots, _page = screens.item_rows_page(one.pk, 1, per_page=25, cap=2500)
        context = Context({"item": got_item, "user": user})
        expected = Template(OLD_HEADER).render(context)
        got = Template("{% load stock_rows %}{% item_header item %}").render(context)
        if one is fractions:  # the one difference: the tone, now from exact decimals
            assert 'class="stat tone-bad"><div class="stat-title">Usable' in expected
            expected = expected.replace(
                'class="stat tone-bad"><div class="stat-title">Usable',
                'class="stat tone-good"><div class="stat-title">Usable',
            )
        assert got == expected
    assert "Syr &amp; ups" in got
    # The header and the low-stock list agree.
    assert fractions.pk not in {i.pk for i in selectors.low_stock_items()}


def test_item_header_tone_counts_fractions_exactly(inventory_user):
    fractions = ItemFactory(name="Drops", allows_fractions=True, reorder_point=Decimal("12"))
    receive(fractions, quantity=Decimal("11.5"))
    got_item = screens.item_rows_page(fractions.pk, 1, per_page=25, cap=2500)[0]
    got = Template("{% load stock_rows %}{% item_header item %}").render(
        Context({"item": got_item, "user": inventory_user})
    )
    assert 'class="stat tone-bad"><div class="stat-title">Usable' in got  # 11.5 <= 12
    assert fractions.pk in {i.pk for i in selectors.low_stock_items()}


@pytest.mark.parametrize("show_patients", [True, False])
@pytest.mark.parametrize("can_dispense", [True, False])
def test_kept_ledger_rows_are_the_rows_drawn_afresh(item, show_patients, can_dispense):
    from django.test import override_settings
    from django.utils import translation

    from inventory.templatetags.stock_rows import _kept_ledger_row, ledger_row, ledger_rows

    _kept_ledger_row.cache_clear()
    page = screens.item_rows_page(item.pk, 1, per_page=25, cap=2500)[2]
    cancelled = selectors.cancelled_dispensings(page)
    assert cancelled
    for zone in ("Asia/Manila", "UTC", "Asia/Manila"):
        with timezone.override(zone), translation.override("en"):
            fresh = "".join(ledger_row(m, show_patients, can_dispense, cancelled) for m in page)
            for _ in range(2):  # drawn, then kept
                assert ledger_rows(page, show_patients, can_dispense, cancelled) == fresh
    assert _kept_ledger_row.cache_info().hits >= 2 * len(page.object_list)
    with override_settings(FORCE_SCRIPT_NAME="/clinic/"):
        from django.urls import set_script_prefix

        set_script_prefix("/clinic/")
        try:
            kept = ledger_rows(page, show_patients, can_dispense, cancelled)
            assert kept == "".join(
                ledger_row(m, show_patients, can_dispense, cancelled) for m in page
            )
            assert ("/clinic/inventory/" in kept) == can_dispense
        finally:
            set_script_prefix("/")


def test_item_and_lots_are_the_orm_item_and_lots(item):
    from inventory.models import Category, ItemKind, Location

    bare = ItemFactory(name="Bare", category=None, preferred_vendor=None, default_location=None)
    full = ItemFactory(
        name="Full",
        kind=ItemKind.MEDICAL_SUPPLY,
        category=Category.objects.create(name="Cat"),
        preferred_vendor=VendorFactory(name="Vend"),
        default_location=Location.objects.create(name="Store 2", code="store-2"),
    )
    receive(full, quantity=3, location=LocationFactory(name="Elsewhere", code="elsewhere"))
    receive(full, quantity=4, batch="NOEXP", days=None)
    for one in (item, bare, full):
        got, lots, _page = screens.item_rows_page(one.pk, 1, per_page=25, cap=2500)
        assert_same_item_and_lots(got, lots, orm_item(one.pk))

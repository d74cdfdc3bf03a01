"""The stock overview's rows rendered in Python match the template code they replace."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.template import Context, Template

from inventory import screens, selectors
from inventory.models import ADJUST_REASONS, Category
from inventory.templatetags.stock_rows import ledger_row, stock_row
from tests.inventory.factories import ItemFactory, receive
from tests.inventory.test_fastread import orm_ledger_page

pytestmark = pytest.mark.django_db

# The row as template code before it moved to inventory/templatetags/stock_rows.py.
OLD_ROWS = (
    "{% load uscpis %}"
    + '{% for i in page %}<tr>\n      <td><a href="{% url_for \'inventory:item_detail\' i.pk %}">{{ i.display_name }}</a><div class="muted small">{{ i.sku }}{% if i.generic_name and i.generic_name != i.name %} · {{ i.generic_name }}{% endif %}</div></td>\n      <td>{{ i.get_kind_display }}</td><td>{{ i.category.name|default:"—" }}</td>\n      <td class="num">{{ i.on_hand.normalize }} <span class="muted small">{{ i.unit }}</span></td>\n      <td class="num">{{ i.usable.normalize }}</td>\n      <td class="num">{% if i.on_order %}{{ i.on_order.normalize }}{% else %}—{% endif %}</td>\n      <td class="num">{{ i.reorder_point.normalize }}</td>\n      <td>{% if i.usable <= 0 %}<span class="badge bad">Out</span>{% elif i.reorder_point and i.usable|add:i.on_order <= i.reorder_point %}<span class="badge warn">Low</span>{% else %}<span class="badge good">OK</span>{% endif %}</td>\n    </tr>{% endfor %}'
)


def test_stock_rows_match_the_template_they_replace():
    pills = Category.objects.create(name="Pills & <caps>")
    out = ItemFactory(name='Amoxicillin "forte"', generic_name="amoxicillin", category=pills)
    low = ItemFactory(name="Cetirizine", generic_name="Cetirizine", reorder_point=Decimal("50"))
    ok = ItemFactory(name="Gauze <b>", generic_name="", unit="roll", category=None)
    fine = ItemFactory(name="Zinc", reorder_point=Decimal("0"))
    receive(low, quantity=Decimal("30"))
    receive(ok, quantity=Decimal("1200"))
    receive(fine, quantity=Decimal("2"))
    page = list(selectors.stock_overview())
    assert {i.pk for i in page} >= {out.pk, low.pk, ok.pk, fine.pk}
    expected = Template(OLD_ROWS).render(Context({"page": page}))
    got = "".join(stock_row(i) for i in page)
    assert got == expected
    # The page's rows (inventory.screens, hand-written SQL) draw the same.
    fast = screens.stock_overview_page(1, per_page=25, categories=Category.objects.all())
    assert "".join(stock_row(i) for i in fast.object_list) == expected
    assert "&lt;b&gt;" in got and "<b>" not in got and "Pills &amp; &lt;caps&gt;" in got
    assert "badge bad" in got and "badge warn" in got and "badge good" in got
    assert "1,200" in got or "1200" in got


# An item's ledger row as template code before it moved to stock_rows.ledger_row.
OLD_LEDGER = (
    "{% load uscpis %}"
    + '{% for m in page %}<tr>\n      <td class="nowrap">{{ m.created_at|date:"D j M Y, g:i A" }}</td>\n      <td>{{ m.get_kind_display }}<div class="muted small">{{ m.get_reason_code_display }}</div></td>\n      <td class="mono">{{ m.lot.batch_number }}<div class="muted small">{{ m.lot.location }}</div></td>\n      <td class="num {% if m.quantity < 0 %}neg{% else %}pos{% endif %}">{% if m.quantity > 0 %}+{% endif %}{{ m.quantity.normalize }}</td>\n      <td>{% if m.patient_id %}{% if show_patients %}{{ m.patient.full_name }} <span class="muted small">{{ m.patient.id_number }}</span>{% else %}A patient{% endif %}{% if m.visit_id %} <span class="badge info">visit {{ m.visit_id }}</span>{% endif %}{% elif m.destination %}{{ m.destination }}{% elif m.purchase_order_line_id %}{{ m.purchase_order_line.order.number }}{% endif %}{% if m.note %}<div class="muted small">{{ m.note }}</div>{% endif %}</td>\n      <td>{{ m.actor.full_name|default:"System" }}</td>\n      {% if can_dispense %}<td class="actions">{% if m.kind == "dispense" and m.patient_id %}{% if m.pk in cancelled %}<span class="badge">Cancelled</span>{% else %}<a class="button secondary small" href="{% url_for \'inventory:dispense_cancel\' m.pk %}">Cancel</a>{% endif %}{% endif %}</td>{% endif %}\n    </tr>{% endfor %}'
)


def _squash(html: str) -> str:
    return re.sub(r">\s+<", "><", html).strip()


@pytest.mark.parametrize("show_patients", [True, False])
@pytest.mark.parametrize("can_dispense", [True, False])
def test_ledger_rows_match_the_template_they_replace(nurse_user, show_patients, can_dispense):
    from billing.catalogue import catalogue_ensure
    from inventory.services import dispensing, stock
    from tests.inventory.factories import PatientFactory

    catalogue_ensure()
    item = ItemFactory(name="Cetirizine")
    lot = receive(item, quantity=Decimal("20"), actor=nurse_user)
    patient = PatientFactory(first_name="Ana <i>", last_name="O'Neil")
    done = dispensing.stock_dispense(actor=nurse_user, item=item, quantity=6, patient=patient)
    dispensing.stock_dispense(actor=nurse_user, item=item, quantity=2, patient=patient)
    stock.stock_adjust(
        actor=None, lot=lot, quantity_change="-2", reason_code=ADJUST_REASONS[0], note="box <wet>"
    )  # no actor: "System"
    page = orm_ledger_page(item, 1, per_page=25, cap=2500)  # the movements, as objects
    cancelled = {done.movements[0].pk}
    ctx = {"page": page, "show_patients": show_patients, "can_dispense": can_dispense}
    expected = Template(OLD_LEDGER).render(Context({**ctx, "cancelled": cancelled}))
    got = "".join(ledger_row(m, show_patients, can_dispense, cancelled) for m in page)
    assert _squash(got) == _squash(expected)
    # The item page's rows (screens.LedgerRow) draw the same.
    rows = screens.item_rows_page(item.pk, 1, per_page=25, cap=2500)[2]
    assert len(rows) == len(page) == 4
    drawn = "".join(ledger_row(r, show_patients, can_dispense, cancelled) for r in rows)
    assert drawn == got
    assert "<i>" not in got
    assert ("Ana &lt;i&gt;" in got) == show_patients


# An item's lots table rows as template code before they moved to stock_rows.lot_rows.
OLD_LOTS = (
    "{% load uscpis %}"
    + '{% for lot in lots %}<tr{% if not lot.quantity %} class="muted"{% endif %}>\n      <td class="mono">{{ lot.batch_number }}</td><td>{{ lot.location }}</td>\n      <td class="nowrap">{{ lot.expiry_date|date:"D j M Y"|default:"—" }}{% if lot.is_expired %} <span class="badge bad">expired</span>{% endif %}</td>\n      <td class="num">{{ lot.quantity.normalize }}</td><td class="num">{{ lot.unit_cost|money }}</td>\n      <td>{% if lot.status == "available" %}<span class="badge good">Available</span>{% else %}<span class="badge bad">Quarantined</span>{% endif %}</td>\n      {% if can_manage %}<td class="actions">{% if lot.quantity %}\n        <a class="button secondary small" href="{% url_for \'inventory:lot_action\' lot.pk \'adjust\' %}">Adjust</a>\n        <a class="button secondary small" href="{% url_for \'inventory:lot_action\' lot.pk \'transfer\' %}">Move</a>\n        <a class="button secondary small" href="{% url_for \'inventory:lot_action\' lot.pk \'dispose\' %}">Dispose</a>\n        <form class="inline-form" method="post" action="{% url_for \'inventory:lot_status\' lot.pk %}">{% csrf_token %}\n          {% if lot.status == "available" %}<input type="hidden" name="status" value="quarantined"><button class="button secondary small" type="submit" hx-disabled-elt="this">Quarantine</button>\n          {% elif not lot.is_expired %}<input type="hidden" name="status" value="available"><button class="button secondary small" type="submit" hx-disabled-elt="this">Release</button>{% endif %}\n        </form>{% endif %}\n      </td>{% endif %}\n    </tr>{% empty %}<tr><td colspan="7" class="empty">No lots yet.</td></tr>{% endfor %}'
)


@pytest.mark.parametrize("can_manage", [True, False])
@pytest.mark.parametrize("csrf_token", ["tok<en>", "NOTPROVIDED", None])
def test_lot_rows_match_the_template_they_replace(inventory_user, can_manage, csrf_token):
    from datetime import timedelta

    from django.utils import timezone

    from inventory.models import ItemKind, StockLot
    from inventory.services import stock

    item = ItemFactory(name="Gauze", kind=ItemKind.MEDICAL_SUPPLY, allows_fractions=True)
    receive(item, quantity=Decimal("12.5"), batch="A <1>")
    receive(item, quantity=Decimal("1200"), batch="NOEXP", days=None)
    empty = receive(item, quantity=Decimal("3"), batch="EMPTY")
    stock.stock_adjust(
        actor=inventory_user, lot=empty, quantity_change="-3", reason_code=ADJUST_REASONS[0]
    )
    held = receive(item, quantity=Decimal("4"), batch="HELD")
    stock.lot_set_status(actor=inventory_user, lot=held, status="quarantined")
    old = receive(item, quantity=Decimal("5"), batch="OLD")
    stock.lot_set_status(actor=inventory_user, lot=old, status="quarantined")
    yesterday = timezone.localdate() - timedelta(days=1)
    StockLot.objects.filter(pk=old.pk).update(expiry_date=yesterday)  # expired: no Release
    stale = receive(item, quantity=Decimal("6"), batch="STALE")
    StockLot.objects.filter(pk=stale.pk).update(expiry_date=yesterday)  # not quarantined yet
    lots = screens.item_rows_page(item.pk, 1, per_page=25, cap=2500)[1]
    assert len(lots) == 6
    ctx = {"lots": lots, "can_manage": can_manage}
    if csrf_token:
        ctx["csrf_token"] = csrf_token
    expected = Template(OLD_LOTS).render(Context(ctx))
    got = Template("{% load stock_rows %}{% lot_rows lots can_manage %}").render(Context(ctx))
    assert got == expected
    assert "A &lt;1&gt;" in got and ("tok&lt;en&gt;" in got) == (
        can_manage and csrf_token == "tok<en>"
    )
    none = Template("{% load stock_rows %}{% lot_rows lots can_manage %}")
    assert none.render(Context({"lots": [], "can_manage": can_manage})) == Template(
        OLD_LOTS
    ).render(Context({"lots": [], "can_manage": can_manage}))


def test_whole_page_row_tags_are_the_row_tags_joined(nurse_user):
    from inventory.templatetags.stock_rows import ledger_rows, stock_rows

    item = ItemFactory(name="Cetirizine")
    receive(item, quantity=Decimal("20"), actor=nurse_user)
    receive(ItemFactory(name="Zinc", allows_fractions=True), quantity=Decimal("2.5"))
    page = screens.stock_overview_page(1, per_page=25, categories=[])
    assert stock_rows(page) == "".join(stock_row(i) for i in page)
    ledger = orm_ledger_page(item, 1, per_page=25, cap=10)
    assert ledger_rows(ledger, True, True, set()) == "".join(
        ledger_row(m, True, True, set()) for m in ledger
    )

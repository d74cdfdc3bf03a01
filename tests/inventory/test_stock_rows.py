"""The stock overview's rows rendered in Python match the template code they replace."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.template import Context, Template

from inventory import selectors
from inventory.models import Category
from inventory.templatetags.stock_rows import stock_row
from tests.inventory.factories import ItemFactory, receive

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
    assert "&lt;b&gt;" in got and "<b>" not in got and "Pills &amp; &lt;caps&gt;" in got
    assert "badge bad" in got and "badge warn" in got and "badge good" in got
    assert "1,200" in got or "1200" in got

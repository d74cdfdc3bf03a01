"""The report and invoice-list rows rendered in Python (billing/templatetags/billing_lists.py)
match the template code they replace, escaping included, for every report and any cells."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django import forms as django_forms
from django.template import Context, Template
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import forms, selectors
from billing.services import invoices
from billing.templatetags.billing_lists import invoice_list_rows, report_rows
from tests.billing.conftest import charge, issued_invoice
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.django_db

# billing/reports.html's rows before they moved to billing_lists.report_rows.
OLD_REPORT_ROWS = (
    "{% load uscpis %}"
    '{% for row in report.rows %}<tr>{% for cell in row %}{% if forloop.counter0 in report.money_columns %}<td class="num">{{ cell|money }}</td>{% else %}<td>{% if cell.year %}{{ cell|date:"j M Y" }}{% else %}{{ cell }}{% endif %}</td>{% endif %}{% endfor %}</tr>{% endfor %}'
)

# billing/invoices.html's rows before they moved to billing_lists.invoice_list_rows.
OLD_INVOICE_ROWS = (
    "{% load uscpis billing_tags %}"
    """{% for inv in page %}<tr>
    <td><a href="{% url 'billing:invoice' inv.pk %}">{{ inv.number|default:"Draft" }}</a></td>
    <td>{{ inv.patient.full_name }}<div class="muted small">{{ inv.patient.id_number }}</div></td>
    <td class="nowrap">{{ inv.visit_day|date:"D j M Y" }}</td>
    <td>{% status_badge inv.status inv.get_status_display %}</td>
    <td class="num">{{ inv.net_total|money }}</td><td class="num">{{ inv.patient_total|money }}</td><td class="num">{{ inv.balance|money }}</td>
  </tr>{% endfor %}"""
)


def _squash(html: str) -> str:
    return re.sub(r">\s+<", "><", html).strip()


def _old_report(report) -> str:
    return Template(OLD_REPORT_ROWS).render(Context({"report": report}))


def _world(billing_user, admin_user):
    today = timezone.localdate()
    a = PatientFactory(patient_type="student", first_name="Ana <i>", last_name="O'Neil & Co")
    b = PatientFactory(patient_type="employee", middle_name="", last_name='"Quoted"')
    issued_invoice(a, billing_user, "LAB-CBC", "LAB-UA", day=today - timedelta(days=40))
    inv = issued_invoice(b, billing_user, "LAB-FBS", day=today - timedelta(days=100))
    invoices.invoice_void(actor=billing_user, invoice=inv, reason="Wrong <patient>")
    issued_invoice(b, billing_user, "LAB-UA", day=today - timedelta(days=2))
    charge(a, "LAB-FBS", day=today)  # a draft
    return a, b


def test_every_report_renders_as_its_template_did(catalogue, billing_user, admin_user):
    _world(billing_user, admin_user)
    date_from, date_to = forms.PeriodForm().period()
    date_from -= timedelta(days=400)
    seen = 0
    for key, (_title, build, dated) in selectors.REPORTS.items():
        if key in selectors.PAGED_REPORTS:
            reports = [build(page=1), build(page=None)]
        else:
            reports = [build(date_from, date_to) if dated else build()]
        for report in reports:
            got = report_rows(report)
            assert got == _old_report(report), key
            seen += len(report.rows)
    assert seen > 5


cells = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["<b>x</b>", 'O\'Neil & "Co"', "", "—"]),
    st.integers(min_value=-(10**9), max_value=10**9),
    st.decimals(min_value=-(10**7), max_value=10**7, places=2),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 1, 1)),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)).map(
        lambda d: d.replace(tzinfo=timezone.get_current_timezone())
    ),
    st.none(),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.lists(cells, min_size=4, max_size=4), max_size=6),
    money_columns=st.sets(st.integers(min_value=0, max_value=3)),
)
def test_any_cells_render_as_the_template_did(rows, money_columns):
    report = selectors.Report("t", ["a", "b", "c", "d"], rows=rows, money_columns=money_columns)
    assert report_rows(report) == _old_report(report)


def test_invoice_rows_match_the_template_they_replace(
    catalogue, billing_user, admin_user, django_assert_num_queries
):
    _world(billing_user, admin_user)
    for status in ("", "open", "void", "draft"):
        page = list(selectors.invoice_list(status=status))
        expected = Template(OLD_INVOICE_ROWS).render(Context({"page": page}))
        assert invoice_list_rows(page) == expected, status
    # The list page loads only the columns a row shows: drawing them queries nothing more.
    page = list(selectors.invoice_list().only(*selectors.INVOICE_ROW_FIELDS))
    with django_assert_num_queries(0):
        assert invoice_list_rows(page) == Template(OLD_INVOICE_ROWS).render(Context({"page": page}))
    everything = list(selectors.invoice_list())
    got = invoice_list_rows(everything)
    assert len(everything) == 4 and got.count("<tr>") == 4
    assert "Ana &lt;i&gt;" in got and "O&#x27;Neil &amp; Co" in got and "&quot;Quoted&quot;" in got
    assert "Draft</a>" in got and "badge bad" in got and "₱350.00" in got
    assert Decimal("0") == sum(i.balance for i in everything if i.status == "void")


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"status": "open", "q": 'Ana <i> & "Co"', "date_from": "2026-01-02"},
        {"status": "void", "date_to": "2026-12-31", "date_from": "not a date"},
    ],
)
def test_invoice_filters_draw_as_djangos_widgets_did(data):
    """The invoice list's filter form (Python-drawn widgets) writes what Django's widget
    templates wrote for the same form."""

    class OldForm(forms.InvoiceFilterForm):
        pass

    old = OldForm(data or None)
    for name, widget in (
        ("status", django_forms.Select(choices=old.fields["status"].choices)),
        ("q", django_forms.TextInput()),
        ("date_from", django_forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")),
        ("date_to", django_forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")),
    ):
        widget.is_required = False
        old.fields[name].widget = widget
    old.fields["q"].widget.attrs.update(old.fields["q"].widget_attrs(old.fields["q"].widget))
    new = forms.InvoiceFilterForm(data or None)
    for name in ("status", "q", "date_from", "date_to"):  # whitespace between tags aside
        assert _squash(str(new[name])) == _squash(str(old[name])), name
    assert "&lt;i&gt;" in str(new["q"]) or not data.get("q")


@settings(max_examples=400, deadline=None)
@given(
    value=st.one_of(
        st.decimals(),  # NaN and infinities too
        st.sampled_from(["NaN", "-nan", "sNaN", "Infinity", "1e999"]),
        st.decimals(min_value=Decimal("-1"), max_value=Decimal("1"), places=4),
        st.decimals(min_value=Decimal("-1e15"), max_value=Decimal("1e15"), places=2),
        st.none(),
        st.integers(),
        st.text(max_size=5),
    )
)
def test_money_html_is_the_money_filter_escaped(value):
    """The rows' money cells (``billing_tags.money_html``) are ``{{ value|money }}`` for
    any amount: rounding, negative amounts that round to nothing, huge ones, non-numbers."""
    from billing.templatetags.billing_tags import money_html

    want = Template("{% load uscpis %}{{ v|money }}").render(Context({"v": value}))
    assert money_html(value) == want


@pytest.mark.parametrize("language", ["en", "fr"])
def test_invoice_badges_are_the_status_badge_tag(language):
    from django.utils import translation

    from billing.models import InvoiceStatus
    from billing.templatetags.billing_tags import invoice_badge_html

    old = Template("{% load billing_tags %}{% status_badge s label %}")
    with translation.override(language):
        for status in [*InvoiceStatus.values, "<odd>&"]:
            label = dict(InvoiceStatus.choices).get(status, status)
            want = old.render(Context({"s": status, "label": label}))
            assert invoice_badge_html(status, translation.get_language()) == want

"""Rows of the billing lists rendered in Python: one string per table instead of ~10
template nodes per cell (a report page has 50 rows of 7 cells, the invoice list 25 rows of 7).
Every interpolated value is escaped (``html.escape``, as autoescaping does) and formatted
as the template's filters did (``money``, ``date``, ``status_badge``); the tests hold each
to the template code it replaced."""

from __future__ import annotations

from functools import lru_cache
from html import escape

from django import template
from django.template import Context
from django.template.base import render_value_in_context
from django.template.defaultfilters import date as date_filter
from django.utils import dateformat
from django.utils.safestring import mark_safe
from django.utils.timezone import template_localtime
from django.utils.translation import get_language

from billing.templatetags.billing_tags import invoice_badge_html, money_html
from uscpis.fasturl import int_url_maker

register = template.Library()

_PLAIN = Context()  # autoescape on, as the page's context renders ``{{ cell }}``


def _e(value) -> str:
    return escape(str(value), quote=True)


@lru_cache(maxsize=4096)
def _day(day, language) -> str:
    """``{{ day|date:"D j M Y" }}``, escaped: a page repeats a few hundred visit days, each
    formatted once per language (the names are translated)."""
    return _e(dateformat.format(day, "D j M Y"))


def _cell(cell) -> str:
    """``{% if cell.year %}{{ cell|date:"j M Y" }}{% else %}{{ cell }}{% endif %}``."""
    if type(cell) is str:
        return _e(cell)
    if getattr(cell, "year", None):
        return _e(date_filter(template_localtime(cell), "j M Y"))
    return render_value_in_context(cell, _PLAIN)


@register.simple_tag
def report_rows(report) -> str:
    """Every ``<tr>`` of a ``selectors.Report``'s rows: money columns right-aligned through
    ``money``, dates as "5 Dec 2026", anything else as ``{{ cell }}`` writes it."""
    money_columns = report.money_columns
    out = []
    for row in report.rows:
        cells = [
            f'<td class="num">{money_html(cell)}</td>'
            if i in money_columns
            else f"<td>{_cell(cell)}</td>"
            for i, cell in enumerate(row)
        ]
        out.append(f"<tr>{''.join(cells)}</tr>")
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped


@register.simple_tag
def invoice_list_rows(invoices) -> str:
    """Every ``<tr>`` of the invoice list (``selectors.invoice_list`` selects the patient)."""
    out = []
    language = get_language()
    invoice_url = int_url_maker("billing:invoice")
    for inv in invoices:
        patient = inv.patient
        out.append(
            f'<tr>\n    <td><a href="{_e(invoice_url(inv.pk))}">'
            f"{_e(inv.number or 'Draft')}</a></td>\n"
            f'    <td>{_e(patient.full_name)}<div class="muted small">{_e(patient.id_number)}'
            "</div></td>\n"
            f'    <td class="nowrap">{_day(inv.visit_day, language)}</td>\n'
            f"    <td>{invoice_badge_html(inv.status, language)}</td>\n"
            f'    <td class="num">{money_html(inv.net_total)}</td>'
            f'<td class="num">{money_html(inv.patient_total)}</td>'
            f'<td class="num">{money_html(inv.balance)}</td>\n  </tr>'
        )
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped

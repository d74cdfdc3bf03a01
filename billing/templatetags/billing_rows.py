"""Billing's repeated markup rendered in Python: the patient account's invoice rows and
payments, the cashier's payment rows and the forms' field wrappers (each a few template nodes
per row, a page of them per request). Every interpolated value is escaped (``html.escape``,
as autoescaping does); dates are the ``|date`` formats the templates used, built directly
with Django's own (translated) day and month names; amounts go through ``|money``; links
through ``uscpis.fasturl`` (what ``{% url %}`` gives). Tests hold each one equal to the
template code it replaced (tests/billing/test_billing_rows.py)."""

from __future__ import annotations

from functools import lru_cache
from html import escape

from django import template
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.dates import MONTHS_3, WEEKDAYS_ABBR
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from accounts.templatetags.uscpis import money
from billing.models import InvoiceStatus, PaymentMethod
from billing.templatetags.billing_tags import TONES
from inventory.filters import field_html
from uscpis.fasturl import reverse_ints

register = template.Library()

# get_FOO_display() without its per-call lookup: value -> label (unknown values as they are).
INVOICE_STATUSES = dict(InvoiceStatus.choices)
PAYMENT_METHODS = dict(PaymentMethod.choices)


def _e(value) -> str:
    return escape(str(value), quote=True)


@lru_cache(maxsize=16)
def _words(language: str | None) -> tuple[tuple[str, ...], tuple[str, ...], str, str]:
    """Weekday and month abbreviations and AM/PM as ``django.utils.dateformat`` writes them
    (``D``, ``M``, ``A``) in ``language``, translated once."""
    return (
        tuple(str(WEEKDAYS_ABBR[i]) for i in range(7)),
        ("",) + tuple(str(MONTHS_3[i]).title() for i in range(1, 13)),
        _("AM"),
        _("PM"),
    )


def day_label(day, words) -> str:
    """``|date:"D j M Y"`` (``Tue 3 Mar 2026``) of a date."""
    return f"{words[0][day.weekday()]} {day.day} {words[1][day.month]} {day.year:04d}"


def short_day_label(day, words) -> str:
    """``|date:"j M Y"`` (``3 Mar 2026``)."""
    return f"{day.day} {words[1][day.month]} {day.year:04d}"


def clock_label(moment, words) -> str:
    """``|date:"g:i A"`` (``9:05 AM``)."""
    return (
        f"{moment.hour % 12 or 12}:{moment.minute:02d} {words[3] if moment.hour > 11 else words[2]}"
    )


def _money(value) -> str:
    return _e(money(value))


@register.simple_tag
def patient_invoice_rows(invoices) -> str:
    """The ``<tr>`` of each invoice on a patient's billing account (``billing/patient.html``)."""
    words = _words(get_language())
    out = []
    for inv in invoices:
        out.append(
            f'<tr><td><a href="{_e(reverse_ints("billing:invoice", inv.pk))}">'
            f"{_e(inv.number or 'Draft')}</a></td>"
            f'<td class="nowrap">{_e(day_label(inv.visit_day, words))}</td>'
            f'<td><span class="badge {TONES.get(inv.status, "warn")}">'
            f"{_e(INVOICE_STATUSES.get(inv.status, inv.status))}</span></td>"
            f'<td class="num">{_money(inv.net_total)}</td>'
            f'<td class="num">{_money(inv.balance)}</td></tr>'
        )
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped


@register.simple_tag
def patient_payment_items(payments) -> str:
    """The ``<li>`` of each of a patient's recent payments (``billing/patient.html``)."""
    words = _words(get_language())
    tz = timezone.get_current_timezone()
    out = []
    for p in payments:
        credit = f" ({_money(p.unallocated)} credit)" if p.unallocated else ""
        received = short_day_label(timezone.localtime(p.received_at, tz), words)
        out.append(
            f'<li><a href="{_e(reverse_ints("billing:payment", p.pk))}">{_e(p.receipt_number)}</a>'
            f" · {_e(received)} · {_e(PAYMENT_METHODS.get(p.method, p.method))}"
            f" · {_money(p.amount)}{credit}</li>"
        )
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped


@register.simple_tag
def cashier_payment_rows(payments) -> str:
    """The ``<tr>`` of each payment on the cashier's page and a cashier day's page (the
    payments' patients selected with them)."""
    words = _words(get_language())
    tz = timezone.get_current_timezone()
    out = []
    for p in payments:
        received = clock_label(timezone.localtime(p.received_at, tz), words)
        out.append(
            f'<tr><td><a href="{_e(reverse_ints("billing:payment", p.pk))}">{_e(p.receipt_number)}</a></td>'
            f"<td>{_e(received)}</td><td>{_e(p.patient.full_name)}</td>"
            f"<td>{_e(PAYMENT_METHODS.get(p.method, p.method))}</td>"
            f'<td class="num">{_money(p.amount)}</td></tr>'
        )
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped


@register.simple_tag
def fields(*bound_fields, css: str = "") -> str:
    """``{% field f css %}`` for each of ``bound_fields`` (a form stands for all its fields):
    visible, non-checkbox fields drawn in Python (``inventory.filters.field_html``, the same
    markup as ``_field.html``), any other through the template."""
    out = []
    for item in bound_fields:
        for bound in item if hasattr(item, "fields") else (item,):
            if bound.is_hidden or bound.widget_type == "checkbox":
                out.append(render_to_string("_field.html", {"field": bound, "css": css}))
            else:
                out.append(field_html(bound, css))
    return mark_safe("".join(out))  # noqa: S308 - field_html and the template escape

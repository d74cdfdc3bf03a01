"""Billing's repeated markup rendered in Python: the patient account's invoice rows and
payments, the cashier's payment rows and the forms' field wrappers (each a few template nodes
per row, a page of them per request). Every interpolated value is escaped (``html.escape``,
as autoescaping does); dates are the ``|date`` formats the templates used, built directly
with Django's own (translated) day and month names; amounts go through ``|money``; links
through ``uscpis.fasturl`` (what ``{% url %}`` gives). Tests hold each one equal to the
template code it replaced (tests/billing/test_billing_rows.py)."""

from __future__ import annotations

from html import escape

from django import template
from django.template import Context
from django.template.base import render_value_in_context
from django.template.defaulttags import CsrfTokenNode
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from billing.models import ApprovalStatus, PaymentMethod
from billing.templatetags.billing_tags import invoice_badge_html, money_html
from inventory.filters import field_html
from uscpis.dates import label_words
from uscpis.fasturl import int_url_maker, reverse_ints

register = template.Library()

# get_FOO_display() without its per-call lookup: value -> label (unknown values as they are).
PAYMENT_METHODS = dict(PaymentMethod.choices)
APPROVAL_STATUSES = dict(ApprovalStatus.choices)
_PLAIN = Context()  # autoescape on, as the page's context renders ``{{ value }}``


def _e(value) -> str:
    return escape(str(value), quote=True)


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


_money = money_html  # ``{{ value|money }}``, escaped


@register.simple_tag
def patient_invoice_rows(invoices) -> str:
    """The ``<tr>`` of each invoice on a patient's billing account (``billing/patient.html``)."""
    language = get_language()
    words = label_words(language)
    invoice_url = int_url_maker("billing:invoice")
    out = []
    for inv in invoices:
        out.append(
            f'<tr><td><a href="{_e(invoice_url(inv.pk))}">'
            f"{_e(inv.number or 'Draft')}</a></td>"
            f'<td class="nowrap">{_e(day_label(inv.visit_day, words))}</td>'
            f"<td>{invoice_badge_html(inv.status, language)}</td>"
            f'<td class="num">{_money(inv.net_total)}</td>'
            f'<td class="num">{_money(inv.balance)}</td></tr>'
        )
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped


@register.simple_tag
def patient_payment_items(payments) -> str:
    """The ``<li>`` of each of a patient's recent payments (``billing/patient.html``)."""
    words = label_words(get_language())
    tz = timezone.get_current_timezone()
    payment_url = int_url_maker("billing:payment")
    out = []
    for p in payments:
        credit = f" ({_money(p.unallocated)} credit)" if p.unallocated else ""
        received = short_day_label(timezone.localtime(p.received_at, tz), words)
        out.append(
            f'<li><a href="{_e(payment_url(p.pk))}">{_e(p.receipt_number)}</a>'
            f" · {_e(received)} · {_e(PAYMENT_METHODS.get(p.method, p.method))}"
            f" · {_money(p.amount)}{credit}</li>"
        )
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped


@register.simple_tag
def cashier_payment_rows(payments) -> str:
    """The ``<tr>`` of each payment on the cashier's page and a cashier day's page (the
    payments' patients selected with them)."""
    words = label_words(get_language())
    tz = timezone.get_current_timezone()
    payment_url = int_url_maker("billing:payment")
    out = []
    for p in payments:
        received = clock_label(timezone.localtime(p.received_at, tz), words)
        out.append(
            f'<tr><td><a href="{_e(payment_url(p.pk))}">{_e(p.receipt_number)}</a></td>'
            f"<td>{_e(received)}</td><td>{_e(p.patient.full_name)}</td>"
            f"<td>{_e(PAYMENT_METHODS.get(p.method, p.method))}</td>"
            f'<td class="num">{_money(p.amount)}</td></tr>'
        )
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped


def _line_actions(invoice_pk: int, line_pk: int, csrf: str) -> str:
    """A draft line's price and remove controls (the template's ``<td class="actions">``)."""
    price = _e(reverse_ints("billing:invoice_line_action", invoice_pk, line_pk, "price"))
    remove = _e(reverse_ints("billing:invoice_line_action", invoice_pk, line_pk, "remove"))
    return (
        '<td class="actions">\n'
        f'      <form class="inline-form" hx-post="{price}" hx-target="#invoice-lines" '
        f'hx-swap="outerHTML" method="post" action="{price}">{csrf}'
        '<input type="number" name="unit_price" step="0.01" min="0" placeholder="New price" '
        'aria-label="New price" required><input type="text" name="reason" placeholder="Reason" '
        'aria-label="Reason" maxlength="200" required><button class="button small secondary" '
        'type="submit" hx-disabled-elt="this">Change price</button></form>\n'
        '      <button type="button" class="button small danger" '
        f'hx-post="{remove}" hx-target="#invoice-lines" hx-swap="outerHTML" '
        'hx-disabled-elt="this">Remove</button>\n'
        "    </td>"
    )


@register.simple_tag(takes_context=True)
def invoice_line_rows(context, invoice, lines, editable: bool) -> str:
    """The invoice page's line rows (``billing/invoice.html``), with a draft's price and
    remove controls when ``editable``; the empty-table row when there are none."""
    csrf = CsrfTokenNode().render(context) if editable else ""
    out = []
    for line in lines:
        notes = [_e(line.service.name)]
        if line.covered_by_fee:
            notes.append(" · covered by the term's health fee")
        if line.covered_by_capitation:
            notes.append(" · PhilHealth Konsulta: covered by the capitation")
        if line.price_override_reason:
            notes.append(f" · price changed: {_e(line.price_override_reason)}")
        if line.provider:
            notes.append(f" · {_e(line.provider.full_name)}")
        discount = line.total_discount
        out.append(
            "<tr>\n"
            f'    <td>{_e(line.description)}<div class="muted small">{"".join(notes)}</div></td>\n'
            f'    <td class="num">{render_value_in_context(line.quantity.normalize(), _PLAIN)}'
            f'</td><td class="num">{_money(line.unit_price)}</td>\n'
            f'    <td class="num">{f"−{_money(discount)}" if discount else "—"}</td>\n'
            f'    <td class="num">{_money(line.net)}</td><td class="num">'
            f'{_money(line.payer_share)}</td><td class="num">{_money(line.patient_share)}</td>\n'
            f"    {_line_actions(invoice.pk, line.pk, csrf) if editable else ''}\n"
            "  </tr>"
        )
    if not out:
        return mark_safe('<tr><td colspan="8" class="empty">No lines.</td></tr>')
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped


@register.simple_tag
def allocation_items(allocations) -> str:
    """The ``<li>`` of each payment allocated to an invoice (``billing/invoice.html``)."""
    words = label_words(get_language())
    tz = timezone.get_current_timezone()
    payment_url = int_url_maker("billing:payment")
    out = []
    for a in allocations:
        made = short_day_label(timezone.localtime(a.created_at, tz), words)
        method = a.payment.method
        out.append(
            f'<li>{_e(made)} · <a href="{_e(payment_url(a.payment_id))}">'
            f"{_e(a.payment.receipt_number)}</a> ({_e(PAYMENT_METHODS.get(method, method))})"
            f" · {_money(a.amount)}</li>"
        )
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped


@register.simple_tag
def credit_note_items(credit_notes) -> str:
    """The ``<li>`` of each credit note on an invoice (``billing/invoice.html``)."""
    words = label_words(get_language())
    tz = timezone.get_current_timezone()
    out = []
    for c in credit_notes:
        made = short_day_label(timezone.localtime(c.created_at, tz), words)
        out.append(
            f"<li>{_e(made)} · credit note {_e(c.number)} · {_money(c.amount)} · {_e(c.reason)}</li>"
        )
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped


@register.simple_tag
def write_off_items(write_offs) -> str:
    """The ``<li>`` of each write-off asked for on an invoice (``billing/invoice.html``)."""
    words = label_words(get_language())
    tz = timezone.get_current_timezone()
    out = []
    for w in write_offs:
        asked = short_day_label(timezone.localtime(w.requested_at, tz), words)
        status = APPROVAL_STATUSES.get(w.status, w.status)
        out.append(
            f"<li>{_e(asked)} · write-off {_money(w.amount)} · {_e(status)} · {_e(w.reason)}</li>"
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

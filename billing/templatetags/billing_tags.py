"""Billing's template helpers."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, getcontext
from functools import lru_cache
from html import escape

from django import template
from django.conf import settings
from django.utils.html import format_html

from accounts.templatetags.uscpis import money
from billing.models import InvoiceStatus

register = template.Library()

TONES = {"paid": "good", "void": "bad", "denied": "bad", "draft": "info", "written_off": "info"}


@register.simple_tag
def status_badge(status: str, label: str) -> str:
    """The coloured badge of an invoice's or a claim's status (a tag, not an ``include``:
    list pages show one per row)."""
    return format_html('<span class="badge {}">{}</span>', TONES.get(status, "warn"), label)


def money_html(value) -> str:
    """``{{ value|money }}`` as autoescaping writes it: for a ``Decimal`` formatted here
    directly (``format`` rounds half-even to centavos as ``money``'s ``quantize`` does; a
    negative amount that rounds to zero is written without its sign, as there), anything
    else through ``money`` itself. The digits, separators and sign need no escaping; the
    currency symbol is escaped."""
    if (
        type(value) is not Decimal
        or not value.is_finite()
        or value.adjusted() > 25  # past 28 digits ``quantize`` fails and ``money`` says so
        or getcontext().rounding != ROUND_HALF_EVEN
    ):
        return escape(money(value), quote=True)
    text = f"{value:,.2f}"
    symbol = escape(settings.CURRENCY_SYMBOL, quote=True)
    if text[0] == "-":
        text = text[1:]
        if text.strip("0.,"):  # not zero once rounded
            return f"-{symbol}{text}"
    return f"{symbol}{text}"


@lru_cache(maxsize=64)
def invoice_badge_html(status: str, language: str | None) -> str:
    """``{% status_badge invoice.status invoice.get_status_display %}``'s markup, made once
    per status and language (a list draws one per row)."""
    label = dict(InvoiceStatus.choices).get(status, status)
    return (
        f'<span class="badge {TONES.get(status, "warn")}">{escape(str(label), quote=True)}</span>'
    )

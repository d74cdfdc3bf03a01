"""Template helpers shared by every page: permission checks, money, forms, pagination."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template
from django.conf import settings
from django.contrib.humanize.templatetags.humanize import intcomma

from accounts.roles import user_has_perm
from uscpis.fasturl import reverse_ints

register = template.Library()


@register.filter
def can(user, perm: str) -> bool:
    """``{% if user|can:"patients.view_clinical" %}`` — the role matrix, in templates."""
    return user_has_perm(user, perm)


@register.filter
def money(value) -> str:
    """₱1,234.50 (two decimals, thousands separators, minus sign before the symbol)."""
    if value in (None, ""):
        return "—"
    try:
        amount = Decimal(value).quantize(Decimal("0.01"))
    except (InvalidOperation, TypeError, ValueError):
        return str(value)
    sign = "-" if amount < 0 else ""
    whole, _, cents = f"{abs(amount):.2f}".partition(".")
    return f"{sign}{settings.CURRENCY_SYMBOL}{intcomma(int(whole))}.{cents}"


@register.inclusion_tag("_field.html")
def field(bound_field, css: str = ""):
    """One form field with its label, help text and errors."""
    return {"field": bound_field, "css": css}


@register.inclusion_tag("_pagination.html", takes_context=True)
def paginate(context, page, target: str = ""):
    """Pagination links that keep the current filters (and work with or without HTMX)."""
    request = context["request"]
    params = request.GET.copy()
    params.pop("page", None)
    return {"page": page, "query": params.urlencode(), "target": target}


@register.filter
def hours(minutes) -> str:
    """Minutes for humans: ``45 min``, ``2 h``, ``12 h 30 min``, ``1,234 h``."""
    try:
        total = int(minutes)
    except (TypeError, ValueError):
        return "—"
    h, m = divmod(abs(total), 60)
    sign = "-" if total < 0 else ""
    if not h:
        return f"{sign}{m} min"
    return f"{sign}{intcomma(h)} h" + (f" {m} min" if m else "")


@register.simple_tag
def url_for(name: str, *args):
    """``{% url %}`` for links repeated on every row or tab: the same URL, reversed once per
    process (``uscpis.fasturl``) when the arguments are ids."""
    return reverse_ints(name, *args)

"""Template helpers shared by every page: permission checks, money, forms, pagination."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template
from django.conf import settings
from django.contrib.humanize.templatetags.humanize import intcomma

from accounts.roles import user_has_perm

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


@register.filter
def duration_words(value) -> str:
    """``PT15M`` / ``timedelta(minutes=15)`` / ``"0:15:00"`` → ``15 minutes``."""
    import re
    from datetime import timedelta

    seconds = None
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
    else:
        text = str(value or "").strip()
        iso = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", text)
        clock = re.fullmatch(r"(?:(\d+) days?, )?(\d+):(\d\d):(\d\d)", text)
        if iso and text != "P":
            d, h, m, sec = (float(x) if x else 0 for x in iso.groups())
            seconds = int(d * 86400 + h * 3600 + m * 60 + sec)
        elif clock:
            d, h, m, sec = (int(x) if x else 0 for x in clock.groups())
            seconds = d * 86400 + h * 3600 + m * 60 + sec
    if seconds is None:
        return str(value or "")
    parts = []
    for size, name in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n, seconds = divmod(seconds, size)
            parts.append(f"{n} {name}{'s' if n != 1 else ''}")
    if seconds or not parts:
        parts.append(f"{seconds} second{'s' if seconds != 1 else ''}")
    return " ".join(parts)


@register.filter
def object_words(object_type: str) -> str:
    """``patients.medicalcertificate`` → ``medical certificate`` (the model's own name), for
    people reading the audit trail; unknown types read as words too."""
    from django.apps import apps

    text = str(object_type or "")
    if "." in text:
        app_label, model = text.split(".", 1)
        try:
            return str(apps.get_model(app_label, model)._meta.verbose_name)
        except (LookupError, ValueError):
            text = model
    return text.replace("_", " ").replace(".", " ")

"""Template helpers shared by every page: permission checks, money, forms, pagination."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from django import template
from django.apps import apps
from django.conf import settings
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.template.base import render_value_in_context
from django.template.loader import render_to_string
from django.utils.formats import localize
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import mark_safe

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
    # Python's grouping, not humanize's intcomma (a locale lookup per call): the site is
    # English only (LANGUAGE_CODE en-us, no locale switching), where both give 1,234.
    return f"{sign}{settings.CURRENCY_SYMBOL}{abs(amount):,.2f}"


@register.inclusion_tag("_field.html")
def field(bound_field, css: str = ""):
    """One form field with its label, help text and errors."""
    return {"field": bound_field, "css": css}


@register.simple_tag(takes_context=True)
def paginate(context, page, target: str = ""):
    """Pagination links that keep the current filters (and work with or without HTMX): what
    ``templates/_pagination.html`` draws (``tests/accounts/test_paginate.py`` compares
    them), written in Python: on every list page, the include cost more than its rows."""
    request = context["request"]
    params = request.GET.copy()
    params.pop("page", None)
    return pagination_html(page, params.urlencode(), target, autoescape=context.autoescape)


def pagination_html(page, query: str, target: str = "", *, autoescape: bool = True) -> str:
    """``_pagination.html`` for ``page``, ``query`` (the other parameters, url-encoded) and
    the HTMX ``target`` id (none: plain links)."""
    paginator = page.paginator
    if not paginator.num_pages > 1:
        return mark_safe("\n")  # the template file's last line break
    esc = conditional_escape if autoescape else str
    prefix = f"{esc(query)}&amp;" if query else ""

    def link(number: int, label: str) -> str:
        href = f"?{prefix}page={localize(number)}"
        hx = (
            f' hx-get="{href}" hx-target="#{esc(target)}" hx-swap="outerHTML" hx-push-url="true"'
            if target
            else ""
        )
        return f'<a class="button secondary small" href="{href}"{hx}>{label}</a>'

    previous = link(page.previous_page_number(), "← Previous") if page.has_previous() else ""
    following = link(page.next_page_number(), "Next →") if page.has_next() else ""
    capped = (
        f'+ <span class="muted">(more than {esc(localize(paginator.cap))} matches: narrow the'
        " search)</span>"
        if getattr(paginator, "capped", False)
        else ""
    )
    return mark_safe(  # noqa: S308 - every value is escaped
        f'<nav class="pagination" aria-label="Pages">\n{previous}\n<span class="current">Page '
        f"{localize(page.number)} of {localize(paginator.num_pages)}{capped}</span>\n"
        f"{following}\n</nav>\n"
    )


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

    text = str(object_type or "")
    if "." in text:
        app_label, model = text.split(".", 1)
        try:
            return str(apps.get_model(app_label, model)._meta.verbose_name)
        except (LookupError, ValueError):
            text = model
    return text.replace("_", " ").replace(".", " ")


@register.simple_tag
def url_for(name: str, *args):
    """``{% url %}`` for links repeated on every row or tab: the same URL, reversed once per
    process (``uscpis.fasturl``) when the arguments are ids."""
    return reverse_ints(name, *args)


@register.simple_tag(takes_context=True)
def stat_cards(context, cards):
    """The home dashboard's tiles (``uscpis.registry.Card``): the markup the ``{% for %}``
    loop in ``accounts/home.html`` used to produce, values shown as ``{{ }}`` shows them
    (localised, escaped), without a template loop's cost for each of the dozen tiles."""

    def show(value):
        return render_value_in_context(value, context)

    return format_html_join(
        "\n",
        '<a class="stat tone-{}"{}><div class="stat-title">{}</div>'
        '<div class="stat-value">{}</div>{}</a>',
        (
            (
                card.tone,
                format_html(' href="{}"', card.url) if card.url else "",
                show(card.title),
                show(card.value),
                format_html('<div class="stat-detail">{}</div>', show(card.detail))
                if card.detail
                else "",
            )
            for card in cards
        ),
    )


# --- The signed-in layout ---------------------------------------------------------------


@lru_cache(maxsize=1024)
def _layout_html(part: str, values: tuple) -> str:
    """``_layout_<part>.html`` rendered from ``values`` (everything it shows), once per
    distinct set of values per process: a changed name, role, menu or active entry is a
    different key, so the cache is never stale, only outgrown."""
    layout, user, nav = values
    context = {"layout": dict(layout), "u": dict(user), "nav_items": [dict(i) for i in nav]}
    return mark_safe(render_to_string(f"_layout_{part}.html", context))  # noqa: S308 - autoescaped template output


@register.simple_tag(takes_context=True)
def layout_part(context, part: str):
    """The signed-in top bar and menu (``base.html``) without re-rendering them per page."""
    user = context["user"]
    if part == "top":
        shown = (
            ("first_name", user.first_name),
            ("last_name", user.last_name),
            ("full_name", user.full_name),
            ("email", user.email),
            ("get_role_display", user.get_role_display()),
        )
        values = (tuple(context.get("layout", {}).items()), shown, ())
    else:
        nav = tuple(tuple(item.items()) for item in context.get("nav_items", ()))
        values = ((), (("get_role_display", user.get_role_display()),), nav)
    return _layout_html(part, values)


@receiver(setting_changed)
def _forget_layout(**kwargs) -> None:
    _layout_html.cache_clear()

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
from django.template import Context
from django.template.base import render_value_in_context
from django.template.loader import render_to_string
from django.utils.formats import localize
from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import mark_safe

from accounts.models import User
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
    if amount.is_nan():  # "NaN" quantizes quietly but cannot be compared below
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
        if type(value) is str:  # the usual case, as {{ }} shows it: escaped unless safe
            return value if hasattr(value, "__html__") else escape(value)
        return render_value_in_context(value, context)

    tiles = []
    for card in cards:
        href = f' href="{escape(card.url)}"' if card.url else ""
        detail = f'<div class="stat-detail">{show(card.detail)}</div>' if card.detail else ""
        tiles.append(
            f'<a class="stat tone-{escape(card.tone)}"{href}>'
            f'<div class="stat-title">{show(card.title)}</div>'
            f'<div class="stat-value">{show(card.value)}</div>{detail}</a>'
        )
    return mark_safe("\n".join(tiles))  # noqa: S308 - every value above escaped


# --- The signed-in layout ---------------------------------------------------------------


_CSRF_INPUT = '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'


@lru_cache(maxsize=1)
def _role_labels() -> dict[str, str]:
    """``user.get_role_display()`` for each role, worked out once (Django's works it out from
    the field's choices on every call)."""
    return {value: str(label) for value, label in User._meta.get_field("role").flatchoices}


_layout_cache: dict[tuple, tuple[str, str]] = {}
_LAYOUT_CACHE_SIZE = 1024


def _layout_html(context, user) -> tuple[str, str]:
    """``_layout_top.html`` and ``_layout_bottom.html``: the parts either side of the
    sign-out form's CSRF field."""
    shown = {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "full_name": user.full_name,
        "email": user.email,
        "get_role_display": _role_labels().get(user.role, user.role),
    }
    parts = {"layout": context.get("layout", {}), "u": shown}
    parts["nav_items"] = context.get("nav_items", ())
    return (
        render_to_string("_layout_top.html", parts),
        render_to_string("_layout_bottom.html", parts),
    )


@register.simple_tag(takes_context=True)
def signed_in_layout(context):
    """The signed-in top bar, the sign-out form's CSRF field and the menu (``base.html``),
    rendered once per process for each set of values they show: only the CSRF token
    changes between requests.

    The key is everything shown: the menu (``nav_key``, set by
    ``accounts.context_processors.navigation``: URL configuration, role and highlighted
    entry, which also fix the layout's links) and the user's names, email and role, so a
    renamed or re-roled user is a different entry: never stale, only outgrown. A context
    without ``nav_key`` is rendered afresh."""
    user = context["user"]
    nav_key = context.get("nav_key")
    if nav_key is None:
        top, bottom = _layout_html(context, user)
    else:
        key = (nav_key, user.first_name, user.last_name, user.full_name, user.email, user.role)
        found = _layout_cache.get(key)
        if found is None:
            if len(_layout_cache) >= _LAYOUT_CACHE_SIZE:
                _layout_cache.clear()
            found = _layout_cache[key] = _layout_html(context, user)
        top, bottom = found
    token = context.get("csrf_token")
    # What {% csrf_token %} writes (django.template.defaulttags.CsrfTokenNode).
    csrf = format_html(_CSRF_INPUT, token) if token and token != "NOTPROVIDED" else ""
    return mark_safe(top + csrf + bottom)  # noqa: S308 - autoescaped template output


_no_messages: dict[str, str] = {}


@register.simple_tag(takes_context=True)
def page_messages(context):
    """``{% include "_messages.html" %}``, with what it writes when there are no messages
    (most pages) rendered once per process instead of on every page. One tag node also
    keeps base.html's tree small: Django walks the whole parent template looking for its
    blocks on every render of a page that extends it."""
    if context.get("messages"):
        template = context.template.engine.get_template("_messages.html")
        with context.push():
            return template.render(context)
    found = _no_messages.get("html")
    if found is None:
        template = context.template.engine.get_template("_messages.html")
        found = _no_messages["html"] = template.render(Context({"messages": ()}))
    return found


@receiver(setting_changed)
def _forget_layout(**kwargs) -> None:
    _layout_cache.clear()
    _no_messages.clear()

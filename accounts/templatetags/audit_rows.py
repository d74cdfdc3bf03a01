"""The audit trail's rows rendered in Python: fifty rows a page, each about twenty template
nodes (dates, badges, two truncations). Every interpolated value is escaped (``html.escape``,
as autoescaping does); the date is ``|date:"j M Y, H:i:s"`` built directly (Django's own
translated month abbreviations) and truncation is Django's ``Truncator``, with a shortcut for
the usual short ASCII path and request id. A row is an ``AuditEvent`` or one of the light
rows of ``accounts.selectors.audit_rows`` (the same attribute names)."""

from functools import lru_cache
from html import escape

from django import template
from django.utils import timezone
from django.utils.dates import MONTHS_3
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
from django.utils.translation import get_language

from accounts.models import AuditAction

register = template.Library()


def _e(value) -> str:
    return escape(str(value), quote=True)


_ACTION_LABELS = dict(AuditAction.choices)


@lru_cache(maxsize=16)
def _months(language: str | None) -> tuple[str, ...]:
    """Month abbreviations as ``|date:"M"`` writes them (translated), per language."""
    return ("",) + tuple(str(MONTHS_3[i]).title() for i in range(1, 13))


def _stamp(moment, months: tuple[str, ...]) -> str:
    """``|date:"j M Y, H:i:s"`` (``5 Dec 2026, 08:07:58``) of a local datetime."""
    return (
        f"{moment.day} {months[moment.month]} {moment.year:04d}, "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )


@lru_cache(maxsize=16)
def _ellipsis(language: str | None) -> str:
    """What ``Truncator.chars`` appends when it cuts (translatable), per language."""
    return Truncator("ab").chars(1)


def _truncate(value, length: int, ellipsis: str | None = None) -> str:
    """``|truncatechars:length``; ASCII text (paths, request ids) without Truncator's
    per-character walk: it has no combining characters, so the cut is at ``length - 1``
    (``ellipsis``: the active language's, when the caller has it)."""
    text = str(value)
    if not text.isascii():
        return Truncator(text).chars(length)
    if len(text) <= length:
        return text
    return text[: length - 1] + (ellipsis if ellipsis is not None else _ellipsis(get_language()))


def _row(e, tz, months: tuple[str, ...], ellipsis: str) -> str:
    when = _stamp(timezone.localtime(e.created_at, tz), months)
    badge = "badge" if e.allowed else "badge bad"
    obj = _e(e.object_type) + (f" #{_e(e.object_id)}" if e.object_id else "")
    if e.path:
        obj += f'<br><span class="muted">{_e(_truncate(e.path, 60, ellipsis))}</span>'
    return (
        f'<tr>\n      <td class="nowrap">{_e(when)}</td>\n'
        f"      <td>{_e(e.actor_email or 'anonymous')}</td>\n"
        f'      <td><span class="{badge}">{_e(_ACTION_LABELS.get(e.action, e.action))}</span></td>\n'
        f'      <td class="small">{obj}</td>\n'
        f"      <td>{_e(e.patient_id or '')}</td>\n"
        f'      <td class="small mono">{_e(e.ip)}</td>\n'
        f'      <td class="small mono">{_e(_truncate(e.request_id, 10, ellipsis))}</td>\n    </tr>'
    )


def audit_row(e) -> str:
    """One ``<tr>`` of the audit trail."""
    return audit_rows_html([e])


@register.simple_tag
def audit_rows_html(rows) -> str:
    """Every ``<tr>`` of an audit trail page (``accounts/audit_list.html``); the time zone,
    the month names and the ellipsis are looked up once per page."""
    tz = timezone.get_current_timezone()
    language = get_language()
    months, ellipsis = _months(language), _ellipsis(language)
    return mark_safe("".join(_row(e, tz, months, ellipsis) for e in rows))  # noqa: S308 - all escaped

"""The chart timeline's rows rendered in Python: one string per page instead of ~40 template
nodes per visit (dates, badges, diagnoses, the latest vitals, the prescription count). Every
interpolated value is escaped (``html.escape``, as the template's autoescaping does) and
numbers and dates are localised the way the template filters would."""

from functools import lru_cache
from html import escape

from django import template
from django.utils import formats, timezone
from django.utils.safestring import mark_safe

from patients.timeline import TimelineRow
from uscpis.dates import when_labeller
from uscpis.fasturl import int_url_maker, url_maker

register = template.Library()


def _e(value) -> str:
    return escape(str(value), quote=True)


def _vitals(vs: TimelineRow, e, num) -> str:
    """The latest vitals' temperature, blood pressure and BMI (nothing without vitals)."""
    if not vs.has_vitals:
        return ""
    parts = []
    if vs.temperature_c:
        parts.append(f"T {e(num(vs.temperature_c))} °C ")
    if vs.blood_pressure:
        parts.append(f"BP {e(vs.blood_pressure)} ")
    if vs.bmi:
        parts.append(f"BMI {e(num(vs.bmi))}")
    return f'<span class="muted"> · {"".join(parts)}</span>'


_SIGNED = '<span class="badge good">Signed</span>'
_DRAFT = '<span class="badge warn">Draft</span>'


def _item(v: TimelineRow, tz, e, num, when_label, visit_url) -> str:
    """One ``<li>`` of the chart timeline, from a ``patients.timeline`` row."""
    when = when_label(timezone.localtime(v.started_at, tz))  # date_format "D j M Y, g:i A"
    complaint = f"<div>{e(v.chief_complaint)}</div>" if v.chief_complaint else ""
    diagnoses = "; ".join(
        f'<span class="badge info">{e(code)}</span> {e(title)}'
        for code, title in zip(v.diagnosis_codes, v.diagnosis_titles, strict=True)
    )
    n = v.prescriptions
    prescriptions = (
        f'<span class="muted"> · {e(num(n))} prescription{"s" if n != 1 else ""}</span>'
        if n
        else ""
    )
    return (
        f'<li class="timeline-item kind-{e(v.kind)}">'
        f'<div class="timeline-when">{e(when)}</div>'
        f'<div class="timeline-body">'
        f'<a href="{e(visit_url(v.id))}"><strong>{e(v.kind_label)}</strong></a> '
        f'{_SIGNED if v.is_signed else _DRAFT} <span class="muted">· {e(v.provider_name)}</span>'
        f" {complaint}"
        f'<div class="small">{diagnoses}{_vitals(v, e, num)}{prescriptions}</div>'
        f"</div></li>"
    )


def _escaper():
    """``_e`` remembering its answers for one page (kinds, names, codes and titles repeat)."""
    seen: dict = {}

    def e(value) -> str:
        key = (type(value), value)
        try:
            return seen[key]
        except KeyError:
            seen[key] = out = _e(value)
            return out

    return e


@register.simple_tag
def timeline_items(visits) -> str:
    """Every ``<li>`` of a page of the chart timeline (``patients.timeline`` rows). The time
    zone, language and visit URL are looked up once per page, and each number is localised
    and each text escaped once (remembered for the page: temperatures, BMIs, counts, names
    and diagnoses repeat)."""
    tz = timezone.get_current_timezone()
    num = lru_cache(maxsize=None, typed=True)(formats.localize)  # typed: 37 is not 37.0
    e, label, url = _escaper(), when_labeller(), int_url_maker("patients:visit")
    return mark_safe("".join(_item(v, tz, e, num, label, url) for v in visits))  # noqa: S308 - escaped above


@register.simple_tag
def chart_tabs(patient_pk: int, tabs, current: str) -> str:
    """The chart's tab links (``tabs``: (name, label) pairs), ``current`` marked selected;
    each a plain link that HTMX swaps into ``#chart-tab``."""
    links, tab_url = [], url_maker("patients:chart_tab")
    for name, label in tabs:
        url = _e(tab_url(patient_pk, name))
        selected = ' aria-selected="true" class="active"' if name == current else ""
        links.append(
            f'<a href="{url}" hx-get="{url}" hx-target="#chart-tab" hx-swap="outerHTML"'
            f' hx-push-url="true"{selected}>{_e(label)}</a>'
        )
    return mark_safe("".join(links))  # noqa: S308 - every value is escaped

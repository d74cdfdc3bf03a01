"""Calendar cells rendered in Python: a clinic day has hundreds of them, and one string
per cell is several times cheaper than a dozen template lookups (or ``format_html``'s
per-argument lazy escaping). Every interpolated value goes through ``html.escape``."""

from html import escape

from django import template
from django.utils.safestring import mark_safe

register = template.Library()


def _e(value) -> str:
    return escape(str(value), quote=True)


@register.simple_tag
def grid_cell(a: dict):
    patient, kind = _e(a["patient"]), _e(a["type"])
    return mark_safe(  # noqa: S308 - every value above and below is escaped
        f'<a class="{_e(a["cls"])}" href="{_e(a["href"])}" '
        f'title="{_e(a["time"])} · {patient} · {kind} · {_e(a["status_label"])}">'
        f"<strong>{_e(a['short_time'])} {patient}</strong>{kind}</a>"
    )


@register.simple_tag
def list_cell(a: dict):
    return mark_safe(  # noqa: S308 - every value is escaped
        f'<a class="{_e(a["cls"])}" href="{_e(a["href"])}"><strong>{_e(a["time"])} '
        f"{_e(a['patient'])}</strong>{_e(a.get('provider', ''))} · {_e(a['type'])}</a>"
    )

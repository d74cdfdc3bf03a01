"""Calendar cells rendered in Python: a clinic day has hundreds of them, and one string
per cell is several times cheaper than a dozen template lookups (or ``format_html``'s
per-argument lazy escaping). Every interpolated value goes through ``html.escape``."""

from html import escape

from django import template
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

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


def _clock(moment, am: str, pm: str) -> str:
    """``{{ moment|date:"g:i A" }}``: 12-hour clock without a leading zero (9:05 AM)."""
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {pm if moment.hour > 11 else am}"


@register.simple_tag
def slot_radios(slots, day_number: int):
    """One day's free times of the booking page's slot grid (``_slot_picker.html``): a radio
    and label per slot, or "No times"."""
    if not slots:
        return mark_safe('<span class="slot-none">No times</span>')
    parts = []
    am, pm = _("AM"), _("PM")  # as Django's "A" date format, translated once per day
    for n, slot in enumerate(slots, start=1):
        ident = f"slot-{day_number}-{n}"
        parts.append(
            f'<div class="slot"><input type="radio" name="slot" id="{ident}" '
            f'value="{_e(slot.value)}" required><label for="{ident}">'
            f"{_e(_clock(slot.local_start, am, pm))}<small>{_e(slot.provider_name)}</small></label></div>"
        )
    return mark_safe("".join(parts))  # noqa: S308 - every value is escaped


@register.simple_tag
def column_cells(col):
    """A day-view column's free-time blocks and appointment cells in one string (what
    ``{% for f in col.free %}<div class="{{ f }}"></div>{% endfor %}`` and a ``grid_cell``
    per appointment wrote), without a template loop per cell."""
    free = "".join(f'<div class="{_e(f)}"></div>' for f in col.free)
    return mark_safe(free + "".join(grid_cell(a) for a in col.items))  # noqa: S308 - escaped

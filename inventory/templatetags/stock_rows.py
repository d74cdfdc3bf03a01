"""The stock overview's rows rendered in Python: one string per item instead of ~30 template
nodes each (the overview is the inventory manager's main page). Every interpolated value is
escaped (``html.escape``, as autoescaping does) and quantities are localised the way the
template rendered them (``formats.localize`` of ``Decimal.normalize()``)."""

from html import escape

from django import template
from django.conf import settings
from django.utils import formats, timezone
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from uscpis.dates import when_label
from uscpis.fasturl import reverse_ints

register = template.Library()


def _e(value) -> str:
    return escape(str(value), quote=True)


def _decimal_sep() -> str | None:
    """The decimal separator ``formats.localize`` writes numbers with in the active language,
    or None when it also groups thousands (then :func:`_qty` leaves the work to it)."""
    if settings.USE_THOUSAND_SEPARATOR:
        return None
    return _e(formats.get_format("DECIMAL_SEPARATOR", get_language()))


def _qty(value, sep: str | None = None) -> str:
    """``formats.localize(value.normalize())``, escaped. With ``sep`` (:func:`_decimal_sep`)
    the ungrouped case is written directly, as ``numberformat.format`` does it: the digits
    of ``{:f}`` with the point replaced by the language's separator."""
    value = value.normalize()
    if sep is None or not value.is_finite():
        return _e(formats.localize(value))
    _sign, digits, exponent = value.as_tuple()
    if abs(exponent) + len(digits) > 200:  # numberformat switches to scientific notation
        return _e(formats.localize(value))
    text = f"{value:f}"
    return text if sep == "." else text.replace(".", sep)


def _status(item) -> str:
    if item.usable <= 0:
        return '<span class="badge bad">Out</span>'
    if item.reorder_point and item.usable + item.on_order <= item.reorder_point:
        return '<span class="badge warn">Low</span>'
    return '<span class="badge good">OK</span>'


@register.simple_tag
def stock_row(item):
    """One ``<tr>`` of the stock overview (``selectors.stock_overview`` annotates
    ``on_hand``, ``usable`` and ``on_order`` and selects the category)."""
    generic = (
        f" · {_e(item.generic_name)}"
        if item.generic_name and item.generic_name != item.name
        else ""
    )
    category = _e(item.category.name) if item.category_id and item.category.name else "—"
    sep = _decimal_sep()
    on_order = _qty(item.on_order, sep) if item.on_order else "—"
    return mark_safe(  # noqa: S308 - every value is escaped
        f'<tr>\n      <td><a href="{_e(reverse_ints("inventory:item_detail", item.pk))}">'
        f'{_e(item.display_name)}</a><div class="muted small">{_e(item.sku)}{generic}</div></td>\n'
        f"      <td>{_e(item.get_kind_display())}</td><td>{category}</td>\n"
        f'      <td class="num">{_qty(item.on_hand, sep)} <span class="muted small">{_e(item.unit)}</span></td>\n'
        f'      <td class="num">{_qty(item.usable, sep)}</td>\n'
        f'      <td class="num">{on_order}</td>\n'
        f'      <td class="num">{_qty(item.reorder_point, sep)}</td>\n'
        f"      <td>{_status(item)}</td>\n    </tr>"
    )


def _counterpart(m, show_patients: bool) -> str:
    """The "Recipient / source" cell's content."""
    out = ""
    if m.patient_id:
        if show_patients:
            out = (
                f"{_e(m.patient.full_name)} "
                f'<span class="muted small">{_e(m.patient.id_number)}</span>'
            )
        else:
            out = "A patient"
        if m.visit_id:
            out += f' <span class="badge info">visit {_e(m.visit_id)}</span>'
    elif m.destination:
        out = _e(m.destination)
    elif m.purchase_order_line_id:
        out = _e(m.purchase_order_line.order.number)
    if m.note:
        out += f'<div class="muted small">{_e(m.note)}</div>'
    return out


@register.simple_tag
def ledger_row(m, show_patients: bool, can_dispense: bool, cancelled):
    """One ``<tr>`` of an item's ledger (``selectors.item_ledger_page`` sets each movement's
    lot and prefetches actors, patients and order lines)."""
    when = when_label(timezone.localtime(m.created_at))  # date_format "D j M Y, g:i A"
    sign = "neg" if m.quantity < 0 else "pos"
    plus = "+" if m.quantity > 0 else ""
    actor = (m.actor.full_name if m.actor_id and m.actor else "") or "System"
    action = ""
    if can_dispense:
        button = ""
        if m.kind == "dispense" and m.patient_id:
            button = (
                '<span class="badge">Cancelled</span>'
                if m.pk in cancelled
                else f'<a class="button secondary small" '
                f'href="{_e(reverse_ints("inventory:dispense_cancel", m.pk))}">Cancel</a>'
            )
        action = f'\n      <td class="actions">{button}</td>'
    return mark_safe(  # noqa: S308 - every value is escaped
        f'<tr>\n      <td class="nowrap">{_e(when)}</td>\n'
        f"      <td>{_e(m.get_kind_display())}"
        f'<div class="muted small">{_e(m.get_reason_code_display())}</div></td>\n'
        f'      <td class="mono">{_e(m.lot.batch_number)}'
        f'<div class="muted small">{_e(m.lot.location)}</div></td>\n'
        f'      <td class="num {sign}">{plus}{_qty(m.quantity, _decimal_sep())}</td>\n'
        f"      <td>{_counterpart(m, show_patients)}</td>\n"
        f"      <td>{_e(actor)}</td>{action}\n    </tr>"
    )

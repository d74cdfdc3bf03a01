"""The stock overview's rows rendered in Python: one string per item instead of ~30 template
nodes each (the overview is the inventory manager's main page). Every interpolated value is
escaped (``html.escape``, as autoescaping does) and quantities are localised the way the
template rendered them (``formats.localize`` of ``Decimal.normalize()``)."""

from functools import lru_cache
from html import escape

from django import template
from django.conf import settings
from django.urls import get_script_prefix, get_urlconf
from django.utils import dateformat, formats, timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from accounts.roles import user_has_perm
from accounts.templatetags.uscpis import money
from inventory.filters import filter_fields
from inventory.models import ItemKind, MovementKind, ReasonCode
from inventory.screens import LedgerRow, StockRow
from uscpis.dates import when_label, when_labeller
from uscpis.fasturl import int_url_maker, reverse_ints, url_maker

register = template.Library()


# get_FOO_display() without its per-call hashing of the choices: value -> label.
ITEM_KINDS = dict(ItemKind.choices)
MOVEMENT_KINDS = dict(MovementKind.choices)
REASONS = dict(ReasonCode.choices)


def _label(labels: dict, value) -> str:
    return str(labels.get(value, value))


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


def _status(row) -> str:
    if row.usable <= 0:
        return '<span class="badge bad">Out</span>'
    if row.reorder_point and row.usable + row.on_order <= row.reorder_point:
        return '<span class="badge warn">Low</span>'
    return '<span class="badge good">OK</span>'


@register.simple_tag
def stock_row(item, sep: str | None = None, url=None):
    """One ``<tr>`` of the stock overview: of a ``screens.StockRow``, or of an item as
    ``selectors.stock_overview`` gives it (``on_hand``, ``usable`` and ``on_order``
    annotated, the category selected). ``sep`` (:func:`_decimal_sep`) and ``url`` (the item
    page's ``int_url_maker``): when the caller has them already."""
    row = item if type(item) is StockRow else StockRow.of(item)
    generic = (
        f" · {escape(row.generic_name)}"
        if row.generic_name and row.generic_name != row.name
        else ""
    )
    category = escape(row.category) if row.category else "—"
    sep = sep or _decimal_sep()
    href = url(row.pk) if url else reverse_ints("inventory:item_detail", row.pk)
    on_order = _qty(row.on_order, sep) if row.on_order else "—"
    return mark_safe(  # noqa: S308 - every value is escaped
        f'<tr>\n      <td><a href="{escape(href)}">'
        f'{escape(row.display_name)}</a><div class="muted small">{escape(row.sku)}{generic}</div></td>\n'
        f"      <td>{escape(_label(ITEM_KINDS, row.kind))}</td><td>{category}</td>\n"
        f'      <td class="num">{_qty(row.on_hand, sep)} <span class="muted small">{escape(row.unit)}</span></td>\n'
        f'      <td class="num">{_qty(row.usable, sep)}</td>\n'
        f'      <td class="num">{on_order}</td>\n'
        f'      <td class="num">{_qty(row.reorder_point, sep)}</td>\n'
        f"      <td>{_status(row)}</td>\n    </tr>"
    )


def _counterpart(row: LedgerRow, show_patients: bool) -> str:
    """The "Recipient / source" cell's content."""
    out = ""
    if row.patient_id:
        if show_patients:
            out = (
                f"{escape(row.patient_name)} "
                f'<span class="muted small">{escape(row.patient_number)}</span>'
            )
        else:
            out = "A patient"
        if row.visit_id:
            out += f' <span class="badge info">visit {_e(row.visit_id)}</span>'
    elif row.destination:
        out = escape(row.destination)
    elif row.purchase_order_line_id:
        out = escape(row.order_number)
    if row.note:
        out += f'<div class="muted small">{escape(row.note)}</div>'
    return out


@register.simple_tag
def ledger_row(
    m, show_patients: bool, can_dispense: bool, cancelled, sep=None, tz=None, url=None, label=None
):
    """One ``<tr>`` of an item's ledger: of a ``screens.LedgerRow``, or of a movement with
    its lot, actor, patient and order line loaded (``selectors.item_ledger``). ``sep``
    (:func:`_decimal_sep`), ``tz`` (the current time zone), ``url`` (the cancel link's
    ``int_url_maker``) and ``label`` (``uscpis.dates.when_labeller()``): when the caller has
    them already."""
    row = m if type(m) is LedgerRow else LedgerRow.of(m)
    moment = timezone.localtime(row.created_at, tz)
    when = label(moment) if label else when_label(moment)  # date_format "D j M Y, g:i A"
    sign = "neg" if row.quantity < 0 else "pos"
    plus = "+" if row.quantity > 0 else ""
    action = ""
    if can_dispense:
        button = ""
        if row.kind == "dispense" and row.patient_id:
            href = url(row.pk) if url else reverse_ints("inventory:dispense_cancel", row.pk)
            button = (
                '<span class="badge">Cancelled</span>'
                if row.pk in cancelled
                else f'<a class="button secondary small" href="{escape(href)}">Cancel</a>'
            )
        action = f'\n      <td class="actions">{button}</td>'
    return mark_safe(  # noqa: S308 - every value is escaped
        f'<tr>\n      <td class="nowrap">{escape(when)}</td>\n'
        f"      <td>{escape(_label(MOVEMENT_KINDS, row.kind))}"
        f'<div class="muted small">{escape(_label(REASONS, row.reason_code))}</div></td>\n'
        f'      <td class="mono">{escape(row.batch_number)}'
        f'<div class="muted small">{escape(row.location)}</div></td>\n'
        f'      <td class="num {sign}">{plus}{_qty(row.quantity, sep or _decimal_sep())}</td>\n'
        f"      <td>{_counterpart(row, show_patients)}</td>\n"
        f"      <td>{escape(row.actor_name or 'System')}</td>{action}\n    </tr>"
    )


def _rows(page) -> list:
    """A page's rows as a list (a ``Page`` indexes, and copies its list, per row)."""
    rows = getattr(page, "object_list", page)
    return rows if isinstance(rows, list) else list(rows)


@register.simple_tag
def stock_rows(page):
    """Every ``<tr>`` of the stock overview's page (one tag call, not one per row): its
    items or ``screens.StockRow`` rows."""
    sep, page = _decimal_sep(), _rows(page)
    if all(type(item) is StockRow for item in page):
        context = (get_language(), get_script_prefix(), get_urlconf())
        rows = (_kept_stock_row(row, sep, *context) for row in page)
        return mark_safe("".join(rows))  # noqa: S308 - escaped
    url = int_url_maker("inventory:item_detail")
    return mark_safe("".join(stock_row(item, sep, url) for item in page))  # noqa: S308 - escaped


@lru_cache(maxsize=4096)
def _kept_stock_row(row: StockRow, sep, *_context):
    """``stock_row`` of a ``StockRow``, kept: its HTML is a function of the row's values,
    ``sep`` and ``_context`` (the language, URL prefix and URLconf its words and link are
    written with); a changed figure or name is a new row."""
    return stock_row(row, sep)


@lru_cache(maxsize=4096)
def _kept_ledger_row(row: LedgerRow, show_patients, can_dispense, cancelled, sep, tz, *_context):
    """``ledger_row`` of a ``LedgerRow``, kept: a movement is never edited, and the row's
    HTML is a function of the row's values (names included), these flags and ``_context``
    (the language, URL prefix and URLconf its words and link are written with)."""
    return ledger_row(row, show_patients, can_dispense, (row.pk,) if cancelled else (), sep, tz)


@register.simple_tag
def ledger_rows(page, show_patients: bool, can_dispense: bool, cancelled):
    """Every ``<tr>`` of an item's ledger page (``LedgerRow`` rows drawn once per process
    and kept, :func:`_kept_ledger_row`)."""
    sep, tz, page = _decimal_sep(), timezone.get_current_timezone(), _rows(page)
    if all(type(m) is LedgerRow for m in page):
        context = (get_language(), get_script_prefix(), get_urlconf())
        show, can = bool(show_patients), bool(can_dispense)
        rows = (_kept_ledger_row(m, show, can, m.pk in cancelled, sep, tz, *context) for m in page)
        return mark_safe("".join(rows))  # noqa: S308 - escaped
    url, label = int_url_maker("inventory:dispense_cancel"), when_labeller()
    rows = (
        ledger_row(m, show_patients, can_dispense, cancelled, sep, tz, url, label) for m in page
    )
    return mark_safe("".join(rows))  # noqa: S308 - escaped


@lru_cache(maxsize=1024)
def _day(day, language: str | None) -> str:
    """``dateformat.format(day, "D j M Y")`` in ``language`` (the active one), kept: a lot's
    expiry date is drawn on every view of its item."""
    return dateformat.format(day, "D j M Y")


def _lot_actions(lot, csrf: str, action_url, status_url) -> str:
    """The lot row's last cell for stock managers (adjust, move, dispose, quarantine);
    ``action_url`` and ``status_url``: the two views' ``url_maker``."""
    if not lot.quantity:
        return '<td class="actions">\n      </td>'
    links = "".join(
        f'\n        <a class="button secondary small" '
        f'href="{escape(action_url(lot.pk, action))}">{label}</a>'
        for action, label in (("adjust", "Adjust"), ("transfer", "Move"), ("dispose", "Dispose"))
    )
    button = '<button class="button secondary small" type="submit" hx-disabled-elt="this">'
    if lot.status == "available":
        status = (
            f'<input type="hidden" name="status" value="quarantined">{button}Quarantine</button>'
            "\n          "  # the template's line break before its {% elif %}
        )
    elif not lot.is_expired:
        status = f'<input type="hidden" name="status" value="available">{button}Release</button>'
    else:
        status = ""
    return (
        f'<td class="actions">{links}\n        <form class="inline-form" method="post" '
        f'action="{escape(status_url(lot.pk))}">{csrf}\n          '
        f"{status}\n        </form>\n      </td>"
    )


@register.simple_tag(takes_context=True)
def lot_rows(context, lots, can_manage: bool):
    """The rows of an item's lots table (``screens.item_rows_page`` loads each lot's location)."""
    if not lots:
        return mark_safe('<tr><td colspan="7" class="empty">No lots yet.</td></tr>')
    token = context.get("csrf_token")
    csrf = (
        format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)
        if token and token != "NOTPROVIDED"
        else ""
    )
    sep, language = _decimal_sep(), get_language()
    action_url, status_url = url_maker("inventory:lot_action"), url_maker("inventory:lot_status")
    rows = []
    for lot in lots:
        expiry = escape(_day(lot.expiry_date, language)) if lot.expiry_date else "—"
        if lot.is_expired:
            expiry += ' <span class="badge bad">expired</span>'
        status = (
            '<span class="badge good">Available</span>'
            if lot.status == "available"
            else '<span class="badge bad">Quarantined</span>'
        )
        muted = "" if lot.quantity else ' class="muted"'
        rows.append(
            f"<tr{muted}>\n"
            f'      <td class="mono">{_e(lot.batch_number)}</td><td>{_e(lot.location)}</td>\n'
            f'      <td class="nowrap">{expiry}</td>\n'
            f'      <td class="num">{_qty(lot.quantity, sep)}</td>'
            f'<td class="num">{_e(money(lot.unit_cost))}</td>\n'
            f"      <td>{status}</td>\n      "
            + (_lot_actions(lot, csrf, action_url, status_url) if can_manage else "")
            + "\n    </tr>"
        )
    return mark_safe("".join(rows))  # noqa: S308 - every value is escaped


@register.simple_tag(takes_context=True)
def item_header(context, item):
    """An item page's title, actions and four stock figures (``screens.item_rows_page``'s
    item: stock annotations, category, preferred vendor and default location loaded), as
    the template drew them (``tests/inventory/test_item_screen.py`` compares)."""
    user = context["user"]
    sep = _decimal_sep()
    pk = _e(formats.localize(item.pk))
    subtitle = f"{escape(item.sku)} · {escape(_label(ITEM_KINDS, item.kind))}"
    if item.category:
        subtitle += f" · {_e(item.category)}"
    if item.generic_name:
        subtitle += f" · {escape(item.generic_name)}"
    dispense = ""
    if user_has_perm(user, "inventory.dispense") and item.kind != "equipment":
        dispense = (
            f'<a class="button" href="{escape(reverse_ints("inventory:dispense"))}?item={pk}">'
            "Dispense</a>"
        )
    manage = ""
    if user_has_perm(user, "inventory.manage_stock"):
        manage = (
            f'<a class="button secondary" href="{escape(reverse_ints("inventory:item_receive", item.pk))}">'
            "Receive</a>\n"
            f'  <a class="button secondary" href="{escape(reverse_ints("inventory:item_edit", item.pk))}">'
            "Edit</a>"
        )
    export = escape(reverse_ints("inventory:item_ledger_export", item.pk))
    # Low as the low-stock list counts it (usable + on order <= reorder point), in exact
    # decimals (the template's add filter cut both to whole numbers: 10.6 + 1.5 read 11).
    low = item.reorder_point and item.usable + item.on_order <= item.reorder_point
    vendor = _e(item.preferred_vendor) if item.preferred_vendor else "no preferred vendor"
    location = _e(item.default_location) if item.default_location else "—"
    fractions = " (fractions allowed)" if item.allows_fractions else ""
    return mark_safe(  # noqa: S308 - every value is escaped
        f'<div class="page-header"><div><h1>{escape(item.display_name)}</h1>\n'
        f'<p class="subtitle">{subtitle}</p></div>\n'
        '<div class="page-actions">\n'
        f"  {dispense}\n"
        f"  {manage}\n"
        f'  <a class="button secondary" href="{export}">Ledger CSV</a>\n'
        "</div></div>\n"
        '<div class="grid grid-4">\n'
        '  <div class="stat tone-neutral"><div class="stat-title">On hand</div>'
        f'<div class="stat-value" id="on-hand">{_qty(item.on_hand, sep)}</div>'
        f'<div class="stat-detail">{escape(item.unit)}{fractions}</div></div>\n'
        f'  <div class="stat {"tone-bad" if low else "tone-good"}"><div class="stat-title">Usable</div>'
        f'<div class="stat-value">{_qty(item.usable, sep)}</div><div class="stat-detail">reorder at '
        f"{_qty(item.reorder_point, sep)}, order {_qty(item.reorder_quantity, sep)}</div></div>\n"
        '  <div class="stat tone-neutral"><div class="stat-title">On order</div>'
        f'<div class="stat-value">{_qty(item.on_order, sep)}</div>'
        f'<div class="stat-detail">{vendor}</div></div>\n'
        '  <div class="stat tone-neutral"><div class="stat-title">Stored at</div>'
        f'<div class="stat-value small-value">{location}</div>'
        '<div class="stat-detail">default location</div></div>\n'
        "</div>"
    )


@register.simple_tag(name="filter_fields")
def filter_fields_tag(form):
    """The stock overview's filter bar fields (``inventory.filters.filter_fields``)."""
    return filter_fields(form)

"""The patient list rendered in Python (25 rows a page, on every search keystroke): one
string per patient instead of ~15 template nodes, and the four search filters without
Django's widget templates. Every value is escaped (``html.escape``, as autoescaping does);
the birth date as Django's ``date`` filter formats it. The output is the same as
the template code it replaces (``tests/patients/test_patient_rows.py``)."""

from html import escape

from django import template
from django.forms import widgets
from django.template.loader import render_to_string
from django.utils.dates import MONTHS_3
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from uscpis.fasturl import reverse_ints

register = template.Library()


def _e(value) -> str:
    return escape(str(value), quote=True)


def _day_month_year(day) -> str:
    """``{{ day|date:"j M Y" }}`` (Django's ``j``, ``M`` and ``Y``: "29 Feb 2004", the month
    in the active language) without parsing the format for every row."""
    return f"{day.day} {MONTHS_3[day.month].title()} {day.year:04d}"


@register.simple_tag
def patient_row(p):
    """One ``<tr>`` of the patient list (``patients/patient_list.html``)."""
    chart = _e(reverse_ints("patients:chart", p.pk))
    year = f" · Y{_e(p.year_level)}" if p.year_level else ""
    born = _e(_day_month_year(p.birth_date)) if p.birth_date else ""
    return mark_safe(  # noqa: S308 - every value is escaped
        f'<tr>\n      <td><a href="{chart}">{_e(p.last_name)}, {_e(p.first_name)}</a></td>\n'
        f'      <td class="mono">{_e(p.id_number)}</td>'
        f"<td>{_e(p.get_patient_type_display())}{year}</td>\n"
        f"      <td>{_e(p.college or p.department or '—')}</td>\n"
        f'      <td class="nowrap">{born}</td>\n'
        f'      <td class="actions"><a class="button secondary small" href="{chart}">'
        f"Open chart</a></td>\n    </tr>"
    )


# The search filters: (field name, CSS class of its ``_field.html`` wrapper).
FILTERS = (("q", "grow"), ("patient_type", ""), ("college", ""), ("year_level", ""))


def _attrs(attrs: dict) -> str:
    """``django/forms/widgets/attrs.html``."""
    return "".join(
        f" {name}" if value is True else f' {name}="{_e(value)}"'
        for name, value in attrs.items()
        if value is not False
    )


def _widget(bf) -> str | None:
    """``{{ field }}`` for a plain text-like input or a single select (what the search form
    uses), as ``BoundField.as_widget`` and the widget templates render it; ``None`` for
    any other widget."""
    widget = bf.field.widget
    attrs = bf.build_widget_attrs({}, widget)
    if bf.auto_id and "id" not in widget.attrs:
        attrs.setdefault("id", bf.auto_id)
    attrs = widget.build_attrs(widget.attrs, attrs)
    if type(widget) is widgets.Select:
        choices = list(bf.field.choices)
        if any(isinstance(label, list | tuple) for _, label in choices):
            return None  # option groups
        selected = set(widget.format_value(bf.value()))
        options = "".join(
            f'\n  <option value="{_e(value)}"{" selected" if str(value) in selected else ""}>'
            f"{conditional_escape(label)}</option>\n"
            for value, label in choices
        )
        return f'<select name="{bf.html_name}"{_attrs(attrs)}>{options}\n</select>\n'
    if not isinstance(widget, widgets.Input) or widget.input_type in ("checkbox", "hidden", "file"):
        return None
    value = widget.format_value(bf.value())
    shown = f' value="{_e(value)}"' if value is not None else ""
    return f'<input type="{widget.input_type}" name="{bf.html_name}"{shown}{_attrs(attrs)}>\n'


def _field(bf, css: str) -> str:
    """``{% field bf css %}`` (``templates/_field.html``); a field with errors, help text or
    another kind of widget is rendered by the template itself."""
    html = None if bf.errors or bf.help_text or bf.is_hidden else _widget(bf)
    if html is None:
        return render_to_string("_field.html", {"field": bf, "css": css})
    required = ' <span class="muted" aria-hidden="true">*</span>' if bf.field.required else ""
    return (
        f'<div class="field {_e(css)}">\n<label for="{_e(bf.id_for_label)}">'
        f"{conditional_escape(bf.label)}{required}</label>\n{html}\n\n</div>\n"
    )


@register.simple_tag
def patient_filters(form):
    """The search form's four fields, as ``{% field %}`` renders them."""
    return mark_safe("".join(_field(form[name], css) for name, css in FILTERS))  # noqa: S308 - every value is escaped

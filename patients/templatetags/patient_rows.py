"""The patient list rendered in Python (25 rows a page, on every search keystroke): one
string per patient instead of ~15 template nodes, and the four search filters without
Django's widget templates. Every value is escaped (``html.escape``, as autoescaping does);
the birth date as Django's ``date`` filter formats it. The output is the same as
the template code it replaces (``tests/patients/test_patient_rows.py``)."""

from functools import lru_cache
from html import escape

from django import template
from django.forms import widgets
from django.template.loader import render_to_string
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from patients.models import Patient
from uscpis.dates import label_words
from uscpis.fasturl import reverse_ints
from uscpis.forms import html_attrs

register = template.Library()


def _e(value) -> str:
    return escape(str(value), quote=True)


_MARK = 918_273_645_001  # a primary key no patient has, to split the chart URL around


@register.simple_tag
def patient_rows(patients):
    """The patient list's ``<tr>`` rows (``patients/patient_list.html``), one tag for the
    page rather than one per row. What every row repeats (the chart URL around the id, the
    type labels, the month names in the active language) is worked out once per page."""
    if not patients:
        return ""
    before, _, after = reverse_ints("patients:chart", _MARK).partition(str(_MARK))
    chart = (_e(before), _e(after))
    types = {
        value: _e(label) for value, label in Patient._meta.get_field("patient_type").flatchoices
    }
    months = _months(get_language())
    return mark_safe("".join(_row(p, chart, types, months) for p in patients))  # noqa: S308 - every value is escaped


@lru_cache(maxsize=16)
def _months(language: str | None) -> tuple[str, ...]:
    """The month abbreviations Django's ``M`` writes in ``language`` (index 1-12), escaped:
    translated once per process, not once per page (a lazy translation costs ~15 us)."""
    return tuple(_e(name) for name in label_words(language)[1])


def _born(day, months: tuple[str, ...]) -> str:
    """``{{ day|date:"j M Y" }}`` (Django's ``j``, ``M`` and ``Y``: "29 Feb 2004", the month
    in the active language)."""
    return f"{day.day} {months[day.month]} {day.year:04d}"


def _row(p, chart: tuple[str, str], types: dict, months: tuple[str, ...]) -> str:
    """One ``<tr>`` of the patient list."""
    url = f"{chart[0]}{p.pk}{chart[1]}"
    kind = types.get(p.patient_type)
    if kind is None:  # as get_patient_type_display shows a value that is not a choice
        kind = _e(p.patient_type)
    year = f" · Y{_e(p.year_level)}" if p.year_level else ""
    born = _born(p.birth_date, months) if p.birth_date else ""
    return (
        f'<tr>\n      <td><a href="{url}">{_e(p.last_name)}, {_e(p.first_name)}</a></td>\n'
        f'      <td class="mono">{_e(p.id_number)}</td>'
        f"<td>{kind}{year}</td>\n"
        f"      <td>{_e(p.college or p.department or '—')}</td>\n"
        f'      <td class="nowrap">{born}</td>\n'
        f'      <td class="actions"><a class="button secondary small" href="{url}">'
        f"Open chart</a></td>\n    </tr>"
    )


# The search filters: (field name, CSS class of its ``_field.html`` wrapper).
FILTERS = (("q", "grow"), ("patient_type", ""), ("college", ""), ("year_level", ""))


@lru_cache(maxsize=64)
def _shape(form_class, prefix, auto_id, name: str, css: str, language: str | None):
    """What ``{% field %}`` writes around a field's value, worked out once per process (per
    form, field and language) from an unbound form: the wrapper, label and widget
    attributes do not depend on the data once a field has no errors. ``("input", head,
    tail)`` for a plain text-like input, ``("select", head, options, tail)`` for a single
    select without groups, ``None`` for any other widget (the template renders it)."""
    bf = form_class(prefix=prefix, auto_id=auto_id)[name]
    widget = bf.field.widget
    if bf.help_text or bf.is_hidden:
        return None
    attrs = bf.build_widget_attrs({}, widget)
    if bf.auto_id and "id" not in widget.attrs:
        attrs.setdefault("id", bf.auto_id)
    attrs = html_attrs(widget.build_attrs(widget.attrs, attrs))
    required = ' <span class="muted" aria-hidden="true">*</span>' if bf.field.required else ""
    label = f'<label for="{_e(bf.id_for_label)}">{conditional_escape(bf.label)}{required}</label>'
    opening = f'<div class="field {_e(css)}">\n{label}\n'
    closing = "\n\n</div>\n"
    if type(widget) is widgets.Select:
        choices = list(bf.field.choices)
        if any(isinstance(text, list | tuple) for _, text in choices):
            return None  # option groups
        options = tuple(
            (
                str(value),
                f'\n  <option value="{_e(value)}"',
                f">{conditional_escape(text)}</option>\n",
            )
            for value, text in choices
        )
        head = f'{opening}<select name="{bf.html_name}"{attrs}>'
        return ("select", head, options, f"\n</select>\n{closing}")
    if not isinstance(widget, widgets.Input) or widget.input_type in ("checkbox", "hidden", "file"):
        return None
    head = f'{opening}<input type="{widget.input_type}" name="{bf.html_name}"'
    return ("input", head, f"{attrs}>\n{closing}")


def _field(bf, css: str) -> str:
    """``{% field bf css %}`` (``templates/_field.html``); a field with errors, help text or
    another kind of widget is rendered by the template itself."""
    form = bf.form
    shape = None
    if not bf.errors:
        shape = _shape(type(form), form.prefix, form.auto_id, bf.name, css, get_language())
    if shape is None:
        return render_to_string("_field.html", {"field": bf, "css": css})
    widget = bf.field.widget
    if shape[0] == "select":
        _, head, options, tail = shape
        chosen = set(widget.format_value(bf.value()))
        marked = "".join(
            f"{start}{' selected' if value in chosen else ''}{end}" for value, start, end in options
        )
        return f"{head}{marked}{tail}"
    _, head, tail = shape
    value = widget.format_value(bf.value())
    return f'{head} value="{_e(value)}"{tail}' if value is not None else f"{head}{tail}"


@register.simple_tag
def patient_filters(form):
    """The search form's four fields, as ``{% field %}`` renders them."""
    return mark_safe("".join(_field(form[name], css) for name, css in FILTERS))  # noqa: S308 - every value is escaped

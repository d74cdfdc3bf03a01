"""Form fields shared by every app: input that cannot reach arithmetic or the database in a
shape that breaks it."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError
from django.utils.formats import date_format
from django.utils.html import conditional_escape, escape
from django.utils.safestring import mark_safe

from uscpis.dates import EARLIEST, LATEST


class DateField(forms.DateField):
    """A date between 1900 and 2199 (``uscpis.dates``); anything else is a form error."""

    def validate(self, value):
        super().validate(value)
        if value and not (EARLIEST <= value <= LATEST):
            raise ValidationError(
                "Enter a date between %(a)s and %(b)s.",
                code="out_of_range",
                params={"a": date_format(EARLIEST, "j M Y"), "b": date_format(LATEST, "j M Y")},
            )


def finite_decimal(value) -> Decimal:
    """``value`` as a finite Decimal, or ValidationError (``1e309``, ``inf``, ``nan``)."""
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError("Enter a number.", code="invalid") from exc
    if not number.is_finite():
        raise ValidationError("Enter a number.", code="invalid")
    return number


def parse_id(value) -> int | None:
    """A row id posted in a hidden field or a query string: a positive whole number that fits
    a bigint, else None (so "abc", "1e309" or a NUL byte never reach the database)."""
    text = str(value or "").strip()
    if text.isascii() and text.isdigit() and len(text) <= 18 and int(text) > 0:
        return int(text)
    return None


# --- Short choice lists -------------------------------------------------------------------
# Django's select widget renders each option through a template include, and a
# ModelChoiceField reads its queryset through ``.iterator()`` (a server-side cursor, DECLARE
# ... WITH HOLD on PostgreSQL) to render it and once more with ``.get()`` to validate the
# answer. For the short lists the booking pages show on every request (appointment types,
# providers) that was most of the page's work.


def html_attrs(attrs: dict) -> str:
    """``django/forms/widgets/attrs.html`` in Python: ``False`` drops the attribute, ``True``
    writes it bare, anything else is written escaped (as the template's autoescape: a value
    already marked safe is written as it is)."""
    out = []
    for name, value in attrs.items():
        if value is False:
            continue
        name = conditional_escape(name)
        out.append(f" {name}" if value is True else f' {name}="{conditional_escape(value)}"')
    return "".join(out)


def _option(value, attrs: str, label) -> str:
    # select.html puts each option on its own line; select_option.html ends with a newline.
    return f'\n  <option value="{conditional_escape(value)}"{attrs}>{conditional_escape(label)}</option>\n'


class FastSelect(forms.Select):
    """``forms.Select`` (and ``SelectMultiple`` through a subclass) with the markup of
    Django's ``select.html``/``select_option.html`` written in Python: the template includes
    one template per option, which made a filter bar cost more than the table under it.
    Flat choices of a single select are written straight from ``choices`` (no per-option
    context dict); option groups, ``multiple`` and option-inheriting subclasses are written
    from ``get_context``. Both give the template's output character for character
    (``tests/uscpis/test_fast_select.py``)."""

    def render(self, name, value, attrs=None, renderer=None):
        if self.allow_multiple_selected or self.option_inherits_attrs:
            return self._render_context(name, value, attrs)
        wanted = self.format_value(value)
        found = False
        options = []
        for option_value, label in self.choices:
            if isinstance(label, (list, tuple)):  # an option group
                return self._render_context(name, value, attrs)
            if option_value is None:
                option_value = ""
            # As ChoiceWidget.optgroups: only the first option with the value is selected.
            selected = not found and str(option_value) in wanted
            found |= selected
            options.append(_option(option_value, " selected" if selected else "", label))
        return self._select(name, self.build_attrs(self.attrs, attrs), options)

    def _render_context(self, name, value, attrs):
        widget = self.get_context(name, value, attrs)["widget"]
        parts = []
        for group_name, options, _index in widget["optgroups"]:
            if group_name:
                parts.append(f'\n  <optgroup label="{conditional_escape(group_name)}">')
            for option in options:
                parts.append(_option(option["value"], html_attrs(option["attrs"]), option["label"]))
            if group_name:
                parts.append("\n  </optgroup>")
        return self._select(widget["name"], widget["attrs"], parts)

    @staticmethod
    def _select(name, attrs: dict, parts: list[str]) -> str:
        return mark_safe(  # noqa: S308 - every name, value and label above is escaped
            f'<select name="{conditional_escape(name)}"{html_attrs(attrs)}>{"".join(parts)}\n</select>'
        )


class _FastInput:
    """``input.html`` in Python for an ``Input`` widget (same context from ``get_context``,
    same escaping): a filter form's few inputs without two template includes each."""

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        shown = "" if widget["value"] is None else f' value="{escape(widget["value"])}"'
        return mark_safe(  # noqa: S308 - every value is escaped
            f'<input type="{escape(widget["type"])}" name="{escape(widget["name"])}"'
            f"{shown}{html_attrs(widget['attrs'])}>"
        )


class FastTextInput(_FastInput, forms.TextInput):
    pass


class FastNumberInput(_FastInput, forms.NumberInput):
    pass


class FastDateInput(_FastInput, forms.DateInput):
    pass


class _LoadedChoiceIterator(forms.models.ModelChoiceIterator):
    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.field.loaded():
            yield self.choice(obj)

    def __len__(self):
        return len(self.field.loaded()) + (self.field.empty_label is not None)

    def __bool__(self):
        return self.field.empty_label is not None or bool(self.field.loaded())


class LoadedModelChoiceField(forms.ModelChoiceField):
    """A ``ModelChoiceField`` for a short list: its queryset is read once per form (one plain
    query, no server-side cursor), and both the options shown and the answer's validation use
    that read. Rendered with ``FastSelect``. Not for long lists (every row is loaded)."""

    widget = FastSelect
    iterator = _LoadedChoiceIterator

    def _set_queryset(self, queryset):
        super()._set_queryset(queryset)
        self._loaded = None

    queryset = property(forms.ModelChoiceField._get_queryset, _set_queryset)

    def loaded(self) -> list:
        if getattr(self, "_loaded", None) is None:
            self._loaded = list(self.queryset)
        return self._loaded

    def preload(self, objects) -> None:
        """Use ``objects`` as the queryset's rows (read elsewhere, e.g. from a cache that is
        invalidated with the table) instead of reading it."""
        self._loaded = list(objects)

    def __deepcopy__(self, memo):
        result = super().__deepcopy__(memo)  # a fresh queryset, so nothing loaded yet
        result._loaded = None
        return result

    def to_python(self, value):
        if value in self.empty_values:
            return None
        self.validate_no_null_characters(value)
        key = self.to_field_name or "pk"
        if isinstance(value, self.queryset.model):
            value = getattr(value, key)
        wanted = str(value)
        for obj in self.loaded():
            if str(getattr(obj, key)) == wanted:
                return obj
        raise ValidationError(
            self.error_messages["invalid_choice"],
            code="invalid_choice",
            params={"value": value},
        )

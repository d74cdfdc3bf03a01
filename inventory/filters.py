"""The stock overview's filter bar (search, kind, category, location, stock level).

It is on the inventory manager's main page, so it is built and drawn without the costly
parts of Django forms: the category and location lists come from one plain query
(``screens.filter_lists``) and are validated against that same list (no query per chosen
value, no queryset copies per form), the search box and selects are drawn in Python, and
:func:`filter_fields` writes what ``templates/_field.html`` writes for each field
(``tests/inventory/test_filters.py`` compares them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from html import escape

from django import forms
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.safestring import mark_safe

from inventory import screens
from inventory.models import ItemKind
from uscpis.forms import FastSelect, FastTextInput


class ListChoiceField(forms.ChoiceField):
    """One of a list of objects read beforehand (:meth:`set_objects`), chosen by primary
    key; cleans to the object, like ``ModelChoiceField`` (and with its error message)."""

    default_error_messages = {
        "invalid_choice": forms.ModelChoiceField.default_error_messages["invalid_choice"]
    }

    def set_objects(self, objects, empty_label: str) -> None:
        self.objects = {str(o.pk): o for o in objects}
        self.choices = [("", empty_label), *((o.pk, str(o)) for o in objects)]

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return self.objects[str(value)]
        except KeyError:
            raise ValidationError(
                self.error_messages["invalid_choice"],
                code="invalid_choice",
                params={"value": value},
            ) from None

    def validate(self, value):
        forms.Field.validate(self, value)  # to_python checked the choice


class StockFilterForm(forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        widget=FastTextInput(attrs={"type": "search", "placeholder": "Name, generic name or code"}),
    )
    kind = forms.ChoiceField(
        label="Kind",
        required=False,
        choices=[("", "All kinds"), *ItemKind.choices],
        widget=FastSelect,
    )
    category = ListChoiceField(label="Category", required=False, widget=FastSelect)
    location = ListChoiceField(label="Location", required=False, widget=FastSelect)
    status = forms.ChoiceField(
        label="Stock",
        required=False,
        choices=[
            ("", "Any level"),
            ("low", "At or below reorder point"),
            ("out", "Out of stock"),
            ("expiring", "Expiring within 90 days"),
        ],
        widget=FastSelect,
    )

    def __init__(self, *args, lists=None, **kwargs):
        super().__init__(*args, **kwargs)
        # Every category and the active locations, by name (``lists``: read already). The
        # categories are kept: the overview's rows take their category from this list.
        self.categories, locations = lists if lists is not None else screens.filter_lists()
        self.fields["category"].set_objects(self.categories, "All categories")
        self.fields["location"].set_objects(locations, "All locations")


def field_html(bound_field, css: str = "") -> str:
    """``{% field bound_field css %}`` (``templates/_field.html``) for a visible field that is
    not a checkbox (the filter bar's fields)."""
    errors = bound_field.errors
    required = (
        ' <span class="muted" aria-hidden="true">*</span>' if bound_field.field.required else ""
    )
    help_text = (
        f'<span class="helptext">{bound_field.help_text}</span>' if bound_field.help_text else ""
    )
    error_list = (
        '<ul class="errorlist">' + "".join(f"<li>{escape(e)}</li>" for e in errors) + "</ul>"
        if errors
        else ""
    )
    return (
        f'<div class="field {escape(css)}{" has-error" if errors else ""}">\n'
        f'<label for="{escape(bound_field.id_for_label)}">{escape(str(bound_field.label))}'
        f"{required}</label>\n{bound_field}\n{help_text}\n{error_list}\n</div>\n"  # the file ends in a line break
    )


def filter_fields(form: StockFilterForm) -> str:
    """The filter bar's fields, the search box first and widest."""
    css = {"q": "grow"}
    return mark_safe(  # noqa: S308 - field_html escapes every value
        "".join(field_html(form[name], css.get(name, "")) for name in form.fields)
    )


FIELDS = tuple(StockFilterForm.base_fields)


def submitted(data) -> tuple | None:
    """What :class:`StockFilterForm` reads of ``data`` (a query dict; empty or None: the
    unbound form): each field's value, as its widget reads it (``data.get(name)``)."""
    if not data:
        return None
    return tuple(data.get(name) for name in FIELDS)


@dataclass(frozen=True)
class FilterBar:
    """The filter bar drawn for a submission, and the filters it stands for: what the view
    did with ``StockFilterForm(request.GET or None)`` (the cleaned data when valid, else no
    filter), the category and location as primary keys."""

    html: str
    chosen: tuple[tuple[str, object], ...]

    @property
    def filters(self) -> dict:
        return dict(self.chosen)


@lru_cache(maxsize=512)
def filter_bar(list_rows: tuple, values: tuple | None, language: str) -> FilterBar:
    """The bar for :func:`submitted` ``values`` with the lists read as ``list_rows``
    (``screens.filter_list_rows``). Kept per process: the HTML and the filters are a
    function of these arguments alone (the lists' rows are part of the key, so a changed
    category or location is a new entry), and building and drawing the form cost more
    than the overview's 25 rows."""
    with translation.override(language):
        data = (
            None
            if values is None
            else {n: v for n, v in zip(FIELDS, values, strict=True) if v is not None}
        )
        form = StockFilterForm(data, lists=screens.lists_from_rows(list_rows))
        cleaned = form.cleaned_data if form.is_valid() else {}
        chosen = tuple(
            (name, getattr(value, "pk", value)) for name, value in cleaned.items() if value
        )
        return FilterBar(filter_fields(form), chosen)


def guess(values: tuple | None) -> dict:
    """The filters :func:`filter_bar` is expected to find in ``values``, worked out before
    the lists are read, so the page can be read with them (``inventory.overview`` checks
    the guess against the bar and reads again when it was wrong)."""
    if values is None or any(v and "\x00" in v for v in values):
        return {}  # a null character voids the form (and PostgreSQL refuses it)
    found = {}
    for name, value in zip(FIELDS, values, strict=True):
        if name == "q":
            value = (value or "").strip()
        elif name in ("category", "location"):
            value = int(value) if value and value.isascii() and value.isdigit() else None
        if value:
            found[name] = value
    return found

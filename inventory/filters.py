"""The stock overview's filter bar (search, kind, category, location, stock level).

It is on the inventory manager's main page, so it is built and drawn without the costly
parts of Django forms: the category and location lists come from one plain query
(``screens.filter_lists``) and are validated against that same list (no query per chosen
value, no queryset copies per form), the search box and selects are drawn in Python, and
:func:`filter_fields` writes what ``templates/_field.html`` writes for each field
(``tests/inventory/test_filters.py`` compares them).
"""

from __future__ import annotations

from html import escape

from django import forms
from django.core.exceptions import ValidationError
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Every category and the active locations, by name. The categories are kept: the
        # overview's rows take their category from this list.
        self.categories, locations = screens.filter_lists()
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

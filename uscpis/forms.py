"""Form fields shared by every app: input that cannot reach arithmetic or the database in a
shape that breaks it."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError
from django.utils.formats import date_format

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

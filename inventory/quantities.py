"""Quantities and intervals as people type and read them: parsing, display, date steps."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

from inventory.models import (
    IntervalUnit,
    Item,
)


def clean_quantity(
    item: Item, value, *, field_name: str = "quantity", allow_zero: bool = False
) -> Decimal:
    """A positive Decimal with at most 3 decimals; whole numbers unless the unit allows
    fractions. Raises ``ValidationError`` keyed by ``field_name``."""
    try:
        qty = Decimal(str(value).strip())
    except (InvalidOperation, TypeError, ValueError):
        raise ValidationError({field_name: "Enter a number."}) from None
    if not qty.is_finite():
        raise ValidationError({field_name: "Enter a number."})
    # Before any arithmetic: quantize() of 1e309 raises InvalidOperation (a 500 before).
    if abs(qty) >= Decimal("1e10"):
        raise ValidationError({field_name: "That quantity is too large."})
    if qty < 0 or (qty == 0 and not allow_zero):
        raise ValidationError({field_name: "Enter a quantity greater than zero."})
    if qty != qty.quantize(Decimal("0.001")):
        raise ValidationError({field_name: "Use at most three decimal places."})
    if not item.allows_fractions and qty != qty.to_integral_value():
        raise ValidationError(
            {field_name: f"{item.unit.capitalize()} cannot be split: enter a whole number."}
        )
    if qty >= Decimal("1e10"):
        raise ValidationError({field_name: "That quantity is too large."})
    return qty


def fmt_qty(value: Decimal) -> str:
    value = Decimal(value).normalize()
    return f"{value:f}"


def add_interval(start: date, value: int, unit: str) -> date:
    """``start`` plus N days or N calendar months (31 Jan + 1 month = 28/29 Feb)."""
    if unit == IntervalUnit.DAYS:
        return start + timedelta(days=value)
    month_index = start.month - 1 + value
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)

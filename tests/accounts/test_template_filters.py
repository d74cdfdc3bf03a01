"""Shared template filters format numbers for people."""

from decimal import Decimal

import pytest
from django.test import override_settings

from accounts.templatetags.uscpis import hours, money


@pytest.mark.parametrize(
    ("minutes", "shown"),
    [
        (0, "0 min"),
        (45, "45 min"),
        (60, "1 h"),
        (750, "12 h 30 min"),
        (74_040, "1,234 h"),
        (-90, "-1 h 30 min"),
        (None, "—"),
        ("x", "—"),
    ],
)
def test_hours(minutes, shown):
    assert hours(minutes) == shown


@override_settings(CURRENCY_SYMBOL="₱")
@pytest.mark.parametrize(
    ("value", "shown"),
    [(Decimal("1234.5"), "₱1,234.50"), (-3, "-₱3.00"), (None, "—"), ("n/a", "n/a")],
)
def test_money(value, shown):
    assert money(value) == shown

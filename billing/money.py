"""Money arithmetic for billing: ``Decimal`` only, rounded half-up to centavos in one place.

The statutory senior-citizen / PWD discount (RA 9994, RA 10754; RR 7-2010, RR 5-2017) is
20 % of the VAT-exclusive price on a line that carries VAT (the line also becomes VAT-exempt,
so the patient pays price ÷ 1.12 × 0.8 = price ÷ 1.4), and 20 % of the price on a VAT-exempt
line. See /docs and ``shared/reference/billing-ph.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
STATUTORY_RATE = Decimal("0.20")


def to_money(value) -> Decimal:
    """``value`` as a Decimal rounded half-up to centavos (the only rounding in billing)."""
    if isinstance(value, float):
        value = repr(value)
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class LineAmounts:
    gross: Decimal  # quantity × unit price, VAT included where VAT applies
    vat_exemption: Decimal  # VAT removed because a senior/PWD line is VAT-exempt
    discount: Decimal  # statutory or promotional discount
    net: Decimal  # gross − vat_exemption − discount
    vat: Decimal  # the VAT contained in ``net``


def line_amounts(
    *,
    quantity,
    unit_price,
    vat_exempt: bool,
    vat_rate: Decimal,
    statutory: bool = False,
    promo_percent: Decimal = Decimal("0"),
) -> LineAmounts:
    """Amounts of one invoice line. ``statutory`` applies the senior/PWD 20 % (never together
    with a promotional discount: the larger of the two wins, so a line has one discount)."""
    gross = to_money(Decimal(quantity) * Decimal(unit_price))
    rate = Decimal(vat_rate)
    applies_vat = not vat_exempt and rate > 0
    if statutory:
        base = to_money(gross / (1 + rate)) if applies_vat else gross
        vat_exemption = gross - base
        statutory_discount = to_money(base * STATUTORY_RATE)
        promo_discount = to_money(gross * Decimal(promo_percent) / 100)
        # No double discount: the patient gets whichever is worth more.
        if promo_discount > statutory_discount + vat_exemption:
            return _plain(gross, promo_discount, applies_vat, rate)
        net = base - statutory_discount
        return LineAmounts(gross, vat_exemption, statutory_discount, net, ZERO)
    return _plain(gross, to_money(gross * Decimal(promo_percent) / 100), applies_vat, rate)


def _plain(gross: Decimal, discount: Decimal, applies_vat: bool, rate: Decimal) -> LineAmounts:
    net = gross - discount
    vat = net - to_money(net / (1 + rate)) if applies_vat else ZERO
    return LineAmounts(gross, ZERO, discount, net, vat)


def split_share(
    *, net: Decimal, percent, fixed: Decimal | None, cap_left: Decimal | None
) -> Decimal:
    """The payer's share of a line worth ``net``: ``percent`` of it, or ``fixed`` (whichever
    coverage says), never more than the line nor than what is left of the annual cap."""
    share = to_money(fixed) if fixed is not None else to_money(net * Decimal(percent) / 100)
    share = min(share, net)
    if cap_left is not None:
        share = min(share, max(cap_left, ZERO))
    return max(share, ZERO)


_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))


def _under_thousand(n: int) -> list[str]:
    words = []
    if n >= 100:
        words += [_ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10] + (f"-{_ONES[n % 10]}" if n % 10 else ""))
    elif n:
        words.append(_ONES[n])
    return words


def integer_in_words(n: int) -> str:
    """``1200`` → ``"one thousand two hundred"`` (English, as written on Philippine checks)."""
    if n < 0:
        return "minus " + integer_in_words(-n)
    if n == 0:
        return "zero"
    words = []
    for size, name in _SCALES:
        if n >= size:
            words += [integer_in_words(n // size), name]
            n %= size
    words += _under_thousand(n)
    return " ".join(words)


def amount_in_words(value) -> str:
    """An amount as written on an official receipt:
    ``Decimal("1200.50")`` → ``"One thousand two hundred pesos and 50/100"``."""
    amount = to_money(value)
    pesos = int(abs(amount))
    centavos = int((abs(amount) - pesos) * 100)
    words = integer_in_words(pesos)
    text = f"{words} {'peso' if pesos == 1 else 'pesos'} and {centavos:02d}/100"
    if amount < 0:
        text = "minus " + text
    return text[0].upper() + text[1:]

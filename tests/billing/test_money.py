"""Rounding and the statutory senior/PWD discount (RA 9994 / RA 10754)."""

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.money import line_amounts, split_share, to_money

VAT = Decimal("0.12")


def test_rounding_is_half_up_to_centavos():
    assert to_money("0.005") == Decimal("0.01")
    assert to_money("0.015") == Decimal("0.02")  # banker's rounding would give 0.02 too
    assert to_money("2.345") == Decimal("2.35")  # banker's would give 2.34
    assert to_money("-2.345") == Decimal("-2.35")


def test_senior_discount_on_a_vat_line_is_price_over_1_4():
    amounts = line_amounts(
        quantity=1, unit_price=Decimal("112.00"), vat_exempt=False, vat_rate=VAT, statutory=True
    )
    assert amounts.vat_exemption == Decimal("12.00")
    assert amounts.discount == Decimal("20.00")  # 20 % of the VAT-exclusive 100
    assert amounts.net == Decimal("80.00") == to_money(Decimal("112") / Decimal("1.4"))
    assert amounts.vat == 0


def test_senior_discount_on_a_vat_exempt_line_is_20_percent_of_price():
    amounts = line_amounts(
        quantity=2, unit_price=Decimal("250.00"), vat_exempt=True, vat_rate=VAT, statutory=True
    )
    assert (amounts.gross, amounts.vat_exemption, amounts.discount, amounts.net) == (
        Decimal("500.00"),
        Decimal("0.00"),
        Decimal("100.00"),
        Decimal("400.00"),
    )


def test_no_double_discount_the_larger_wins():
    promo_bigger = line_amounts(
        quantity=1,
        unit_price=Decimal("100"),
        vat_exempt=True,
        vat_rate=VAT,
        statutory=True,
        promo_percent=Decimal("30"),
    )
    assert promo_bigger.discount == Decimal("30.00") and promo_bigger.net == Decimal("70.00")
    statutory_bigger = line_amounts(
        quantity=1,
        unit_price=Decimal("100"),
        vat_exempt=True,
        vat_rate=VAT,
        statutory=True,
        promo_percent=Decimal("10"),
    )
    assert statutory_bigger.discount == Decimal("20.00") and statutory_bigger.net == Decimal(
        "80.00"
    )


def test_plain_vat_line_reports_the_vat_it_contains():
    amounts = line_amounts(quantity=1, unit_price=Decimal("112.00"), vat_exempt=False, vat_rate=VAT)
    assert amounts.net == Decimal("112.00") and amounts.vat == Decimal("12.00")


# Pure arithmetic, but the CI machine is shared: never fail on a slow draw.
RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
money = st.decimals(min_value=Decimal("0"), max_value=Decimal("99999.99"), places=2)


@RELAXED
@given(
    price=money,
    qty=st.integers(min_value=1, max_value=50),
    exempt=st.booleans(),
    statutory=st.booleans(),
    promo=st.integers(min_value=0, max_value=100),
)
def test_line_amounts_always_add_up(price, qty, exempt, statutory, promo):
    a = line_amounts(
        quantity=qty,
        unit_price=price,
        vat_exempt=exempt,
        vat_rate=VAT,
        statutory=statutory,
        promo_percent=Decimal(promo),
    )
    for value in (a.gross, a.vat_exemption, a.discount, a.net, a.vat):
        assert value == value.quantize(Decimal("0.01")) and value >= 0
    assert a.net == a.gross - a.vat_exemption - a.discount
    assert a.net <= a.gross


@RELAXED
@given(net=money, percent=st.integers(min_value=0, max_value=100), cap=st.one_of(st.none(), money))
def test_payer_share_never_exceeds_line_or_cap(net, percent, cap):
    share = split_share(net=net, percent=percent, fixed=None, cap_left=cap)
    assert Decimal("0") <= share <= net
    if cap is not None:
        assert share <= cap
    assert net - share >= 0

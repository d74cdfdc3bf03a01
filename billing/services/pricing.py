"""What a service costs a patient on a day: the price list in force for the patient's type,
the term's covered visits, the statutory discount and the payer's share."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db.models import Sum

from billing.models import (
    ZERO,
    Charge,
    ChargeStatus,
    Coverage,
    InvoiceLine,
    InvoiceStatus,
    KonsultaRegistration,
    Price,
    PriceBasis,
    Service,
)
from billing.money import to_money


def term_start(day: date) -> date:
    """First day of the term (semester) containing ``day``."""
    months = settings.BILLING_TERM_START_MONTHS
    starts = [m for m in months if m <= day.month]
    if starts:
        return date(day.year, max(starts), 1)
    return date(day.year - 1, max(months), 1)


def price_for(service: Service, *, patient_type: str, day: date) -> Price | None:
    """The price of ``service`` in the newest list in force on ``day`` for ``patient_type``."""
    return (
        Price.objects.filter(
            service=service,
            price_list__patient_type=patient_type,
            price_list__effective_from__lte=day,
        )
        .order_by("-price_list__effective_from")
        .first()
    )


def unit_price(price: Price | None, *, unit_cost: Decimal | None) -> Decimal:
    if price is None:
        return ZERO
    if price.basis == PriceBasis.COST_PLUS:
        return to_money((unit_cost or ZERO) * (1 + price.markup_percent / 100))
    return price.amount


def covered_by_term_fee(charge: Charge, price: Price | None) -> bool:
    """True when ``charge`` is within the first N of its service this term for the patient.

    Counts charges, which exist only for events that happened (completed appointments,
    signed visits): cancelled, rescheduled and no-show appointments never use up a covered
    visit, and a reversed charge gives its place back.
    """
    if price is None or price.covered_per_term == 0:
        return False
    earlier = (
        Charge.objects.filter(
            patient_id=charge.patient_id,
            service_id=charge.service_id,
            occurred_on__gte=term_start(charge.occurred_on),
        )
        .exclude(status=ChargeStatus.REVERSED)
        .filter(occurred_on__lt=charge.occurred_on)
        .count()
    )
    same_day_before = (
        Charge.objects.filter(
            patient_id=charge.patient_id,
            service_id=charge.service_id,
            occurred_on=charge.occurred_on,
            id__lt=charge.id,
        )
        .exclude(status=ChargeStatus.REVERSED)
        .count()
    )
    return earlier + same_day_before < price.covered_per_term


def covered_by_konsulta(*, patient_id: int, group: str, day: date) -> bool:
    """True when the patient is a Konsulta member registered with the clinic for ``day``'s
    year (on or before ``day``) and the service group is in the Konsulta package: PhilHealth
    pays for it through the capitation, so the member pays ₱0 and nothing is claimed."""
    if group not in settings.BILLING_KONSULTA_GROUPS:
        return False
    return KonsultaRegistration.objects.filter(
        patient_id=patient_id,
        year=day.year,
        registered_on__lte=day,
        coverage__is_active=True,
    ).exists()


def best_coverage(patient_id: int, day: date) -> Coverage | None:
    """The patient's per-line payer coverage in force on ``day`` (newest first), if any. A
    Konsulta registration's coverage pays by capitation, not per line, so it is not one."""
    for coverage in (
        Coverage.objects.filter(patient_id=patient_id, is_active=True)
        .filter(konsulta_registration__isnull=True)
        .select_related("payer")
    ):
        if coverage.valid_from <= day and (not coverage.valid_until or day <= coverage.valid_until):
            return coverage
    return None


def cap_left(coverage: Coverage, *, year: int, exclude_invoice_id: int | None) -> Decimal | None:
    """What is left of the coverage's annual cap, counting posted invoices of ``year``."""
    if coverage.annual_cap is None:
        return None
    used = (
        InvoiceLine.objects.filter(
            coverage=coverage,
            voided=False,
            invoice__visit_day__year=year,
            invoice__status__in=[
                InvoiceStatus.ISSUED,
                InvoiceStatus.PARTIALLY_PAID,
                InvoiceStatus.PAID,
                InvoiceStatus.WRITTEN_OFF,
            ],
        )
        .exclude(invoice_id=exclude_invoice_id)
        .aggregate(total=Sum("payer_share"))["total"]
        or ZERO
    )
    return coverage.annual_cap - used

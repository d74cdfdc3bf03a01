"""PhilHealth Konsulta: members registered with the clinic per year, and the capitation
PhilHealth pays for them (PC 2020-0021/0022). The members' covered services are priced at
₱0 when charged (``pricing.covered_by_konsulta``); nothing is claimed line by line."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.audit import audit_record
from accounts.models import AuditAction, User
from billing.models import (
    Coverage,
    KonsultaCapitation,
    KonsultaRegistration,
    Payer,
    PayerKind,
)
from billing.money import to_money
from billing.services.common import require
from patients.models import format_philhealth_pin
from patients.services.registry import philhealth_pin_clean


def format_pin(raw: str) -> str:
    """A PhilHealth PIN as ``12-123456789-1`` (12 digits, written 2-9-1): the patients
    app's normaliser and format, so the record and the coverage agree."""
    try:
        digits = philhealth_pin_clean(raw)
    except ValidationError:
        digits = None
    if not digits:
        raise ValidationError({"pin": "A PhilHealth PIN is 12 digits, written 12-123456789-1."})
    return format_philhealth_pin(digits)


def konsulta_payer() -> Payer:
    payer = Payer.objects.filter(kind=PayerKind.PHILHEALTH, is_active=True).order_by("pk").first()
    if payer is None:
        raise ValidationError("Set up the PhilHealth payer first (Prices and payers).")
    return payer


@transaction.atomic
def konsulta_register(
    *, actor: User | None, patient, pin: str, year: int, registered_on: date
) -> KonsultaRegistration:
    """Register ``patient`` as a Konsulta member of the clinic for ``year``: a PhilHealth
    coverage for that year (0 % per line: capitation pays) and the registration with the
    configured capitation rate. One registration per member per year (a constraint)."""
    require(actor, "billing.konsulta")
    pin = format_pin(pin)
    if patient.philhealth_pin and format_philhealth_pin(patient.philhealth_pin) != pin:
        raise ValidationError(
            {"pin": f"The patient's record has PhilHealth PIN {patient.philhealth_pin_display}."}
        )
    if not 2020 <= year <= 2100:
        raise ValidationError({"year": "Enter a year from 2020."})
    if registered_on.year > year:
        raise ValidationError(
            {"registered_on": "The registration date must be in or before the validity year."}
        )
    payer = konsulta_payer()
    if KonsultaRegistration.objects.filter(patient=patient, year=year).exists():
        raise ValidationError({"year": f"This member is already registered for {year}."})
    coverage = Coverage.objects.create(
        patient=patient,
        payer=payer,
        member_id=pin,
        valid_from=max(registered_on, date(year, 1, 1)),
        valid_until=date(year, 12, 31),
        percent=0,
        groups=list(settings.BILLING_KONSULTA_GROUPS),
    )
    try:
        with transaction.atomic():
            registration = KonsultaRegistration.objects.create(
                patient=patient,
                coverage=coverage,
                year=year,
                registered_on=registered_on,
                capitation_rate=to_money(settings.BILLING_KONSULTA_CAPITATION),
                registered_by=actor,
            )
    except IntegrityError:  # registered concurrently by someone else
        raise ValidationError({"year": f"This member is already registered for {year}."}) from None
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=registration,
        patient_id=patient.pk,
        detail={"year": year, "pin": pin, "rate": str(registration.capitation_rate)},
    )
    return registration


@transaction.atomic
def konsulta_capitation_post(
    *,
    actor,
    year: int,
    reference: str,
    received_on: date,
    amount,
    members: int | None = None,
) -> KonsultaCapitation:
    """Post capitation received from PhilHealth for ``year`` (once per reference)."""
    require(actor, "billing.konsulta")
    amount = to_money(amount)
    reference = (reference or "").strip()
    if not reference:
        raise ValidationError({"reference": "Enter PhilHealth's payment reference."})
    if amount <= 0:
        raise ValidationError({"amount": "Enter the amount received."})
    if not 2020 <= year <= 2100:
        raise ValidationError({"year": "Enter a year from 2020."})
    payer = konsulta_payer()
    try:
        with transaction.atomic():
            capitation = KonsultaCapitation.objects.create(
                payer=payer,
                year=year,
                reference=reference,
                received_on=received_on,
                amount=amount,
                members=members,
                posted_by=actor,
            )
    except IntegrityError:
        raise ValidationError(
            {"reference": "This capitation payment was already posted."}
        ) from None
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=capitation,
        detail={"year": year, "reference": reference, "amount": str(amount)},
    )
    return capitation

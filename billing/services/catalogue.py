"""The administrator's fee-schedule writes: prices, new price lists from a date, payers.
Issued invoices copy their amounts, so none of this changes them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.audit import audit_record
from accounts.models import AuditAction, User
from billing.models import Payer, Price, PriceList
from billing.services.common import require


@transaction.atomic
def price_update(
    *, actor: User | None, price: Price, amount: Decimal, covered_per_term: int
) -> Price:
    require(actor, "billing.configure")
    price = Price.objects.select_for_update().get(pk=price.pk)
    before = str(price.amount)
    if amount < 0 or covered_per_term < 0:
        raise ValidationError("Prices and covered visits cannot be negative.")
    price.amount, price.covered_per_term = amount, covered_per_term
    price.save(update_fields=["amount", "covered_per_term"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=price,
        detail={
            "amount": {"from": before, "to": str(amount)},
            "covered_per_term": covered_per_term,
        },
    )
    return price


@transaction.atomic
def price_list_copy(
    *, actor: User | None, source: PriceList, effective_from: date, name: str
) -> PriceList:
    """A new list for the same patient type from ``effective_from``, starting from the
    source's prices (then edited price by price)."""
    require(actor, "billing.configure")
    if effective_from <= source.effective_from:
        raise ValidationError({"effective_from": "A new list starts after the one it copies."})
    try:
        with transaction.atomic():
            new = PriceList.objects.create(
                name=name.strip() or source.name,
                patient_type=source.patient_type,
                effective_from=effective_from,
            )
    except IntegrityError:
        raise ValidationError(
            {"effective_from": "A list for this patient type already starts that day."}
        ) from None
    Price.objects.bulk_create(
        [
            Price(
                price_list=new,
                service_id=p.service_id,
                basis=p.basis,
                amount=p.amount,
                markup_percent=p.markup_percent,
                covered_per_term=p.covered_per_term,
            )
            for p in source.prices.all()
        ]
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=new,
        detail={"copied_from": source.pk, "effective_from": str(effective_from)},
    )
    return new


@transaction.atomic
def payer_save(*, actor: User | None, payer: Payer) -> Payer:
    require(actor, "billing.configure")
    created = payer.pk is None
    payer.full_clean()
    payer.save()
    audit_record(
        actor=actor,
        action=AuditAction.CREATE if created else AuditAction.UPDATE,
        obj=payer,
        detail={
            "code": payer.code,
            "requires_loa": payer.requires_loa,
            "loa_validity_days": payer.loa_validity_days,
        },
    )
    return payer

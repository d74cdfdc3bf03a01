"""Invoices: the draft per patient per visit day, editing it, issuing it (gap-free number),
and the only corrections an issued invoice allows (credit note, void, write-off)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import User
from billing.models import (
    ZERO,
    ApprovalStatus,
    Charge,
    ChargeStatus,
    Coverage,
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Service,
    StatutoryDiscount,
    WriteOff,
)
from billing.money import line_amounts, split_share, to_money
from billing.services.common import require
from billing.services.numbering import next_number
from billing.services.pricing import (
    best_coverage,
    cap_left,
    covered_by_konsulta,
    covered_by_term_fee,
    price_for,
    unit_price,
)


def _audit(actor: User | None, action: str, obj, *, patient_id: int, **detail) -> None:
    audit_record(
        actor=actor,
        action=action,
        obj=obj,
        patient_id=patient_id,
        detail=detail,
        actor_email="" if actor else "system:billing",
    )


def lock_invoice(invoice: Invoice | int) -> Invoice:
    pk = invoice.pk if isinstance(invoice, Invoice) else invoice
    return Invoice.objects.select_for_update().select_related("patient").get(pk=pk)


def draft_for(*, patient, day: date) -> Invoice:
    """The patient's open draft for ``day``, created if missing (locked). Two charges of the
    same day racing both land on the one draft (partial unique constraint)."""
    for _ in range(3):
        draft = (
            Invoice.objects.select_for_update()
            .filter(patient=patient, visit_day=day, status=InvoiceStatus.DRAFT)
            .first()
        )
        if draft is not None:
            return draft
        try:
            with transaction.atomic():
                return Invoice.objects.create(
                    patient=patient, visit_day=day, coverage=best_coverage(patient.pk, day)
                )
        except IntegrityError:
            continue
    raise RuntimeError("Could not open the day's draft invoice")


def _fill_line(invoice: Invoice, line: InvoiceLine, *, caps: dict) -> None:
    """Compute a draft line's amounts from its unit price, the invoice's statutory discount
    and coverage (the same arithmetic for every line: ``billing.money``)."""
    amounts = line_amounts(
        quantity=line.quantity,
        unit_price=line.unit_price,
        vat_exempt=line.vat_exempt,
        vat_rate=settings.BILLING_VAT_RATE,
        statutory=bool(invoice.statutory_discount),
    )
    line.gross, line.vat_exemption, line.discount = (
        amounts.gross,
        amounts.vat_exemption,
        amounts.discount,
    )
    line.net, line.vat = amounts.net, amounts.vat
    line.discount_kind = invoice.statutory_discount if amounts.discount else ""
    coverage = invoice.coverage
    line.coverage = None
    line.payer_share = ZERO
    if coverage is not None and coverage.covers(line.service.group, invoice.visit_day):
        key = coverage.pk
        if key not in caps:
            caps[key] = cap_left(
                coverage, year=invoice.visit_day.year, exclude_invoice_id=invoice.pk
            )
        share = split_share(
            net=line.net, percent=coverage.percent, fixed=coverage.fixed_amount, cap_left=caps[key]
        )
        if caps[key] is not None:
            caps[key] -= share
        if share > 0:
            line.coverage, line.payer_share = coverage, share
    line.patient_share = line.net - line.payer_share


def _recompute(invoice: Invoice) -> None:
    """Re-derive every line of a draft and the stored totals (draft only)."""
    caps: dict = {}
    lines = list(invoice.lines.select_related("service").filter(voided=False))
    for line in lines:
        _fill_line(invoice, line, caps=caps)
        line.save()
    _store_totals(invoice, lines)


def _store_totals(invoice: Invoice, lines: list[InvoiceLine]) -> None:
    invoice.gross_total = sum((x.gross for x in lines), ZERO)
    invoice.discount_total = sum((x.vat_exemption + x.discount for x in lines), ZERO)
    invoice.vat_total = sum((x.vat for x in lines), ZERO)
    invoice.net_total = sum((x.net for x in lines), ZERO)
    invoice.payer_total = sum((x.payer_share for x in lines), ZERO)
    invoice.patient_total = sum((x.patient_share for x in lines), ZERO)
    invoice.save()


def _line_for_charge(invoice: Invoice, charge: Charge) -> InvoiceLine:
    service = charge.service
    price = price_for(service, patient_type=invoice.patient.patient_type, day=charge.occurred_on)
    covered = covered_by_term_fee(charge, price)
    capitation = not covered and covered_by_konsulta(
        patient_id=charge.patient_id, group=service.group, day=charge.occurred_on
    )
    amount = ZERO if covered or capitation else unit_price(price, unit_cost=charge.unit_cost)
    return InvoiceLine(
        invoice=invoice,
        charge=charge,
        service=service,
        description=charge.description,
        quantity=charge.quantity,
        unit_price=amount,
        covered_by_fee=covered,
        covered_by_capitation=capitation,
        vat_exempt=service.vat_exempt,
        gross=ZERO,
        net=ZERO,
        patient_share=ZERO,
        provider=charge.provider,
    )


def invoice_add_charge(*, charge: Charge) -> Invoice:
    """Put an unbilled charge on its patient's draft for the charge's day (in the caller's
    transaction). Returns the draft."""
    invoice = draft_for(patient=charge.patient, day=charge.occurred_on)
    invoice.patient = charge.patient
    line = _line_for_charge(invoice, charge)
    line.save()
    Charge.objects.filter(pk=charge.pk).update(status=ChargeStatus.BILLED)
    charge.status = ChargeStatus.BILLED
    _recompute(invoice)
    return invoice


def _require_draft(invoice: Invoice) -> None:
    if invoice.status != InvoiceStatus.DRAFT:
        raise ValidationError("Only a draft invoice can be changed; use a credit note or a void.")


@transaction.atomic
def invoice_add_line(
    *,
    actor: User | None,
    invoice: Invoice,
    service: Service,
    quantity: Decimal,
    unit_price_value=None,
    reason: str = "",
) -> InvoiceLine:
    """Add a manual line (e.g. a lab service) to a draft; a price other than the list's
    needs a reason."""
    require(actor, "billing.manage")
    invoice = lock_invoice(invoice)
    _require_draft(invoice)
    if quantity is None or quantity <= 0:
        raise ValidationError({"quantity": "Enter a quantity above zero."})
    price = price_for(service, patient_type=invoice.patient.patient_type, day=invoice.visit_day)
    listed = unit_price(price, unit_cost=None)
    amount = listed if unit_price_value is None else to_money(unit_price_value)
    if amount < 0:
        raise ValidationError({"unit_price": "A price cannot be negative."})
    if amount != listed and not reason.strip():
        raise ValidationError({"reason": "Give the reason for a price other than the list's."})
    line = InvoiceLine.objects.create(
        invoice=invoice,
        service=service,
        description=service.name,
        quantity=quantity,
        unit_price=amount,
        price_override_reason=reason.strip() if amount != listed else "",
        vat_exempt=service.vat_exempt,
        gross=ZERO,
        net=ZERO,
        patient_share=ZERO,
    )
    _recompute(invoice)
    _audit(
        actor,
        "create",
        line,
        patient_id=invoice.patient_id,
        invoice=invoice.pk,
        service=service.code,
        quantity=str(quantity),
        unit_price=str(amount),
    )
    return line


@transaction.atomic
def invoice_remove_line(*, actor: User | None, line: InvoiceLine) -> Invoice:
    """Take a line off a draft. A captured charge goes back to the unbilled list (reverse it
    there if it should never be billed); the line row is kept, marked voided."""
    require(actor, "billing.manage")
    invoice = lock_invoice(line.invoice_id)
    _require_draft(invoice)
    line = InvoiceLine.objects.select_for_update().get(pk=line.pk, invoice=invoice, voided=False)
    line.voided = True
    line.save(update_fields=["voided"])
    if line.charge_id:
        Charge.objects.filter(pk=line.charge_id).update(status=ChargeStatus.UNBILLED)
    _recompute(invoice)
    _audit(actor, "delete", line, patient_id=invoice.patient_id, invoice=invoice.pk)
    return invoice


@transaction.atomic
def invoice_override_price(
    *, actor: User | None, line: InvoiceLine, unit_price_value, reason: str
) -> InvoiceLine:
    require(actor, "billing.manage")
    invoice = lock_invoice(line.invoice_id)
    _require_draft(invoice)
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason for changing the price."})
    amount = to_money(unit_price_value)
    if amount < 0:
        raise ValidationError({"unit_price": "A price cannot be negative."})
    line = InvoiceLine.objects.select_for_update().get(pk=line.pk, invoice=invoice, voided=False)
    before = line.unit_price
    line.unit_price, line.price_override_reason = amount, reason.strip()
    line.save(update_fields=["unit_price", "price_override_reason"])
    _recompute(invoice)
    _audit(
        actor,
        "update",
        line,
        patient_id=invoice.patient_id,
        unit_price={"from": str(before), "to": str(amount)},
        reason=reason.strip(),
    )
    return line


@transaction.atomic
def invoice_set_terms(
    *,
    actor: User | None,
    invoice: Invoice,
    coverage: Coverage | None,
    statutory_discount: str = "",
    statutory_id_number: str = "",
) -> Invoice:
    """Choose the payer coverage and the senior/PWD discount of a draft; every line is
    re-split. The discount needs the ID number, which is printed on the invoice."""
    require(actor, "billing.manage")
    invoice = lock_invoice(invoice)
    _require_draft(invoice)
    if statutory_discount not in StatutoryDiscount.values:
        raise ValidationError({"statutory_discount": "Choose a listed discount."})
    if statutory_discount and not statutory_id_number.strip():
        raise ValidationError(
            {"statutory_id_number": "Record the senior citizen or PWD ID number."}
        )
    if coverage is not None and coverage.patient_id != invoice.patient_id:
        raise ValidationError({"coverage": "That coverage belongs to another patient."})
    invoice.coverage = coverage
    invoice.statutory_discount = statutory_discount
    invoice.statutory_id_number = statutory_id_number.strip() if statutory_discount else ""
    _recompute(invoice)
    _audit(
        actor,
        "update",
        invoice,
        patient_id=invoice.patient_id,
        coverage=coverage.pk if coverage else None,
        statutory_discount=statutory_discount,
    )
    return invoice


def settle_status(invoice: Invoice) -> None:
    """Set an issued invoice's status from its amounts (not saved)."""
    if invoice.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID):
        return
    balance = invoice.patient_due - invoice.amount_paid
    if balance <= 0:
        invoice.status = (
            InvoiceStatus.WRITTEN_OFF if invoice.written_off > 0 else InvoiceStatus.PAID
        )
    elif invoice.amount_paid > 0:
        invoice.status = InvoiceStatus.PARTIALLY_PAID
    else:
        invoice.status = InvoiceStatus.ISSUED


@transaction.atomic
def invoice_issue(*, actor: User | None, invoice: Invoice) -> Invoice:
    """Issue a draft: totals re-derived, the next gap-free invoice number assigned in this
    transaction, then the invoice is immutable. Applies the patient's credit."""
    require(actor, "billing.manage")
    invoice = lock_invoice(invoice)
    _require_draft(invoice)
    lines = list(invoice.lines.filter(voided=False))
    if not lines:
        raise ValidationError("An invoice needs at least one line.")
    _recompute(invoice)
    invoice.number = next_number("invoice", year=timezone.localdate().year)
    invoice.issued_at = timezone.now()
    invoice.issued_by = actor
    invoice.status = InvoiceStatus.ISSUED
    settle_status(invoice)
    invoice.save()
    _audit(
        actor,
        "update",
        invoice,
        patient_id=invoice.patient_id,
        issued=invoice.number,
        total=str(invoice.net_total),
        patient_share=str(invoice.patient_total),
    )
    # cycle: billing.services.payments imports this module (settle_status)
    from billing.services.payments import credit_apply_locked

    credit_apply_locked(actor=actor, patient_id=invoice.patient_id)
    invoice.refresh_from_db()
    return invoice


@transaction.atomic
def invoice_void(*, actor: User | None, invoice: Invoice, reason: str) -> Invoice:
    """Void an issued invoice that nothing was paid or claimed on. Its number stays on the
    void register (never reused) and its charges can be billed again."""
    require(actor, "billing.manage")
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason for voiding."})
    invoice = lock_invoice(invoice)
    if invoice.status not in (InvoiceStatus.ISSUED,) or invoice.amount_paid > 0:
        raise ValidationError(
            "Only an issued invoice with nothing paid can be voided; use a credit note."
        )
    if invoice.credited > 0 or invoice.lines.filter(claim_line__isnull=False).exists():
        raise ValidationError("This invoice has a credit note or a claim; it cannot be voided.")
    invoice.status = InvoiceStatus.VOID
    invoice.void_reason, invoice.voided_at, invoice.voided_by = (
        reason.strip(),
        timezone.now(),
        actor,
    )
    invoice.save()
    charge_ids = list(invoice.lines.exclude(charge=None).values_list("charge_id", flat=True))
    invoice.lines.update(voided=True)
    Charge.objects.filter(pk__in=charge_ids, status=ChargeStatus.BILLED).update(
        status=ChargeStatus.UNBILLED
    )
    _audit(
        actor,
        "update",
        invoice,
        patient_id=invoice.patient_id,
        voided=invoice.number,
        reason=invoice.void_reason,
    )
    return invoice


@transaction.atomic
def credit_note_create(*, actor: User | None, invoice: Invoice, amount, reason: str) -> CreditNote:
    """Reduce what the patient owes on an issued invoice, with its own CN number."""
    require(actor, "billing.manage")
    invoice = lock_invoice(invoice)
    amount = to_money(amount)
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason for the credit note."})
    if invoice.status not in (InvoiceStatus.ISSUED, InvoiceStatus.PARTIALLY_PAID):
        raise ValidationError("Credit notes are for issued invoices with a balance.")
    if amount <= 0 or amount > invoice.balance:
        raise ValidationError({"amount": f"Enter an amount between ₱0.01 and {invoice.balance}."})
    note = CreditNote.objects.create(
        invoice=invoice,
        number=next_number("credit_note"),
        amount=amount,
        reason=reason.strip(),
        created_by=actor,
    )
    invoice.credited += amount
    settle_status(invoice)
    invoice.save()
    _audit(
        actor,
        "create",
        note,
        patient_id=invoice.patient_id,
        invoice=invoice.number,
        amount=str(amount),
        reason=note.reason,
    )
    return note


@transaction.atomic
def writeoff_request(*, actor: User | None, invoice: Invoice, reason: str) -> WriteOff:
    """Ask the administrator to write off an invoice's remaining balance."""
    require(actor, "billing.manage")
    invoice = lock_invoice(invoice)
    if invoice.status not in (InvoiceStatus.ISSUED, InvoiceStatus.PARTIALLY_PAID):
        raise ValidationError("Only an open invoice can be written off.")
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason for the write-off."})
    try:
        with transaction.atomic():
            wo = WriteOff.objects.create(
                invoice=invoice, amount=invoice.balance, reason=reason.strip(), requested_by=actor
            )
    except IntegrityError:
        raise ValidationError("A write-off of this invoice is already awaiting approval.") from None
    _audit(
        actor,
        "create",
        wo,
        patient_id=invoice.patient_id,
        invoice=invoice.number,
        amount=str(wo.amount),
    )
    return wo


@transaction.atomic
def writeoff_decide(*, actor: User | None, writeoff: WriteOff, approve: bool) -> WriteOff:
    """Approve (the balance is written off, never more than is still open) or reject."""
    require(actor, "billing.approve")
    wo = WriteOff.objects.select_for_update().get(pk=writeoff.pk)
    if wo.status != ApprovalStatus.REQUESTED:
        raise ValidationError("This write-off was already decided.")
    invoice = lock_invoice(wo.invoice_id)
    wo.decided_by, wo.decided_at = actor, timezone.now()
    if approve:
        amount = min(wo.amount, invoice.balance)
        if amount <= 0:
            raise ValidationError("Nothing is left to write off on this invoice.")
        wo.amount = amount
        wo.status = ApprovalStatus.APPROVED
        invoice.written_off += amount
        settle_status(invoice)
        invoice.save()
    else:
        wo.status = ApprovalStatus.REJECTED
    wo.save()
    _audit(
        actor,
        "update",
        wo,
        patient_id=invoice.patient_id,
        status=wo.status,
        amount=str(wo.amount),
    )
    return wo


def invoice_totals_from_lines(invoice: Invoice) -> dict[str, Decimal]:
    return invoice.lines.filter(voided=invoice.status == InvoiceStatus.VOID).aggregate(
        gross=Sum("gross"), net=Sum("net"), payer=Sum("payer_share"), patient=Sum("patient_share")
    )

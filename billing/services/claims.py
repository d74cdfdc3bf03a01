"""Insurance claims from the payer's share of issued invoices, their lifecycle, and
remittance posting across many claims."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction, User
from billing.models import (
    CLAIM_CORRECTABLE,
    CLAIM_TRANSITIONS,
    POSTED_STATUSES,
    ZERO,
    Claim,
    ClaimEvent,
    ClaimLine,
    ClaimLineChange,
    ClaimStatus,
    Coverage,
    DenialCode,
    Invoice,
    InvoiceLine,
    Payer,
    Remittance,
    RemittanceLine,
    Service,
)
from billing.money import to_money
from billing.services.common import require
from billing.services.invoices import lock_invoice, settle_status
from billing.services.numbering import next_number
from patients.models import Icd10Code


def _event(claim: Claim, *, before: str, actor: User | None, note: str = "") -> None:
    ClaimEvent.objects.create(
        claim=claim, from_status=before, to_status=claim.status, note=note[:200], actor=actor
    )


@transaction.atomic
def claim_create(*, actor: User | None, invoice: Invoice) -> Claim:
    """A draft claim for the payer's share of an issued invoice (lines not yet claimed)."""
    require(actor, "billing.manage")
    invoice = lock_invoice(invoice)
    if invoice.status not in POSTED_STATUSES:
        raise ValidationError("Claims are made from issued invoices.")
    lines = list(
        InvoiceLine.objects.select_for_update(of=("self",))
        .filter(invoice=invoice, voided=False, payer_share__gt=0, claim_line__isnull=True)
        .select_related("coverage__payer")
    )
    if not lines:
        raise ValidationError("Nothing on this invoice is left to claim from a payer.")
    coverage = lines[0].coverage
    claim = Claim.objects.create(
        payer=coverage.payer,
        coverage=coverage,
        patient_id=invoice.patient_id,
        number=next_number("claim"),
        loa_number=coverage.loa_number,
        created_by=actor,
    )
    total = ZERO
    for line in lines:
        ClaimLine.objects.create(claim=claim, invoice_line=line, amount=line.payer_share)
        total += line.payer_share
    claim.total = total
    claim.save(update_fields=["total"])
    _event(claim, before="", actor=actor, note=f"From {invoice.number}")
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=claim,
        patient_id=claim.patient_id,
        detail={"invoice": invoice.number, "total": str(total)},
    )
    return claim


def _loa_problem(claim: Claim) -> str:
    payer = claim.payer
    if not payer.requires_loa:
        return ""
    first_day = (
        Invoice.objects.filter(lines__claim_line__claim=claim)
        .order_by("visit_day")
        .values_list("visit_day", flat=True)
        .first()
    )
    coverage = claim.coverage
    if not claim.loa_number or first_day is None or not coverage.loa_issued_on:
        return f"{payer.name} needs a letter of authorisation before the claim is submitted."
    if not coverage.loa_valid_on(first_day):
        return (
            f"The letter of authorisation {claim.loa_number} was not valid on "
            f"{first_day:%d %b %Y} ({payer.loa_validity_days} days from issue)."
        )
    return ""


@transaction.atomic
def claim_transition(
    *,
    actor: User | None,
    claim: Claim,
    to_status: str,
    denial_code: str = "",
    note: str = "",
    loa_number: str | None = None,
) -> Claim:
    """Move a claim: submit (LOA checked for HMOs), accept, deny (with a code), resubmit a
    corrected denied claim."""
    require(actor, "billing.manage")
    claim = (
        Claim.objects.select_for_update()
        .select_related("payer", "coverage__payer")
        .get(pk=claim.pk)
    )
    if to_status not in CLAIM_TRANSITIONS.get(claim.status, ()):
        raise ValidationError(f"A {claim.get_status_display().lower()} claim can't be moved there.")
    before = claim.status
    if loa_number is not None:
        claim.loa_number = loa_number.strip()[:60]
    resubmit_part = to_status == ClaimStatus.SUBMITTED and before == ClaimStatus.PARTIALLY_PAID
    if resubmit_part and claim.outstanding <= 0:
        raise ValidationError("Nothing is left outstanding on this claim to resubmit.")
    if to_status == ClaimStatus.SUBMITTED:
        problem = _loa_problem(claim)
        if problem:
            raise ValidationError(problem)
        claim.submitted_at = timezone.now()
        claim.submissions += 1
        claim.denial_code, claim.denial_note = "", ""
    if to_status == ClaimStatus.DENIED:
        if denial_code not in DenialCode.values:
            raise ValidationError({"denial_code": "Choose the payer's denial reason."})
        claim.denial_code, claim.denial_note = denial_code, note.strip()[:200]
    claim.status = to_status
    claim.save()
    _event(claim, before=before, actor=actor, note=note)
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=claim,
        patient_id=claim.patient_id,
        detail={"status": {"from": before, "to": to_status}, "denial_code": denial_code},
    )
    return claim


@transaction.atomic
def claim_line_correct(
    *,
    actor,
    line: ClaimLine,
    amount,
    icd10_code: str = "",
    service: Service | None = None,
    reason: str,
) -> ClaimLine:
    """Correct a line of a denied or partially paid claim before it is resubmitted: the
    amount claimed (above 0, at most the invoice line's payer share, and the claim's total
    never below what was already settled on it), the ICD-10 code told to the payer, the
    service claimed. Every changed field leaves a ``ClaimLineChange`` (who, when, old → new,
    why) and the claim's history a note. Submitted and accepted claims are with the payer
    and cannot be changed; drafts carry the invoice's own lines."""
    require(actor, "billing.manage")
    reason = (reason or "").strip()[:200]
    if not reason:
        raise ValidationError({"reason": "Say why the line is corrected."})
    claim = Claim.objects.select_for_update().get(pk=line.claim_id)
    if claim.status not in CLAIM_CORRECTABLE:
        raise ValidationError(
            f"A {claim.get_status_display().lower()} claim can't be changed: only denied or "
            "partially paid claims are corrected, then resubmitted."
        )
    line = (
        ClaimLine.objects.select_for_update(of=("self",))
        .select_related("invoice_line__service", "icd10", "service")
        .get(pk=line.pk, claim=claim)
    )
    amount = to_money(amount)
    if amount <= 0:
        raise ValidationError({"amount": "The amount claimed must be above zero."})
    if amount > line.invoice_line.payer_share:
        raise ValidationError(
            {"amount": f"At most the payer's share invoiced ({line.invoice_line.payer_share})."}
        )
    new_total = claim.total - line.amount + amount
    settled = claim.paid + claim.adjusted + claim.moved_to_patient
    if new_total < settled:
        raise ValidationError({"amount": f"The claim has {settled} settled already."})
    icd10 = None
    if icd10_code:
        icd10 = Icd10Code.objects.filter(code__iexact=icd10_code.strip()).first()
        if icd10 is None:
            raise ValidationError({"icd10": f"{icd10_code} is not an ICD-10 code."})
    if service is not None and service.pk == line.invoice_line.service_id:
        service = None  # the invoiced service itself: no override
    changes = []
    if amount != line.amount:
        changes.append((ClaimLineChange.Field.AMOUNT, str(line.amount), str(amount)))
        line.amount = amount
    if icd10 is not None and icd10.pk != line.icd10_id:
        changes.append((ClaimLineChange.Field.ICD10, line.icd10_id or "", icd10.pk))
        line.icd10 = icd10
    if (service.pk if service else None) != line.service_id:
        changes.append(
            (
                ClaimLineChange.Field.SERVICE,
                line.claimed_service.name,
                (service or line.invoice_line.service).name,
            )
        )
        line.service = service
    if not changes:
        raise ValidationError("Nothing was changed on the line.")
    line.save(update_fields=["amount", "icd10", "service"])
    ClaimLineChange.objects.bulk_create(
        ClaimLineChange(
            claim=claim,
            line=line,
            submission=claim.submissions,
            field=field,
            old_value=old[:200],
            new_value=new[:200],
            reason=reason,
            actor=actor,
        )
        for field, old, new in changes
    )
    claim.total = new_total
    claim.save(update_fields=["total"])
    summary = "; ".join(f"{ClaimLineChange.Field(f).label} {o or '—'} → {n}" for f, o, n in changes)
    _event(claim, before=claim.status, actor=actor, note=f"Line corrected: {summary} ({reason})")
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=claim,
        patient_id=claim.patient_id,
        detail={
            "line": line.pk,
            "changes": {f: {"from": o, "to": n} for f, o, n in changes},
            "reason": reason,
        },
    )
    return line


@dataclass(frozen=True)
class RemittanceItem:
    claim: Claim
    paid: Decimal
    adjustment: Decimal = ZERO  # contractual write-off
    patient_responsibility: Decimal = ZERO  # moved back to the patient


REMITTABLE = (ClaimStatus.SUBMITTED, ClaimStatus.ACCEPTED, ClaimStatus.PARTIALLY_PAID)


@transaction.atomic
def remittance_post(
    *,
    actor: User | None,
    payer: Payer,
    reference: str,
    received_on,
    amount,
    items: list[RemittanceItem],
) -> Remittance:
    """Post one payer payment across claims. Per claim: paid + contractual adjustment +
    patient responsibility may not exceed what is outstanding; the paid amounts must add up
    to the remittance. Patient responsibility is added to the claim's invoices, which the
    patient then owes."""
    require(actor, "billing.manage")
    amount = to_money(amount)
    if not reference.strip():
        raise ValidationError({"reference": "Enter the payer's remittance reference."})
    if not items:
        raise ValidationError("Post the remittance to at least one claim.")
    if sum((to_money(i.paid) for i in items), ZERO) != amount:
        raise ValidationError(
            {"amount": "The amounts paid per claim must add up to the remittance."}
        )
    if Remittance.objects.filter(payer=payer, reference=reference.strip()).exists():
        raise ValidationError({"reference": "This remittance was already posted."})
    remittance = Remittance.objects.create(
        payer=payer,
        reference=reference.strip(),
        received_on=received_on,
        amount=amount,
        posted_by=actor,
    )
    claims = {
        c.pk: c
        for c in Claim.objects.select_for_update()
        .filter(pk__in=[i.claim.pk for i in items])
        .order_by("pk")
    }
    for item in items:
        claim = claims[item.claim.pk]
        paid, adj, moved = (
            to_money(item.paid),
            to_money(item.adjustment),
            to_money(item.patient_responsibility),
        )
        if claim.payer_id != payer.pk:
            raise ValidationError(f"{claim.number} is a claim on another payer.")
        if claim.status not in REMITTABLE:
            raise ValidationError(
                f"{claim.number} is {claim.get_status_display().lower()}; it can't be paid."
            )
        if min(paid, adj, moved) < 0:
            raise ValidationError("Amounts cannot be negative.")
        if paid + adj + moved > claim.outstanding:
            raise ValidationError(f"{claim.number}: more than the {claim.outstanding} outstanding.")
        RemittanceLine.objects.create(
            remittance=remittance,
            claim=claim,
            paid=paid,
            contractual_adjustment=adj,
            patient_responsibility=moved,
        )
        before = claim.status
        claim.paid += paid
        claim.adjusted += adj
        claim.moved_to_patient += moved
        claim.status = ClaimStatus.PAID if claim.outstanding == 0 else ClaimStatus.PARTIALLY_PAID
        claim.save()
        _event(
            claim,
            before=before,
            actor=actor,
            note=f"Remittance {remittance.reference}: paid {paid}",
        )
        if moved:
            _move_to_patient(claim, moved)
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=remittance,
        detail={"payer": payer.code, "amount": str(amount), "claims": [i.claim.pk for i in items]},
    )
    return remittance


def _move_to_patient(claim: Claim, amount: Decimal) -> None:
    """Spread ``amount`` over the claim's invoices (in line order, up to each line's share)."""
    left = amount
    for cl in claim.lines.select_related("invoice_line").order_by("pk"):
        if left <= 0:
            break
        take = min(left, cl.amount)
        invoice = lock_invoice(cl.invoice_line.invoice_id)
        invoice.moved_to_patient += take
        settle_status(invoice)
        invoice.save(update_fields=["moved_to_patient", "status", "updated_at"])
        left -= take


@transaction.atomic
def coverage_add(*, actor: User | None, patient, coverage: Coverage) -> Coverage:
    """Record a patient's insurance coverage (validated by its form, unsaved); raises
    ``ValidationError`` when the model's own checks refuse it, saving nothing."""
    coverage.patient = patient
    coverage.full_clean()
    coverage.save()
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=coverage,
        patient_id=patient.pk,
        detail={"payer": coverage.payer.code},
    )
    return coverage

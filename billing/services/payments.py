"""Payments, allocation, patient credit, refunds and the cashier's day.

Allocation locks the patient's open invoices (``select_for_update``, in id order so two
payments never deadlock) and re-reads their balances under the lock; the
``billing_invoice_not_overpaid`` constraint is the last line of defence. A payment's
``unallocated`` amount is the patient's credit from it.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction, User
from billing.models import (
    OPEN_STATUSES,
    ZERO,
    Allocation,
    ApprovalStatus,
    CashierDay,
    CashierDayStatus,
    Invoice,
    Payment,
    PaymentMethod,
    Refund,
)
from billing.money import to_money
from billing.services.common import require
from billing.services.invoices import settle_status
from billing.services.numbering import next_number


def open_day_for(cashier) -> CashierDay | None:
    return CashierDay.objects.filter(cashier=cashier, status=CashierDayStatus.OPEN).first()


@transaction.atomic
def cashier_day_open(*, actor: User | None, opening_float) -> CashierDay:
    require(actor, "billing.manage")
    amount = to_money(opening_float)
    if amount < 0:
        raise ValidationError({"opening_float": "The float cannot be negative."})
    try:
        with transaction.atomic():
            day = CashierDay.objects.create(
                cashier=actor, business_date=timezone.localdate(), opening_float=amount
            )
    except IntegrityError:
        raise ValidationError("You already have an open cashier day; close it first.") from None
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=day,
        detail={"opening_float": str(amount)},
    )
    return day


# A day's takings and approved refunds by method, in one statement: (method, taken,
# refunded) rows, ``day`` standing for the day's id (a parameter or a subquery).
EXPECTED_SQL = """
SELECT p.method, SUM(p.amount), NULL FROM billing_payment p
 WHERE p.cashier_day_id = {day} GROUP BY p.method
UNION ALL
SELECT p.method, NULL, SUM(r.amount) FROM billing_refund r
  JOIN billing_payment p ON p.id = r.payment_id
 WHERE p.cashier_day_id = {day} AND r.status = 'approved' GROUP BY p.method
"""
assert ApprovalStatus.APPROVED == "approved"


def expected_from(rows, opening_float: Decimal) -> dict[str, Decimal]:
    """``expected_by_method`` from ``EXPECTED_SQL``'s rows and the day's float."""
    totals = dict.fromkeys(PaymentMethod.values, ZERO)
    for method, taken, refunded in rows:
        if taken is not None:
            totals[method] += taken
        if refunded is not None:
            totals[method] -= refunded
    totals[PaymentMethod.CASH] += opening_float
    return totals


def expected_by_method(day: CashierDay) -> dict[str, Decimal]:
    """What the drawer and the other channels should hold: the float plus cash taken, and
    every other method's takings, less approved refunds paid out from this day's payments
    (one query)."""
    with connection.cursor() as cursor:
        cursor.execute(EXPECTED_SQL.format(day="%(day)s"), {"day": day.pk})
        return expected_from(cursor.fetchall(), day.opening_float)


@transaction.atomic
def cashier_day_close(
    *, actor: User | None, day: CashierDay, counted: dict[str, Decimal], note: str = ""
) -> CashierDay:
    """Close the day with what was counted per method; the close report keeps expected,
    counted and the difference. A closed day takes no more payments and cannot change."""
    require(actor, "billing.manage")
    day = CashierDay.objects.select_for_update().get(pk=day.pk)
    if day.status != CashierDayStatus.OPEN:
        raise ValidationError("This cashier day is already closed.")
    if day.cashier_id != actor.pk:
        raise ValidationError("Only the cashier who opened the day can close it.")
    expected = expected_by_method(day)
    counted_clean = {}
    for method in PaymentMethod.values:
        value = to_money(counted.get(method) or 0)
        if value < 0:
            raise ValidationError({method: "A count cannot be negative."})
        counted_clean[method] = value
    day.expected = {m: str(v) for m, v in expected.items()}
    day.counted = {m: str(v) for m, v in counted_clean.items()}
    day.status = CashierDayStatus.CLOSED
    day.closed_at = timezone.now()
    day.close_note = note.strip()[:200]
    day.save()
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=day,
        detail={"closed": True, "expected": day.expected, "counted": day.counted},
    )
    return day


def _lock_open_invoices(patient_id: int, invoice_ids: list[int] | None = None) -> list[Invoice]:
    qs = Invoice.objects.filter(patient_id=patient_id, status__in=OPEN_STATUSES)
    if invoice_ids is not None:
        qs = qs.filter(pk__in=invoice_ids)
    locked = {inv.pk: inv for inv in qs.select_for_update().order_by("pk")}
    if invoice_ids is not None:
        return [locked[i] for i in invoice_ids if i in locked]
    # Oldest first: by visit day, then by number.
    return sorted(locked.values(), key=lambda i: (i.visit_day, i.issued_at or timezone.now(), i.pk))


def _allocate(*, payment: Payment, invoices: list[Invoice], actor: User | None) -> Decimal:
    """Allocate ``payment.unallocated`` over locked ``invoices`` in order; returns the amount."""
    total = ZERO
    for invoice in invoices:
        if payment.unallocated <= 0:
            break
        balance = invoice.patient_due - invoice.amount_paid
        take = min(balance, payment.unallocated)
        if take <= 0:
            continue
        Allocation.objects.create(payment=payment, invoice=invoice, amount=take, created_by=actor)
        invoice.amount_paid += take
        settle_status(invoice)
        invoice.save(update_fields=["amount_paid", "status", "updated_at"])
        payment.unallocated -= take
        total += take
    payment.save(update_fields=["unallocated"])
    return total


def payment_record(
    *,
    actor: User | None,
    patient,
    amount,
    method: str,
    idempotency_key: str,
    reference: str = "",
    invoice_ids: list[int] | None = None,
) -> tuple[Payment, bool]:
    """Record a payment on the actor's open cashier day, with an official receipt number,
    and allocate it (to ``invoice_ids`` in that order, else oldest open invoice first); what
    is left is the patient's credit. The same ``idempotency_key`` (one per payment form)
    always returns the first payment: a double submit records one. Returns
    ``(payment, created)``."""
    require(actor, "billing.manage")
    key = (idempotency_key or "").strip()[:64]
    if not key:
        raise ValidationError("The payment form expired; open it again.")
    existing = Payment.objects.filter(idempotency_key=key).first()
    if existing is not None:
        if existing.patient_id != patient.pk:
            raise ValidationError("The payment form expired; open it again.")
        return existing, False
    amount = to_money(amount)
    if amount <= 0:
        raise ValidationError({"amount": "Enter an amount above zero."})
    if method not in PaymentMethod.values:
        raise ValidationError({"method": "Choose a payment method."})
    reference = (reference or "").strip()[:60]
    if method != PaymentMethod.CASH and not reference:
        raise ValidationError(
            {"reference": "Enter the reference number of the transfer or card slip."}
        )
    try:
        with transaction.atomic():
            day = (
                CashierDay.objects.select_for_update()
                .filter(cashier=actor, status=CashierDayStatus.OPEN)
                .first()
            )
            if day is None:
                raise ValidationError("Open your cashier day before taking payments.")
            payment = Payment.objects.create(
                patient=patient,
                cashier_day=day,
                method=method,
                reference=reference,
                amount=amount,
                unallocated=amount,
                receipt_number=next_number("receipt"),
                idempotency_key=key,
                received_by=actor,
            )
            invoices = _lock_open_invoices(patient.pk, invoice_ids)
            allocated = _allocate(payment=payment, invoices=invoices, actor=actor)
            audit_record(
                actor=actor,
                action=AuditAction.CREATE,
                obj=payment,
                patient_id=patient.pk,
                detail={
                    "amount": str(amount),
                    "method": method,
                    "receipt": payment.receipt_number,
                    "allocated": str(allocated),
                },
            )
    except IntegrityError:
        existing = Payment.objects.filter(idempotency_key=key).first()
        if existing is None:
            raise
        return existing, False
    return payment, True


def credit_apply_locked(*, actor: User | None, patient_id: int) -> Decimal:
    """Apply the patient's credit (unallocated payments, oldest first) to open invoices,
    oldest first. Call inside a transaction."""
    payments = list(
        Payment.objects.select_for_update()
        .filter(patient_id=patient_id, unallocated__gt=0)
        .order_by("received_at", "pk")
    )
    if not payments:
        return ZERO
    invoices = _lock_open_invoices(patient_id)
    total = ZERO
    for payment in payments:
        total += _allocate(payment=payment, invoices=invoices, actor=actor)
    if total:
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type="billing.payment",
            patient_id=patient_id,
            actor_email="" if actor else "system:billing",
            detail={"credit_applied": str(total)},
        )
    return total


@transaction.atomic
def credit_apply(*, actor: User | None, patient) -> Decimal:
    require(actor, "billing.manage")
    return credit_apply_locked(actor=actor, patient_id=patient.pk)


def patient_credit(patient_id: int) -> Decimal:
    return (
        Payment.objects.filter(patient_id=patient_id).aggregate(c=Sum("unallocated"))["c"] or ZERO
    )


@transaction.atomic
def refund_request(*, actor: User | None, payment: Payment, amount, reason: str) -> Refund:
    """Ask to give back part of a payment's unused credit (to the method it was paid by)."""
    require(actor, "billing.manage")
    amount = to_money(amount)
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason for the refund."})
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    pending = (
        payment.refunds.filter(status=ApprovalStatus.REQUESTED).aggregate(s=Sum("amount"))["s"]
        or ZERO
    )
    if amount <= 0 or amount > payment.unallocated - pending:
        raise ValidationError(
            {"amount": f"Up to {payment.unallocated - pending} of this payment is unused credit."}
        )
    refund = Refund.objects.create(
        payment=payment, amount=amount, reason=reason.strip(), requested_by=actor
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=refund,
        patient_id=payment.patient_id,
        detail={"amount": str(amount), "payment": payment.receipt_number},
    )
    return refund


@transaction.atomic
def refund_decide(*, actor: User | None, refund: Refund, approve: bool) -> Refund:
    """Approve (the credit is paid out: the payment's unused credit goes down) or reject."""
    require(actor, "billing.approve")
    refund = Refund.objects.select_for_update().get(pk=refund.pk)
    if refund.status != ApprovalStatus.REQUESTED:
        raise ValidationError("This refund was already decided.")
    payment = Payment.objects.select_for_update().get(pk=refund.payment_id)
    refund.decided_by, refund.decided_at = actor, timezone.now()
    if approve:
        if refund.amount > payment.unallocated:
            raise ValidationError("The credit was used meanwhile; the refund can't be paid.")
        Payment.objects.filter(pk=payment.pk).update(
            unallocated=F("unallocated") - refund.amount, refunded=F("refunded") + refund.amount
        )
        refund.status = ApprovalStatus.APPROVED
    else:
        refund.status = ApprovalStatus.REJECTED
    refund.save()
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=refund,
        patient_id=payment.patient_id,
        detail={"status": refund.status, "amount": str(refund.amount)},
    )
    return refund

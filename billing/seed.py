"""Demo billing data: the fee schedule and payers; charges captured from the demo clinic's
completed appointments, signed visits, approved certificates and dispensing; coverages;
issued, paid and partly paid invoices; a closed and an open cashier day; claims in every
state; a credit note, a void, a pending write-off and a pending refund.

Idempotent: skipped when demo billing data exists. Everything goes through the services,
so ``manage.py billing check`` passes on the result.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from billing.catalogue import catalogue_ensure
from billing.models import (
    Allocation,
    CashierDay,
    Claim,
    ClaimStatus,
    Coverage,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payer,
    Payment,
    Service,
)
from billing.services import charges, claims, invoices, konsulta, payments
from inventory.models import StockMovement
from inventory.services.dispensing import stock_dispense_cancel
from patients.models import Icd10Code, Patient


def run(*, stdout) -> None:
    made = catalogue_ensure()
    if any(made.values()):
        stdout.write(f"  fee schedule: {made}")
    if CashierDay.objects.exists() or Payment.objects.exists():
        stdout.write("  billing already seeded")
        return
    clerk = User.objects.filter(email="billing@usc.edu.ph").first()
    admin = User.objects.filter(email="admin@usc.edu.ph").first()
    if clerk is None or admin is None:
        stdout.write("  no demo billing clerk; skipped")
        return
    with transaction.atomic():
        _seed(stdout, clerk, admin)


def _coverages(rng: random.Random) -> list[Coverage]:

    today = timezone.localdate()
    payers = {p.code: p for p in Payer.objects.all()}
    made = []
    employees = list(Patient.objects.filter(patient_type="employee").order_by("pk")[:40])
    for n, patient in enumerate(employees):
        if n % 3 == 0:
            payer, percent, cap = payers["maxicare"], Decimal("80"), Decimal("20000")
        elif n % 3 == 1:
            payer, percent, cap = payers["usc"], Decimal("50"), Decimal("10000")
        else:
            payer, percent, cap = payers["intellicare"], Decimal("90"), Decimal("15000")
        made.append(
            Coverage.objects.create(
                patient=patient,
                payer=payer,
                member_id=f"{payer.code[:2].upper()}-{100000 + n}",
                valid_from=date(today.year - 1, 1, 1),
                percent=percent,
                annual_cap=cap,
                loa_number=f"LOA-{rng.randint(100000, 999999)}" if payer.requires_loa else "",
                loa_issued_on=today - timedelta(days=rng.randint(0, 1))
                if payer.requires_loa
                else None,
            )
        )
    return made


def _konsulta(clerk, today: date) -> list:
    """Konsulta members: ten students without a portal account and five employees without
    an HMO, registered this year (three also last year), so their consultations and
    listed lab tests from now on cost them ₱0; one capitation tranche received."""

    students = Patient.objects.filter(patient_type="student", user__isnull=True).order_by("pk")
    employees = Patient.objects.filter(patient_type="employee").order_by("pk")[40:45]
    members = [*students[:10], *employees]
    made = []
    for n, patient in enumerate(members):
        # The PIN on the patient's record where there is one.
        pin = patient.philhealth_pin_display or f"12-{300000000 + n:09d}-{n % 10}"
        if n < 3:
            made.append(
                konsulta.konsulta_register(
                    actor=clerk,
                    patient=patient,
                    pin=pin,
                    year=today.year - 1,
                    registered_on=date(today.year - 1, 2, 1 + n),
                )
            )
        made.append(
            konsulta.konsulta_register(
                actor=clerk,
                patient=patient,
                pin=pin,
                year=today.year,
                registered_on=date(today.year, 1, 10 + n),
            )
        )
    konsulta.konsulta_capitation_post(
        actor=clerk,
        year=today.year - 1,
        reference=f"KON-{today.year - 1}-T1",
        received_on=date(today.year - 1, 7, 15),
        amount=sum((r.capitation_rate for r in made if r.year == today.year - 1), Decimal("0")),
        members=3,
    )
    this_year = [r for r in made if r.year == today.year]
    konsulta.konsulta_capitation_post(
        actor=clerk,
        year=today.year,
        reference=f"KON-{today.year}-T1",
        received_on=date(today.year, 6, 30),
        amount=(sum((r.capitation_rate for r in this_year), Decimal("0")) / 2).quantize(
            Decimal("0.01")
        ),
        members=len(this_year),
    )
    # Covered services given to members (priced ₱0 under the capitation when captured).
    consult, cbc = Service.objects.get(code="CONSULT"), Service.objects.get(code="LAB-CBC")
    for n, reg in enumerate(this_year[:8]):
        day = today - timedelta(days=3 + 4 * n)
        for service in (consult, cbc) if n % 2 else (cbc,):
            charges.charge_capture(
                charges.ChargeSpec(
                    source_key=f"demo-konsulta:{reg.patient_id}:{service.code}",
                    patient_id=reg.patient_id,
                    service=service,
                    description=service.name,
                    occurred_on=day,
                )
            )
    return made

    return made


def _seed(stdout, clerk, admin) -> None:
    rng = random.Random(1212)
    today = timezone.localdate()
    covered = _coverages(rng)
    members = _konsulta(clerk, today)
    # LOAs are valid for a few days: date the HMO ones to each patient's visits below.
    counts = charges.capture_since(today - timedelta(days=45))
    stdout.write(f"  captured charges: {counts}")

    # A few lab services for every demo patient with a portal account, so "My bills" shows data.
    for patient in Patient.objects.filter(user__isnull=False)[:5]:
        for n, code in enumerate(("LAB-CBC", "LAB-UA")):
            service = Service.objects.get(code=code)
            charges.charge_capture(
                charges.ChargeSpec(
                    source_key=f"demo-lab:{patient.pk}:{n}",
                    patient_id=patient.pk,
                    service=service,
                    description=service.name,
                    occurred_on=today - timedelta(days=20 + n * 15),
                )
            )
    _dispensing_cancelled(stdout, before_issue=True)
    drafts = list(
        Invoice.objects.filter(status=InvoiceStatus.DRAFT, visit_day__lt=today)
        .filter(Q(net_total__gt=0) | Q(lines__covered_by_capitation=True, lines__voided=False))
        .distinct()
        .order_by("visit_day", "pk")
    )
    # Past days: issue most drafts; a closed cashier day yesterday took most payments.
    past_day = payments.cashier_day_open(actor=clerk, opening_float=Decimal("1000"))
    issued = []
    for inv in drafts:
        if rng.random() < 0.85:
            issued.append(invoices.invoice_issue(actor=clerk, invoice=inv))
    methods = ["cash", "cash", "cash", "gcash", "maya", "card", "bank"]
    for n, inv in enumerate(issued):
        inv.refresh_from_db()
        if inv.balance <= 0 or rng.random() < 0.3:
            continue
        method = rng.choice(methods)
        amount = inv.balance if rng.random() < 0.7 else (inv.balance / 2).quantize(Decimal("0.01"))
        payments.payment_record(
            actor=clerk,
            patient=inv.patient,
            amount=amount,
            method=method,
            reference="" if method == "cash" else f"{method.upper()}-{70000 + n}",
            idempotency_key=f"demo-pay-{n}",
        )
    yesterday = timezone.now() - timedelta(days=1)
    Payment.objects.filter(cashier_day=past_day).update(received_at=yesterday)
    Allocation.objects.filter(payment__cashier_day=past_day).update(created_at=yesterday)
    _date_issues(issued, before=yesterday - timedelta(hours=2))
    CashierDay.objects.filter(pk=past_day.pk).update(
        business_date=today - timedelta(days=1), opened_at=yesterday - timedelta(hours=8)
    )
    expected = payments.expected_by_method(past_day)
    counted = dict(expected)
    counted["cash"] = expected["cash"] - Decimal("20.00")  # the drawer was ₱20 short
    payments.cashier_day_close(
        actor=clerk, day=past_day, counted=counted, note="₱20 short; reported"
    )
    # Today: an open day with a couple of payments and one overpayment kept as credit.
    payments.cashier_day_open(actor=clerk, opening_float=Decimal("1000"))
    open_now = list(Invoice.objects.filter(status=InvoiceStatus.ISSUED).order_by("pk")[:3])
    for n, inv in enumerate(open_now):
        payments.payment_record(
            actor=clerk,
            patient=inv.patient,
            amount=inv.balance + (50 if n == 0 else 0),
            method="cash",
            idempotency_key=f"demo-today-{n}",
        )
    _corrections(clerk, admin)
    _dispensing_cancelled(stdout, before_issue=False)
    _claims(clerk, rng)
    stdout.write(
        f"  {len(covered)} coverages, {len(members)} Konsulta registrations, "
        f"{len(issued)} invoices issued, "
        f"{Payment.objects.count()} payments, {Claim.objects.count()} claims"
    )


def _date_issues(issued: list[Invoice], *, before) -> None:
    """Date each demo invoice's issue to the end of its visit day, as a clerk issuing daily
    would have, so the receivables ageing trend and the AR report show a history rather
    than one day's step (the services stamp ``issued_at`` with the real now)."""
    for inv in issued:
        at = timezone.make_aware(datetime.combine(inv.visit_day, time(17, 0)))
        Invoice.objects.filter(pk=inv.pk).update(issued_at=min(at, before))


def _dispensing_cancelled(stdout, *, before_issue: bool) -> None:
    """A dispensing to a patient cancelled in the pharmacy: billing reverses its charge.
    Before issuing: the charge leaves its draft (listed under reversed charges). After: the
    charge was on an issued invoice, so the billing home asks for a credit note."""
    actor = User.objects.filter(email="inventory@usc.edu.ph").first()
    billed = InvoiceLine.objects.filter(
        voided=False, charge__source_key__startswith="dispense:", charge__status="billed"
    ).exclude(invoice__status=InvoiceStatus.VOID)
    if before_issue:
        billed = billed.filter(invoice__status=InvoiceStatus.DRAFT)
    else:
        billed = billed.exclude(invoice__status=InvoiceStatus.DRAFT)
    line = billed.select_related("charge").order_by("-invoice__visit_day", "-pk").first()
    if actor is None or line is None:
        stdout.write("  no billed dispensing to cancel; skipped")
        return
    movement = StockMovement.objects.get(pk=int(line.charge.source_key.split(":")[1]))
    stock_dispense_cancel(
        actor=actor,
        movement=movement,
        reason="Returned unopened at the counter"
        if before_issue
        else "Dispensed to the wrong patient record",
    )


def _corrections(clerk, admin) -> None:
    open_invoices = list(Invoice.objects.filter(status=InvoiceStatus.ISSUED).order_by("-pk")[:4])
    if len(open_invoices) >= 3:
        invoices.credit_note_create(
            actor=clerk,
            invoice=open_invoices[0],
            amount=min(Decimal("50"), open_invoices[0].balance),
            reason="Price agreed at the counter",
        )
        invoices.invoice_void(
            actor=clerk, invoice=open_invoices[1], reason="Issued to the wrong patient record"
        )
        invoices.writeoff_request(
            actor=clerk, invoice=open_invoices[2], reason="Indigent student, endorsed by the Dean"
        )
    credit = Payment.objects.filter(unallocated__gt=0).first()
    if credit is not None:
        payments.refund_request(
            actor=clerk,
            payment=credit,
            amount=credit.unallocated,
            reason="Overpayment returned to the patient",
        )


def _claims(clerk, rng) -> None:
    """Claims from HMO and university shares, pushed to every state."""
    candidates = list(
        Invoice.objects.filter(
            status__in=[InvoiceStatus.ISSUED, InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.PAID],
            payer_total__gt=0,
        )
        .select_related("coverage__payer")
        .order_by("visit_day", "pk")
    )
    made = []
    for inv in candidates:
        try:
            made.append(claims.claim_create(actor=clerk, invoice=inv))
        except ValidationError:  # nothing left to claim on this invoice
            continue
    plan = [
        ClaimStatus.DRAFT,
        ClaimStatus.SUBMITTED,
        ClaimStatus.ACCEPTED,
        ClaimStatus.DENIED,
        "partial",
        "paid",
        "corrected",
    ]
    to_remit: dict[int, list] = {}
    for n, claim in enumerate(made):
        target = plan[n % len(plan)]
        if target == ClaimStatus.DRAFT:
            continue
        if claim.payer.requires_loa:  # each HMO visit had its own letter of authorisation
            first_day = (
                claim.lines.order_by("invoice_line__invoice__visit_day")
                .values_list("invoice_line__invoice__visit_day", flat=True)
                .first()
            )
            Coverage.objects.filter(pk=claim.coverage_id).update(loa_issued_on=first_day)
        claim = claims.claim_transition(actor=clerk, claim=claim, to_status=ClaimStatus.SUBMITTED)
        if target == ClaimStatus.SUBMITTED:
            continue
        if target == "corrected":  # denied, a line corrected, resubmitted
            claim = claims.claim_transition(
                actor=clerk,
                claim=claim,
                to_status=ClaimStatus.DENIED,
                denial_code="not_covered",
                note="Diagnosis code does not support the service",
            )
            line = claim.lines.order_by("pk").first()
            icd = Icd10Code.objects.filter(code="J06.9").first()
            claims.claim_line_correct(
                actor=clerk,
                line=line,
                amount=line.amount,
                icd10_code=icd.code if icd else "",
                service=None if icd else Service.objects.get(code="CONSULT"),
                reason="Diagnosis from the signed visit added",
            )
            claims.claim_transition(
                actor=clerk,
                claim=claim,
                to_status=ClaimStatus.SUBMITTED,
                note="Corrected and resubmitted",
            )
            continue
        if target == ClaimStatus.DENIED:
            claims.claim_transition(
                actor=clerk,
                claim=claim,
                to_status=ClaimStatus.DENIED,
                denial_code="incomplete",
                note="Claim signature form missing",
            )
            continue
        claim = claims.claim_transition(actor=clerk, claim=claim, to_status=ClaimStatus.ACCEPTED)
        if target == ClaimStatus.ACCEPTED:
            continue
        if target == "partial":
            item = claims.RemittanceItem(
                claim=claim,
                paid=(claim.total * Decimal("0.6")).quantize(Decimal("0.01")),
                adjustment=(claim.total * Decimal("0.1")).quantize(Decimal("0.01")),
            )
        else:
            item = claims.RemittanceItem(claim=claim, paid=claim.total)
        to_remit.setdefault(claim.payer_id, []).append(item)
    for payer_id, items in to_remit.items():
        claims.remittance_post(
            actor=clerk,
            payer=Payer.objects.get(pk=payer_id),
            reference=f"RMT-{rng.randint(10000, 99999)}",
            received_on=timezone.localdate(),
            amount=sum(i.paid for i in items),
            items=items,
        )

"""Charge capture: billable events from the clinic become charges, exactly once.

Each event has a ``source_key``; ``Charge.source_key`` is unique, so the signal receivers
(same transaction as the event) and ``manage.py billing capture --since`` (reconciliation)
can both run for the same event and only one charge exists. A new charge goes straight
onto the patient's draft invoice for that day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction, User
from appointments.models import Appointment, AppointmentStatus
from billing.models import Charge, ChargeStatus, InvoiceLine, InvoiceStatus, Service
from billing.services.common import require
from billing.services.invoices import _recompute, invoice_add_charge, lock_invoice
from inventory.models import MovementKind, StockMovement
from patients.models import CertificateStatus, MedicalCertificate, ToothStatus, Visit, VisitStatus

# Catalogue codes used when an event has no service of its own.
CONSULTATION_CODE = "CONSULT"
DENTAL_CODE = "DENTAL"
CERTIFICATE_CODE = "CERT"
MEDICINE_CODE = "MEDS"
NO_SHOW_CODE = "NOSHOW"


@dataclass(frozen=True)
class ChargeSpec:
    source_key: str
    patient_id: int
    service: Service
    description: str
    occurred_on: date
    quantity: Decimal = Decimal("1")
    unit_cost: Decimal | None = None
    provider_id: int | None = None


def _service(code: str) -> Service | None:
    return Service.objects.filter(code=code, is_active=True).first()


def charge_capture(spec: ChargeSpec) -> tuple[Charge, bool]:
    """Create the charge for ``spec`` unless its source already has one; put a new one on
    the day's draft invoice. Returns ``(charge, created)``. Runs in the caller's
    transaction (a savepoint keeps a duplicate from aborting it)."""

    existing = Charge.objects.filter(source_key=spec.source_key).first()
    if existing is not None:
        return existing, False
    with transaction.atomic():
        try:
            with transaction.atomic():
                charge = Charge.objects.create(
                    patient_id=spec.patient_id,
                    service=spec.service,
                    source_key=spec.source_key,
                    description=spec.description[:200],
                    quantity=spec.quantity,
                    unit_cost=spec.unit_cost,
                    occurred_on=spec.occurred_on,
                    provider_id=spec.provider_id,
                )
        except IntegrityError:
            return Charge.objects.get(source_key=spec.source_key), False
        invoice_add_charge(charge=charge)
        audit_record(
            action=AuditAction.CREATE,
            obj=charge,
            patient_id=spec.patient_id,
            actor_email="system:billing-capture",
            detail={"source": spec.source_key, "service": spec.service.code},
        )
    return charge, True


# --- What each upstream event charges --------------------------------------------------


def _local_day(moment) -> date:
    return timezone.localdate(moment) if moment else timezone.localdate()


def specs_for_appointment(appointment) -> list[ChargeSpec]:
    """A completed appointment: its type's consultation service (else the generic one)."""
    service = Service.objects.filter(
        appointment_type_id=appointment.appointment_type_id, is_active=True
    ).first() or _service(CONSULTATION_CODE)
    if service is None:
        return []
    return [
        ChargeSpec(
            source_key=f"appointment:{appointment.pk}",
            patient_id=appointment.patient_id,
            service=service,
            description=f"{appointment.appointment_type.name} consultation",
            occurred_on=_local_day(appointment.completed_at or appointment.start),
            provider_id=appointment.provider.user_id,
        )
    ]


def specs_for_no_show(appointment) -> list[ChargeSpec]:
    if not settings.BILLING_NO_SHOW_FEE_ENABLED:
        return []
    service = _service(NO_SHOW_CODE)
    if service is None:
        return []
    return [
        ChargeSpec(
            source_key=f"no_show:{appointment.pk}",
            patient_id=appointment.patient_id,
            service=service,
            description=f"No-show: {appointment.appointment_type.name}",
            occurred_on=_local_day(appointment.start),
        )
    ]


def specs_for_visit(visit) -> list[ChargeSpec]:
    """A signed visit: each dental procedure performed (per tooth); a visit not opened from
    an appointment (the appointment already charged the consultation) is a walk-in
    consultation."""

    specs = []
    day = _local_day(visit.signed_at or visit.started_at)
    services = {s.dental_procedure: s for s in Service.objects.exclude(dental_procedure="")}
    fallback = _service(DENTAL_CODE)
    for tooth in visit.teeth.all():
        if not tooth.procedure or tooth.procedure_status != ToothStatus.PERFORMED:
            continue
        service = services.get(tooth.procedure) or fallback
        if service is None:
            continue
        specs.append(
            ChargeSpec(
                source_key=f"tooth:{tooth.pk}",
                patient_id=visit.patient_id,
                service=service,
                description=f"{tooth.get_procedure_display()}, tooth {tooth.tooth}",
                occurred_on=day,
                provider_id=visit.provider_id,
            )
        )
    if not visit.appointment_ref:
        service = _service(CONSULTATION_CODE)
        if service is not None:
            specs.append(
                ChargeSpec(
                    source_key=f"visit:{visit.pk}",
                    patient_id=visit.patient_id,
                    service=service,
                    description=f"{visit.get_kind_display()} consultation (walk-in)",
                    occurred_on=day,
                    provider_id=visit.provider_id,
                )
            )
    return specs


def specs_for_certificate(certificate) -> list[ChargeSpec]:
    service = _service(CERTIFICATE_CODE)
    if service is None:
        return []
    return [
        ChargeSpec(
            source_key=f"certificate:{certificate.pk}",
            patient_id=certificate.patient_id,
            service=service,
            description=f"Medical certificate: {certificate.purpose}",
            occurred_on=_local_day(certificate.decided_at),
            provider_id=certificate.decided_by_id,
        )
    ]


def specs_for_dispense(movements) -> list[ChargeSpec]:
    """Stock dispensed to a patient: one charge per ledger row (per lot), at the lot's cost
    for cost-plus pricing."""
    specs = []
    fallback = _service(MEDICINE_CODE)
    for movement in movements:
        if movement.patient_id is None:
            continue
        service = (
            Service.objects.filter(item_id=movement.item_id, is_active=True).first() or fallback
        )
        if service is None:
            continue
        item = movement.item
        specs.append(
            ChargeSpec(
                source_key=f"dispense:{movement.pk}",
                patient_id=movement.patient_id,
                service=service,
                description=f"{item.name} {item.strength}".strip(),
                occurred_on=_local_day(movement.created_at),
                quantity=-movement.quantity,
                unit_cost=movement.unit_cost,
                provider_id=movement.actor_id,
            )
        )
    return specs


def capture(specs: list[ChargeSpec]) -> int:
    """Capture every spec; returns how many charges were new."""
    return sum(1 for spec in specs if charge_capture(spec)[1])


# --- Reversal --------------------------------------------------------------------------


@transaction.atomic
def charge_reverse(
    *, actor: User | None, source_key: str = "", charge: Charge | None = None, reason: str
) -> Charge | None:
    """Reverse a charge (a cancelled dispensing, returned stock, a charge entered in error).

    Unbilled or on a draft: it leaves the draft. Already on an issued invoice: the invoice
    is not touched; the charge is flagged reversed and a credit note is the correction
    (the billing home lists such charges). Returns ``None`` when there was no charge."""
    if actor is not None:
        require(actor, "billing.manage")
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason for reversing the charge."})
    qs = Charge.objects.select_for_update()
    charge = qs.filter(pk=charge.pk).first() if charge else qs.filter(source_key=source_key).first()
    if charge is None or charge.status == ChargeStatus.REVERSED:
        return charge
    line = InvoiceLine.objects.filter(charge=charge, voided=False).select_related("invoice").first()
    if line is not None and line.invoice.status == InvoiceStatus.DRAFT:
        invoice = lock_invoice(line.invoice_id)
        InvoiceLine.objects.filter(pk=line.pk).update(voided=True)
        _recompute(invoice)
    charge.status = ChargeStatus.REVERSED
    charge.reversed_at = timezone.now()
    charge.reversal_reason = reason.strip()[:200]
    charge.save(update_fields=["status", "reversed_at", "reversal_reason"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=charge,
        patient_id=charge.patient_id,
        actor_email="" if actor else "system:billing-capture",
        detail={
            "reversed": charge.source_key,
            "reason": charge.reversal_reason,
            "on_issued_invoice": bool(line and line.invoice.status != InvoiceStatus.DRAFT),
        },
    )
    return charge


@transaction.atomic
def charge_bill(*, actor: User | None, charge: Charge):
    """Put an unbilled charge (e.g. one taken off a draft, or from a voided invoice) back on
    the patient's draft for its day."""

    require(actor, "billing.manage")
    charge = Charge.objects.select_for_update().get(pk=charge.pk)
    if charge.status != ChargeStatus.UNBILLED:
        raise ValidationError("This charge is not waiting to be billed.")
    invoice = invoice_add_charge(charge=charge)
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=charge,
        patient_id=charge.patient_id,
        detail={"billed_on": invoice.pk},
    )
    return invoice


# --- Reconciliation --------------------------------------------------------------------


def capture_since(since: date) -> dict[str, int]:
    """Find billable events since ``since`` that have no charge and create them. Running it
    twice changes nothing. Returns new charges per kind."""

    start = timezone.make_aware(timezone.datetime.combine(since, timezone.datetime.min.time()))
    existing = set(
        Charge.objects.filter(occurred_on__gte=since).values_list("source_key", flat=True)
    )
    counts = {"appointments": 0, "no_shows": 0, "visits": 0, "certificates": 0, "dispensing": 0}

    def run(kind: str, specs: list[ChargeSpec]) -> None:
        todo = [s for s in specs if s.source_key not in existing]
        for spec in todo:
            with transaction.atomic():
                if charge_capture(spec)[1]:
                    counts[kind] += 1

    for appt in (
        Appointment.objects.filter(status=AppointmentStatus.COMPLETED, start__gte=start)
        .select_related("appointment_type", "provider")
        .iterator(chunk_size=500)
    ):
        if f"appointment:{appt.pk}" not in existing:
            run("appointments", specs_for_appointment(appt))
    if settings.BILLING_NO_SHOW_FEE_ENABLED:
        for appt in Appointment.objects.filter(
            status=AppointmentStatus.NO_SHOW, start__gte=start
        ).select_related("appointment_type"):
            run("no_shows", specs_for_no_show(appt))
    for visit in (
        Visit.objects.filter(status=VisitStatus.SIGNED, signed_at__gte=start)
        .prefetch_related("teeth")
        .iterator(chunk_size=500)
    ):
        run("visits", specs_for_visit(visit))
    for cert in MedicalCertificate.objects.filter(
        status__in=[CertificateStatus.APPROVED, CertificateStatus.REVOKED], decided_at__gte=start
    ):
        run("certificates", specs_for_certificate(cert))
    movements = StockMovement.objects.filter(
        kind=MovementKind.DISPENSE, patient__isnull=False, created_at__gte=start
    ).select_related("item")
    run("dispensing", specs_for_dispense(movements))
    return counts

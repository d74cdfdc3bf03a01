"""Visits: starting, notes, vitals, diagnoses, prescriptions, dental chart, signing and
addenda. A signed visit is read-only; corrections go in addenda."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction, User
from accounts.roles import user_has_perm
from patients.icd10 import dotted
from patients.models import (
    ALL_TEETH,
    VITAL_RANGES,
    Diagnosis,
    Icd10Code,
    Patient,
    Prescription,
    ToothRecord,
    Visit,
    VisitAddendum,
    VisitKind,
    VisitStatus,
    VitalSigns,
    normalize_search,
)
from patients.signals import visit_signed
from patients.timeline_cache import patients_changed

KIND_PERMISSION = {
    VisitKind.MEDICAL: "patients.write_medical_visit",
    VisitKind.DENTAL: "patients.write_dental_visit",
}


def _check_can_write(actor: User | None, kind: str) -> None:
    perm = KIND_PERMISSION.get(kind)
    if perm is None:
        raise ValidationError({"kind": "Unknown visit kind."})
    if not user_has_perm(actor, perm):
        raise PermissionDenied(f"Your role cannot write {kind} visits.")


def _lock_draft(visit: Visit) -> Visit:
    """Re-read ``visit`` under a row lock; refuse when it has been signed meanwhile."""
    locked = Visit.objects.select_for_update().get(pk=visit.pk)
    if locked.status != VisitStatus.DRAFT:
        raise ValidationError(
            "This visit is signed and locked; add an addendum instead.", code="signed"
        )
    return locked


@transaction.atomic
def visit_start(
    *,
    actor: User | None,
    patient: Patient,
    kind: str,
    appointment_ref: str = "",
    provider=None,
) -> Visit:
    """Open a draft visit of ``kind`` (``medical``/``dental``) for ``patient`` by ``actor``.

    Called by the appointments app when an appointment is completed (``appointment_ref`` is
    its reference), with ``provider`` = the clinician the patient saw: the visit is theirs
    even when the front desk marks the appointment completed, and the audit event names
    who did it. A second call with the same non-empty reference returns the same visit, so
    retries never open two. Raises ``PermissionDenied`` when the clinician's role (the
    provider's, else the actor's) may not write that kind of visit.
    """
    clinician = provider or actor
    _check_can_write(clinician, kind)
    if appointment_ref:
        existing = Visit.objects.filter(appointment_ref=appointment_ref, patient=patient).first()
        if existing is not None:
            return existing
    visit = Visit.objects.create(
        patient=patient, kind=kind, provider=clinician, appointment_ref=appointment_ref
    )
    detail = {"kind": kind, "appointment_ref": appointment_ref}
    if clinician != actor:
        detail["for_provider"] = getattr(clinician, "email", str(clinician))
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=visit,
        patient_id=patient.pk,
        detail=detail,
    )
    return visit


VISIT_NOTE_FIELDS = (
    "chief_complaint",
    "subjective",
    "objective",
    "assessment",
    "plan",
    "follow_up",
    "follow_up_on",
    "treatment_performed",
    "treatment_planned",
)


@transaction.atomic
def visit_update_notes(*, actor: User | None, visit: Visit, data: dict) -> Visit:
    """Save the notes of a draft visit. Signed visits are refused (code ``signed``)."""
    _check_can_write(actor, visit.kind)
    visit = _lock_draft(visit)
    if data.get("follow_up_on") and data["follow_up_on"] < timezone.localdate():
        raise ValidationError({"follow_up_on": "Follow-up date cannot be in the past."})
    for key in VISIT_NOTE_FIELDS:
        if key in data:
            setattr(visit, key, data[key] if data[key] is not None or key == "follow_up_on" else "")
    visit.save()
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=visit,
        patient_id=visit.patient_id,
        detail={"fields": sorted(k for k in data if k in VISIT_NOTE_FIELDS)},
    )
    return visit


def compute_bmi(height_cm, weight_kg) -> Decimal | None:
    if not height_cm or not weight_kg:
        return None
    meters = Decimal(height_cm) / 100
    return (Decimal(weight_kg) / (meters * meters)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def validate_vitals(values: dict) -> None:
    """Refuse implausible vitals with a message per field."""
    errors = {}
    for key, (lo, hi) in VITAL_RANGES.items():
        value = values.get(key)
        if value is not None and not (lo <= value <= hi):
            errors[key] = f"{value} is not plausible (expected {lo}–{hi})."
    s, d = values.get("systolic"), values.get("diastolic")
    if (s is None) != (d is None):
        errors.setdefault("diastolic", "Enter both systolic and diastolic pressure.")
    elif s is not None and d is not None and s <= d:
        errors.setdefault("systolic", "Systolic pressure must be higher than diastolic.")
    if s is not None and d is not None and s - d > 150:
        errors.setdefault("systolic", f"A pulse pressure of {s - d} is not plausible.")
    bmi = compute_bmi(values.get("height_cm"), values.get("weight_kg"))
    if bmi is not None and not (8 <= bmi <= 120):
        errors.setdefault(
            "weight_kg", f"Height and weight give a BMI of {bmi}, which is not plausible."
        )
    if not any(values.get(k) is not None for k in VITAL_RANGES):
        errors["__all__"] = "Enter at least one measurement."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def vitals_record(*, actor: User | None, visit: Visit, values: dict) -> VitalSigns:
    """Record a set of vitals on a draft medical visit; BMI is computed from height/weight."""
    if not user_has_perm(actor, "patients.write_medical_visit") and not user_has_perm(
        actor, "patients.write_dental_visit"
    ):
        raise PermissionDenied("Your role cannot record vitals.")
    visit = _lock_draft(visit)
    validate_vitals(values)
    vitals = VitalSigns(visit=visit, recorded_by=actor, **{k: values.get(k) for k in VITAL_RANGES})
    vitals.bmi = compute_bmi(vitals.height_cm, vitals.weight_kg)
    vitals.save()
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=vitals,
        patient_id=visit.patient_id,
    )
    return vitals


def icd10_lookup(code: str) -> Icd10Code:
    """The ICD-10 code ``code`` (dotted or not); ``ValidationError`` when it is unknown."""

    raw = (code or "").strip().upper().replace(" ", "")
    candidates = {raw, dotted(raw.replace(".", ""))}
    found = Icd10Code.objects.filter(code__in=candidates).first()
    if found is None:
        raise ValidationError({"code": f"“{code}” is not an ICD-10 code."})
    return found


@transaction.atomic
def diagnosis_add(
    *, actor: User | None, visit: Visit, code: str, is_primary: bool = False, note: str = ""
) -> Diagnosis:
    """Add an ICD-10 diagnosis to a draft visit. Unknown codes and repeats are refused."""
    _check_can_write(actor, visit.kind)
    visit = _lock_draft(visit)
    icd = icd10_lookup(code)
    if visit.diagnoses.filter(icd10=icd).exists():
        raise ValidationError({"code": f"{icd.code} is already on this visit."})
    if is_primary:
        visit.diagnoses.update(is_primary=False)  # no post_save: the timeline's order changes
        patients_changed(visit.patient_id)
    elif not visit.diagnoses.exists():
        is_primary = True
    diagnosis = Diagnosis.objects.create(visit=visit, icd10=icd, is_primary=is_primary, note=note)
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=diagnosis,
        patient_id=visit.patient_id,
        detail={"code": icd.code},
    )
    return diagnosis


def _remove_from_draft(*, actor: User | None, record, detail: dict) -> None:
    """Delete a diagnosis or prescription of a draft visit (signed visits are locked)."""
    _check_can_write(actor, record.visit.kind)
    _lock_draft(record.visit)
    audit_record(
        actor=actor,
        action=AuditAction.DELETE,
        obj=record,
        patient_id=record.visit.patient_id,
        detail=detail,
    )
    record.delete()


@transaction.atomic
def diagnosis_remove(*, actor: User | None, diagnosis: Diagnosis) -> None:
    _remove_from_draft(actor=actor, record=diagnosis, detail={"code": diagnosis.icd10_id})


def _words(text: str) -> str:
    """``text`` as its case- and accent-free words, one space apart, padded by a space."""
    return " " + " ".join(re.findall(r"[a-z0-9]+", normalize_search(text))) + " "


def allergy_names_drug(substance: str, drug: str) -> bool:
    """True when the allergy's substance appears in the drug name as whole words ("Amoxicillin"
    in "Co-amoxiclav"? no; in "Amoxicillin 500 mg"? yes; "Ace" in "Paracetamol"? no), case-
    and accent-insensitive. A name check only: it knows no drug classes."""
    wanted = _words(substance)
    return wanted.strip() != "" and wanted in _words(drug)


PRESCRIPTION_FIELDS = (
    "drug_name",
    "dose",
    "route",
    "frequency",
    "duration",
    "quantity",
    "instructions",
)


@transaction.atomic
def prescription_add(*, actor: User | None, visit: Visit, data: dict) -> Prescription:
    """Prescribe on a draft visit. Refused (``allergy``) when the drug matches an active allergy."""
    _check_can_write(actor, visit.kind)
    visit = _lock_draft(visit)
    drug = (data.get("drug_name") or "").strip()
    if not drug:
        raise ValidationError({"drug_name": "Enter the drug."})
    for allergy in visit.patient.allergies.filter(is_active=True):
        if allergy_names_drug(allergy.substance, drug):
            raise ValidationError(
                {
                    "drug_name": f"The patient is allergic to {allergy.substance} ({allergy.get_severity_display()})."
                },
            )
    rx = Prescription(visit=visit, **{k: data.get(k) for k in PRESCRIPTION_FIELDS if k in data})
    rx.drug_name = drug
    for key in ("duration", "instructions"):
        if getattr(rx, key) is None:
            setattr(rx, key, "")
    rx.full_clean(exclude=["visit"])
    rx.save()
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=rx,
        patient_id=visit.patient_id,
        detail={"drug": drug},
    )
    return rx


@transaction.atomic
def prescription_remove(*, actor: User | None, prescription: Prescription) -> None:
    _remove_from_draft(actor=actor, record=prescription, detail={"drug": prescription.drug_name})


@transaction.atomic
def tooth_record_set(
    *,
    actor: User | None,
    visit: Visit,
    tooth: int,
    condition: str,
    surfaces: str = "",
    procedure: str = "",
    procedure_status: str = "",
    notes: str = "",
) -> ToothRecord:
    """Set the state of one FDI tooth on a draft dental visit (replaces that tooth's entry)."""
    if visit.kind != VisitKind.DENTAL:
        raise ValidationError("Tooth charts belong to dental visits.")
    _check_can_write(actor, visit.kind)
    visit = _lock_draft(visit)
    if tooth not in ALL_TEETH:
        raise ValidationError({"tooth": f"{tooth} is not an FDI tooth number."})
    if procedure and not procedure_status:
        procedure_status = "planned"
    surfaces = "".join(sorted(set(surfaces.upper()) & set("MODBL"), key="MODBL".index))
    record, _ = ToothRecord.objects.update_or_create(
        visit=visit,
        tooth=tooth,
        defaults={
            "condition": condition,
            "surfaces": surfaces,
            "procedure": procedure,
            "procedure_status": procedure_status if procedure else "",
            "notes": notes,
        },
    )
    record.full_clean()
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=record,
        patient_id=visit.patient_id,
        detail={"tooth": tooth, "condition": condition, "procedure": procedure},
    )
    return record


@transaction.atomic
def visit_sign(*, actor: User | None, visit: Visit) -> Visit:
    """Sign and lock a draft visit. Only the visit's kind's writers with ``sign_visit``;
    a visit already signed answers ``ValidationError`` (code ``signed``)."""
    if not user_has_perm(actor, "patients.sign_visit"):
        raise PermissionDenied("Your role cannot sign visits.")
    _check_can_write(actor, visit.kind)
    current = (
        Visit.objects.filter(pk=visit.pk).values("chief_complaint", "assessment").first() or {}
    )
    if (
        visit.kind == VisitKind.MEDICAL
        and not current.get("chief_complaint")
        and not current.get("assessment")
    ):
        raise ValidationError("Enter the chief complaint or the assessment before signing.")
    # Guarded update: exactly one row moves from draft to signed, even with two signers.
    now = timezone.now()
    touched = Visit.objects.filter(pk=visit.pk, status=VisitStatus.DRAFT).update(
        status=VisitStatus.SIGNED, signed_at=now, signed_by=actor, updated_at=now
    )
    if touched != 1:
        raise ValidationError("This visit is already signed.", code="signed")
    patients_changed(visit.patient_id)  # no post_save from update(): the timeline says Signed
    visit.refresh_from_db()
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=visit,
        patient_id=visit.patient_id,
        detail={"signed": True},
    )
    visit_signed.send(sender=Visit, visit=visit)
    return visit


@transaction.atomic
def addendum_add(*, actor: User | None, visit: Visit, text: str) -> VisitAddendum:
    """Append a correction to a signed visit (the signed text stays as it was)."""
    if not visit.is_signed:
        raise ValidationError("Edit the draft directly; addenda are for signed visits.")
    _check_can_write(actor, visit.kind)
    if not text.strip():
        raise ValidationError({"text": "Write the addendum."})
    addendum = VisitAddendum.objects.create(visit=visit, author=actor, text=text.strip())
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=addendum,
        patient_id=visit.patient_id,
    )
    return addendum

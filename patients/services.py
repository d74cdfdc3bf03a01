"""Writes of patient records. Each service runs in a transaction, validates, and leaves an
audit event; failures raise ``ValidationError`` and leave nothing half-saved."""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.audit import audit_record
from accounts.roles import user_has_perm
from patients.models import (
    ALL_TEETH,
    ID_NUMBER_TAKEN,
    VITAL_RANGES,
    Allergy,
    CertificateStatus,
    Diagnosis,
    Fitness,
    Icd10Code,
    Immunization,
    MedicalCertificate,
    MedicalHistoryEntry,
    Medication,
    Patient,
    PatientDocument,
    PatientType,
    PendingSignup,
    Prescription,
    ToothRecord,
    Visit,
    VisitAddendum,
    VisitKind,
    VisitStatus,
    VitalSigns,
    normalize_search,
)

# --- Registry --------------------------------------------------------------------------

PATIENT_FIELDS = (
    "id_number",
    "first_name",
    "middle_name",
    "last_name",
    "sex",
    "birth_date",
    "email",
    "phone",
    "address",
    "patient_type",
    "college",
    "course",
    "year_level",
    "department",
    "emergency_contact_name",
    "emergency_contact_phone",
    "emergency_contact_relation",
    "blood_type",
)
CONTACT_FIELDS = (
    "email",
    "phone",
    "address",
    "emergency_contact_name",
    "emergency_contact_phone",
    "emergency_contact_relation",
)


def patient_possible_duplicates(
    *,
    id_number: str,
    first_name: str,
    last_name: str,
    birth_date: date,
    exclude_pk: int | None = None,
) -> list[Patient]:
    """Registered patients with the same ID number, or the same name and birth date."""
    from patients.models import normalize_search

    same_name = (
        Q(birth_date=birth_date)
        & Q(last_name__iexact=last_name.strip())
        & Q(first_name__iexact=first_name.strip())
    )
    qs = Patient.objects.filter(Q(id_number__iexact=id_number.strip()) | same_name)
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    found = list(qs[:10])
    if not found:
        # Accent-insensitive second look: "José" vs "Jose".
        wanted = (normalize_search(first_name), normalize_search(last_name))
        for p in Patient.objects.filter(birth_date=birth_date).exclude(pk=exclude_pk or 0)[:200]:
            if (normalize_search(p.first_name), normalize_search(p.last_name)) == wanted:
                found.append(p)
    return found


def id_number_clean(value: str) -> str:
    """``value`` without surrounding spaces.

    Raises ``ValidationError`` when it is empty or has spaces or control characters inside
    (line breaks, tabs, zero-width characters): they only get in by accident, by a paste,
    make the same card look like two numbers and broke the record's exports.
    """
    value = (value or "").strip()
    if not value:
        raise ValidationError("Enter the ID number.", code="required")
    if any(c.isspace() or unicodedata.category(c).startswith("C") for c in value):
        raise ValidationError(
            "An ID number cannot contain spaces or control characters; type it as printed "
            "on the card.",
            code="invalid",
        )
    return value


def id_number_refuse_taken(id_number: str, *, exclude_pk: int | None = None) -> None:
    """Raise ``ValidationError`` when another patient has ``id_number``, in any letter case
    (the database refuses it too: ``patients_patient_id_number_ci_unique``)."""
    taken = Patient.objects.filter(id_number__iexact=id_number)
    if exclude_pk:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise ValidationError(ID_NUMBER_TAKEN, code="unique")


def _id_number_field(value: str, *, exclude_pk: int | None = None, taken: bool = True) -> str:
    """``id_number_clean`` (and with ``taken`` the uniqueness check), errors on the field."""
    try:
        value = id_number_clean(value)
        if taken:
            id_number_refuse_taken(value, exclude_pk=exclude_pk)
    except ValidationError as exc:
        raise ValidationError({"id_number": exc.messages}) from exc
    return value


def _validate_birth_date(birth_date: date) -> None:
    if birth_date > timezone.localdate():
        raise ValidationError({"birth_date": "Birth date cannot be in the future."})
    if birth_date.year < 1900:
        raise ValidationError({"birth_date": "Birth date is before 1900."})


@transaction.atomic
def patient_register(
    *, actor, data: dict, confirm_duplicate: bool = False, user=None, request=None
) -> Patient:
    """Create a patient from ``data`` (the registry fields).

    Raises ``ValidationError`` with code ``possible_duplicate`` when a patient with the same
    ID number, or the same name and birth date, exists and ``confirm_duplicate`` is false;
    an identical ID number (in any letter case) is always refused (the database enforces it
    too), and so is one with spaces or control characters inside (``id_number_clean``).
    """
    data = {**data, "id_number": _id_number_field(data["id_number"])}
    _validate_birth_date(data["birth_date"])
    dupes = patient_possible_duplicates(
        id_number=data["id_number"],
        first_name=data["first_name"],
        last_name=data["last_name"],
        birth_date=data["birth_date"],
    )
    if any(d.id_number.lower() == data["id_number"].strip().lower() for d in dupes):
        raise ValidationError({"id_number": "A patient with this ID number is already registered."})
    if dupes and not confirm_duplicate:
        raise ValidationError("Possible duplicate patient.", code="possible_duplicate")
    patient = Patient(user=user, **{k: data.get(k) for k in PATIENT_FIELDS if k in data})
    for key in PATIENT_FIELDS:
        if getattr(patient, key) is None and key not in ("year_level", "birth_date"):
            setattr(patient, key, "")
    patient.id_number = patient.id_number.strip()
    patient.refresh_search_text()
    _save_patient(patient)
    audit_record(
        actor=actor,
        action="create",
        obj=patient,
        patient_id=patient.pk,
        request=request,
        detail={"duplicate_confirmed": bool(dupes)},
    )
    return patient


def _save_patient(patient: Patient) -> None:
    """Save, turning the unique ID-number violation (a race with another registration)
    into a form error instead of a 500."""
    try:
        with transaction.atomic():
            patient.save()
    except IntegrityError as exc:
        raise ValidationError({"id_number": ID_NUMBER_TAKEN}) from exc


IDENTITY_FIELDS = ("id_number", "first_name", "last_name", "birth_date")


@transaction.atomic
def patient_update(
    *, actor, patient: Patient, data: dict, confirm_duplicate: bool = False, request=None
) -> Patient:
    """Change a patient's demographics (staff with ``patients.register``).

    The registration checks apply to what changes: an ID number another patient has (in any
    letter case) or with spaces or control characters inside is refused; a new ID number,
    name or birth date that matches another patient raises ``ValidationError`` with code
    ``possible_duplicate`` unless ``confirm_duplicate``. ``patient`` holds the values before
    the change.
    """
    if "id_number" in data:
        data = {**data, "id_number": _id_number_field(data["id_number"], exclude_pk=patient.pk)}
    if "birth_date" in data:
        _validate_birth_date(data["birth_date"])
    dupes = []
    if any(k in data and data[k] != getattr(patient, k) for k in IDENTITY_FIELDS):
        dupes = patient_possible_duplicates(
            **{k: data.get(k, getattr(patient, k)) for k in IDENTITY_FIELDS},
            exclude_pk=patient.pk,
        )
        if dupes and not confirm_duplicate:
            raise ValidationError("Possible duplicate patient.", code="possible_duplicate")
    before = {k: str(getattr(patient, k)) for k in data if k in PATIENT_FIELDS}
    for key, value in data.items():
        if key in PATIENT_FIELDS:
            setattr(patient, key, "" if value is None and key not in ("year_level",) else value)
    patient.refresh_search_text()
    _save_patient(patient)
    audit_record(
        actor=actor,
        action="update",
        obj=patient,
        patient_id=patient.pk,
        request=request,
        detail={"fields": sorted(before), "duplicate_confirmed": bool(dupes)},
    )
    return patient


@transaction.atomic
def patient_contact_update(*, actor, patient: Patient, data: dict, request=None) -> Patient:
    """A patient edits their own contact details (portal); nothing else can change here."""
    if patient.user_id != actor.pk:
        raise PermissionDenied("You can only edit your own contact details.")
    for key in CONTACT_FIELDS:
        if key in data:
            setattr(patient, key, data[key] or "")
    patient.refresh_search_text()
    patient.save()
    audit_record(
        actor=actor,
        action="update",
        obj=patient,
        patient_id=patient.pk,
        request=request,
        detail={"fields": [k for k in CONTACT_FIELDS if k in data], "via": "portal"},
    )
    return patient


def _clinical_write_check(actor) -> None:
    if not (
        user_has_perm(actor, "patients.write_medical_visit")
        or user_has_perm(actor, "patients.write_dental_visit")
    ):
        raise PermissionDenied("Your role cannot change clinical records.")


@transaction.atomic
def allergy_add(
    *, actor, patient: Patient, substance: str, reaction: str = "", severity: str, request=None
) -> Allergy:
    """Record an allergy; the same active substance twice is refused."""
    _clinical_write_check(actor)
    if patient.allergies.filter(substance__iexact=substance.strip(), is_active=True).exists():
        raise ValidationError({"substance": "This allergy is already recorded."})
    allergy = Allergy.objects.create(
        patient=patient,
        substance=substance.strip(),
        reaction=reaction,
        severity=severity,
        recorded_by=actor,
    )
    audit_record(actor=actor, action="create", obj=allergy, patient_id=patient.pk, request=request)
    return allergy


def _set_inactive(*, actor, record, request=None):
    """Mark an allergy or medication inactive (kept for history) and audit it."""
    _clinical_write_check(actor)
    record.is_active = False
    record.save(update_fields=["is_active"])
    audit_record(
        actor=actor,
        action="update",
        obj=record,
        patient_id=record.patient_id,
        request=request,
        detail={"is_active": False},
    )
    return record


@transaction.atomic
def allergy_deactivate(*, actor, allergy: Allergy, request=None) -> Allergy:
    return _set_inactive(actor=actor, record=allergy, request=request)


@transaction.atomic
def history_add(
    *,
    actor,
    patient: Patient,
    category: str,
    description: str,
    year: int | None = None,
    notes: str = "",
    request=None,
) -> MedicalHistoryEntry:
    _clinical_write_check(actor)
    if year and year > timezone.localdate().year:
        raise ValidationError({"year": "Year cannot be in the future."})
    entry = MedicalHistoryEntry.objects.create(
        patient=patient, category=category, description=description, year=year, notes=notes
    )
    audit_record(actor=actor, action="create", obj=entry, patient_id=patient.pk, request=request)
    return entry


@transaction.atomic
def medication_add(
    *,
    actor,
    patient: Patient,
    name: str,
    dose: str = "",
    frequency: str = "",
    started_on: date | None = None,
    notes: str = "",
    request=None,
) -> Medication:
    _clinical_write_check(actor)
    if started_on and started_on > timezone.localdate():
        raise ValidationError({"started_on": "Start date cannot be in the future."})
    med = Medication.objects.create(
        patient=patient,
        name=name,
        dose=dose,
        frequency=frequency,
        started_on=started_on,
        notes=notes,
    )
    audit_record(actor=actor, action="create", obj=med, patient_id=patient.pk, request=request)
    return med


@transaction.atomic
def medication_stop(*, actor, medication: Medication, request=None) -> Medication:
    return _set_inactive(actor=actor, record=medication, request=request)


@transaction.atomic
def immunization_add(
    *,
    actor,
    patient: Patient,
    vaccine: str,
    dose_number: int,
    given_on: date,
    lot_number: str = "",
    notes: str = "",
    request=None,
) -> Immunization:
    _clinical_write_check(actor)
    if given_on > timezone.localdate():
        raise ValidationError({"given_on": "Date given cannot be in the future."})
    if given_on < patient.birth_date:
        raise ValidationError({"given_on": "Date given is before the patient's birth date."})
    imm = Immunization.objects.create(
        patient=patient,
        vaccine=vaccine,
        dose_number=dose_number,
        given_on=given_on,
        lot_number=lot_number,
        notes=notes,
    )
    audit_record(actor=actor, action="create", obj=imm, patient_id=patient.pk, request=request)
    return imm


# --- Visits ----------------------------------------------------------------------------

KIND_PERMISSION = {
    VisitKind.MEDICAL: "patients.write_medical_visit",
    VisitKind.DENTAL: "patients.write_dental_visit",
}


def _check_can_write(actor, kind: str) -> None:
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
    actor,
    patient: Patient,
    kind: str,
    appointment_ref: str = "",
    provider=None,
    request=None,
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
        action="create",
        obj=visit,
        patient_id=patient.pk,
        request=request,
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
def visit_update_notes(*, actor, visit: Visit, data: dict, request=None) -> Visit:
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
        action="update",
        obj=visit,
        patient_id=visit.patient_id,
        request=request,
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
def vitals_record(*, actor, visit: Visit, values: dict, request=None) -> VitalSigns:
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
        actor=actor, action="create", obj=vitals, patient_id=visit.patient_id, request=request
    )
    return vitals


def icd10_lookup(code: str) -> Icd10Code:
    """The ICD-10 code ``code`` (dotted or not); ``ValidationError`` when it is unknown."""
    from patients.icd10 import dotted

    raw = (code or "").strip().upper().replace(" ", "")
    candidates = {raw, dotted(raw.replace(".", ""))}
    found = Icd10Code.objects.filter(code__in=candidates).first()
    if found is None:
        raise ValidationError({"code": f"“{code}” is not an ICD-10 code."})
    return found


@transaction.atomic
def diagnosis_add(
    *, actor, visit: Visit, code: str, is_primary: bool = False, note: str = "", request=None
) -> Diagnosis:
    """Add an ICD-10 diagnosis to a draft visit. Unknown codes and repeats are refused."""
    _check_can_write(actor, visit.kind)
    visit = _lock_draft(visit)
    icd = icd10_lookup(code)
    if visit.diagnoses.filter(icd10=icd).exists():
        raise ValidationError({"code": f"{icd.code} is already on this visit."})
    if is_primary:
        visit.diagnoses.update(is_primary=False)
    elif not visit.diagnoses.exists():
        is_primary = True
    diagnosis = Diagnosis.objects.create(visit=visit, icd10=icd, is_primary=is_primary, note=note)
    audit_record(
        actor=actor,
        action="create",
        obj=diagnosis,
        patient_id=visit.patient_id,
        request=request,
        detail={"code": icd.code},
    )
    return diagnosis


def _remove_from_draft(*, actor, record, detail: dict, request=None) -> None:
    """Delete a diagnosis or prescription of a draft visit (signed visits are locked)."""
    _check_can_write(actor, record.visit.kind)
    _lock_draft(record.visit)
    audit_record(
        actor=actor,
        action="delete",
        obj=record,
        patient_id=record.visit.patient_id,
        request=request,
        detail=detail,
    )
    record.delete()


@transaction.atomic
def diagnosis_remove(*, actor, diagnosis: Diagnosis, request=None) -> None:
    _remove_from_draft(
        actor=actor, record=diagnosis, detail={"code": diagnosis.icd10_id}, request=request
    )


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
def prescription_add(*, actor, visit: Visit, data: dict, request=None) -> Prescription:
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
        action="create",
        obj=rx,
        patient_id=visit.patient_id,
        request=request,
        detail={"drug": drug},
    )
    return rx


@transaction.atomic
def prescription_remove(*, actor, prescription: Prescription, request=None) -> None:
    _remove_from_draft(
        actor=actor, record=prescription, detail={"drug": prescription.drug_name}, request=request
    )


@transaction.atomic
def tooth_record_set(
    *,
    actor,
    visit: Visit,
    tooth: int,
    condition: str,
    surfaces: str = "",
    procedure: str = "",
    procedure_status: str = "",
    notes: str = "",
    request=None,
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
        action="update",
        obj=record,
        patient_id=visit.patient_id,
        request=request,
        detail={"tooth": tooth, "condition": condition, "procedure": procedure},
    )
    return record


@transaction.atomic
def visit_sign(*, actor, visit: Visit, request=None) -> Visit:
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
    visit.refresh_from_db()
    audit_record(
        actor=actor,
        action="update",
        obj=visit,
        patient_id=visit.patient_id,
        request=request,
        detail={"signed": True},
    )
    return visit


@transaction.atomic
def addendum_add(*, actor, visit: Visit, text: str, request=None) -> VisitAddendum:
    """Append a correction to a signed visit (the signed text stays as it was)."""
    if not visit.is_signed:
        raise ValidationError("Edit the draft directly; addenda are for signed visits.")
    _check_can_write(actor, visit.kind)
    if not text.strip():
        raise ValidationError({"text": "Write the addendum."})
    addendum = VisitAddendum.objects.create(visit=visit, author=actor, text=text.strip())
    audit_record(
        actor=actor, action="create", obj=addendum, patient_id=visit.patient_id, request=request
    )
    return addendum


# --- Documents -------------------------------------------------------------------------

# (magic prefix, content type, extension)
MAGIC_TYPES = (
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"II*\x00", "image/tiff", "tif"),
    (b"MM\x00*", "image/tiff", "tif"),
    (b"DICM", "application/dicom", "dcm"),  # at offset 128
)
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024


def sniff_content_type(head: bytes) -> tuple[str, str] | None:
    """The (content type, extension) the first bytes prove, or None when not allowed."""
    for magic, ctype, ext in MAGIC_TYPES:
        if ctype == "application/dicom":
            if head[128:132] == magic:
                return ctype, ext
        elif head.startswith(magic):
            return ctype, ext
    return None


def _document_title(title: str, filename: str) -> str:
    """The given title, or else the file's name, shortened to fit the title column: a long
    file name keeps its start and its extension, with an ellipsis between."""
    limit = PatientDocument._meta.get_field("title").max_length
    text = title.strip() or filename.strip() or "document"
    if len(text) <= limit:
        return text
    stem, dot, ext = text.rpartition(".")
    if title.strip() or not dot or not stem or len(ext) > 10:
        return text[: limit - 1].rstrip() + "…"
    return stem[: limit - len(ext) - 2].rstrip() + "…." + ext


@transaction.atomic
def document_upload(
    *,
    actor,
    patient: Patient,
    upload,
    kind: str,
    title: str,
    visit: Visit | None = None,
    request=None,
) -> PatientDocument:
    """Store an uploaded file through the default storage after checking its real type.

    Allowed: PDF, PNG, JPEG, TIFF, DICOM, by their magic bytes (the name and the browser's
    claimed type are ignored); at most ``MAX_DOCUMENT_BYTES``.
    """
    if not user_has_perm(actor, "patients.manage_documents"):
        raise PermissionDenied("Your role cannot upload documents.")
    if visit is not None and visit.patient_id != patient.pk:
        raise ValidationError({"visit": "That visit belongs to another patient."})
    if upload.size > MAX_DOCUMENT_BYTES:
        raise ValidationError(
            {"file": f"The file is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB."}
        )
    if upload.size == 0:
        raise ValidationError({"file": "The file is empty."})
    upload.seek(0)
    head = upload.read(160)
    sniffed = sniff_content_type(head)
    if sniffed is None:
        raise ValidationError(
            {"file": "Only PDF, PNG, JPEG, TIFF or DICOM files are accepted (checked by content)."}
        )
    content_type, ext = sniffed
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    base = (upload.name or "document").rsplit("/", 1)[-1][:200]
    doc = PatientDocument(
        patient=patient,
        visit=visit,
        kind=kind,
        title=_document_title(title, base),
        original_name=base,
        content_type=content_type,
        size=upload.size,
        sha256=digest.hexdigest(),
        uploaded_by=actor,
    )
    doc.file.save(f"upload.{ext}", upload, save=False)
    doc.save()
    audit_record(
        actor=actor,
        action="create",
        obj=doc,
        patient_id=patient.pk,
        request=request,
        detail={"kind": kind, "size": upload.size, "content_type": content_type},
    )
    return doc


# --- Medical certificates --------------------------------------------------------------


def _new_verification_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(10))


@transaction.atomic
def certificate_request(
    *, actor, patient: Patient, purpose: str, request=None
) -> MedicalCertificate:
    """Request a certificate: a patient for themself (portal) or staff on their behalf.

    The request goes straight to ``pending`` (the doctor's queue).
    """
    is_self = patient.user_id == actor.pk and user_has_perm(actor, "patients.portal")
    if not is_self and not user_has_perm(actor, "patients.view_clinical"):
        raise PermissionDenied("You cannot request a certificate for this patient.")
    if not purpose.strip():
        raise ValidationError({"purpose": "State what the certificate is for."})
    if (
        MedicalCertificate.objects.filter(patient=patient, status=CertificateStatus.PENDING).count()
        >= 3
    ):
        raise ValidationError("There are already three pending requests for this patient.")
    cert = MedicalCertificate.objects.create(
        patient=patient,
        requested_by=actor,
        purpose=purpose.strip(),
        status=CertificateStatus.PENDING,
        verification_code=_new_verification_code(),
    )
    audit_record(
        actor=actor,
        action="create",
        obj=cert,
        patient_id=patient.pk,
        request=request,
        detail={"purpose": cert.purpose},
    )
    return cert


@transaction.atomic
def certificate_decide(
    *,
    actor,
    certificate: MedicalCertificate,
    approve: bool,
    findings: str = "",
    fitness: str = "",
    fitness_reason: str = "",
    valid_from: date | None = None,
    valid_until: date | None = None,
    recommendations: str = "",
    rejection_reason: str = "",
    request=None,
) -> MedicalCertificate:
    """Approve or reject a pending certificate (doctors). Only one decision can ever win:
    the row is locked and must still be pending. Notifies the patient after commit."""
    if not user_has_perm(actor, "patients.approve_certificate"):
        raise PermissionDenied("Only doctors decide certificates.")
    cert = (
        MedicalCertificate.objects.select_for_update()
        .select_related("patient")
        .get(pk=certificate.pk)
    )
    if cert.status != CertificateStatus.PENDING:
        raise ValidationError("This certificate has already been decided.", code="decided")
    if approve:
        errors = {}
        if fitness not in Fitness.values:
            errors["fitness"] = "Choose fit or not fit."
        if fitness == Fitness.NOT_FIT and not fitness_reason.strip():
            errors["fitness_reason"] = "Give the reason the patient is not fit."
        if not valid_from:
            errors["valid_from"] = "Enter the first valid date."
        if not valid_until:
            errors["valid_until"] = "Enter the last valid date."
        elif valid_from and valid_until < valid_from:
            errors["valid_until"] = "The validity ends before it starts."
        elif valid_from and (valid_until - valid_from).days > 366:
            errors["valid_until"] = "A certificate is valid for one year at most."
        if errors:
            raise ValidationError(errors)
        cert.status = CertificateStatus.APPROVED
        cert.findings, cert.fitness, cert.fitness_reason = findings, fitness, fitness_reason
        cert.valid_from, cert.valid_until, cert.recommendations = (
            valid_from,
            valid_until,
            recommendations,
        )
    else:
        if not rejection_reason.strip():
            raise ValidationError({"rejection_reason": "Give the reason for rejecting."})
        cert.status = CertificateStatus.REJECTED
        cert.rejection_reason = rejection_reason.strip()
    cert.decided_by, cert.decided_at = actor, timezone.now()
    cert.save()
    audit_record(
        actor=actor,
        action="update",
        obj=cert,
        patient_id=cert.patient_id,
        request=request,
        detail={"status": cert.status},
    )
    if cert.patient.user_id:
        from accounts.services import notify

        verb = "approved" if approve else "rejected"
        notify(
            user=cert.patient.user,
            title=f"Your medical certificate was {verb}",
            body=(
                f"Your certificate request for “{cert.purpose}” was {verb}."
                + ("" if approve else f" Reason: {cert.rejection_reason}")
            ),
            url=reverse("patients:portal_certificates"),
            category="certificate",
        )
    return cert


@transaction.atomic
def certificate_revoke(
    *, actor, certificate: MedicalCertificate, reason: str, request=None
) -> MedicalCertificate:
    """Revoke an approved certificate issued in error (whoever may approve certificates).
    The row is locked and must still be approved, so a second revocation is refused. The
    public verification page then reports it revoked; the reason stays with staff and the
    patient's notification carries no clinical details."""
    if not user_has_perm(actor, "patients.approve_certificate"):
        raise PermissionDenied("Only doctors revoke certificates.")
    cert = (
        MedicalCertificate.objects.select_for_update()
        .select_related("patient")
        .get(pk=certificate.pk)
    )
    if cert.status == CertificateStatus.REVOKED:
        raise ValidationError("This certificate has already been revoked.", code="revoked")
    if cert.status != CertificateStatus.APPROVED:
        raise ValidationError("Only an approved certificate can be revoked.", code="not_approved")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"revoke_reason": "Give the reason for revoking."})
    if len(reason) > 255:
        raise ValidationError({"revoke_reason": "Keep the reason under 255 characters."})
    cert.status = CertificateStatus.REVOKED
    cert.revoked_by, cert.revoked_at, cert.revoke_reason = actor, timezone.now(), reason
    cert.save(update_fields=["status", "revoked_by", "revoked_at", "revoke_reason", "updated_at"])
    audit_record(
        actor=actor,
        action="update",
        obj=cert,
        patient_id=cert.patient_id,
        request=request,
        detail={"status": cert.status, "reason": reason},
    )
    if cert.patient.user_id:
        from accounts.services import notify

        notify(
            user=cert.patient.user,
            title="Your medical certificate was revoked",
            body=(
                f"Your medical certificate {cert.verification_code} was revoked by the clinic "
                "and is no longer valid. Contact the clinic if you have questions."
            ),
            url=reverse("patients:portal_certificates"),
            category="certificate",
        )
    return cert


# --- Patient self-registration ---------------------------------------------------------


def email_domain_allowed(email: str) -> bool:
    domain = email.rsplit("@", 1)[-1].lower() if "@" in email else ""
    return domain in {d.lower() for d in settings.PATIENT_EMAIL_DOMAINS}


@transaction.atomic
def patient_self_register(*, email: str, password: str, data: dict, request=None):
    """Sign a student or employee up with their institutional email: an inactive account,
    a ``PendingSignup`` holding what they typed, and an email with the link that activates
    it (``patient_email_verify``). Nothing is linked to or added to the registry before the
    link is opened, and the answer is the same whatever the ID number, so the form never
    tells a stranger whose ID number exists.

    A new sign-up with the email of an account still awaiting confirmation replaces it (its
    password and details; the old link stops working): a sign-up nobody confirms, a
    stranger's or one whose email got lost, locks nobody out.

    Raises ``ValidationError`` for a domain outside ``PATIENT_EMAIL_DOMAINS``, an email
    that already has an account (confirmed, invited or deactivated), a weak password, a
    birth date in the future or an ID number with spaces or control characters inside.
    """
    from django.contrib.auth.password_validation import validate_password

    from accounts.models import User
    from accounts.roles import Role

    email = User.objects.normalize_email(email).strip().lower()
    if not email_domain_allowed(email):
        raise ValidationError(
            {
                "email": "Use your institutional email address ("
                + ", ".join("@" + d for d in settings.PATIENT_EMAIL_DOMAINS)
                + ")."
            }
        )
    taken = ValidationError(
        {"email": "An account with this email already exists. Sign in or reset your password."}
    )
    user = User.objects.select_for_update().filter(email__iexact=email).first()
    replacing = user is not None
    if replacing and not _is_unconfirmed_signup(user):
        raise taken
    _validate_birth_date(data["birth_date"])
    id_number = _id_number_field(data["id_number"], taken=False)
    if user is None:
        user = User(email=email, role=Role.PATIENT, is_active=False)
    user.first_name, user.last_name = data["first_name"], data["last_name"]
    validate_password(password, user)
    user.set_password(password)  # a new password also voids the previous link
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:  # a sign-up with the same email at the same moment
        raise taken from exc
    PendingSignup.objects.update_or_create(
        user=user,
        defaults={
            "id_number": id_number,
            "first_name": data["first_name"],
            "last_name": data["last_name"],
            "sex": data["sex"],
            "birth_date": data["birth_date"],
            "patient_type": data.get("patient_type") or PatientType.STUDENT,
            "created_at": timezone.now(),
        },
    )
    audit_record(
        actor=user,
        action="update" if replacing else "create",
        obj=user,
        request=request,
        detail={"self_registration": True, "replaced_unconfirmed": replacing},
    )
    link = email_verification_url(user)
    from uscpis.mail import send_templated_email

    transaction.on_commit(
        lambda: send_templated_email(
            to=[email],
            subject="Confirm your email",
            template="patients_verify_email",
            context={"user": user, "link": link},
        )
    )
    return user


def _is_unconfirmed_signup(user) -> bool:
    """An account made by a sign-up whose email was never confirmed (replaceable). An
    inactive account without a ``PendingSignup`` was deactivated: it is not."""
    from accounts.roles import Role

    return (
        not user.is_active
        and user.role == Role.PATIENT
        and PendingSignup.objects.filter(user=user).exists()
    )


VERIFY_SALT = "patients.verify-email"
VERIFY_MAX_AGE = 3 * 24 * 3600


def _password_stamp(user) -> str:
    """Changes whenever the account's password does, so a confirmation link only works for
    the sign-up it was sent for, not for one that replaced it since."""
    from django.utils.crypto import salted_hmac

    return salted_hmac(VERIFY_SALT, user.password, algorithm="sha256").hexdigest()[:32]


def email_verification_url(user) -> str:
    from django.core import signing

    token = signing.dumps(
        {"u": user.pk, "e": user.email, "p": _password_stamp(user)}, salt=VERIFY_SALT
    )
    return f"{settings.SITE_URL}{reverse('patients:verify_email', args=[token])}"


@transaction.atomic
def patient_email_verify(*, token: str, request=None):
    """Activate the account a signed, unexpired confirmation link names, and only then give
    it its patient record (``_self_registration_record``). Opening the link again changes
    nothing.

    Raises ``ValidationError`` when the link is forged or expired, was sent for a sign-up
    that has since been replaced (another password), or names a deactivated account.
    """
    from django.core import signing
    from django.utils.crypto import constant_time_compare

    from accounts.models import User

    invalid = ValidationError("This link is invalid or has expired.")
    try:
        payload = signing.loads(token, salt=VERIFY_SALT, max_age=VERIFY_MAX_AGE)
    except signing.BadSignature as exc:
        raise invalid from exc
    if not isinstance(payload, dict):
        raise invalid
    # The account row before any patient row: the order patient_link_account locks them in.
    user = (
        User.objects.select_for_update().filter(pk=payload.get("u"), email=payload.get("e")).first()
    )
    if user is None or not constant_time_compare(str(payload.get("p", "")), _password_stamp(user)):
        raise invalid
    if user.is_active:
        return user
    pending = PendingSignup.objects.filter(user=user).first()
    if pending is None:  # deactivated by an administrator: a link does not reopen it
        raise invalid
    user.is_active = True
    user.save(update_fields=["is_active"])
    patient = _self_registration_record(user=user, pending=pending, request=request)
    pending.delete()
    audit_record(
        actor=user,
        action="update",
        obj=user,
        patient_id=patient.pk if patient is not None else None,
        request=request,
        detail={"email_verified": True, "record_linked": patient is not None},
    )
    return user


def _self_registration_record(*, user, pending: PendingSignup, request=None) -> Patient | None:
    """The record a just-confirmed sign-up gets, or None: staff then check the person's ID
    and link one by hand (``patient_link_account``; the account waits in their list).

    An existing record is linked only when its own email is the confirmed one and the ID
    number and birth date match as well: knowing a student's ID and birth date is not
    enough. A record is created only when nothing in the registry may be this person: no
    record with the ID number, the same name and birth date (``patient_possible_duplicates``)
    or the email.
    """
    if not pending.id_number or pending.birth_date is None or not pending.sex:
        return None  # a sign-up from before its details were kept
    record = Patient.objects.select_for_update().filter(id_number__iexact=pending.id_number).first()
    if record is not None:
        if (
            record.user_id is None
            and record.birth_date == pending.birth_date
            and record.email.strip()
            and record.email.strip().lower() == user.email.lower()
        ):
            record.user = user
            record.save(update_fields=["user", "updated_at"])
            audit_record(
                actor=user,
                action="update",
                obj=record,
                patient_id=record.pk,
                request=request,
                detail={"portal_account": user.email, "self_registration": True},
            )
            return record
        return None
    if (
        patient_possible_duplicates(
            id_number=pending.id_number,
            first_name=pending.first_name,
            last_name=pending.last_name,
            birth_date=pending.birth_date,
        )
        or Patient.objects.filter(email__iexact=user.email).exists()
    ):
        return None
    data = {
        "id_number": pending.id_number,
        "first_name": pending.first_name,
        "last_name": pending.last_name,
        "sex": pending.sex,
        "birth_date": pending.birth_date,
        "patient_type": pending.patient_type or PatientType.STUDENT,
        "email": user.email,
    }
    try:
        return patient_register(actor=user, data=data, user=user, request=request)
    except ValidationError:
        return None  # a registration at the same moment took the ID number or the name


@transaction.atomic
def patient_account_create(*, actor, patient: Patient, request=None) -> Patient:
    """Create the patient's portal account (staff side) and email them an invitation to
    choose a password. The account is linked to this record at once.

    An unconfirmed sign-up with the record's email (a ``PendingSignup``) does not block
    this: that account becomes the invited one. The password the sign-up chose, its details
    and its confirmation link are dropped, so whoever made it gains nothing.

    Raises ``ValidationError`` when the record has no email, already has an account, or the
    email belongs to another account (link that one instead: nothing is overwritten).
    """
    from accounts.models import User
    from accounts.roles import Role
    from accounts.services import user_invite

    # The account row before the patient row, the order patient_link_account locks them in.
    email = Patient.objects.filter(pk=patient.pk).values_list("email", flat=True).first() or ""
    email = User.objects.normalize_email(email).strip().lower()
    unconfirmed = (
        User.objects.select_for_update()
        .filter(email__iexact=email, is_active=False, role=Role.PATIENT)
        .exclude(pending_signup=None)
        .first()
        if email
        else None
    )
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if patient.user_id:
        raise ValidationError("This patient already has a portal account.")
    if not patient.email:
        raise ValidationError("Add the patient's email address first: the invitation goes there.")
    if unconfirmed is not None and unconfirmed.email == patient.email.strip().lower():
        user = _invite_over_unconfirmed_signup(
            actor=actor, user=unconfirmed, patient=patient, request=request
        )
    else:
        user = user_invite(
            actor=actor,
            email=patient.email,
            first_name=patient.first_name,
            last_name=patient.last_name,
            role=Role.PATIENT,
            request=request,
        )
    patient.user = user
    patient.save(update_fields=["user", "updated_at"])
    audit_record(
        actor=actor,
        action="update",
        obj=patient,
        patient_id=patient.pk,
        request=request,
        detail={"portal_account": user.email},
    )
    return patient


def _invite_over_unconfirmed_signup(*, actor, user, patient: Patient, request=None):
    """Turn an unconfirmed sign-up's account into a staff invitation (what
    ``accounts.services.user_invite`` creates): active, without a password, and the
    invitation to choose one emailed to the address."""
    from accounts.services import invitation_send

    PendingSignup.objects.filter(user=user).delete()
    user.first_name, user.last_name = patient.first_name, patient.last_name
    user.is_active = True
    user.set_unusable_password()  # also voids the sign-up's confirmation link
    user.save()
    audit_record(
        actor=actor,
        action="update",
        obj=user,
        request=request,
        detail={"invited": True, "replaced_unconfirmed_signup": True},
    )
    invitation_send(user=user, actor=actor)
    return user


def _portal_write_check(actor) -> None:
    if not user_has_perm(actor, "patients.register"):
        raise PermissionDenied("Your role cannot manage patients' portal accounts.")


@transaction.atomic
def patient_link_account(*, actor, patient: Patient, user, request=None) -> Patient:
    """Connect a patient's existing portal account (one that has no record, e.g. a
    self-registration whose details did not match) to ``patient``, and tell the account
    holder in the app and by email.

    The account row, then the patient row, are locked (the same order everywhere, so two
    links cannot deadlock); whoever locks second sees the first one's link and is refused.
    ``Patient.user`` is a one-to-one column, so the database refuses a double link even on
    a path that skipped the locks. Raises ``PermissionDenied`` for a role without
    ``patients.register`` and ``ValidationError`` when the record already has an account,
    the account is already linked, inactive, or not a patient's account.
    """
    from accounts.models import User
    from accounts.roles import Role

    _portal_write_check(actor)
    user = User.objects.select_for_update().get(pk=user.pk)
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if user.role != Role.PATIENT:
        raise ValidationError("Only a patient's portal account can be linked to a record.")
    if not user.is_active:
        raise ValidationError(
            "This account is not active yet (its email is not confirmed), so it cannot be linked."
        )
    if patient.user_id == user.pk:
        raise ValidationError("This account is already linked to this record.")
    if patient.user_id:
        raise ValidationError(
            "This patient already has a portal account. Unlink it first if it is the wrong one."
        )
    if Patient.objects.filter(user=user).exists():
        raise ValidationError("This account is already linked to another patient record.")
    patient.user = user
    try:
        with transaction.atomic():
            patient.save(update_fields=["user", "updated_at"])
    except IntegrityError as exc:
        raise ValidationError("This account is already linked to another patient record.") from exc
    _record_link_change(
        actor=actor,
        patient=patient,
        user=user,
        linked=True,
        request=request,
        title="Your health record is now connected",
        body=(
            "The clinic connected your portal account to your health record. You can now "
            "see your visits, certificates and documents, and book appointments online."
        ),
    )
    return patient


def _record_link_change(*, actor, patient, user, linked: bool, request, title: str, body: str):
    """Audit a portal-account link or unlink and tell the account holder (in the app and by
    email, so the message carries no clinical details)."""
    from accounts.services import notify

    audit_record(
        actor=actor,
        action="update",
        obj=patient,
        patient_id=patient.pk,
        request=request,
        detail={"portal_account": user.email, "portal_account_linked": linked},
    )
    notify(user=user, title=title, body=body, url=reverse("patients:portal"), category="account")


@transaction.atomic
def patient_unlink_account(*, actor, patient: Patient, request=None) -> Patient:
    """Disconnect the portal account from ``patient`` (e.g. it was linked to the wrong
    record). The account itself stays, unlinked, and its holder is told without details.

    Raises ``PermissionDenied`` for a role without ``patients.register`` and
    ``ValidationError`` when the record has no account.
    """

    _portal_write_check(actor)
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    user = patient.user
    if user is None:
        raise ValidationError("This patient has no portal account to unlink.")
    patient.user = None
    patient.save(update_fields=["user", "updated_at"])
    _record_link_change(
        actor=actor,
        patient=patient,
        user=user,
        linked=False,
        request=request,
        title="Your portal account is no longer connected to a health record",
        body="If you think this is a mistake, please contact the clinic front desk.",
    )
    return patient

"""The standing clinical record: allergies, medical history, medications, immunizations."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction, User
from accounts.roles import user_has_perm
from patients.models import (
    Allergy,
    Immunization,
    MedicalHistoryEntry,
    Medication,
    Patient,
)


def _clinical_write_check(actor: User | None) -> None:
    if not (
        user_has_perm(actor, "patients.write_medical_visit")
        or user_has_perm(actor, "patients.write_dental_visit")
    ):
        raise PermissionDenied("Your role cannot change clinical records.")


@transaction.atomic
def allergy_add(
    *, actor: User | None, patient: Patient, substance: str, reaction: str = "", severity: str
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
    audit_record(actor=actor, action=AuditAction.CREATE, obj=allergy, patient_id=patient.pk)
    return allergy


def _set_inactive(*, actor: User | None, record):
    """Mark an allergy or medication inactive (kept for history) and audit it."""
    _clinical_write_check(actor)
    record.is_active = False
    record.save(update_fields=["is_active"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=record,
        patient_id=record.patient_id,
        detail={"is_active": False},
    )
    return record


@transaction.atomic
def allergy_deactivate(*, actor: User | None, allergy: Allergy) -> Allergy:
    return _set_inactive(actor=actor, record=allergy)


@transaction.atomic
def history_add(
    *,
    actor: User | None,
    patient: Patient,
    category: str,
    description: str,
    year: int | None = None,
    notes: str = "",
) -> MedicalHistoryEntry:
    _clinical_write_check(actor)
    if year and year > timezone.localdate().year:
        raise ValidationError({"year": "Year cannot be in the future."})
    entry = MedicalHistoryEntry.objects.create(
        patient=patient, category=category, description=description, year=year, notes=notes
    )
    audit_record(actor=actor, action=AuditAction.CREATE, obj=entry, patient_id=patient.pk)
    return entry


@transaction.atomic
def medication_add(
    *,
    actor: User | None,
    patient: Patient,
    name: str,
    dose: str = "",
    frequency: str = "",
    started_on: date | None = None,
    notes: str = "",
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
    audit_record(actor=actor, action=AuditAction.CREATE, obj=med, patient_id=patient.pk)
    return med


@transaction.atomic
def medication_stop(*, actor: User | None, medication: Medication) -> Medication:
    return _set_inactive(actor=actor, record=medication)


@transaction.atomic
def immunization_add(
    *,
    actor: User | None,
    patient: Patient,
    vaccine: str,
    dose_number: int,
    given_on: date,
    lot_number: str = "",
    notes: str = "",
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
    audit_record(actor=actor, action=AuditAction.CREATE, obj=imm, patient_id=patient.pk)
    return imm

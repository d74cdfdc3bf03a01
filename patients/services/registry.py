"""The registry: registering patients, identity and contact details, ID numbers."""

from __future__ import annotations

import unicodedata
from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction, User
from patients.models import (
    ID_NUMBER_TAKEN,
    PHILHEALTH_PIN_TAKEN,
    Patient,
)
from patients.selectors import patient_possible_duplicates

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
    "philhealth_pin",
)
# Fields stored as NULL (not "") when left empty.
NULLABLE_FIELDS = ("year_level", "birth_date", "philhealth_pin")


CONTACT_FIELDS = (
    "email",
    "phone",
    "address",
    "emergency_contact_name",
    "emergency_contact_phone",
    "emergency_contact_relation",
)


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


PHILHEALTH_PIN_INVALID = (
    "A PhilHealth PIN has 12 digits, as on the PhilHealth ID (for example 12-345678901-2)."
)


def philhealth_pin_clean(value: str | None) -> str | None:
    """A PhilHealth PIN as stored: its 12 digits, without the dashes or spaces it is often
    written with (``12-345678901-2``); ``None`` when left empty. Raises ``ValidationError``
    for anything else (letters, too few or too many digits)."""
    value = (value or "").strip()
    if not value:
        return None
    digits = value.replace("-", "").replace(" ", "")
    if len(digits) != 12 or not digits.isascii() or not digits.isdigit():
        raise ValidationError(PHILHEALTH_PIN_INVALID, code="invalid")
    return digits


def philhealth_pin_refuse_taken(pin: str | None, *, exclude_pk: int | None = None) -> None:
    """Raise ``ValidationError`` when another patient has ``pin`` (the database refuses it
    too: ``patients_patient_philhealth_pin_unique``)."""
    if not pin:
        return
    taken = Patient.objects.filter(philhealth_pin=pin)
    if exclude_pk:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise ValidationError(PHILHEALTH_PIN_TAKEN, code="unique")


def _philhealth_pin_field(value, *, exclude_pk: int | None = None) -> str | None:
    try:
        pin = philhealth_pin_clean(value)
        philhealth_pin_refuse_taken(pin, exclude_pk=exclude_pk)
    except ValidationError as exc:
        raise ValidationError({"philhealth_pin": exc.messages}) from exc
    return pin


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
    *, actor: User | None, data: dict, confirm_duplicate: bool = False, user=None
) -> Patient:
    """Create a patient from ``data`` (the registry fields).

    Raises ``ValidationError`` with code ``possible_duplicate`` when a patient with the same
    ID number, or the same name and birth date, exists and ``confirm_duplicate`` is false;
    an identical ID number (in any letter case) is always refused (the database enforces it
    too), and so is one with spaces or control characters inside (``id_number_clean``).
    """
    data = {**data, "id_number": _id_number_field(data["id_number"])}
    if "philhealth_pin" in data:
        data["philhealth_pin"] = _philhealth_pin_field(data["philhealth_pin"])
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
        if getattr(patient, key) is None and key not in NULLABLE_FIELDS:
            setattr(patient, key, "")
    patient.id_number = patient.id_number.strip()
    patient.refresh_search_text()
    _save_patient(patient)
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=patient,
        patient_id=patient.pk,
        detail={"duplicate_confirmed": bool(dupes)},
    )
    return patient


def _save_patient(patient: Patient) -> None:
    """Save, turning a unique ID-number or PhilHealth PIN violation (a race with another
    registration or edit) into a form error instead of a 500."""
    try:
        with transaction.atomic():
            patient.save()
    except IntegrityError as exc:
        diag = getattr(exc.__cause__, "diag", None)
        if getattr(diag, "constraint_name", "") == "patients_patient_philhealth_pin_unique":
            raise ValidationError({"philhealth_pin": PHILHEALTH_PIN_TAKEN}) from exc
        raise ValidationError({"id_number": ID_NUMBER_TAKEN}) from exc


IDENTITY_FIELDS = ("id_number", "first_name", "last_name", "birth_date")


@transaction.atomic
def patient_update(
    *, actor: User | None, patient: Patient, data: dict, confirm_duplicate: bool = False
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
    if "philhealth_pin" in data:
        data = {
            **data,
            "philhealth_pin": _philhealth_pin_field(data["philhealth_pin"], exclude_pk=patient.pk),
        }
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
            setattr(patient, key, "" if value is None and key not in NULLABLE_FIELDS else value)
    patient.refresh_search_text()
    _save_patient(patient)
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=patient,
        patient_id=patient.pk,
        detail={"fields": sorted(before), "duplicate_confirmed": bool(dupes)},
    )
    return patient


@transaction.atomic
def patient_contact_update(*, actor: User | None, patient: Patient, data: dict) -> Patient:
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
        action=AuditAction.UPDATE,
        obj=patient,
        patient_id=patient.pk,
        detail={"fields": [k for k in CONTACT_FIELDS if k in data], "via": "portal"},
    )
    return patient

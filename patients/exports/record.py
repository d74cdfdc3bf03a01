"""The record as every export shows it: one read with a fixed number of queries, and the
text helpers the CSV and PDF share."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch
from django.utils import timezone

from patients.models import (
    Patient,
    Visit,
    VisitAddendum,
    VitalSigns,
)
from patients.selectors import active_allergies


def record_data(patient: Patient) -> dict:
    """Everything an export shows, read with a fixed number of queries."""
    visits = list(
        Visit.objects.filter(patient=patient, status="signed")
        .select_related("provider")
        .prefetch_related(
            "diagnoses__icd10",
            "vitals",
            "prescriptions",
            Prefetch("addenda", queryset=VisitAddendum.objects.select_related("author")),
        )
        .order_by("-started_at")
    )
    return {
        "patient": patient,
        "allergies": active_allergies(patient),  # most severe first
        "history": list(patient.history_entries.all()),
        "medications": list(patient.medications.filter(is_active=True)),
        "immunizations": list(patient.immunizations.all()),
        "visits": visits,
    }


def _fmt_dt(value: datetime) -> str:
    return timezone.localtime(value).strftime("%a %-d %b %Y, %-I:%M %p")


def _local_day(value: datetime) -> str:
    return timezone.localtime(value).date().isoformat()


def _addendum_heading(ad: VisitAddendum) -> str:
    return f"Addendum {_fmt_dt(ad.created_at)} by {ad.author.full_name}"


def _vitals_text(vs: VitalSigns) -> str:
    parts = []
    if vs.temperature_c is not None:
        parts.append(f"T {vs.temperature_c} °C")
    if vs.blood_pressure:
        parts.append(f"BP {vs.blood_pressure}")
    if vs.pulse is not None:
        parts.append(f"HR {vs.pulse}")
    if vs.respiratory_rate is not None:
        parts.append(f"RR {vs.respiratory_rate}")
    if vs.spo2 is not None:
        parts.append(f"SpO2 {vs.spo2}%")
    if vs.height_cm is not None:
        parts.append(f"Ht {vs.height_cm} cm")
    if vs.weight_kg is not None:
        parts.append(f"Wt {vs.weight_kg} kg")
    if vs.bmi is not None:
        parts.append(f"BMI {vs.bmi}")
    return ", ".join(parts)

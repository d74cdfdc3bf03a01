"""The record as CSV: one row per fact, oldest first."""

from __future__ import annotations

from django.utils import timezone

from patients.exports.record import _addendum_heading, _local_day, _vitals_text, record_data
from patients.models import (
    Patient,
)
from uscpis.csvexport import csv_text


def record_csv(patient: Patient) -> bytes:
    """One row per fact: section, date, item, details (formula-safe, see uscpis.csvexport)."""
    text = csv_text(["section", "date", "item", "details"], _record_rows(patient))
    # Excel opens UTF-8 CSV correctly with a byte-order mark.
    return ("\ufeff" + text).encode("utf-8")


def _record_rows(patient: Patient):
    data = record_data(patient)
    p = patient
    yield (
        [
            "patient",
            p.birth_date.isoformat(),
            p.full_name,
            f"ID {p.id_number}; sex {p.get_sex_display()}; blood type {p.blood_type or 'unknown'}",
        ]
    )
    for a in data["allergies"]:
        yield (
            [
                "allergy",
                a.noted_on.isoformat(),
                a.substance,
                f"{a.get_severity_display()}; {a.reaction}",
            ]
        )
    for h in data["history"]:
        yield (["history", h.year or "", h.description, h.get_category_display()])
    for m in data["medications"]:
        yield (
            [
                "medication",
                m.started_on.isoformat() if m.started_on else "",
                m.name,
                f"{m.dose} {m.frequency}".strip(),
            ]
        )
    for i in data["immunizations"]:
        yield (
            [
                "immunization",
                i.given_on.isoformat(),
                i.vaccine,
                f"dose {i.dose_number}; lot {i.lot_number}",
            ]
        )
    for v in data["visits"]:
        day = timezone.localtime(v.started_at).date().isoformat()
        yield (["visit", day, v.get_kind_display(), v.chief_complaint])
        for d in v.diagnoses.all():
            yield (["diagnosis", day, d.icd10.code, d.icd10.title])
        for rx in v.prescriptions.all():
            yield (
                [
                    "prescription",
                    day,
                    rx.drug_name,
                    f"{rx.dose} {rx.get_route_display()} {rx.frequency} {rx.duration} x{rx.quantity}",
                ]
            )
        for vs in v.vitals.all():
            yield (["vitals", day, "vital signs", _vitals_text(vs)])
        for ad in v.addenda.all():
            yield (["addendum", _local_day(ad.created_at), _addendum_heading(ad), ad.text])

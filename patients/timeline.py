"""The chart's visit timeline, read as plain rows (a selector; ``patients.selectors`` keeps the
model-returning ``visit_timeline`` for the portal, the certificate page and the API).

A timeline row shows the visit's kind, status, date, provider and chief complaint, its
diagnoses, its latest vitals and how many prescriptions it has. Read as models that took four
queries and about 130 model instances for a page of twenty (every column of every vitals and
prescription row, the visit's SOAP notes, the ICD-10 search text); here it is one query that
returns only what the row shows, the diagnoses, latest vitals and prescription count computed
by PostgreSQL per visit of the page (the page is picked first, so an old page costs the same).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from django.db import connection

from patients.models import VisitKind, VisitStatus

_KIND_LABELS = dict(VisitKind.choices)


class TimelineRow(NamedTuple):
    id: int
    kind: str
    status: str
    started_at: datetime
    chief_complaint: str
    provider_first_name: str
    provider_last_name: str
    diagnosis_codes: list[str]  # primary first, then in the order recorded
    diagnosis_titles: list[str]
    has_vitals: bool
    temperature_c: Decimal | None  # of the latest vitals (None: no vitals, or not taken)
    systolic: int | None
    diastolic: int | None
    bmi: Decimal | None
    prescriptions: int

    @property
    def kind_label(self) -> str:
        return _KIND_LABELS.get(self.kind, self.kind)

    @property
    def is_signed(self) -> bool:
        return self.status == VisitStatus.SIGNED

    @property
    def provider_name(self) -> str:  # User.full_name
        return f"{self.provider_first_name} {self.provider_last_name}".strip()

    @property
    def blood_pressure(self) -> str:  # VitalSigns.blood_pressure
        return f"{self.systolic}/{self.diastolic}" if self.systolic and self.diastolic else ""


# The page of visits first (the timeline index: patient, -started_at, -id), then per visit:
# diagnoses in Diagnosis.Meta.ordering (primary first, then id), the latest vitals in
# VitalSigns.Meta.ordering (newest recorded_at; id breaks a tie), the prescription count.
_SQL = """
SELECT v.id, v.kind, v.status, v.started_at, v.chief_complaint, u.first_name, u.last_name,
       COALESCE(dx.codes, '{}'), COALESCE(dx.titles, '{}'),
       vs.id IS NOT NULL, vs.temperature_c, vs.systolic, vs.diastolic, vs.bmi,
       (SELECT count(*) FROM patients_prescription p WHERE p.visit_id = v.id)
FROM (
    SELECT id, kind, status, started_at, chief_complaint, provider_id
    FROM patients_visit
    WHERE patient_id = %s
    ORDER BY started_at DESC, id DESC
    LIMIT %s OFFSET %s
) v
JOIN accounts_user u ON u.id = v.provider_id
LEFT JOIN LATERAL (
    SELECT array_agg(c.code ORDER BY d.is_primary DESC, d.id) AS codes,
           array_agg(c.title ORDER BY d.is_primary DESC, d.id) AS titles
    FROM patients_diagnosis d JOIN patients_icd10code c ON c.code = d.icd10_id
    WHERE d.visit_id = v.id
) dx ON true
LEFT JOIN LATERAL (
    SELECT s.id, s.temperature_c, s.systolic, s.diastolic, s.bmi
    FROM patients_vitalsigns s
    WHERE s.visit_id = v.id
    ORDER BY s.recorded_at DESC, s.id DESC
    LIMIT 1
) vs ON true
ORDER BY v.started_at DESC, v.id DESC
"""


def visit_timeline_rows(patient_id: int, *, offset: int, limit: int) -> list[TimelineRow]:
    """Visits ``offset`` to ``offset + limit`` of the patient's timeline, newest first."""
    with connection.cursor() as cursor:
        cursor.execute(_SQL, [patient_id, limit, offset])
        return [TimelineRow(*row) for row in cursor.fetchall()]

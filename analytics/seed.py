"""Demo history for the analytics pages: a year of visits with diagnoses, vitals, dental
procedures, past appointments (with waits, no-shows and cancellations) and immunisations,
shaped by the academic calendar (semester breaks, exam weeks, the rainy season), plus one
dengue outbreak 8–12 days ago that the EARS detector must flag.

Everything is inserted with a few set-based statements (no ORM save per row), then the
rollups are rebuilt, signals detected and forecasts computed. Idempotent: skipped when the
history patients already exist.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from analytics.services.forecasts import forecasts_compute
from analytics.services.rollups import rollup_rebuild
from analytics.services.surveillance import signals_detect, syndromes_ensure_defaults
from appointments.models import Appointment, AppointmentType
from patients.models import Icd10Code, Patient, Visit

MARKER = "H0000001"
HISTORY_PATIENTS = 240
OUTBREAK_DAYS = range(12, 7, -1)  # days ago
COLLEGES = [
    "School of Engineering",
    "School of Business and Economics",
    "School of Health Care Professions",
    "School of Arts and Sciences",
    "School of Architecture, Fine Arts and Design",
    "School of Computer Science and Information Technology",
]
DEPARTMENTS = ["Finance Office", "Library", "Registrar", "Security Office"]
# 40 codes per season; common ones repeat (the index is a hash of the visit id).
DRY = (
    ["J06.9"] * 8
    + ["R51"] * 5
    + ["K30"] * 4
    + ["A09"] * 3
    + ["M54.5"] * 4
    + ["T78.4"] * 2
    + ["J02.9"] * 3
    + ["H10.9"] * 2
    + ["F41.1"] * 2
    + ["F32.9"]
    + ["R50.9"] * 2
    + ["L30.9"] * 2
    + ["N39.0"]
    + ["B01.9"]
)
RAINY = (
    ["J06.9"] * 10
    + ["R50.9"] * 3
    + ["J11.1"] * 3
    + ["A09"] * 5
    + ["A90"]
    + ["R51"] * 4
    + ["K30"] * 3
    + ["M54.5"] * 2
    + ["H10.9"] * 2
    + ["F41.1"] * 2
    + ["J02.9"] * 2
    + ["A01.0"]
    + ["T78.4"]
    + ["L30.9"]
)
TITLES = {"A90": "Dengue fever [classical dengue]", "A01.0": "Typhoid fever"}
VACCINES = [("Hepatitis B", 80), ("Influenza", 45), ("MMR", 70), ("COVID-19", 90), ("Tetanus", 50)]


def _load(day: date, rng: random.Random) -> int:
    """Visits expected on ``day`` at a campus clinic."""
    if day.weekday() == 6:
        return 0
    base = 22 if day.weekday() < 5 else 8
    factor = 1.0
    if day.month in (6, 7):
        factor = 0.45  # semester break
    elif (day.month == 12 and day.day >= 20) or (day.month == 1 and day.day <= 5):
        factor = 0.2  # Christmas break
    elif day.month in (8, 9):
        factor = 1.25  # enrolment, first-semester start
    elif (day.month == 10 and 10 <= day.day <= 20) or (day.month == 3 and 10 <= day.day <= 20):
        factor = 1.35  # exam weeks
    return max(0, round(base * factor * rng.uniform(0.8, 1.2)))


VISITS_SQL = """
INSERT INTO patients_visit (patient_id, kind, provider_id, status, appointment_ref, started_at,
    chief_complaint, subjective, objective, assessment, plan, follow_up, follow_up_on,
    treatment_performed, treatment_planned, signed_at, signed_by_id, created_at, updated_at)
SELECT pat, kind, prov, CASE WHEN draft THEN 'draft' ELSE 'signed' END, '', ts,
    CASE WHEN kind = 'dental' THEN 'Dental check-up' ELSE 'Consultation' END,
    '', '', '', '', CASE WHEN n %% 4 = 0 THEN 'Return in 2 weeks' ELSE '' END,
    CASE WHEN n %% 4 = 0 THEN (ts AT TIME ZONE %(tz)s)::date + 14 END, '', '',
    CASE WHEN draft THEN NULL ELSE ts + interval '35 minutes' END,
    CASE WHEN draft THEN NULL ELSE prov END, ts, ts
FROM (
    SELECT r.n,
        %(patients)s::bigint[] AS pats,
        (%(patients)s::bigint[])[1 + ((r.n * 7919 + r.k * 131) %% %(npat)s)] AS pat,
        CASE WHEN r.k %% 6 = 0 THEN 'dental' ELSE 'medical' END AS kind,
        CASE WHEN r.k %% 6 = 0 THEN %(dentist)s WHEN r.k %% 2 = 1 THEN %(doctor)s
             ELSE %(nurse)s END AS prov,
        ((r.day + time '08:00' + (r.k - 1) * interval '17 minutes') AT TIME ZONE %(tz)s) AS ts,
        (r.day >= %(today)s::date - 3 AND r.k %% 5 = 0) AS draft
    FROM (
        SELECT d.day, k, row_number() OVER () AS n
        FROM unnest(%(days)s::date[], %(loads)s::int[]) AS d(day, load),
             generate_series(1, d.load) AS k
    ) AS r
) AS v
"""

DIAGNOSES_SQL = """
INSERT INTO patients_diagnosis (visit_id, icd10_id, is_primary, note)
SELECT v.id,
    CASE
        WHEN v.kind = 'dental' THEN 'K02.1'
        WHEN p.patient_type = 'employee' AND v.id %% 3 = 0 THEN 'I10'
        WHEN extract(month FROM v.started_at AT TIME ZONE %(tz)s) BETWEEN 6 AND 11
            THEN (%(rainy)s::text[])[1 + (v.id * 2654435761 %% 40)]
        ELSE (%(dry)s::text[])[1 + (v.id * 2654435761 %% 40)]
    END,
    TRUE, ''
FROM patients_visit v JOIN patients_patient p ON p.id = v.patient_id
WHERE v.id > %(after)s
  AND (v.status = 'signed' OR v.id %% 2 = 0)  -- some drafts still lack a diagnosis
"""

VITALS_SQL = """
INSERT INTO patients_vitalsigns (visit_id, recorded_at, recorded_by_id, temperature_c, systolic,
    diastolic, pulse, respiratory_rate, spo2, height_cm, weight_kg, bmi)
SELECT v.id, v.started_at, %(nurse)s, 36.5 + (v.id %% 20) / 10.0,
    sys, 60 + (v.id * 13 %% 32), 64 + (v.id %% 30), 16, 97, h, w, round(w / ((h / 100) ^ 2), 1)
FROM (
    SELECT v.*, (150 + (v.id * 31 %% 35))::numeric AS h, (45 + (v.id * 17 %% 45))::numeric AS w,
        CASE WHEN p.patient_type = 'employee' THEN 112 + (v.id * 37 %% 48)
             ELSE 100 + (v.id * 37 %% 30) END AS sys
    FROM patients_visit v JOIN patients_patient p ON p.id = v.patient_id
    WHERE v.id > %(after)s AND v.kind = 'medical'
) AS v
"""

TEETH_SQL = """
INSERT INTO patients_toothrecord (visit_id, tooth, condition, surfaces, procedure,
    procedure_status, notes)
SELECT v.id, t.tooth, t.condition, '', t.procedure, 'performed', ''
FROM patients_visit v
CROSS JOIN LATERAL (VALUES
    (36, 'filled', CASE WHEN v.id %% 3 = 0 THEN 'filling' ELSE 'prophylaxis' END),
    (46, CASE WHEN v.id %% 4 = 0 THEN 'extraction_needed' ELSE 'healthy' END,
         CASE WHEN v.id %% 4 = 0 THEN 'extraction' WHEN v.id %% 5 = 0 THEN 'sealant'
              ELSE 'exam' END)
) AS t(tooth, condition, procedure)
WHERE v.id > %(after)s AND v.kind = 'dental'
"""

# Appointments for the seeded visits before the appointments demo's own range: completed,
# with a check-in wait and the consultation; plus no-shows and cancellations.
APPOINTMENTS_SQL = """
INSERT INTO appointments_appointment (patient_id, provider_id, appointment_type_id, start, "end",
    end_with_buffer, status, source, reason, cancel_reason, visit_ref, sequence, created_at,
    updated_at, checked_in_at, consultation_started_at, completed_at, visit_id)
SELECT v.patient_id, pp.id, CASE WHEN v.kind = 'dental' THEN %(dental_type)s ELSE %(medical_type)s END,
    v.started_at, v.started_at + interval '15 minutes', v.started_at + interval '15 minutes',
    'completed', CASE WHEN v.id %% 5 = 0 THEN 'walk_in' ELSE 'online' END, '', '', '', 0,
    v.started_at - interval '3 days', v.started_at,
    v.started_at - (5 + v.id %% 25) * interval '1 minute', v.started_at,
    v.started_at + (10 + v.id %% 15) * interval '1 minute', v.id
FROM patients_visit v JOIN appointments_providerprofile pp ON pp.user_id = v.provider_id
WHERE v.id > %(after)s AND v.started_at < %(before)s
UNION ALL
SELECT v.patient_id, pp.id, %(medical_type)s, v.started_at + interval '9 hours',
    v.started_at + interval '9 hours 15 minutes', v.started_at + interval '9 hours 15 minutes',
    CASE WHEN v.id %% 2 = 0 THEN 'no_show' ELSE 'cancelled' END, 'online', '', '', '', 0,
    v.started_at - interval '5 days', v.started_at, NULL, NULL, NULL, NULL
FROM patients_visit v JOIN appointments_providerprofile pp ON pp.user_id = v.provider_id
WHERE v.id > %(after)s AND v.started_at < %(before)s AND v.id %% 9 = 0
"""

IMMUNIZATIONS_SQL = """
INSERT INTO patients_immunization (patient_id, vaccine, dose_number, given_on, lot_number, notes)
SELECT p.id, %(vaccine)s, 1, %(today)s::date - (p.id * 53 %% 900)::int, '', ''
FROM patients_patient p
WHERE p.id = ANY(%(patients)s::bigint[]) AND (p.id * 7 + %(salt)s) %% 100 < %(pct)s
"""


def _history_patients(rng: random.Random) -> list[int]:

    rows = []
    for i in range(1, HISTORY_PATIENTS + 1):
        student = i % 6 != 0
        p = Patient(
            id_number=f"H{i:07d}",
            first_name=rng.choice(["Ana", "Ben", "Carla", "Dan", "Ella", "Gio", "Ina", "Jun"]),
            last_name=rng.choice(["Santos", "Reyes", "Cruz", "Tan", "Lim", "Uy", "Ramos"]),
            sex="F" if i % 2 else "M",
            birth_date=date(2001 if student else 1970, 1, 1)
            + timedelta(days=rng.randint(0, 2900 if student else 9000)),
            patient_type="student" if student else "employee",
            college=COLLEGES[i % len(COLLEGES)] if student else "",
            course="",
            year_level=1 + i % 4 if student else None,
            department="" if student else DEPARTMENTS[i % len(DEPARTMENTS)],
        )
        p.refresh_search_text()
        rows.append(p)
    Patient.objects.bulk_create(rows)
    return list(Patient.objects.filter(id_number__startswith="H").values_list("id", flat=True))


@transaction.atomic
def _insert_history(stdout) -> bool:

    if Patient.objects.filter(id_number=MARKER).exists():
        stdout.write("  analytics: history already present")
        return False
    staff = {
        u.email: u.pk
        for u in User.objects.filter(
            email__in=["doctor@usc.edu.ph", "dentist@usc.edu.ph", "nurse@usc.edu.ph"]
        )
    }
    if len(staff) < 3:
        stdout.write("  analytics: demo staff missing, skipped")
        return False
    for code in {*DRY, *RAINY, "K02.1", "I10", "A90"}:
        Icd10Code.objects.get_or_create(code=code, defaults={"title": TITLES.get(code, code)})
    rng = random.Random(20261205)
    today = timezone.localdate()
    patients = _history_patients(rng)
    days, loads = [], []
    for back in range(365, 0, -1):
        day = today - timedelta(days=back)
        days.append(day)
        loads.append(_load(day, rng))
    tz = settings.TIME_ZONE
    after = Visit.objects.order_by("-id").values_list("id", flat=True).first() or 0
    first_appt = Appointment.objects.order_by("start").values_list("start", flat=True).first()
    before = first_appt - timedelta(days=1) if first_appt else timezone.now()
    types = dict(AppointmentType.objects.values_list("visit_kind", "id").order_by("-id"))
    common = {
        "tz": tz,
        "today": today,
        "patients": patients,
        "npat": len(patients),
        "doctor": staff["doctor@usc.edu.ph"],
        "dentist": staff["dentist@usc.edu.ph"],
        "nurse": staff["nurse@usc.edu.ph"],
        "after": after,
        "rainy": RAINY,
        "dry": DRY,
        "before": before,
        "medical_type": types.get("medical"),
        "dental_type": types.get("dental"),
    }
    with connection.cursor() as cursor:
        cursor.execute(VISITS_SQL, {**common, "days": days, "loads": loads})
        cursor.execute(DIAGNOSES_SQL, common)
        # The outbreak: dengue cases on top of the usual load, 12 to 8 days ago.
        outbreak_after = Visit.objects.order_by("-id").values_list("id", flat=True).first()
        cursor.execute(
            VISITS_SQL,
            {
                **common,
                "days": [today - timedelta(days=d) for d in OUTBREAK_DAYS],
                "loads": [5, 7, 9, 8, 6],
            },
        )
        cursor.execute(
            "INSERT INTO patients_diagnosis (visit_id, icd10_id, is_primary, note) "
            "SELECT id, 'A90', TRUE, '' FROM patients_visit WHERE id > %s",
            [outbreak_after],
        )
        cursor.execute(VITALS_SQL, common)
        cursor.execute(TEETH_SQL, common)
        if common["medical_type"] and common["dental_type"]:
            cursor.execute(APPOINTMENTS_SQL, common)
        for salt, (vaccine, pct) in enumerate(VACCINES):
            cursor.execute(
                IMMUNIZATIONS_SQL,
                {
                    "vaccine": vaccine,
                    "pct": pct,
                    "salt": salt * 17,
                    "today": today,
                    "patients": patients,
                },
            )
    stdout.write(
        f"  analytics: {sum(loads) + 35:,} history visits over a year, one dengue outbreak"
    )
    return True


def run(*, stdout) -> None:

    syndromes_ensure_defaults()
    if not _insert_history(stdout):
        return
    today = timezone.localdate()
    rollup_rebuild(since=today - timedelta(days=370), until=today)
    signals_detect(today=today)
    forecasts_compute(today=today)
    stdout.write("  analytics: rollups, signals and forecasts computed")

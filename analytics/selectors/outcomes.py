"""Clinical outcome figures (follow-ups, blood-pressure control, BMI, immunisation
coverage), live over the clinical tables and honouring the dashboard filters."""

from __future__ import annotations

from django.db import connection

from analytics.charts import bar_chart
from analytics.selectors.common import (
    Filters,
    filter_params,
    patient_where,
    pct,
    suppress,
)
from patients.models import (
    PatientType,
)

# Which filters each outcome cannot use, and why (shown next to the figure).
OUTCOME_FILTER_NOTES = {
    "followups": "",
    "hypertension": "",
    "bmi": "",
    "immunisation": (
        "Provider filter does not apply (immunisations are recorded without a provider); "
        "the period's start does not apply either: coverage counts doses given on or before "
        "its end."
    ),
    "dental": "",
}


def outcomes(f: Filters, user) -> dict:
    """Follow-up completion, blood-pressure control, BMI bands and immunisation coverage,
    honouring the filters (live queries over the clinical tables, each narrowed by an
    index to the period or to a small set of patients):

    * follow-ups: visits whose follow-up fell due in the period (and before today), by the
      visit's provider and the patient's group at the visit; kept = the patient came back
      from the visit until 14 days after the due date;
    * hypertension: patients with a hypertensive disease (I10–I15) diagnosed by the
      period's end who were seen in the period (by the provider), by their last blood
      pressure in the period; age band at the period's end;
    * BMI: patients seen in the period (by the provider), their latest BMI in it;
    * immunisation: the population chosen by the patient filters (students unless a patient
      type is chosen), share with at least one dose given by the period's end.
    """

    params = filter_params(f)
    provider = "AND v.provider_id = %(provider)s" if f.provider_id else ""
    at_visit = patient_where(f, age_on="(v.started_at AT TIME ZONE %(tz)s)::date")
    at_end = patient_where(f, age_on="%(to)s::date")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT COUNT(*),
                   COUNT(*) FILTER (WHERE EXISTS (
                       SELECT 1 FROM patients_visit n
                       WHERE n.patient_id = v.patient_id AND n.id <> v.id
                         AND n.started_at >= v.started_at
                         AND n.started_at < v.follow_up_on + 15))
            FROM patients_visit v JOIN patients_patient p ON p.id = v.patient_id
            WHERE v.follow_up_on >= %(from)s AND v.follow_up_on <= %(to)s
              AND v.follow_up_on < %(today)s {provider} AND {at_visit}
            """,  # noqa: S608 (constant fragments; values are parameters)
            params,
        )
        due, kept = cursor.fetchone()
        cursor.execute(
            f"""
            WITH hyper AS (
                SELECT DISTINCT v.patient_id FROM patients_diagnosis d
                JOIN patients_visit v ON v.id = d.visit_id
                WHERE d.icd10_id >= 'I10' AND d.icd10_id < 'I16' AND v.started_at < %(hi)s
            ), seen AS (
                SELECT DISTINCT v.patient_id FROM hyper h
                JOIN patients_visit v ON v.patient_id = h.patient_id
                JOIN patients_patient p ON p.id = v.patient_id
                WHERE v.started_at >= %(lo)s AND v.started_at < %(hi)s {provider} AND {at_end}
            ), last_bp AS (
                SELECT DISTINCT ON (v.patient_id) v.patient_id, s.systolic, s.diastolic
                FROM seen JOIN patients_visit v ON v.patient_id = seen.patient_id
                JOIN patients_vitalsigns s ON s.visit_id = v.id
                WHERE s.systolic IS NOT NULL AND s.diastolic IS NOT NULL
                  AND s.recorded_at >= %(lo)s AND s.recorded_at < %(hi)s
                ORDER BY v.patient_id, s.recorded_at DESC
            )
            SELECT (SELECT COUNT(*) FROM seen), COUNT(*),
                   COUNT(*) FILTER (WHERE systolic < 140 AND diastolic < 90)
            FROM last_bp
            """,  # noqa: S608
            params,
        )
        hypertensive, measured, controlled = cursor.fetchone()
        cursor.execute(
            f"""
            SELECT band, COUNT(*) FROM (
                SELECT DISTINCT ON (v.patient_id) CASE
                    WHEN s.bmi < 18.5 THEN '1 Underweight (<18.5)'
                    WHEN s.bmi < 25 THEN '2 Normal (18.5–24.9)'
                    WHEN s.bmi < 30 THEN '3 Overweight (25–29.9)'
                    ELSE '4 Obese (≥30)' END AS band
                FROM patients_vitalsigns s JOIN patients_visit v ON v.id = s.visit_id
                JOIN patients_patient p ON p.id = v.patient_id
                WHERE s.bmi IS NOT NULL AND v.started_at >= %(lo)s AND v.started_at < %(hi)s
                  -- True of every joined row; it ends a merge join on visit id at the last
                  -- visit with vitals even when the filtered patients have no visit after
                  -- it (without it, a selective filter walked every visit: 30 ms).
                  AND v.id <= (SELECT MAX(visit_id) FROM patients_vitalsigns)
                  {provider} AND {at_end}
                ORDER BY v.patient_id, s.recorded_at DESC
            ) AS latest GROUP BY band ORDER BY band
            """,  # noqa: S608
            params,
        )
        bmi = [(band[2:], n) for band, n in cursor.fetchall()]
        population = dict(params, patient_type=f.patient_type or "student")
        population_where = patient_where(
            Filters(
                f.date_from, f.date_to, None, population["patient_type"], f.unit, f.sex, f.age_band
            ),
            age_on="%(to)s::date",
        )
        if f.date_to >= params["today"]:
            population_where += " AND TRUE"  # everyone registered so far (index-only count)
        else:
            population_where += " AND p.created_at < %(hi)s"
        cursor.execute(
            f"""
            SELECT i.vaccine, COUNT(DISTINCT i.patient_id)
            FROM patients_immunization i JOIN patients_patient p ON p.id = i.patient_id
            WHERE i.given_on <= %(to)s AND {population_where}
            GROUP BY i.vaccine ORDER BY 2 DESC, 1
            """,  # noqa: S608
            population,
        )
        vaccines = cursor.fetchall()
        cursor.execute(
            f"""SELECT COUNT(*) FROM patients_patient p WHERE {population_where}""",  # noqa: S608
            population,
        )
        people = cursor.fetchone()[0]

    group = str(dict(PatientType.choices).get(population["patient_type"], "patients")).lower()
    group = group if group.endswith("s") else group + "s"
    ident = f.demographic
    coverage = [(v, pct(n, people) or 0.0) for v, n in vaccines]
    return {
        "followups_due": suppress(due, user=user, identifying=ident),
        "followups_kept": suppress(kept, user=user, identifying=ident),
        "followup_rate": pct(kept, due),
        "hypertensive": suppress(hypertensive, user=user),
        "bp_measured": suppress(measured, user=user),
        "bp_controlled": suppress(controlled, user=user),
        "bp_control_rate": pct(controlled, measured),
        "notes": OUTCOME_FILTER_NOTES,
        "population": people,
        "population_label": group,
        "charts": [
            bar_chart(
                "bmi-bands",
                "BMI of patients seen (latest measurement in the period)",
                [(band, suppress(n, user=user)) for band, n in bmi],
                header=["BMI band", "Patients"],
                note="Every filter applies: patients seen in the period (by the provider), "
                "age band at the period's end.",
            ),
            bar_chart(
                "immunisation-coverage",
                f"Immunisation coverage of {group} (of {people:,}) by {f.date_to:%d %b %Y}",
                coverage,
                header=["Vaccine", f"{group.capitalize()} with ≥1 dose (%)"],
                unit="%",
                note=OUTCOME_FILTER_NOTES["immunisation"],
            ),
        ],
    }

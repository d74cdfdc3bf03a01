"""Reads for the diagnoses page: ICD-10 codes, chapters, units and dental procedures
from the diagnosis rollup (monthly rows plus the daily rows of part months)."""

from __future__ import annotations

from django.db import connection

from analytics.charts import Chart, bar_chart
from analytics.selectors.common import (
    Filters,
    filter_params,
    patient_where,
    suppress,
)
from analytics.selectors.months import split_range
from patients.models import (
    Icd10Code,
    ToothRecord,
)

# --- ICD-10 chapters ---------------------------------------------------------------------

CHAPTERS = [
    ("A00", "B99", "I", "Infectious and parasitic"),
    ("C00", "D48", "II", "Neoplasms"),
    ("D50", "D89", "III", "Blood and immune"),
    ("E00", "E90", "IV", "Endocrine and metabolic"),
    ("F00", "F99", "V", "Mental and behavioural"),
    ("G00", "G99", "VI", "Nervous system"),
    ("H00", "H59", "VII", "Eye"),
    ("H60", "H95", "VIII", "Ear"),
    ("I00", "I99", "IX", "Circulatory"),
    ("J00", "J99", "X", "Respiratory"),
    ("K00", "K93", "XI", "Digestive (incl. dental)"),
    ("L00", "L99", "XII", "Skin"),
    ("M00", "M99", "XIII", "Musculoskeletal"),
    ("N00", "N99", "XIV", "Genitourinary"),
    ("O00", "O99", "XV", "Pregnancy"),
    ("P00", "P96", "XVI", "Perinatal"),
    ("Q00", "Q99", "XVII", "Congenital"),
    ("R00", "R99", "XVIII", "Symptoms and signs"),
    ("S00", "T98", "XIX", "Injury and poisoning"),
    ("V01", "Y98", "XX", "External causes"),
    ("Z00", "Z99", "XXI", "Health services contact"),
    ("U00", "U99", "XXII", "Special purposes"),
]


def chapter_of(code: str) -> str:
    key = code[:3]
    for lo, hi, number, name in CHAPTERS:
        if lo <= key <= hi:
            return f"{number} {name}"
    return "Other"


def code_counts(f: Filters) -> list[tuple[str, int]]:
    """Diagnoses per ICD-10 code in the filtered period, most frequent first, then by
    code (one read of the rollup serves the top codes and the chapters)."""
    return diagnosis_counts(f)[0]


# The top codes (and chapters) and the split by unit from one read of the rollup's rows
# in the period (two GROUP BYs over the same rows read them twice): the monthly rows of the
# months covered plus (minus) daily rows at the ends (``analytics.selectors.months``).
DIAGNOSIS_COUNTS_SQL = """
SELECT GROUPING(icd10_code) = 0, CASE WHEN GROUPING(icd10_code) = 0 THEN icd10_code
    ELSE unit END, SUM(n)
FROM (
    SELECT icd10_code, unit, diagnoses AS n FROM analytics_diagnosismonthfact
    WHERE month = ANY(%(months)s::date[]) AND {where}
    UNION ALL
    SELECT icd10_code, unit, diagnoses FROM analytics_diagnosisfact
    WHERE day = ANY(%(plus)s::date[]) AND {where}
    UNION ALL
    SELECT icd10_code, unit, -diagnoses FROM analytics_diagnosisfact
    WHERE day = ANY(%(minus)s::date[]) AND {where}
) AS cells
GROUP BY GROUPING SETS ((icd10_code), (unit))
HAVING SUM(n) > 0
"""


def diagnosis_counts(f: Filters) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """``code_counts(f)`` and the diagnoses per unit (most first, then by name), in one
    query."""
    params = {**split_range(f.date_from, f.date_to).params, "provider_id": f.provider_id}
    where = ["TRUE"]
    if f.provider_id:
        where.append("provider_id = %(provider_id)s")
    for name in ("patient_type", "unit", "sex", "age_band"):
        if getattr(f, name):
            where.append(f"{name} = %({name})s")
            params[name] = getattr(f, name)
    codes, units = [], []
    with connection.cursor() as cursor:
        cursor.execute(DIAGNOSIS_COUNTS_SQL.format(where=" AND ".join(where)), params)
        for is_code, key, n in cursor.fetchall():
            (codes if is_code else units).append((key, n))
    codes.sort(key=lambda kv: (-kv[1], kv[0]))
    units.sort(key=lambda kv: (-kv[1], kv[0]))
    return codes, units


def diagnosis_rows(f: Filters, *, limit: int = 15, counts=None) -> list[dict]:

    counts = code_counts(f) if counts is None else counts
    rows = [{"icd10_code": code, "n": n} for code, n in counts[:limit]]
    titles = dict(
        Icd10Code.objects.filter(code__in=[r["icd10_code"] for r in rows]).values_list(
            "code", "title"
        )
    )
    for r in rows:
        r["title"] = titles.get(r["icd10_code"], "")
    return rows


def diagnoses_charts(f: Filters, user, *, top=None, counts=None, by_unit=None) -> list[Chart]:
    """``counts`` and ``by_unit`` as ``diagnosis_counts(f)`` returns them (read if not
    given)."""

    ident = f.demographic
    if counts is None or by_unit is None:
        counts, by_unit = diagnosis_counts(f)
    top = diagnosis_rows(f, counts=counts) if top is None else top
    charts = [
        bar_chart(
            "top-diagnoses",
            "Top ICD-10 diagnoses",
            [
                (f"{r['icd10_code']} {r['title']}", suppress(r["n"], user=user, identifying=ident))
                for r in top
            ],
            header=["Diagnosis", "Count"],
        )
    ]
    chapters: dict[str, int] = {}
    for code, n in counts:
        chapter = chapter_of(code)
        chapters[chapter] = chapters.get(chapter, 0) + n
    charts.append(
        bar_chart(
            "diagnosis-chapters",
            "Diagnoses by ICD-10 chapter",
            [
                (name, suppress(n, user=user, identifying=ident))
                for name, n in sorted(chapters.items(), key=lambda kv: -kv[1])
            ],
            header=["Chapter", "Count"],
        )
    )
    charts.append(
        bar_chart(
            "diagnoses-by-unit",
            "Diagnoses by college / department",
            [(unit or "(none)", suppress(n, user=user)) for unit, n in by_unit],
            header=["College / department", "Diagnoses"],
        )
    )

    provider = "AND v.provider_id = %(provider)s" if f.provider_id else ""
    where = patient_where(f, age_on="(v.started_at AT TIME ZONE %(tz)s)::date")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT t.procedure, COUNT(*) FROM patients_toothrecord t
            JOIN patients_visit v ON v.id = t.visit_id
            JOIN patients_patient p ON p.id = v.patient_id
            WHERE v.started_at >= %(lo)s AND v.started_at < %(hi)s
              AND t.procedure_status = 'performed' AND t.procedure <> ''
              {provider} AND {where}
            GROUP BY 1 ORDER BY 2 DESC, 1
            """,  # noqa: S608 (constant fragments; values are parameters)
            filter_params(f),
        )
        procedures = [{"procedure": proc, "n": n} for proc, n in cursor.fetchall()]
    labels = dict(ToothRecord._meta.get_field("procedure").choices)
    charts.append(
        bar_chart(
            "dental-procedures",
            "Dental procedures performed",
            [
                (
                    str(labels.get(r["procedure"], r["procedure"])),
                    suppress(r["n"], user=user, identifying=ident),
                )
                for r in procedures
            ],
            header=["Procedure", "Performed"],
            note="Every filter applies (age band at the visit).",
        )
    )
    return charts

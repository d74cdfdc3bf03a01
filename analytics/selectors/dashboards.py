"""Reads for the analytics pages: rollups first, a few small live queries (today's queue,
certificates, stock alerts, outcomes), and the privacy rule for small counts.

Privacy: a viewer without clinical access (``patients.view_clinical``) sees diagnosis and
outcome counts between 1 and 4 as "<5" wherever the cell is narrowed to a group of people
(a demographic filter or breakdown), because such a cell can point at a person.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, F, Max, Min, Q, Sum
from django.utils import timezone

from accounts.models import User
from accounts.roles import PROVIDER_ROLES, Role, user_has_perm
from analytics.charts import SUPPRESSED, Chart, bar_chart, line_chart
from analytics.epi import epi_week, epi_week_start
from analytics.models import AGE_BANDS, QualityFact, RollupDay, VisitFact
from analytics.selectors import stock
from analytics.selectors.months import split_range
from analytics.selectors.visit_days import VisitDays, visit_days
from analytics.services.rollups import UNIT_SQL, age_band_sql, day_bounds
from appointments.models import Appointment, AppointmentStatus, ProviderProfile
from appointments.slots import local_day_bounds, working_time
from inventory.models import Item, LotStatus, MovementKind, StockLot, StockMovement
from patients.models import (
    CertificateStatus,
    Icd10Code,
    MedicalCertificate,
    PatientType,
    ToothRecord,
    Visit,
    VisitStatus,
)

YEAR = timedelta(days=364)  # 52 weeks: the same weekday last year


@dataclass
class Filters:
    date_from: date
    date_to: date
    provider_id: int | None = None
    patient_type: str = ""
    unit: str = ""
    sex: str = ""
    age_band: str = ""

    @property
    def demographic(self) -> bool:
        return bool(self.patient_type or self.unit or self.sex or self.age_band)

    def q(self, *, shift: timedelta = timedelta(0)) -> Q:
        q = Q(day__gte=self.date_from - shift, day__lte=self.date_to - shift)
        if self.provider_id:
            q &= Q(provider_id=self.provider_id)
        for name in ("patient_type", "unit", "sex", "age_band"):
            if getattr(self, name):
                q &= Q(**{name: getattr(self, name)})
        return q

    def describe(self) -> str:
        parts = [f"{self.date_from:%d %b %Y} – {self.date_to:%d %b %Y}"]
        for label, value in (
            ("patient type", self.patient_type),
            ("college/department", self.unit),
            ("sex", self.sex),
            ("age", self.age_band),
        ):
            if value:
                parts.append(f"{label}: {value}")
        if self.provider_id:
            parts.append(f"provider #{self.provider_id}")
        return "; ".join(parts)


def is_clinical(user) -> bool:
    return user_has_perm(user, "patients.view_clinical")


def suppress(value, *, user, identifying: bool = True):
    """``value`` as ``user`` may see it: 1–4 become "<5" for non-clinical viewers."""
    if identifying and not is_clinical(user) and isinstance(value, int) and 0 < value < 5:
        return SUPPRESSED
    return value


def pct(part, whole) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def as_of() -> timezone.datetime | None:
    return (
        RollupDay.objects.order_by("-refreshed_at").values_list("refreshed_at", flat=True).first()
    )


# --- Overview ---------------------------------------------------------------------------


@dataclass
class Kpi:
    label: str
    value: object
    detail: str = ""
    tone: str = "neutral"


def _change(now: int, before: int) -> tuple[str, str]:
    if not before:
        return "no visits the same period last year", "neutral"
    change = pct(now - before, before)
    return f"{change:+.0f}% vs {before:,} last year", "good" if change >= 0 else "warn"


def overview_days(f: Filters) -> VisitDays:
    """The visit rollup's day totals the overview shows (its KPIs and weekly chart), read in
    one statement: the period, today, this week, and each of them last year."""
    today = timezone.localdate()
    ranges = [(f.date_from, f.date_to), (epi_week_start(today), today)]
    return visit_days(f, ranges + [(a - YEAR, b - YEAR) for a, b in ranges])


def overview(f: Filters, *, days: VisitDays | None = None) -> list[Kpi]:
    """The headline figures. Visits today and this week come from today's rollup (refreshed
    every few minutes); waiting now and the median wait are live from today's queue.
    ``days``: ``overview_days(f)`` if the caller has read it already."""

    today = timezone.localdate()
    week_start = epi_week_start(today)
    days = days or overview_days(f)
    today_n = days.total(today, today)
    today_ly = days.total(today - YEAR, today - YEAR)
    week_n = days.total(week_start, today)
    week_ly = days.total(week_start - YEAR, today - YEAR)
    kpis = [
        Kpi("Visits today", today_n, *_change(today_n, today_ly)),
        Kpi("Visits this week", week_n, *_change(week_n, week_ly)),
    ]
    start, end = local_day_bounds(today)
    queue = Appointment.objects.filter(start__gte=start, start__lt=end)
    if f.provider_id:
        queue = queue.filter(provider__user_id=f.provider_id)
    # One read: the checked-in (waiting) and the seen (both times set) of today's queue.
    rows = queue.filter(
        Q(status=AppointmentStatus.CHECKED_IN)
        | Q(checked_in_at__isnull=False, consultation_started_at__isnull=False)
    ).values_list("status", "checked_in_at", "consultation_started_at")
    waiting = 0
    waits = []
    for status, c, s in rows:
        waiting += status == AppointmentStatus.CHECKED_IN
        if c is not None and s is not None:
            waits.append((s - c).total_seconds() / 60)
    median_wait = round(statistics.median(waits)) if waits else None
    kpis.append(
        Kpi(
            "Waiting now",
            waiting,
            f"median wait today {median_wait} min"
            if median_wait is not None
            else "no one seen yet today",
            "warn" if waiting > 5 else "neutral",
        )
    )
    totals = {
        name: days.total(f.date_from, f.date_to, measure)
        for name, measure in (
            ("completed", "completed"),
            ("no_shows", "no_shows"),
            ("booked", "booked_minutes"),
        )
    }
    rate = pct(totals["no_shows"] or 0, (totals["completed"] or 0) + (totals["no_shows"] or 0))
    kpis.append(
        Kpi(
            "No-show rate",
            f"{rate}%" if rate is not None else "—",
            f"{totals['no_shows'] or 0:,} no-shows in the period",
            "bad" if rate and rate > 15 else "neutral",
        )
    )
    available = available_minutes(f)
    util = pct(totals["booked"] or 0, sum(available.values()))
    kpis.append(
        Kpi(
            "Provider utilisation",
            f"{util}%" if util is not None else "—",
            "booked ÷ scheduled hours in the period",
        )
    )
    pending = MedicalCertificate.objects.filter(status=CertificateStatus.PENDING).count()
    decided = MedicalCertificate.objects.filter(
        decided_at__isnull=False,
        created_at__date__gte=f.date_from,
        created_at__date__lte=f.date_to,
    ).values_list("created_at", "decided_at")
    hours = [(d - c).total_seconds() / 3600 for c, d in decided]
    turnaround = (
        f"median turnaround {statistics.median(hours):.1f} h"
        if hours
        else "none decided in the period"
    )
    kpis.append(
        Kpi("Certificates pending", pending, turnaround, "warn" if pending > 10 else "neutral")
    )
    low = Item.objects.filter(is_active=True, stock_available__lte=F("reorder_point")).count()
    expiring = (
        StockLot.objects.filter(
            status=LotStatus.AVAILABLE,
            quantity__gt=0,
            expiry_date__isnull=False,
            expiry_date__lte=today + timedelta(days=60),
        )
        .values("item_id")
        .distinct()
        .count()
    )
    kpis.append(
        Kpi(
            "Low-stock items",
            low,
            f"{expiring} item(s) with lots expiring within 60 days",
            "bad" if low else "good",
        )
    )
    return kpis


def available_minutes(f: Filters) -> dict[int, int]:
    """Scheduled minutes per provider user in the period (from the weekly availability)."""

    profiles = ProviderProfile.objects.filter(is_active=True)
    if f.provider_id:
        profiles = profiles.filter(user_id=f.provider_id)
    by_profile = dict(profiles.values_list("id", "user_id"))
    window = (
        local_day_bounds(f.date_from)[0],
        local_day_bounds(min(f.date_to, timezone.localdate()))[1],
    )
    working = working_time(list(by_profile), window)
    return {
        by_profile[pid]: sum(int((e - s).total_seconds() // 60) for s, e in intervals)
        for pid, intervals in working.items()
    }


# --- Visits and trends -------------------------------------------------------------------


def _weekly(per_day: dict[date, int], shift: timedelta = timedelta(0)) -> dict[date, int]:
    """Visits per epi week (keyed by the week's Sunday, in this year's calendar)."""
    totals: dict[date, int] = {}
    for day, n in per_day.items():
        key = epi_week_start(day + shift)
        totals[key] = totals.get(key, 0) + n
    return totals


def _monthly(per_day: dict[date, int]) -> dict[date, int]:
    totals: dict[date, int] = {}
    for day, n in per_day.items():
        key = day.replace(day=1)
        totals[key] = totals.get(key, 0) + n
    return totals


def visits_charts(
    f: Filters, *, weekly_only: bool = False, days: VisitDays | None = None
) -> list[Chart]:
    """The visits charts, from one read of the visit rollup (``visit_days``): the period's
    and last year's day totals, and (unless ``weekly_only``) the period's breakdowns.
    ``days``: already read with at least the period and last year's (``overview_days``)."""
    first, last = epi_week_start(f.date_from), f.date_to
    ly_from, ly_to = f.date_from - YEAR, f.date_to - YEAR
    if days is None or (not weekly_only and not days.by):
        days = visit_days(
            f, [(f.date_from, f.date_to), (ly_from, ly_to)], breakdowns=not weekly_only
        )
    this_days = days.per_day(f.date_from, f.date_to)
    ly_days = days.per_day(ly_from, ly_to)
    this_year = _weekly(this_days)
    last_year = _weekly(ly_days, shift=YEAR)
    weeks = []
    week = first
    while week <= last:
        weeks.append(week)
        week += timedelta(days=7)
    labels = [f"W{epi_week(w)[1]:02d} {w:%d %b}" for w in weeks]
    charts = [
        line_chart(
            "visits-weekly",
            "Visits per epidemiological week, with the same weeks last year",
            labels,
            [
                ("This period", [this_year.get(w, 0) for w in weeks]),
                ("Last year", [last_year.get(w, 0) for w in weeks]),
            ],
            header=["Week (starts Sunday)", "Visits", "Same week last year"],
        )
    ]
    if weekly_only:
        return charts
    monthly = _monthly(this_days)
    monthly_ly = _monthly(ly_days)
    months = sorted(monthly)
    charts.append(
        line_chart(
            "visits-monthly",
            "Visits per month, with last year",
            [f"{m:%b %Y}" for m in months],
            [
                ("This period", [monthly.get(m, 0) for m in months]),
                ("Last year", [monthly_ly.get(m.replace(year=m.year - 1), 0) for m in months]),
            ],
            header=["Month", "Visits", "Same month last year"],
        )
    )
    for dim, title in (
        ("unit", "Visits by college / department"),
        ("patient_type", "Visits by patient type"),
        ("age_band", "Visits by age band"),
        ("sex", "Visits by sex"),
        ("visit_kind", "Medical vs dental"),
    ):
        rows = days.by[dim]
        if dim == "age_band":
            rows = sorted(rows, key=lambda r: AGE_BANDS.index(r[0]) if r[0] in AGE_BANDS else 99)
        charts.append(
            bar_chart(
                f"visits-by-{dim.replace('_', '-')}",
                title,
                [(_dim_label(dim, value), n) for value, n in rows],
                header=[title.replace("Visits by ", "").capitalize(), "Visits"],
            )
        )
    walk = days.total(f.date_from, f.date_to, "walk_ins")
    scheduled = (
        days.total(f.date_from, f.date_to, "appointments")
        - days.total(f.date_from, f.date_to, "cancelled")
        - walk
    )
    charts.append(
        bar_chart(
            "walk-in-vs-booked",
            "Walk-in vs booked appointments",
            [("Booked ahead", scheduled), ("Walk-in", walk)],
            header=["Source", "Appointments (not cancelled)"],
        )
    )
    return charts


_LABELS = {
    "sex": {"F": "Female", "M": "Male", "X": "Intersex / other"},
    "visit_kind": {"medical": "Medical", "dental": "Dental"},
    "patient_type": {
        "student": "Student",
        "employee": "Employee",
        "dependent": "Dependent",
        "other": "Other",
    },
}


def _dim_label(dim: str, value: str) -> str:
    return _LABELS.get(dim, {}).get(value, value or "(none)")


def filter_choices() -> dict:
    """Choices for the filter form: units seen in the rollups and providers."""

    # The units only change when the rollups do: cached per refresh.
    stamp = as_of()
    units = cache.get_or_set(
        f"analytics:filter-units:{stamp.timestamp() if stamp else 0}",
        lambda: list(
            VisitFact.objects.exclude(unit="")
            .values_list("unit", flat=True)
            .distinct()
            .order_by("unit")
        ),
        300,
    )
    providers = list(
        User.objects.filter(role__in=PROVIDER_ROLES).order_by("last_name", "first_name")
    )
    return {"units": units, "providers": providers}


# --- Diagnoses and outcomes -----------------------------------------------------------------

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
    where = _patient_where(f, age_on="(v.started_at AT TIME ZONE %(tz)s)::date")
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
            _outcome_params(f),
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


def _patient_where(f: Filters, *, age_on: str) -> str:
    """SQL conditions on patient ``p`` for the demographic filters (named parameters
    ``%(patient_type)s``…, see ``_outcome_params``); the age band is taken on ``age_on``."""

    parts = ["TRUE"]
    if f.patient_type:
        parts.append("p.patient_type = %(patient_type)s")
    if f.unit:
        parts.append(f"{UNIT_SQL} = %(unit)s")
    if f.sex:
        parts.append("p.sex = %(sex)s")
    if f.age_band:
        parts.append(age_band_where(f.age_band, age_on))
    return " AND ".join(parts)


# Each band's ages [from, to): "age on ``day`` >= N" is "born on or before ``day`` - N
# years" (29 February minus a year is 28 February, as in ``age()``), so the filter is a
# range on ``birth_date`` the planner can estimate and index, not ``age()`` per row.
AGE_BAND_YEARS = {
    "<18": (None, 18),
    "18-24": (18, 25),
    "25-34": (25, 35),
    "35-49": (35, 50),
    "50-64": (50, 65),
    "65+": (65, None),
}


def age_band_where(band: str, day: str) -> str:
    """SQL condition: patient ``p`` is in age ``band`` on ``day`` (an SQL date expression);
    the same patients as ``age_band_sql(day) = band`` (tests/analytics prove it)."""

    if band not in AGE_BAND_YEARS:
        return f"{age_band_sql(day)} = %(age_band)s"
    low, high = AGE_BAND_YEARS[band]
    parts = []
    if low is not None:
        parts.append(f"p.birth_date <= ({day} - interval '{low} years')::date")
    if high is not None:
        parts.append(f"p.birth_date > ({day} - interval '{high} years')::date")
    return " AND ".join(parts)


def _outcome_params(f: Filters) -> dict:

    return {
        "from": f.date_from,
        "to": f.date_to,
        "lo": day_bounds(f.date_from)[0],
        "hi": day_bounds(f.date_to)[1],
        "today": timezone.localdate(),
        "tz": settings.TIME_ZONE,
        "provider": f.provider_id,
        "patient_type": f.patient_type,
        "unit": f.unit,
        "sex": f.sex,
        "age_band": f.age_band,
    }


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

    params = _outcome_params(f)
    provider = "AND v.provider_id = %(provider)s" if f.provider_id else ""
    at_visit = _patient_where(f, age_on="(v.started_at AT TIME ZONE %(tz)s)::date")
    at_end = _patient_where(f, age_on="%(to)s::date")
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
        population_where = _patient_where(
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


# --- Staff productivity -------------------------------------------------------------------


@dataclass
class ProviderRow:
    user_id: int
    name: str
    visits: int = 0
    days: int = 0
    per_day: float | None = None
    consult_avg: float | None = None
    sign_avg_h: float | None = None
    unsigned: int = 0
    booked_minutes: int = 0
    available_minutes: int = 0
    utilisation: float | None = None
    extra: dict = field(default_factory=dict)


def productivity(f: Filters, user) -> list[ProviderRow]:
    """Per provider; a provider who is not an administrator sees only their own row."""

    if user.role != Role.ADMIN:
        f = Filters(f.date_from, f.date_to, user.pk, f.patient_type, f.unit, f.sex, f.age_band)
    rows = (
        VisitFact.objects.filter(f.q())
        .exclude(provider_id=None)
        .values("provider_id")
        .annotate(
            n_visits=Sum("visits"),
            days=Count("day", distinct=True, filter=Q(visits__gt=0)),
            consults=Sum("consults"),
            consult_minutes=Sum("consult_minutes"),
            signed=Sum("signed_visits"),
            sign_minutes=Sum("sign_minutes"),
            booked=Sum("booked_minutes"),
        )
    )
    available = available_minutes(f)
    names = {
        u.pk: u.full_name
        for u in User.objects.filter(pk__in=[r["provider_id"] for r in rows] + list(available))
    }
    out = {}
    for r in rows:
        pid = r["provider_id"]
        out[pid] = ProviderRow(
            user_id=pid,
            name=names.get(pid, f"#{pid}"),
            visits=r["n_visits"] or 0,
            days=r["days"] or 0,
            per_day=round(r["n_visits"] / r["days"], 1) if r["days"] else None,
            consult_avg=round(r["consult_minutes"] / r["consults"], 1) if r["consults"] else None,
            sign_avg_h=round(r["sign_minutes"] / r["signed"] / 60, 1) if r["signed"] else None,
            unsigned=(r["n_visits"] or 0) - (r["signed"] or 0),
            booked_minutes=r["booked"] or 0,
        )
    for pid, minutes in available.items():
        row = out.setdefault(pid, ProviderRow(user_id=pid, name=names.get(pid, f"#{pid}")))
        row.available_minutes = minutes
    for row in out.values():
        row.utilisation = pct(row.booked_minutes, row.available_minutes)
    return sorted(out.values(), key=lambda r: (-r.visits, r.name))


def productivity_charts(rows: list[ProviderRow]) -> list[Chart]:
    return [
        bar_chart(
            "visits-per-provider",
            "Visits per provider",
            [(r.name, r.visits) for r in rows],
            header=[
                "Provider",
                "Visits",
                "Visits per working day",
                "Consultation (min)",
                "Visit to signature (h)",
                "Unsigned",
                "Utilisation (%)",
            ],
            extra_columns=[
                [r.per_day, r.consult_avg, r.sign_avg_h, r.unsigned, r.utilisation] for r in rows
            ],
        )
    ]


# --- Inventory ----------------------------------------------------------------------------


TOP_ITEMS = 20


def inventory_charts(f: Filters) -> list[Chart]:
    """Consumption per item and category and expiry losses from the days items moved; the
    top items' turnover, days of supply and stock-out days from their daily closing stock
    (monthly stock rollup plus the daily rows of partly covered months)."""

    days = (f.date_to - f.date_from).days + 1
    summary = stock.consumption_summary(f.date_from, f.date_to, top=TOP_ITEMS)
    top_ids = [r["item_id"] for r in summary["top"]]
    levels = {
        item_id: {"avg_stock": level["closing_sum"] / days, **level}
        for item_id, level in stock.stock_levels(f.date_from, f.date_to, top_ids).items()
    }
    shown = set(top_ids) | {r["item_id"] for r in summary["losses"]}
    items = {i.pk: i for i in Item.objects.filter(pk__in=shown)}
    table = []
    for r in summary["top"]:
        item = items.get(r["item_id"])
        if item is None:
            continue
        level = levels.get(r["item_id"], {})
        used = float(r["used"] or 0)
        daily = used / days if days else 0
        avg_stock = level.get("avg_stock")
        turnover = round(used / float(avg_stock), 2) if avg_stock and avg_stock > 0 else None
        supply = round(float(item.stock_available) / daily) if daily > 0 else None
        table.append(
            {
                "name": item.display_name if hasattr(item, "display_name") else item.name,
                "used": used,
                "value": float(r["value"] or 0),
                "turnover": turnover,
                "supply": supply,
                "stockout_days": level.get("stockout_days", 0),
            }
        )
    categories = sorted(summary["categories"].items(), key=lambda kv: (-kv[1], kv[0]))
    losses = []
    for r in summary["losses"]:
        item = items.get(r["item_id"])
        if item is not None:
            name = item.display_name if hasattr(item, "display_name") else item.name
            losses.append({"name": name, "expired": float(r["expired"])})
    return [
        bar_chart(
            "consumption-by-item",
            "Consumption per item (dispensed)",
            [(r["name"], r["used"]) for r in table],
            header=[
                "Item",
                "Dispensed",
                "Value (PHP)",
                "Turnover",
                "Days of supply",
                "Stock-out days",
            ],
            extra_columns=[
                [r["value"], r["turnover"], r["supply"], r["stockout_days"]] for r in table
            ],
        ),
        bar_chart(
            "consumption-by-category",
            "Consumption per category",
            categories,
            header=["Category", "Dispensed"],
        ),
        bar_chart(
            "expiry-losses",
            "Expiry losses (value written off, PHP)",
            [(r["name"], r["expired"]) for r in losses],
            header=["Item", "Written off (PHP)"],
        ),
    ]


# --- Data quality -------------------------------------------------------------------------

QUALITY_CHECKS = {
    "no-diagnosis": "Signed visits without a diagnosis",
    "unsigned": "Visits left unsigned for more than 24 hours",
    "no-visit": "Completed appointments without a visit",
    "no-patient": "Dispensing without a patient",
}


def quality_querysets() -> dict:

    return {
        "no-diagnosis": Visit.objects.filter(status=VisitStatus.SIGNED, diagnoses__isnull=True)
        .select_related("patient", "provider")
        .order_by("-started_at"),
        "unsigned": Visit.objects.filter(
            status=VisitStatus.DRAFT, started_at__lt=timezone.now() - timedelta(hours=24)
        )
        .select_related("patient", "provider")
        .order_by("started_at"),
        "no-visit": Appointment.objects.filter(
            status=AppointmentStatus.COMPLETED, visit__isnull=True
        )
        .select_related("patient", "provider__user")
        .order_by("-start"),
        "no-patient": StockMovement.objects.filter(kind=MovementKind.DISPENSE, patient__isnull=True)
        .select_related("item")
        .order_by("-created_at"),
    }


ROLLED_UP_CHECKS = ("no-diagnosis", "no-visit", "no-patient")


def quality_counts() -> list[tuple[str, str, int]]:
    """Counts of each check: the rolled-up ones summed from ``QualityFact`` (today's and
    yesterday's refreshed every few minutes, older days nightly), drafts over 24 h live
    (few rows, indexed by status)."""

    facts = dict(
        QualityFact.objects.values("problem").annotate(n=Sum("rows")).values_list("problem", "n")
    )
    unsigned = quality_querysets()["unsigned"].count()
    return [
        (key, label, unsigned if key == "unsigned" else facts.get(key) or 0)
        for key, label in QUALITY_CHECKS.items()
    ]


def quality_rows(check: str):
    """(rows queryset, known count or None) for a check's drill-down: a rolled-up check is
    narrowed to the days its rollup has rows for (so a page never scans the whole history
    for a handful of rows) and its count comes from the rollup."""

    qs = quality_querysets()[check]
    if check not in ROLLED_UP_CHECKS:
        return qs, None
    span = QualityFact.objects.filter(problem=check, rows__gt=0).aggregate(
        first=Min("day"), last=Max("day"), n=Sum("rows")
    )
    if not span["n"]:
        return qs.none(), 0
    lo, hi = day_bounds(span["first"])[0], day_bounds(span["last"])[1]
    field = {"no-diagnosis": "started_at", "no-visit": "start", "no-patient": "created_at"}[check]
    return qs.filter(**{f"{field}__gte": lo, f"{field}__lt": hi}), span["n"]

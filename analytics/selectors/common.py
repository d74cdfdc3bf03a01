"""What every analytics read shares: the filters, the privacy rule for small counts, the
percentage and the rollups' freshness, and the SQL conditions the filters become on patient
``p`` (used by the live clinical queries of the diagnoses and outcomes pages).

Privacy: a viewer without clinical access (``patients.view_clinical``) sees diagnosis and
outcome counts between 1 and 4 as "<5" wherever the cell is narrowed to a group of people
(a demographic filter or breakdown), because such a cell can point at a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.roles import user_has_perm
from analytics.charts import SUPPRESSED
from analytics.models import RollupDay
from analytics.services.rollups import UNIT_SQL, age_band_sql, day_bounds

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


@dataclass
class Kpi:
    label: str
    value: object
    detail: str = ""
    tone: str = "neutral"


def patient_where(f: Filters, *, age_on: str) -> str:
    """SQL conditions on patient ``p`` for the demographic filters (named parameters
    ``%(patient_type)s``…, see ``filter_params``); the age band is taken on ``age_on``."""

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


def filter_params(f: Filters) -> dict:

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

"""The diagnoses-and-outcomes figures honour every dashboard filter that can apply to them
(dates, provider, patient type, college/department, sex, age band), each proved on
generated data where the right answer is known; where a filter cannot apply (immunisations
have no provider) the figure is unchanged and the page says so next to it."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from analytics.selectors.common import Filters
from analytics.selectors.outcomes import outcomes
from patients.models import Diagnosis, Immunization, Patient, Visit, VitalSigns
from tests.analytics.factories import ensure_codes, local
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
D = TODAY - timedelta(days=1)


def ago(days: int) -> date:
    return D - timedelta(days=days)


def _years_ago(years: int) -> date:
    return date(TODAY.year - years, 1, 15)


@pytest.fixture
def world():
    ensure_codes(["I10", "J06.9"])
    a = UserFactory(role=Role.DOCTOR, first_name="Ada")
    b = UserFactory(role=Role.DOCTOR, first_name="Ben")
    spec = {  # name: (sex, type, college, department, born)
        "p1": ("F", "student", "School of Engineering", "", _years_ago(20)),
        "p2": ("M", "employee", "", "Finance Office", _years_ago(40)),
        "p3": ("M", "student", "School of Business and Economics", "", _years_ago(20)),
        "p4": ("F", "student", "School of Engineering", "", _years_ago(56)),
    }
    p = {}
    for i, (name, (sex, ptype, college, dept, born)) in enumerate(spec.items()):
        p[name] = Patient.objects.create(
            id_number=f"OF{i:04d}",
            first_name=name,
            last_name="Outcome",
            sex=sex,
            birth_date=born,
            patient_type=ptype,
            college=college,
            department=dept,
            created_at=local(ago(400), 9),
        )

    def visit(patient, provider, day, hh=9, follow_up_on=None, bp=None, bmi=None, code=None):
        v = Visit.objects.create(
            patient=patient,
            kind="medical",
            provider=provider,
            started_at=local(day, hh),
            follow_up_on=follow_up_on,
        )
        if bp or bmi:
            VitalSigns.objects.create(
                visit=v,
                recorded_by=provider,
                recorded_at=local(day, hh, 5),
                systolic=bp[0] if bp else None,
                diastolic=bp[1] if bp else None,
                bmi=Decimal(str(bmi)) if bmi else None,
            )
        if code:
            Diagnosis.objects.create(visit=v, icd10_id=code, is_primary=True)
        return v

    # Follow-ups due D-10: p1 (Ada) came back on D-9; p2 (Ben) and p3 (Ada) did not.
    # p4's (Ben) was due D-100, outside the default 30-day period.
    visit(p["p1"], a, ago(20), follow_up_on=ago(10), code="I10", bp=(160, 100), bmi=22)
    visit(p["p1"], a, ago(9), bp=(130, 80))  # kept; last BP controlled
    visit(p["p2"], b, ago(20), follow_up_on=ago(10), code="I10", bp=(150, 95), bmi=31)
    visit(p["p3"], a, ago(20), follow_up_on=ago(10), bmi=17)
    visit(p["p4"], b, ago(110), follow_up_on=ago(100), code="I10", bp=(120, 70), bmi=27)
    Immunization.objects.create(patient=p["p1"], vaccine="Hepatitis B", given_on=ago(50))
    Immunization.objects.create(patient=p["p3"], vaccine="Hepatitis B", given_on=ago(5))
    Immunization.objects.create(patient=p["p2"], vaccine="Influenza", given_on=ago(5))
    return {"a": a, "b": b, **p}


def _f(**kw) -> Filters:
    return Filters(kw.pop("date_from", ago(29)), kw.pop("date_to", D), **kw)


def _figures(f, user):
    o = outcomes(f, user)
    charts = {c.id: {row[0]: row[1] for row in c.rows} for c in o["charts"]}
    return {
        "followups": (o["followups_due"], o["followups_kept"]),
        "bp": (o["hypertensive"], o["bp_measured"], o["bp_controlled"]),
        "bmi": charts["bmi-bands"],
        "immunisation": charts["immunisation-coverage"],
        "population": o["population"],
    }


BMI_ALL = {"Underweight (<18.5)": 1, "Normal (18.5–24.9)": 1, "Obese (≥30)": 1}


@pytest.mark.parametrize(
    "filters, followups, bp, bmi",
    [
        ({}, (3, 1), (2, 2, 1), BMI_ALL),
        # Dates: a wider period takes in p4's follow-up, BP and BMI.
        (
            {"date_from": ago(120)},
            (4, 1),
            (3, 3, 2),
            {**BMI_ALL, "Overweight (25–29.9)": 1},
        ),
        # Provider: Ada saw p1 and p3, Ben p2.
        (
            {"provider_id": "a"},
            (2, 1),
            (1, 1, 1),
            {"Underweight (<18.5)": 1, "Normal (18.5–24.9)": 1},
        ),
        ({"provider_id": "b"}, (1, 0), (1, 1, 0), {"Obese (≥30)": 1}),
        ({"patient_type": "employee"}, (1, 0), (1, 1, 0), {"Obese (≥30)": 1}),
        ({"unit": "School of Engineering"}, (1, 1), (1, 1, 1), {"Normal (18.5–24.9)": 1}),
        ({"unit": "Finance Office"}, (1, 0), (1, 1, 0), {"Obese (≥30)": 1}),
        ({"sex": "M"}, (2, 0), (1, 1, 0), {"Underweight (<18.5)": 1, "Obese (≥30)": 1}),
        (
            {"age_band": "18-24"},
            (2, 1),
            (1, 1, 1),
            {"Underweight (<18.5)": 1, "Normal (18.5–24.9)": 1},
        ),
        ({"age_band": "35-49"}, (1, 0), (1, 1, 0), {"Obese (≥30)": 1}),
    ],
)
def test_each_filter_changes_the_outcomes_correctly(
    world, doctor_user, filters, followups, bp, bmi
):
    if "provider_id" in filters:
        filters = {**filters, "provider_id": world[filters["provider_id"]].pk}
    got = _figures(_f(**filters), doctor_user)
    assert got["followups"] == followups
    assert got["bp"] == bp
    assert got["bmi"] == bmi


@pytest.mark.parametrize(
    "filters, population, coverage",
    [
        ({}, 3, {"Hepatitis B": pytest.approx(66.7)}),  # students p1, p3, p4
        ({"date_to": ago(10)}, 3, {"Hepatitis B": pytest.approx(33.3)}),  # p3's dose is later
        ({"patient_type": "employee"}, 1, {"Influenza": 100.0}),
        ({"sex": "M"}, 1, {"Hepatitis B": 100.0}),
        ({"unit": "School of Engineering"}, 2, {"Hepatitis B": 50.0}),
        ({"age_band": "50-64"}, 1, {}),
        # The provider filter cannot apply: the figure is the unfiltered one.
        ({"provider_id": "b"}, 3, {"Hepatitis B": pytest.approx(66.7)}),
    ],
)
def test_immunisation_coverage_follows_the_patient_filters(
    world, doctor_user, filters, population, coverage
):
    if "provider_id" in filters:
        filters = {**filters, "provider_id": world[filters["provider_id"]].pk}
    got = _figures(_f(**filters), doctor_user)
    assert got["population"] == population
    assert got["immunisation"] == coverage


def test_page_applies_the_filters_and_says_which_cannot_apply(world, client_for, doctor_user):
    client = client_for(doctor_user)
    url = reverse("analytics:diagnoses")
    base = {"date_from": (ago(29)).isoformat(), "date_to": D.isoformat()}
    body = client.get(url, base).content.decode()
    assert "1 of 3 due" in body
    body = client.get(url, {**base, "sex": "M"}).content.decode()
    assert "0 of 2 due" in body
    assert "Provider filter does not apply (immunisations are recorded without a provider)" in body
    assert body.count("Every filter applies") >= 3
    partial = client.get(url, {**base, "provider": world["b"].pk}, HTTP_HX_REQUEST="true")
    assert "0 of 1 due" in partial.content.decode()


def test_non_clinical_viewers_see_small_filtered_outcomes_as_under_five(world, admin_user):
    got = _figures(_f(sex="M"), admin_user)
    assert got["followups"] == ("<5", 0)
    assert got["bmi"] == {"Underweight (<18.5)": "<5", "Obese (≥30)": "<5"}


def test_age_band_ranges_match_the_rollups_age_bands():
    """The outcomes filter an age band with a birth-date range (indexable); on every day
    (leap days and their neighbours included) it picks exactly the patients the rollups'
    ``age()`` expression puts in that band."""
    from django.db import connection

    from analytics.models import AGE_BANDS
    from analytics.selectors.common import age_band_where
    from analytics.services.rollups import age_band_sql

    days = ["2024-02-28", "2024-02-29", "2024-03-01", "2025-02-28", "2025-03-01", "2026-12-31"]
    mismatches = " + ".join(
        f"COUNT(*) FILTER (WHERE ({age_band_sql('p.day')} = '{band}') "
        f"IS DISTINCT FROM ({age_band_where(band, 'p.day')}))"
        for band in AGE_BANDS
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT {mismatches}, COUNT(*) FROM (
                SELECT d::date AS day, b::date AS birth_date
                FROM unnest(%s::date[]) AS d,
                     generate_series('1955-01-01'::date, '2012-12-31'::date, '1 day') AS b
            ) AS p""",  # noqa: S608 (constant fragments)
            [days],
        )
        wrong, rows = cursor.fetchone()
    assert rows > 100_000 and wrong == 0

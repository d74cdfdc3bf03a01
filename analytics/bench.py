"""Benchmarks for analytics: every dashboard page (reading rollups) and one day's rollup
refresh, with the appointments and stock movements the other apps' benches generate.

``generate`` gives ``scale["visits"]`` (default 200,000) completed bench appointments a
signed visit with a diagnosis (set-based ``INSERT ... SELECT``, in batches), then rebuilds
the rollups of every day that has none yet and computes the forecasts. Idempotent.

The in-process page cases measure the cold render (the rendered-page cache is turned off
while they run); the HTTP pages (``HTTP_PAGES``) measure what a viewer gets, i.e. mostly the
cached page (one cold render per minute and rollup generation per visibility class).
"""

from __future__ import annotations

from datetime import timedelta

from django.db import connection, transaction
from django.test.utils import override_settings
from django.utils import timezone

from accounts.models import User
from analytics.services.forecasts import forecasts_compute
from analytics.services.rollups import first_data_day, rollup_rebuild, rollup_refresh_day
from analytics.services.surveillance import signals_detect, syndromes_ensure_defaults
from patients.models import Icd10Code, Visit
from uscpis.bench import BenchCase, page_case
from uscpis.benchhttp import HttpPage

BATCH = 100_000
CODES = ["J06.9", "A09", "R51", "K30", "M54.5", "J02.9", "R50.9", "H10.9", "F41.1", "A90"]

VISITS_SQL = """
WITH todo AS (
    SELECT a.id, a.patient_id, pp.user_id, a.start, t.visit_kind
    FROM appointments_appointment a
    JOIN appointments_providerprofile pp ON pp.id = a.provider_id
    JOIN appointments_appointmenttype t ON t.id = a.appointment_type_id
    JOIN accounts_user u ON u.id = pp.user_id
    WHERE a.status = 'completed' AND a.visit_id IS NULL AND u.email LIKE 'bench.provider%%'
    ORDER BY a.start DESC
    LIMIT %(limit)s
), made AS (
    INSERT INTO patients_visit (patient_id, kind, provider_id, status, appointment_ref,
        started_at, chief_complaint, subjective, objective, assessment, plan, follow_up,
        treatment_performed, treatment_planned, signed_at, signed_by_id, created_at, updated_at)
    SELECT patient_id, visit_kind, user_id, 'signed', 'bench:' || id, start, 'Bench', '', '', '',
        '', '', '', '', start + interval '40 minutes', user_id, start, start
    FROM todo
    RETURNING id, appointment_ref
), linked AS (
    UPDATE appointments_appointment a SET visit_id = m.id
    FROM made m WHERE a.id = substr(m.appointment_ref, 7)::bigint
    RETURNING m.id
)
INSERT INTO patients_diagnosis (visit_id, icd10_id, is_primary, note)
SELECT id, (%(codes)s::text[])[1 + id %% %(ncodes)s], TRUE, '' FROM linked
"""


def generate(scale: dict, stdout) -> None:

    syndromes_ensure_defaults()
    for code in CODES:
        Icd10Code.objects.get_or_create(code=code, defaults={"title": code})
    target = int(scale.get("visits", 200_000))
    have = Visit.objects.filter(appointment_ref__startswith="bench:").count()
    while have < target:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                VISITS_SQL,
                {"limit": min(BATCH, target - have), "codes": CODES, "ncodes": len(CODES)},
            )
            added = cursor.rowcount
        if added <= 0:
            break
        have += added
        stdout.write(f"  analytics: {have:,} bench visits")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE patients_visit; ANALYZE patients_diagnosis")
    # Every day is recomputed: the demo seed's rollups (and any earlier run's) predate the
    # appointments, visits, stock movements and invoices the bench generators added, so a
    # day that already has rollups is not up to date (skipping those left the last year
    # counting the demo seed's data only).
    today = timezone.localdate()
    first = max(first_data_day() or today, today - timedelta(days=730))
    rollup_rebuild(since=first, until=today)
    stdout.write("  analytics: rollups up to date")
    signals_detect()
    forecasts_compute()
    stdout.write("  analytics: signals and forecasts computed")


def _admin():

    return User.objects.get(email="admin@usc.edu.ph")


def _doctor():

    return User.objects.get(email="doctor@usc.edu.ph")


def _refresh_case():

    day = timezone.localdate() - timedelta(days=3)

    def run():
        rollup_refresh_day(day=day)

    return run


def _page(name: str, path: str, user=_admin, **kwargs) -> BenchCase:
    """A dashboard page rendered cold: the rendered-page cache (analytics/views/_common.py)
    is off while the case runs, so the figure is the cost of the first view in a minute or
    after a rollup refresh (issue 14's target), not of the cached repeats."""
    case = page_case(
        f"analytics: {name}",
        user=user,
        url=lambda: path,
        target_ms=kwargs.pop("target_ms", 50),
        description=kwargs.pop("description", ""),
    )
    case.description = " ".join(filter(None, [case.description, "(cold: page cache off)"]))
    warm = case.prepare

    def prepare():
        run = warm()

        def cold():
            with override_settings(ANALYTICS_PAGE_CACHE=False):
                return run()

        return cold

    case.prepare = prepare
    return case


def _billing():

    return User.objects.get(email="billing@usc.edu.ph")


CASES = [
    _page("overview", "/analytics/"),
    _page("overview, one college", "/analytics/?unit=School+of+Engineering"),
    _page("visits and trends", "/analytics/visits/"),
    _page("visits and trends, one college", "/analytics/visits/?unit=School+of+Engineering"),
    _page(
        "diagnoses and outcomes",
        "/analytics/diagnoses/",
        description="top codes from rollups; outcomes are indexed live queries",
    ),
    _page(
        "diagnoses and outcomes, filtered",
        "/analytics/diagnoses/?sex=F&age_band=18-24&patient_type=student",
        user=_doctor,
    ),
    _page("diagnosis drill-down (doctor)", "/analytics/diagnoses/J06.9/patients/", user=_doctor),
    _page("productivity (admin)", "/analytics/productivity/"),
    _page("productivity (own)", "/analytics/productivity/", user=_doctor),
    _page("inventory", "/analytics/inventory/"),
    _page("surveillance", "/analytics/surveillance/"),
    _page("surveillance, dengue charts", "/analytics/surveillance/?group=dengue"),
    _page("syndrome definitions", "/analytics/surveillance/syndromes/"),
    _page(
        "financial",
        "/analytics/financial/",
        description="billing and receivables rollups plus receivables now and claim outcomes",
    ),
    _page(
        "financial, one year (billing clerk)",
        "/analytics/financial/?date_from="
        + (timezone.localdate() - timedelta(days=364)).isoformat(),
        user=_billing,
    ),
    _page("forecasts", "/analytics/forecasts/"),
    _page("stock-out forecast", "/analytics/forecasts/stock/"),
    _page("data quality", "/analytics/quality/"),
    _page("data quality rows (doctor)", "/analytics/quality/no-diagnosis/", user=_doctor),
    BenchCase(
        "analytics: refresh one day's rollups",
        _refresh_case,
        target_ms=5000,
        description="rollup_refresh_day() at full scale (visits, diagnoses, syndromes, stock, "
        "billing, payments, receivables)",
    ),
]


HTTP_PAGES = [
    HttpPage("analytics: overview (admin)", "/analytics/", user="admin@usc.edu.ph"),
    HttpPage(
        "analytics: surveillance (admin)", "/analytics/surveillance/", user="admin@usc.edu.ph"
    ),
    HttpPage("analytics: diagnoses (doctor)", "/analytics/diagnoses/", user="doctor@usc.edu.ph"),
]

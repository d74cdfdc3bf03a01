"""Daily rollups: one clinic-local day at a time, set-based SQL.

Each refresh of a day (or, for a rebuild, a month of days) runs in one transaction under an
advisory lock: it deletes the days' rows and inserts them again with ``INSERT ... SELECT ... GROUP BY`` from
the source tables (``ON CONFLICT ... DO UPDATE`` keeps it correct even if two refreshes
meet). Deleting first is what removes cells that no longer exist (an appointment
rescheduled to another day, a diagnosis removed from a draft). Every source filter is a
half-open range on an indexed timestamp (the day's bounds in the clinic's time zone), so
one day costs about the same however long the history is.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from analytics.models import RollupDay
from analytics.services.generation import rollup_generation_bump_on_commit
from analytics.services.monthly import months_refresh
from inventory.models import MovementKind

NIGHTLY_DAYS = 35
# inventory's stock_dispense_cancel marks its correcting adjustment with this note.
CANCELLED_DISPENSING = (
    "Cancels dispensing #"  # draft visits gain diagnoses and appointments move for a while
)


UNIT_SQL = "COALESCE(NULLIF(p.college, ''), p.department)"


def age_band_sql(day: str) -> str:
    """The age band (``AGE_BANDS``) of patient ``p`` on ``day`` (an SQL expression)."""
    age = f"date_part('year', age({day}, p.birth_date))"
    return f"""CASE
        WHEN {age} < 18 THEN '<18' WHEN {age} < 25 THEN '18-24' WHEN {age} < 35 THEN '25-34'
        WHEN {age} < 50 THEN '35-49' WHEN {age} < 65 THEN '50-64' ELSE '65+'
    END"""


def _dims(day: str) -> str:
    """Patient dimensions at the event's local day ``day`` (an SQL expression)."""
    return f"""
    p.patient_type AS patient_type,
    {UNIT_SQL} AS unit,
    p.sex AS sex,
    {age_band_sql(day)} AS age_band"""


_APPT_DAY = "(a.start AT TIME ZONE %(tz)s)::date"
_VISIT_DAY = "(v.started_at AT TIME ZONE %(tz)s)::date"

# Every statement covers the local days [%(first)s, %(last)s], i.e. the timestamps
# [%(lo)s, %(hi)s): one day for the beat, a month per statement for a rebuild.
VISIT_SQL = f"""
INSERT INTO analytics_visitfact (
    day, provider_id, appointment_type_id, visit_kind, patient_type, unit, sex, age_band,
    appointments, completed, cancelled, no_shows, walk_ins, booked_minutes, waits, wait_minutes,
    consults, consult_minutes, visits, signed_visits, sign_minutes)
SELECT day, provider_id, appointment_type_id, visit_kind, patient_type, unit, sex, age_band,
    SUM(appointments), SUM(completed), SUM(cancelled), SUM(no_shows), SUM(walk_ins),
    SUM(booked_minutes), SUM(waits), SUM(wait_minutes), SUM(consults), SUM(consult_minutes),
    SUM(visits), SUM(signed_visits), SUM(sign_minutes)
FROM (
    SELECT {_APPT_DAY} AS day, pp.user_id AS provider_id, a.appointment_type_id, t.visit_kind,
        {_dims(_APPT_DAY)},
        1 AS appointments,
        (a.status = 'completed')::int AS completed,
        (a.status = 'cancelled')::int AS cancelled,
        (a.status = 'no_show')::int AS no_shows,
        (a.source = 'walk_in' AND a.status <> 'cancelled')::int AS walk_ins,
        CASE WHEN a.status <> 'cancelled'
             THEN round(extract(epoch FROM a."end" - a.start) / 60)::int ELSE 0 END
            AS booked_minutes,
        (a.checked_in_at IS NOT NULL AND a.consultation_started_at IS NOT NULL)::int AS waits,
        COALESCE(round(extract(epoch FROM a.consultation_started_at - a.checked_in_at) / 60)::int, 0)
            AS wait_minutes,
        (a.consultation_started_at IS NOT NULL AND a.completed_at IS NOT NULL)::int AS consults,
        COALESCE(round(extract(epoch FROM a.completed_at - a.consultation_started_at) / 60)::int, 0)
            AS consult_minutes,
        0 AS visits, 0 AS signed_visits, 0 AS sign_minutes
    FROM appointments_appointment a
    JOIN patients_patient p ON p.id = a.patient_id
    JOIN appointments_providerprofile pp ON pp.id = a.provider_id
    JOIN appointments_appointmenttype t ON t.id = a.appointment_type_id
    WHERE a.start >= %(lo)s AND a.start < %(hi)s
    UNION ALL
    SELECT {_VISIT_DAY}, v.provider_id, ap.appointment_type_id, v.kind, {_dims(_VISIT_DAY)},
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        1 AS visits,
        (v.signed_at IS NOT NULL)::int AS signed_visits,
        COALESCE(round(extract(epoch FROM v.signed_at - v.started_at) / 60)::int, 0) AS sign_minutes
    FROM patients_visit v
    JOIN patients_patient p ON p.id = v.patient_id
    LEFT JOIN LATERAL (
        SELECT a2.appointment_type_id FROM appointments_appointment a2
        WHERE a2.visit_id = v.id ORDER BY a2.id LIMIT 1
    ) AS ap ON TRUE
    WHERE v.started_at >= %(lo)s AND v.started_at < %(hi)s
) AS cells
GROUP BY day, provider_id, appointment_type_id, visit_kind, patient_type, unit, sex, age_band
ON CONFLICT ON CONSTRAINT analytics_visitfact_one_row_per_cell DO UPDATE SET
    appointments = EXCLUDED.appointments, completed = EXCLUDED.completed,
    cancelled = EXCLUDED.cancelled, no_shows = EXCLUDED.no_shows, walk_ins = EXCLUDED.walk_ins,
    booked_minutes = EXCLUDED.booked_minutes, waits = EXCLUDED.waits,
    wait_minutes = EXCLUDED.wait_minutes, consults = EXCLUDED.consults,
    consult_minutes = EXCLUDED.consult_minutes, visits = EXCLUDED.visits,
    signed_visits = EXCLUDED.signed_visits, sign_minutes = EXCLUDED.sign_minutes
"""  # noqa: S608 (constant fragments; values are parameters)

DIAGNOSIS_SQL = f"""
INSERT INTO analytics_diagnosisfact (
    day, icd10_code, visit_kind, provider_id, patient_type, unit, sex, age_band,
    diagnoses, primary_diagnoses)
SELECT day, icd10_code, visit_kind, provider_id, patient_type, unit, sex, age_band,
    COUNT(*), COUNT(*) FILTER (WHERE is_primary)
FROM (
    SELECT {_VISIT_DAY} AS day, d.icd10_id AS icd10_code, d.is_primary, v.kind AS visit_kind,
        v.provider_id, {_dims(_VISIT_DAY)}
    FROM patients_visit v
    JOIN patients_patient p ON p.id = v.patient_id
    JOIN patients_diagnosis d ON d.visit_id = v.id
    WHERE v.started_at >= %(lo)s AND v.started_at < %(hi)s
) AS cells
GROUP BY day, icd10_code, visit_kind, provider_id, patient_type, unit, sex, age_band
ON CONFLICT ON CONSTRAINT analytics_diagnosisfact_one_row_per_cell DO UPDATE SET
    diagnoses = EXCLUDED.diagnoses, primary_diagnoses = EXCLUDED.primary_diagnoses
"""  # noqa: S608

SYNDROME_SQL = f"""
INSERT INTO analytics_syndromedaily (day, group_id, cases)
SELECT {_VISIT_DAY}, g.id, COUNT(DISTINCT v.id)
FROM patients_visit v
JOIN patients_diagnosis d ON d.visit_id = v.id
JOIN analytics_syndromegroup g
  ON g.is_active
 AND d.icd10_id LIKE ANY (SELECT prefix || '%%' FROM unnest(g.icd10_prefixes) AS prefix)
WHERE v.started_at >= %(lo)s AND v.started_at < %(hi)s
GROUP BY 1, g.id
ON CONFLICT ON CONSTRAINT analytics_syndrome_one_per_day DO UPDATE SET cases = EXCLUDED.cases
"""  # noqa: S608

# Closing stock of each day = everything before the range + the running sum inside it.
# Items get a row from the day of their first movement on. "Everything before" is the
# previous day's closing when that day is rolled up (the movement ledger is append-only and
# stamped at insert, so a past day's closing does not change), else the ledger's sum.
OPENING_FROM_LEDGER = """SELECT item_id, SUM(quantity) AS qty
    FROM inventory_stockmovement WHERE created_at < %(lo)s GROUP BY item_id"""
OPENING_FROM_FACTS = """SELECT item_id, closing AS qty
    FROM analytics_stockfact WHERE day = %(prev)s::date"""
STOCK_SQL = """
WITH days AS (
    SELECT generate_series(%(first)s::date, %(last)s::date, interval '1 day')::date AS day
), opening AS (
    {opening}
), daily AS (
    SELECT item_id, (created_at AT TIME ZONE %(tz)s)::date AS day,
        SUM(quantity) AS net,
        SUM(quantity) FILTER (WHERE kind = 'receive') AS received,
        -SUM(quantity) FILTER (WHERE kind = 'dispense') AS dispensed,
        round(-SUM(quantity * unit_cost) FILTER (WHERE kind = 'dispense'), 2) AS dispensed_value,
        -SUM(quantity) FILTER (WHERE kind = 'dispose' AND reason_code = 'expired') AS expired,
        round(-SUM(quantity * unit_cost)
              FILTER (WHERE kind = 'dispose' AND reason_code = 'expired'), 2) AS expired_value,
        -SUM(quantity) FILTER (WHERE kind = 'dispose' AND reason_code = 'return_to_vendor')
            AS returned,
        -SUM(quantity) FILTER (WHERE kind = 'dispose'
                               AND reason_code NOT IN ('expired', 'return_to_vendor'))
            AS disposed_other,
        SUM(quantity) FILTER (WHERE kind = 'adjust' AND note LIKE %(cancel)s) AS patient_returns,
        SUM(quantity) FILTER (WHERE kind IN ('adjust', 'stocktake')
                              AND NOT (kind = 'adjust' AND note LIKE %(cancel)s)) AS adjusted
    FROM inventory_stockmovement
    -- every kind listed so the (kind, created_at) index serves the day's range
    WHERE kind = ANY(%(kinds)s) AND created_at >= %(lo)s AND created_at < %(hi)s
    GROUP BY 1, 2
), items AS (
    SELECT item_id, %(first)s::date AS first_day FROM opening
    UNION ALL
    SELECT item_id, MIN(day) FROM daily WHERE item_id NOT IN (SELECT item_id FROM opening)
    GROUP BY item_id
), grid AS (
    SELECT i.item_id, d.day,
        COALESCE(o.qty, 0) + SUM(COALESCE(m.net, 0))
            OVER (PARTITION BY i.item_id ORDER BY d.day) AS closing,
        m.received, m.dispensed, m.dispensed_value, m.expired, m.expired_value, m.returned,
        m.disposed_other, m.patient_returns, m.adjusted, i.first_day
    FROM items i CROSS JOIN days d
    LEFT JOIN opening o ON o.item_id = i.item_id
    LEFT JOIN daily m ON m.item_id = i.item_id AND m.day = d.day
)
INSERT INTO analytics_stockfact (
    day, item_id, received, dispensed, dispensed_value, expired, expired_value, returned,
    disposed_other, patient_returns, adjusted, closing)
SELECT day, item_id, COALESCE(received, 0), COALESCE(dispensed, 0),
    COALESCE(dispensed_value, 0), COALESCE(expired, 0), COALESCE(expired_value, 0),
    COALESCE(returned, 0), COALESCE(disposed_other, 0), COALESCE(patient_returns, 0),
    COALESCE(adjusted, 0), closing
FROM grid WHERE day >= first_day
ON CONFLICT ON CONSTRAINT analytics_stockfact_one_per_day DO UPDATE SET
    received = EXCLUDED.received, dispensed = EXCLUDED.dispensed,
    dispensed_value = EXCLUDED.dispensed_value, expired = EXCLUDED.expired,
    expired_value = EXCLUDED.expired_value, returned = EXCLUDED.returned,
    disposed_other = EXCLUDED.disposed_other, patient_returns = EXCLUDED.patient_returns,
    adjusted = EXCLUDED.adjusted, closing = EXCLUDED.closing
"""

BILLING_SQL = """
INSERT INTO analytics_billingfact (
    day, service_id, service_group, payer_id, provider_id, lines, gross, discount, net,
    payer_share, patient_share, cost)
SELECT (i.issued_at AT TIME ZONE %(tz)s)::date, l.service_id, s."group", c.payer_id,
    l.provider_id, COUNT(*), SUM(l.gross), SUM(l.discount + l.vat_exemption), SUM(l.net),
    SUM(l.payer_share), SUM(l.patient_share),
    COALESCE(round(SUM(ch.unit_cost * ch.quantity), 2), 0)
FROM billing_invoiceline l
JOIN billing_invoice i ON i.id = l.invoice_id
JOIN billing_service s ON s.id = l.service_id
LEFT JOIN billing_coverage c ON c.id = l.coverage_id
LEFT JOIN billing_charge ch ON ch.id = l.charge_id
WHERE i.issued_at >= %(lo)s AND i.issued_at < %(hi)s
  AND i.status IN ('issued', 'partially_paid', 'paid', 'written_off') AND NOT l.voided
GROUP BY 1, l.service_id, s."group", c.payer_id, l.provider_id
ON CONFLICT ON CONSTRAINT analytics_billingfact_one_row_per_cell DO UPDATE SET
    lines = EXCLUDED.lines, gross = EXCLUDED.gross, discount = EXCLUDED.discount,
    net = EXCLUDED.net, payer_share = EXCLUDED.payer_share,
    patient_share = EXCLUDED.patient_share, cost = EXCLUDED.cost
"""

PAYMENT_SQL = """
INSERT INTO analytics_paymentfact (day, method, payments, amount, refunded)
SELECT (received_at AT TIME ZONE %(tz)s)::date, method, COUNT(*), SUM(amount), SUM(refunded)
FROM billing_payment
WHERE received_at >= %(lo)s AND received_at < %(hi)s
GROUP BY 1, method
ON CONFLICT ON CONSTRAINT analytics_paymentfact_one_per_day DO UPDATE SET
    payments = EXCLUDED.payments, amount = EXCLUDED.amount, refunded = EXCLUDED.refunded
"""

# Receivables at the end of each day: every receivable document (the patient share of a
# posted invoice; a payer's claim) at its balance now (billing keeps ``amount_paid``,
# ``credited``, ``written_off`` and the claim's settled amounts equal to the ledger rows)
# plus whatever settled it after that day. Only documents still owed now, voided or settled
# since the range began are read, so a recent day costs about the same however long the
# history is.
RECEIVABLE_SQL = """
WITH days AS (
    SELECT generate_series(%(first)s::date, %(last)s::date, interval '1 day')::date AS day
), cuts AS (
    SELECT 'i' AS src, invoice_id AS id, (created_at AT TIME ZONE %(tz)s)::date AS on_day, amount
    FROM billing_allocation WHERE created_at >= %(lo)s
    UNION ALL
    SELECT 'i', invoice_id, (created_at AT TIME ZONE %(tz)s)::date, amount
    FROM billing_creditnote WHERE created_at >= %(lo)s
    UNION ALL
    SELECT 'i', invoice_id, (decided_at AT TIME ZONE %(tz)s)::date, amount
    FROM billing_writeoff WHERE status = 'approved' AND decided_at >= %(lo)s
    UNION ALL
    SELECT 'c', l.claim_id, r.received_on,
        l.paid + l.contractual_adjustment + l.patient_responsibility
    FROM billing_remittanceline l JOIN billing_remittance r ON r.id = l.remittance_id
    WHERE r.received_on >= %(first)s
), later AS (
    SELECT src, id, SUM(amount) AS amount FROM cuts GROUP BY 1, 2
), inside AS (
    SELECT src, id, on_day, SUM(amount) AS amount FROM cuts WHERE on_day <= %(last)s
    GROUP BY 1, 2, 3
), docs AS (
    SELECT 'i' AS src, i.id, NULL::bigint AS payer_id,
        (i.issued_at AT TIME ZONE %(tz)s)::date AS opened_on,
        CASE WHEN i.status = 'void' THEN (i.voided_at AT TIME ZONE %(tz)s)::date END AS closed_on,
        i.patient_total + i.moved_to_patient - i.credited - i.written_off - i.amount_paid AS owed
    FROM billing_invoice i
    WHERE i.status <> 'draft' AND i.issued_at < %(hi)s
      AND ((i.status <> 'void'
            AND i.patient_total + i.moved_to_patient - i.credited - i.written_off
                - i.amount_paid <> 0)
           OR (i.status = 'void' AND i.voided_at >= %(lo)s)
           OR i.id IN (SELECT id FROM later WHERE src = 'i'))
    UNION ALL
    SELECT 'c', c.id, c.payer_id, (c.created_at AT TIME ZONE %(tz)s)::date, NULL,
        c.total - c.paid - c.adjusted - c.moved_to_patient
    FROM billing_claim c
    WHERE c.status <> 'draft' AND c.created_at < %(hi)s
      AND (c.total - c.paid - c.adjusted - c.moved_to_patient <> 0
           OR c.id IN (SELECT id FROM later WHERE src = 'c'))
), live AS (
    SELECT d.src, d.id, d.payer_id, d.opened_on, d.closed_on,
        d.owed + COALESCE(l.amount, 0) AS opening
    FROM docs d LEFT JOIN later l ON l.src = d.src AND l.id = d.id
    WHERE d.closed_on IS NULL OR d.closed_on > %(first)s
), grid AS (
    SELECT o.payer_id, o.opened_on, o.closed_on, x.day,
        o.opening - SUM(COALESCE(c.amount, 0))
            OVER (PARTITION BY o.src, o.id ORDER BY x.day) AS balance
    FROM live o CROSS JOIN days x
    LEFT JOIN inside c ON c.src = o.src AND c.id = o.id AND c.on_day = x.day
)
INSERT INTO analytics_receivablefact (day, payer_id, bucket, documents, amount)
SELECT day, payer_id,
    CASE WHEN day - opened_on <= 30 THEN '0-30' WHEN day - opened_on <= 60 THEN '31-60'
         WHEN day - opened_on <= 90 THEN '61-90' ELSE '91+' END,
    COUNT(*), SUM(balance)
FROM grid
WHERE day >= opened_on AND (closed_on IS NULL OR day < closed_on) AND balance > 0
GROUP BY 1, 2, 3
ON CONFLICT ON CONSTRAINT analytics_receivablefact_one_row_per_cell DO UPDATE SET
    documents = EXCLUDED.documents, amount = EXCLUDED.amount
"""

QUALITY_SQL = """
INSERT INTO analytics_qualityfact (day, problem, rows)
SELECT day, problem, COUNT(*) FROM (
    SELECT (v.started_at AT TIME ZONE %(tz)s)::date AS day, 'no-diagnosis' AS problem
    FROM patients_visit v
    WHERE v.started_at >= %(lo)s AND v.started_at < %(hi)s AND v.status = 'signed'
      AND NOT EXISTS (SELECT 1 FROM patients_diagnosis d WHERE d.visit_id = v.id)
    UNION ALL
    SELECT (a.start AT TIME ZONE %(tz)s)::date, 'no-visit' FROM appointments_appointment a
    WHERE a.start >= %(lo)s AND a.start < %(hi)s AND a.status = 'completed'
      AND a.visit_id IS NULL
    UNION ALL
    SELECT (m.created_at AT TIME ZONE %(tz)s)::date, 'no-patient' FROM inventory_stockmovement m
    WHERE m.created_at >= %(lo)s AND m.created_at < %(hi)s AND m.kind = 'dispense'
      AND m.patient_id IS NULL
) AS problems
GROUP BY 1, 2
ON CONFLICT ON CONSTRAINT analytics_qualityfact_one_per_day DO UPDATE SET rows = EXCLUDED.rows
"""

TABLES = (
    "analytics_billingfact",
    "analytics_paymentfact",
    "analytics_receivablefact",
    "analytics_qualityfact",
    "analytics_visitfact",
    "analytics_diagnosisfact",
    "analytics_syndromedaily",
    "analytics_stockfact",
)


def clinic_tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The clinic-local day as an aware half-open range [start, next day's start)."""
    tz = clinic_tz()
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start, end


def local_day(moment: datetime) -> date:
    return timezone.localtime(moment, clinic_tz()).date()


def rollup_refresh_day(*, day: date) -> None:
    """Recompute every rollup of ``day`` from the source tables (idempotent)."""
    rollup_refresh_range(first=day, last=day)


def rollup_refresh_range(*, first: date, last: date) -> None:
    """Recompute every rollup of the local days ``first``…``last`` (inclusive).

    Runs in one transaction: readers see the old or the new figures, never a half-written
    day. Refreshes of overlapping ranges queue on an advisory lock.
    """

    lo, _ = day_bounds(first)
    _, hi = day_bounds(last)
    chained = RollupDay.objects.filter(day=first - timedelta(days=1)).exists()
    params = {
        "first": first,
        "last": last,
        "prev": first - timedelta(days=1),
        "kinds": list(MovementKind.values),
        "lo": lo,
        "hi": hi,
        "tz": settings.TIME_ZONE,
        "cancel": CANCELLED_DISPENSING + "%",
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, 0)", [0x414E])
        for table in TABLES:
            cursor.execute(
                f"DELETE FROM {table} WHERE day BETWEEN %s AND %s",  # noqa: S608
                [first, last],
            )
        for sql in (
            VISIT_SQL,
            DIAGNOSIS_SQL,
            SYNDROME_SQL,
            STOCK_SQL.format(opening=OPENING_FROM_FACTS if chained else OPENING_FROM_LEDGER),
            BILLING_SQL,
            PAYMENT_SQL,
            RECEIVABLE_SQL,
            QUALITY_SQL,
        ):
            cursor.execute(sql, params)
        months_refresh(cursor, first=first, last=last)
        now = timezone.now()
        RollupDay.objects.filter(day__range=(first, last)).delete()
        RollupDay.objects.bulk_create(
            RollupDay(day=first + timedelta(days=i), refreshed_at=now)
            for i in range((last - first).days + 1)
        )
        rollup_generation_bump_on_commit()  # the cached analytics pages render afresh


def rollup_rebuild(
    *, since: date | None = None, until: date | None = None, stdout=None, chunk_days: int = 31
) -> int:
    """Refresh every day from ``since`` (default: the first day with any source data) to
    ``until`` (default: today), a month per transaction, oldest first; returns the number
    of days refreshed."""
    until = until or timezone.localdate()
    if since is None:
        since = first_data_day() or until
    days = 0
    first = since
    while first <= until:
        last = min(until, first + timedelta(days=chunk_days - 1))
        rollup_refresh_range(first=first, last=last)
        days += (last - first).days + 1
        if stdout is not None:
            stdout.write(f"  ... {last}")
        first = last + timedelta(days=1)
    return days


def first_data_day() -> date | None:
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT LEAST(
                   (SELECT MIN(start) FROM appointments_appointment),
                   (SELECT MIN(started_at) FROM patients_visit),
                   (SELECT MIN(created_at) FROM inventory_stockmovement),
                   (SELECT MIN(issued_at) FROM billing_invoice))"""
        )
        first = cursor.fetchone()[0]
    return local_day(first) if first else None


def rollup_refresh_today() -> None:
    """Today's rollups (and yesterday's, so late changes around midnight are caught)."""
    today = timezone.localdate()
    rollup_refresh_day(day=today - timedelta(days=1))
    rollup_refresh_day(day=today)


def rollup_refresh_recent(*, days: int = NIGHTLY_DAYS) -> int:
    today = timezone.localdate()
    return rollup_rebuild(since=today - timedelta(days=days), until=today)

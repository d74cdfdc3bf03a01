"""Billing benchmark (issue 12): 200,000 invoices with 600,000 lines and about 250,000
payments, generated with ``INSERT ... SELECT generate_series`` in chunks and topped up to the
requested scale (idempotent). Bench documents use their own series (``BINV``, ``BOR``) with
counters set to match, so ``manage.py billing check`` holds on the bench database.

Targets (p95): patient billing tab 50 ms, invoice page 50 ms, AR ageing 150 ms, cashier day
close 100 ms, issuing an invoice 30 ms.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from billing.catalogue import catalogue_ensure
from billing.models import CashierDay, Invoice, InvoiceStatus, Payment, Service
from billing.services import invoices, payments
from patients.models import Patient
from uscpis.bench import BenchCase, page_case
from uscpis.benchhttp import HttpPage

CHUNK = 50_000
YEAR = 2025  # the bench series' year
CLERK_EMAIL = "billing@usc.edu.ph"
HEAVY_EVERY = 500  # every 500th invoice belongs to the "heavy" patient (400 at full scale)


def _scalar(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        return row[0] if row else None


def _clerk():

    user = User.objects.filter(email=CLERK_EMAIL).first()
    if user is None:
        user = User.objects.create_user(
            email=CLERK_EMAIL,
            password=None,
            role=Role.BILLING_CLERK,
            first_name="Bench",
            last_name="Clerk",
        )
    return user


def generate(scale: dict, stdout) -> None:

    target = int(scale.get("invoices", 200_000))
    catalogue_ensure()
    clerk = _clerk()
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM patients_patient ORDER BY id LIMIT 100000")
        patients = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT code, id FROM billing_service WHERE code IN ('LAB-CBC','LAB-UA','LAB-FBS')"
        )
        services = dict(cursor.fetchall())
    if not patients or target <= 0:
        stdout.write("  billing: no patients to bill; skipped")
        return
    have = _scalar("SELECT COUNT(*) FROM billing_invoice WHERE number LIKE 'BINV-%%'")
    if have >= target:
        stdout.write(f"  billing: {have} bench invoices already")
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billing_cashierday (cashier_id, business_date, opening_float, status, "
            "opened_at, closed_at, expected, counted, close_note) "
            "SELECT %s, DATE '2025-01-02', 0, 'closed', now(), now(), '{}', '{}', 'bench' "
            "WHERE NOT EXISTS (SELECT 1 FROM billing_cashierday WHERE close_note = 'bench')",
            [clerk.pk],
        )
    day_id = _scalar("SELECT id FROM billing_cashierday WHERE close_note = 'bench'")
    for start in range(have + 1, target + 1, CHUNK):
        end = min(start + CHUNK - 1, target)
        with transaction.atomic(), connection.cursor() as cursor:
            _chunk(cursor, start, end, patients, services, clerk.pk, day_id)
        stdout.write(f"  billing: invoices {end} / {target}")
    with connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE billing_invoice; ANALYZE billing_invoiceline; "
            "ANALYZE billing_payment; ANALYZE billing_allocation"
        )


def _chunk(
    cursor, start: int, end: int, patients: list[int], services: dict, clerk_id: int, day_id: int
) -> None:
    # Status by i mod 20: 12 paid (two payments of 250), 3 partially paid (200), 5 issued.
    cursor.execute(
        """
        INSERT INTO billing_invoice (patient_id, visit_day, status, number, issued_at, issued_by_id,
            statutory_discount, statutory_id_number, coverage_id, gross_total, discount_total,
            vat_total, net_total, payer_total, patient_total, moved_to_patient, credited,
            written_off, amount_paid, void_reason, created_at, updated_at)
        SELECT CASE WHEN i %% %(heavy)s = 0 THEN (%(patients)s)[1]
                    ELSE (%(patients)s)[1 + (i * 7919) %% array_length(%(patients)s, 1)] END,
               CURRENT_DATE - (i %% 730),
               CASE WHEN i %% 20 < 12 THEN 'paid' WHEN i %% 20 < 15 THEN 'partially_paid'
                    ELSE 'issued' END,
               'BINV-' || %(year)s || '-' || lpad(i::text, 6, '0'),
               now() - ((i %% 730) || ' days')::interval, %(clerk)s,
               '', '', NULL, 500, 0, 0, 500, 0, 500, 0, 0, 0,
               CASE WHEN i %% 20 < 12 THEN 500 WHEN i %% 20 < 15 THEN 200 ELSE 0 END,
               '', now(), now()
        FROM generate_series(%(start)s, %(end)s) AS i
        """,
        {
            "heavy": HEAVY_EVERY,
            "patients": patients,
            "year": YEAR,
            "clerk": clerk_id,
            "start": start,
            "end": end,
        },
    )
    cursor.execute(
        """
        INSERT INTO billing_invoiceline (invoice_id, charge_id, voided, service_id, description,
            quantity, unit_price, price_override_reason, covered_by_fee, vat_exempt, gross,
            vat_exemption, discount, discount_kind, net, vat, coverage_id, payer_share,
            patient_share, provider_id)
        SELECT inv.id, NULL, false, s.service_id, s.name, 1, s.amount, '', false, true, s.amount,
               0, 0, '', s.amount, 0, NULL, 0, s.amount, NULL
        FROM billing_invoice inv
        CROSS JOIN (VALUES (%(cbc)s, 'Complete blood count', 250.00),
                           (%(ua)s, 'Urinalysis', 100.00),
                           (%(fbs)s, 'Fasting blood sugar', 150.00)) AS s(service_id, name, amount)
        WHERE inv.number BETWEEN %(first)s AND %(last)s
        """,
        {
            "cbc": services["LAB-CBC"],
            "ua": services["LAB-UA"],
            "fbs": services["LAB-FBS"],
            "first": f"BINV-{YEAR}-{start:06d}",
            "last": f"BINV-{YEAR}-{end:06d}",
        },
    )
    base = _scalar(
        "SELECT coalesce(max(last_value), 0) FROM billing_numberseries "
        "WHERE series = 'BOR' AND year = %s",
        [YEAR],
    )
    cursor.execute(
        """
        INSERT INTO billing_payment (patient_id, cashier_day_id, method, reference, amount,
            unallocated, refunded, receipt_number, idempotency_key, received_by_id, received_at)
        SELECT inv.patient_id, %(day)s,
               CASE WHEN k = 2 THEN 'gcash' ELSE 'cash' END,
               CASE WHEN k = 2 THEN 'GC-' || inv.id ELSE '' END,
               CASE WHEN inv.status = 'paid' THEN 250 ELSE 200 END, 0, 0,
               'BOR-' || %(year)s || '-' || lpad((%(base)s + row_number() OVER (ORDER BY inv.id, k))::text, 6, '0'),
               'bench-' || inv.id || '-' || k, %(clerk)s, inv.issued_at + interval '1 hour'
        FROM billing_invoice inv CROSS JOIN generate_series(1, 2) AS k
        WHERE inv.number BETWEEN %(first)s AND %(last)s
          AND (inv.status = 'paid' OR (inv.status = 'partially_paid' AND k = 1))
        """,
        {
            "day": day_id,
            "year": YEAR,
            "base": base,
            "clerk": clerk_id,
            "first": f"BINV-{YEAR}-{start:06d}",
            "last": f"BINV-{YEAR}-{end:06d}",
        },
    )
    added = cursor.rowcount
    cursor.execute(
        """
        INSERT INTO billing_allocation (payment_id, invoice_id, amount, created_at, created_by_id)
        SELECT p.id, split_part(p.idempotency_key, '-', 2)::bigint, p.amount, p.received_at, %s
        FROM billing_payment p
        WHERE p.idempotency_key LIKE 'bench-%%' AND p.receipt_number > %s
        """,
        [clerk_id, f"BOR-{YEAR}-{base:06d}"],
    )
    for series, last in (("BINV", end), ("BOR", base + added)):
        cursor.execute(
            "INSERT INTO billing_numberseries (series, year, last_value) VALUES (%s, %s, %s) "
            "ON CONFLICT (series, year) DO UPDATE SET last_value = EXCLUDED.last_value",
            [series, YEAR, last],
        )


# --- Cases ---------------------------------------------------------------------------------


def _heavy_patient_id() -> int:
    """The patient given every HEAVY_EVERY-th bench invoice; below that many invoices (the
    tiny-scale harness test), whoever has the most."""
    return _scalar(
        "SELECT patient_id FROM billing_invoice WHERE number = %s",
        [f"BINV-{YEAR}-{HEAVY_EVERY:06d}"],
    ) or _scalar(
        "SELECT patient_id FROM billing_invoice GROUP BY patient_id ORDER BY count(*) DESC LIMIT 1"
    )


def _some_invoice_url() -> str:
    pk = _scalar(
        "SELECT id FROM billing_invoice WHERE number = %s", [f"BINV-{YEAR}-{HEAVY_EVERY * 2:06d}"]
    ) or _scalar("SELECT max(id) FROM billing_invoice")
    return reverse("billing:invoice", args=[pk])


def _issue_case() -> BenchCase:
    """Issue a draft of three lines (number assigned under the counter lock), rolled back."""

    def prepare():

        clerk = _clerk()
        patient = Patient.objects.order_by("id").first()
        draft = Invoice.objects.filter(status=InvoiceStatus.DRAFT, patient=patient).first()
        if draft is None:
            draft = Invoice.objects.create(patient=patient, visit_day=timezone.localdate())
            for code in ("LAB-CBC", "LAB-UA", "LAB-FBS"):
                invoices.invoice_add_line(
                    actor=clerk,
                    invoice=draft,
                    service=Service.objects.get(code=code),
                    quantity=Decimal("1"),
                )

        def run():
            with transaction.atomic():
                invoices.invoice_issue(actor=clerk, invoice=draft)
                transaction.set_rollback(True)

        return run

    return BenchCase(
        "billing: issue an invoice",
        prepare,
        target_ms=30,
        description="draft of 3 lines → gap-free number, totals, credit check (rolled back)",
    )


def _clerk_open_day(clerk) -> CashierDay:
    """The bench clerk's open cashier day with 300 of the bench payments (moved from the
    bench's closed day, once)."""
    day = CashierDay.objects.filter(cashier=clerk, status="open").first()
    if day is None:
        day = payments.cashier_day_open(actor=clerk, opening_float=Decimal("1000"))
    if not day.payments.exists():
        bench_day = CashierDay.objects.get(close_note="bench")
        ids = list(Payment.objects.filter(cashier_day=bench_day).values_list("pk", flat=True)[:300])
        Payment.objects.filter(pk__in=ids).update(cashier_day=day)
    return day


def _cashier_url() -> str:
    _clerk_open_day(_clerk())
    return reverse("billing:cashier")


def _close_case() -> BenchCase:
    """Close a cashier day with 300 payments (expected per method vs counted), rolled back."""

    def prepare():

        clerk = _clerk()
        day = _clerk_open_day(clerk)

        def run():
            with transaction.atomic():
                payments.cashier_day_close(actor=clerk, day=day, counted={"cash": Decimal("1000")})
                transaction.set_rollback(True)

        return run

    return BenchCase(
        "billing: close a cashier day",
        prepare,
        target_ms=100,
        description="300 payments: expected vs counted per method (rolled back)",
    )


CASES = [
    page_case(
        "billing: patient billing tab",
        user=_clerk,
        url=lambda: reverse("billing:patient", args=[_heavy_patient_id()]),
        target_ms=50,
        description="a patient with 400 invoices (paginated) and their balance",
    ),
    page_case("billing: invoice page", user=_clerk, url=_some_invoice_url, target_ms=50),
    page_case(
        "billing: AR ageing by patient",
        user=_clerk,
        url=lambda: reverse("billing:reports") + "?report=ar_patient",
        target_ms=150,
        description="open invoices bucketed 0–30/31–60/61–90/90+ by patient",
    ),
    page_case(
        "billing: invoice list open",
        user=_clerk,
        url=lambda: reverse("billing:invoices") + "?status=open",
        target_ms=50,
    ),
    _issue_case(),
    _close_case(),
]


HTTP_PAGES = [
    HttpPage(
        "billing: patient billing tab",
        lambda: reverse("billing:patient", args=[_heavy_patient_id()]),
        user=CLERK_EMAIL,
    ),
    HttpPage("billing: invoice page", _some_invoice_url, user=CLERK_EMAIL),
    HttpPage(
        "billing: open-invoice list",
        lambda: reverse("billing:invoices") + "?status=open",
        user=CLERK_EMAIL,
    ),
    HttpPage(
        "billing: AR ageing by patient",
        lambda: reverse("billing:reports") + "?report=ar_patient",
        user=CLERK_EMAIL,
    ),
    HttpPage("billing: cashier's day (open, 300 payments)", _cashier_url, user=CLERK_EMAIL),
]

"""The billing benchmark generates data idempotently (bulk SQL) and every case runs (tiny
scale); ``billing check`` holds on the generated data."""

import io

import pytest

from billing import bench
from billing.models import Allocation, Invoice, InvoiceLine, Payment
from billing.services.checks import billing_check
from tests.patients.factories import PatientFactory
from uscpis.bench import run_case

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_generate_tops_up_and_every_case_runs():
    PatientFactory.create_batch(30)
    bench.generate({"invoices": 1200}, io.StringIO())
    bench_invoices = Invoice.objects.filter(number__startswith="BINV-")
    assert bench_invoices.count() == 1200
    assert InvoiceLine.objects.filter(invoice__in=bench_invoices).count() == 3600
    first_payments = Payment.objects.count()
    assert first_payments == Allocation.objects.count() > 1200
    bench.generate({"invoices": 1200}, io.StringIO())
    assert (
        bench_invoices.count() == 1200 and Payment.objects.count() == first_payments
    )  # idempotent
    bench.generate({"invoices": 1500}, io.StringIO())
    assert bench_invoices.count() == 1500
    report = billing_check()
    assert not any(report.values()), report
    for case in bench.CASES:
        result = run_case(case, 1, warmup=0)
        assert result.runs == 1 and result.queries >= 1, case.name
    assert not any(billing_check().values())

"""Billing rollups equal the raw invoice lines and payments (void invoices and voided lines
left out, days at 23:30/00:30 clinic time), and the financial page shows them."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics.models import BillingFact, PaymentFact
from analytics.services.rollups import local_day, rollup_rebuild
from tests.analytics.factories import local
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
FIRST = timezone.localdate() - timedelta(days=8)


@pytest.fixture
def billing_world(db):
    from accounts.roles import Role
    from billing.models import (
        CashierDay,
        Coverage,
        Invoice,
        InvoiceLine,
        Payer,
        Payment,
        Service,
    )
    from tests.inventory.factories import PatientFactory

    doctor = UserFactory(role=Role.DOCTOR)
    cashier = UserFactory(role=Role.BILLING_CLERK)
    consult = Service.objects.create(
        code="AN-CONSULT", name="Consultation (test)", group="consultation"
    )
    medicine = Service.objects.create(code="AN-MED", name="Medicine (test)", group="medicine")
    hmo = Payer.objects.create(code="an-hmo", name="Test HMO", kind="hmo")
    patients = [PatientFactory() for _ in range(3)]
    coverage = Coverage.objects.create(
        patient=patients[0], payer=hmo, member_id="M1", valid_from=FIRST - timedelta(days=30)
    )
    day_cashier = CashierDay.objects.create(cashier=cashier, business_date=FIRST)
    n = 0
    for d in range(3):
        day = FIRST + timedelta(days=d)
        for hh, mm, status in (
            (0, 30, "issued"),
            (12, 0, "paid"),
            (23, 30, "void"),
            (23, 45, "partially_paid"),
        ):
            n += 1
            when = local(day, hh, mm)
            lines = [
                (consult, Decimal("300.00"), Decimal("30.00"), coverage if n % 2 else None),
                (medicine, Decimal("120.00"), Decimal("0"), None),
            ]
            gross = sum(g for _, g, _, _ in lines)
            discount = sum(x for _, _, x, _ in lines)
            payer_total = sum((g - x) / 2 for _, g, x, c in lines if c)
            net = gross - discount
            invoice = Invoice.objects.create(
                patient=patients[n % 3],
                visit_day=day,
                status=status,
                number=f"AN-{n:04d}",
                issued_at=when,
                gross_total=gross,
                discount_total=discount,
                net_total=net,
                payer_total=payer_total,
                patient_total=net - payer_total,
                voided_at=when if status == "void" else None,
                void_reason="Wrong patient" if status == "void" else "",
            )
            for service, g, x, cov in lines:
                share = (g - x) / 2 if cov else Decimal(0)
                InvoiceLine.objects.create(
                    invoice=invoice,
                    service=service,
                    description=service.name,
                    quantity=1,
                    unit_price=g,
                    gross=g,
                    discount=x,
                    net=g - x,
                    payer_share=share,
                    patient_share=g - x - share,
                    coverage=cov,
                    provider=doctor,
                    voided=status == "void",
                )
            Payment.objects.create(
                patient=invoice.patient,
                cashier_day=day_cashier,
                method="cash" if n % 2 else "gcash",
                reference="" if n % 2 else f"GC{n}",
                amount=Decimal("100.00"),
                receipt_number=f"AN-R{n}",
                idempotency_key=f"an-{n}",
                received_by=cashier,
                received_at=when,
            )
    return {"consult": consult, "medicine": medicine, "hmo": hmo}


def test_billing_rollups_equal_the_raw_tables(billing_world):
    from billing.models import InvoiceLine, Payment

    rollup_rebuild(since=FIRST - timedelta(days=1))
    expected = defaultdict(lambda: defaultdict(Decimal))
    for line in InvoiceLine.objects.select_related("invoice", "coverage"):
        if line.voided or line.invoice.status in ("draft", "void"):
            continue
        key = (
            local_day(line.invoice.issued_at),
            line.service_id,
            line.coverage.payer_id if line.coverage else None,
            line.provider_id,
        )
        cell = expected[key]
        cell["lines"] += 1
        cell["net"] += line.net
        cell["gross"] += line.gross
        cell["discount"] += line.discount + line.vat_exemption
        cell["payer_share"] += line.payer_share
    actual = {
        (f.day, f.service_id, f.payer_id, f.provider_id): {
            "lines": f.lines,
            "net": f.net,
            "gross": f.gross,
            "discount": f.discount,
            "payer_share": f.payer_share,
        }
        for f in BillingFact.objects.all()
    }
    assert actual == {k: dict(v) for k, v in expected.items()}
    assert sum(v["lines"] for v in actual.values()) == 3 * 3 * 2  # void invoice left out
    payments = defaultdict(Decimal)
    for p in Payment.objects.all():
        payments[(local_day(p.received_at), p.method)] += p.amount
    assert {(f.day, f.method): f.amount for f in PaymentFact.objects.all()} == dict(payments)


def test_financial_page_for_admin_and_billing_clerk(
    billing_world, client_for, admin_user, billing_user
):
    rollup_rebuild(since=FIRST - timedelta(days=1))
    for user in (admin_user, billing_user):
        body = (
            client_for(user)
            .get(reverse("analytics:financial"), {"date_from": FIRST.isoformat()})
            .content.decode()
        )
        assert "Revenue (net)" in body and "Claims denial rate" in body
        assert "Test HMO" in body and "Self-pay" in body and "Consultation (test)" in body
    overview = client_for(admin_user).get(reverse("analytics:overview")).content.decode()
    assert "Revenue (net)" in overview and "Receivables now" in overview

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


def _bucket(age: int) -> str:
    return "0-30" if age <= 30 else "31-60" if age <= 60 else "61-90" if age <= 90 else "91+"


def _settlements(billing_world):
    """Allocations, a credit note, write-offs (approved and rejected), a late void, and a
    claim on the HMO part-paid by a remittance — each dated on a later day (23:30/00:30)."""
    from billing.models import (
        Allocation,
        Claim,
        CreditNote,
        Invoice,
        Payment,
        Remittance,
        RemittanceLine,
    )

    cashier = Payment.objects.first().received_by
    invoices = list(Invoice.objects.exclude(status="void").order_by("issued_at"))
    payment = Payment.objects.order_by("id").first()
    # Paid in part on the next day at 00:30, the rest two days later at 23:30.
    Allocation.objects.create(
        payment=payment,
        invoice=invoices[0],
        amount=Decimal("50.00"),
        created_at=local(FIRST + timedelta(days=1), 0, 30),
    )
    Allocation.objects.create(
        payment=payment,
        invoice=invoices[0],
        amount=invoices[0].patient_total - Decimal("50.00"),
        created_at=local(FIRST + timedelta(days=3), 23, 30),
    )
    # Billing keeps the invoice's totals equal to its ledger rows; so does this fixture.
    Invoice.objects.filter(pk=invoices[0].pk).update(
        amount_paid=invoices[0].patient_total, status="paid"
    )
    Invoice.objects.filter(pk=invoices[1].pk).update(credited=Decimal("20.00"))
    Invoice.objects.filter(pk=invoices[2].pk).update(written_off=Decimal("40.00"))
    CreditNote.objects.create(
        invoice=invoices[1],
        number="AN-CN-1",
        amount=Decimal("20.00"),
        reason="Correction",
        created_by=cashier,
        created_at=local(FIRST + timedelta(days=2), 12, 0),
    )
    for status, amount in (("approved", Decimal("40.00")), ("rejected", Decimal("60.00"))):
        invoices[2].write_offs.create(
            amount=amount,
            reason="Hardship",
            status=status,
            requested_by=cashier,
            decided_by=cashier,
            decided_at=local(FIRST + timedelta(days=4), 23, 30),
        )
    late = invoices[3]
    Invoice.objects.filter(pk=late.pk).update(
        status="void", voided_at=local(FIRST + timedelta(days=5), 0, 30), void_reason="Error"
    )
    patient = invoices[0].patient
    coverage = billing_world["hmo"].coverages.first()
    claim = Claim.objects.create(
        payer=billing_world["hmo"],
        coverage=coverage,
        patient=patient,
        number="AN-CL-1",
        status="partially_paid",
        total=Decimal("270.00"),
        paid=Decimal("90.00"),
        adjusted=Decimal("10.00"),
        created_by=cashier,
        created_at=local(FIRST, 23, 30),
    )
    Claim.objects.create(
        payer=billing_world["hmo"],
        coverage=coverage,
        patient=patient,
        number="AN-CL-2",
        status="draft",
        total=Decimal("99.00"),
        created_by=cashier,
    )
    remittance = Remittance.objects.create(
        payer=billing_world["hmo"],
        reference="RA-1",
        received_on=FIRST + timedelta(days=2),
        amount=Decimal("100.00"),
        posted_by=cashier,
    )
    RemittanceLine.objects.create(
        remittance=remittance,
        claim=claim,
        paid=Decimal("90.00"),
        contractual_adjustment=Decimal("10.00"),
    )


def _expected_receivables(first, last):
    """The same figure from the raw billing rows, day by day, in Python."""
    from billing.models import Claim, Invoice, RemittanceLine

    expected = defaultdict(lambda: [0, Decimal(0)])
    day = first
    while day <= last:
        for inv in Invoice.objects.exclude(status="draft"):
            opened = local_day(inv.issued_at)
            if opened > day or (inv.status == "void" and local_day(inv.voided_at) <= day):
                continue
            owed = inv.patient_total + inv.moved_to_patient
            owed -= sum(a.amount for a in inv.allocations.all() if local_day(a.created_at) <= day)
            owed -= sum(c.amount for c in inv.credit_notes.all() if local_day(c.created_at) <= day)
            owed -= sum(
                w.amount
                for w in inv.write_offs.all()
                if w.status == "approved" and local_day(w.decided_at) <= day
            )
            if owed > 0:
                cell = expected[(day, None, _bucket((day - opened).days))]
                cell[0] += 1
                cell[1] += owed
        for claim in Claim.objects.exclude(status="draft"):
            opened = local_day(claim.created_at)
            if opened > day:
                continue
            owed = claim.total - sum(
                line.paid + line.contractual_adjustment + line.patient_responsibility
                for line in RemittanceLine.objects.filter(claim=claim).select_related("remittance")
                if line.remittance.received_on <= day
            )
            if owed > 0:
                cell = expected[(day, claim.payer_id, _bucket((day - opened).days))]
                cell[0] += 1
                cell[1] += owed
        day += timedelta(days=1)
    return {k: tuple(v) for k, v in expected.items()}


def test_receivables_rollup_equals_the_raw_tables(billing_world):
    from analytics.models import ReceivableFact

    _settlements(billing_world)
    first, last = FIRST - timedelta(days=1), timezone.localdate()
    # Rebuilt in chunks of 3 days (balances carried across the chunk boundaries).
    rollup_rebuild(since=first, until=last, chunk_days=3)
    actual = {
        (f.day, f.payer_id, f.bucket): (f.documents, f.amount) for f in ReceivableFact.objects.all()
    }
    expected = _expected_receivables(first, last)
    assert actual == expected
    # The edge cases are really in there: invoice 0 is paid off on day 3, the late void
    # drops out on day 5, the claim shrinks on the remittance day.
    assert {k[1] for k in actual} == {None, billing_world["hmo"].pk}
    hmo = {k[0]: v for k, v in actual.items() if k[1] == billing_world["hmo"].pk}
    assert hmo[FIRST + timedelta(days=1)] == (1, Decimal("270.00"))
    assert hmo[FIRST + timedelta(days=2)] == (1, Decimal("170.00"))
    patients_by_day = defaultdict(int)
    for (day, payer, _), (n, _) in actual.items():
        if payer is None:
            patients_by_day[day] += n
    day = [patients_by_day[FIRST + timedelta(days=d)] for d in range(6)]
    assert day[3] == day[2] - 1  # invoice 0 paid off
    assert day[5] == day[4] - 1  # the late void
    # A one-day refresh gives the same rows as the rebuild.
    from analytics.services.rollups import rollup_refresh_day

    rollup_refresh_day(day=FIRST + timedelta(days=4))
    assert {
        (f.day, f.payer_id, f.bucket): (f.documents, f.amount) for f in ReceivableFact.objects.all()
    } == expected


def test_financial_page_draws_the_receivables_trend_with_table_and_csv(
    billing_world, client_for, billing_user
):
    _settlements(billing_world)
    rollup_rebuild(since=FIRST - timedelta(days=1))
    client = client_for(billing_user)
    query = {"date_from": FIRST.isoformat(), "date_to": (FIRST + timedelta(days=5)).isoformat()}
    body = client.get(reverse("analytics:financial"), query).content.decode()
    assert "Receivables ageing over time" in body and "Receivables by payer" in body
    csv = client.get(
        reverse("analytics:financial"), {**query, "export": "csv", "chart": "receivables-trend"}
    )
    lines = b"".join(csv.streaming_content).decode().strip().splitlines()
    assert lines[0].startswith("End of day,0–30 days (PHP)")
    assert len(lines) == 1 + 6  # one row per day of the range
    from analytics.models import ReceivableFact

    day2 = FIRST + timedelta(days=2)
    total = sum(ReceivableFact.objects.filter(day=day2).values_list("amount", flat=True))
    row = next(line for line in lines if line.startswith(f"{day2:%d %b}"))
    import csv as csvlib

    cells = next(csvlib.reader([row]))
    assert float(cells[-1].replace(",", "")) == pytest.approx(float(total), abs=0.05)
    assert total > 0


def test_weekly_sums_and_long_trends_equal_the_daily_rollups(billing_world):
    """Revenue and collections per epidemiological week (summed in the database) equal the
    daily rows summed by ``epi_week_start``; past 92 days the receivables trend has one
    point a week (Saturdays and the last day), each that day's rollup total."""
    from analytics.epi import epi_week_start
    from analytics.models import ReceivableFact
    from analytics.selectors.common import Filters
    from analytics.selectors.financial import financial

    _settlements(billing_world)
    rollup_rebuild(since=FIRST - timedelta(days=1))
    f = Filters(date_from=FIRST - timedelta(days=120), date_to=timezone.localdate())
    _, charts = financial(f)
    weekly = next(c for c in charts if c.id == "revenue-collections-weekly")
    revenue, collected = defaultdict(Decimal), defaultdict(Decimal)
    for fact in BillingFact.objects.all():
        revenue[epi_week_start(fact.day)] += fact.net
    for fact in PaymentFact.objects.all():
        collected[epi_week_start(fact.day)] += fact.amount - fact.refunded
    drawn = {row[0]: (row[1], row[2]) for row in weekly.rows}
    for week in set(revenue) | set(collected):
        label = next(k for k in drawn if k.endswith(f"{week:%d %b}"))
        assert drawn[label] == (float(revenue[week]), float(collected[week]))
    assert sum(v[0] for v in drawn.values()) == float(sum(revenue.values())) > 0
    trend = next(c for c in charts if c.id == "receivables-trend")
    days = [d for d in (f.date_from + timedelta(days=i) for i in range(200)) if d <= f.date_to]
    shown = [d for d in days if d.weekday() == 5 or d == f.date_to]
    assert [row[0] for row in trend.rows] == [f"{d:%d %b}" for d in shown]
    for day, row in zip(shown, trend.rows, strict=True):
        total = sum(ReceivableFact.objects.filter(day=day).values_list("amount", flat=True))
        assert row[-1] == pytest.approx(float(total), abs=0.005)


def test_one_read_sums_equal_each_breakdown_of_the_daily_rows(billing_world):
    """The financial page's single GROUPING SETS read of the billing (payment) rollup gives
    the same totals and breakdowns as summing the rows once per breakdown, with and
    without the provider filter, and only the totals when asked for them alone."""
    from django.db.models import Sum

    from analytics.selectors.common import Filters
    from analytics.selectors.financial import _billing_sums, _payment_sums

    _settlements(billing_world)
    rollup_rebuild(since=FIRST - timedelta(days=1))
    today = timezone.localdate()
    providers = {p for p in BillingFact.objects.values_list("provider_id", flat=True) if p}
    assert providers
    for f in [
        Filters(FIRST - timedelta(days=30), today),
        Filters(FIRST + timedelta(days=2), today - timedelta(days=1)),
        Filters(FIRST - timedelta(days=30), today, provider_id=min(providers)),
        Filters(today + timedelta(days=1), today + timedelta(days=5)),
    ]:
        facts = BillingFact.objects.filter(day__gte=f.date_from, day__lte=f.date_to)
        if f.provider_id:
            facts = facts.filter(provider_id=f.provider_id)
        sums = _billing_sums(f)
        assert sums["totals"] == facts.aggregate(
            net=Sum("net"),
            discount=Sum("discount"),
            gross=Sum("gross"),
            cost=Sum("cost"),
            payer=Sum("payer_share"),
        )
        for name, key in (("service", "service_id"), ("payer", "payer_id")):
            expected = {r[key]: r["n"] for r in facts.values(key).annotate(n=Sum("net"))}
            assert {r[key]: r["n"] for r in sums[name]} == expected
            assert [r["n"] for r in sums[name]] == sorted(expected.values(), reverse=True)
        groups = facts.values("service_group").annotate(
            n=Sum("net"), cost=Sum("cost"), disc=Sum("discount")
        )
        assert sorted(sums["group"], key=lambda r: r["service_group"]) == sorted(
            groups, key=lambda r: r["service_group"]
        )
        by_provider = facts.exclude(provider_id=None).values("provider_id")
        assert {r["provider_id"]: r["n"] for r in sums["provider"]} == {
            r["provider_id"]: r["n"] for r in by_provider.annotate(n=Sum("net"))
        }
        weeks = {}
        for fact in facts:
            week = fact.day - timedelta(days=(fact.day.weekday() + 1) % 7)
            weeks[week] = weeks.get(week, 0) + fact.net
        assert sums["weeks"] == weeks
        only = _billing_sums(f, totals_only=True)
        assert only["totals"] == sums["totals"] and not only["service"] and not only["weeks"]
        payments = PaymentFact.objects.filter(day__gte=f.date_from, day__lte=f.date_to)
        collected, paid_weeks = _payment_sums(f)
        assert collected == payments.aggregate(amount=Sum("amount"), refunded=Sum("refunded"))
        expected_weeks = {}
        for fact in payments:
            week = fact.day - timedelta(days=(fact.day.weekday() + 1) % 7)
            expected_weeks[week] = expected_weeks.get(week, 0) + fact.amount - fact.refunded
        assert paid_weeks == expected_weeks
    assert sums["totals"]["net"] is None  # the future: no rows, sums are None as before

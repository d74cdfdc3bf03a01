"""Reads for the financial page: revenue, collections, receivables, discounts, margins and
claims (billing rollups, plus live receivables ageing and claim outcomes)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, DateField, Q, Sum
from django.db.models.expressions import RawSQL
from django.utils import timezone

from accounts.models import User
from analytics.charts import Chart, bar_chart, line_chart
from analytics.epi import epi_week, epi_week_start
from analytics.models import (
    RECEIVABLE_BUCKETS,
    BillingFact,
    PaymentFact,
    ReceivableFact,
)
from analytics.selectors import stock
from analytics.selectors.dashboards import Filters, Kpi, pct
from billing.models import Claim, ClaimStatus, Payer, Service, ServiceGroup


def _peso(value) -> str:
    return f"PHP {Decimal(value or 0):,.2f}"


# A rollup row's epidemiological week (the Sunday that starts it, as ``epi_week_start``),
# so weekly sums are made in the database.
EPI_WEEK_START = RawSQL("day - EXTRACT(DOW FROM day)::int", [], output_field=DateField())


def _range(f: Filters) -> Q:
    q = Q(day__gte=f.date_from, day__lte=f.date_to)
    if f.provider_id:
        q &= Q(provider_id=f.provider_id)
    return q


def receivables_ageing() -> list[tuple[str, Decimal]]:
    """What patients owe on posted invoices, by age since issue: today's receivables
    rollup (refreshed every few minutes), or the latest day rolled up."""
    latest = (
        ReceivableFact.objects.filter(day__lte=timezone.localdate())
        .order_by("-day")
        .values_list("day", flat=True)
        .first()
    )
    rows = dict(
        ReceivableFact.objects.filter(day=latest, payer_id=None).values_list("bucket", "amount")
    )
    return [(BUCKET_LABELS[b], rows.get(b) or Decimal(0)) for b in RECEIVABLE_BUCKETS]


BUCKET_LABELS = {
    "0-30": "0–30 days",
    "31-60": "31–60 days",
    "61-90": "61–90 days",
    "91+": "Over 90 days",
}
DAILY_POINTS_UP_TO = 92  # longer ranges are drawn one point per week (its last day)


def receivables_trend(f: Filters, payers: dict[int, str]) -> list[Chart]:
    """What was owed at the end of each day of the period by ageing bucket (patients and
    payers together), and the last day split by payer — from the daily receivables rollup."""
    days = []
    day = f.date_from
    while day <= f.date_to:
        days.append(day)
        day += timedelta(days=1)
    if len(days) > DAILY_POINTS_UP_TO:
        days = [d for d in days if d.weekday() == 5 or d == f.date_to]  # Saturdays + last day
    rows = ReceivableFact.objects.filter(day__gte=f.date_from, day__lte=f.date_to)
    by_day: dict = {}
    for day, bucket, amount in (
        rows.filter(day__in=days)  # only the days drawn (one a week past 92 days)
        .values("day", "bucket")
        .annotate(a=Sum("amount"))
        .values_list("day", "bucket", "a")
    ):
        by_day.setdefault(day, {})[bucket] = amount
    labels = [f"{d:%d %b}" for d in days]
    series = [
        (BUCKET_LABELS[b], [float(by_day.get(d, {}).get(b, 0)) for d in days])
        for b in RECEIVABLE_BUCKETS
    ]
    totals = [sum(values[i] for _, values in series) for i in range(len(days))]
    trend = line_chart(
        "receivables-trend",
        "Receivables ageing over time (owed at the end of each day, PHP)",
        labels,
        series,
        header=[
            "End of day",
            *[BUCKET_LABELS[b] + " (PHP)" for b in RECEIVABLE_BUCKETS],
            "Total (PHP)",
        ],
        note="Patients' share of posted invoices and payers' claims, aged from issue."
        + (
            " One point per week (Saturday)."
            if len(days) < (f.date_to - f.date_from).days + 1
            else ""
        ),
    )
    for row, total in zip(trend.rows, totals, strict=True):
        row.append(round(total, 2))
    last = rows.filter(day=f.date_to)
    per_payer: dict = {}
    for payer_id, bucket, amount in last.values_list("payer_id", "bucket", "amount"):
        per_payer.setdefault(payer_id, {})[bucket] = amount
    ordered = sorted(per_payer.items(), key=lambda kv: -sum(kv[1].values()))
    by_payer = bar_chart(
        "receivables-by-payer",
        f"Receivables by payer at the end of {f.date_to:%d %b %Y} (PHP)",
        [
            (payers.get(pid, f"Payer #{pid}") if pid else "Patients", float(sum(v.values())))
            for pid, v in ordered
        ],
        header=[
            "Owed by",
            "Total (PHP)",
            *[BUCKET_LABELS[b] + " (PHP)" for b in RECEIVABLE_BUCKETS],
        ],
        extra_columns=[[float(v.get(b, 0)) for b in RECEIVABLE_BUCKETS] for _, v in ordered],
    )
    return [trend, by_payer]


def financial(f: Filters, *, charts: bool = True) -> tuple[list[Kpi], list[Chart]]:

    facts = BillingFact.objects.filter(_range(f))
    totals = facts.aggregate(
        net=Sum("net"),
        discount=Sum("discount"),
        gross=Sum("gross"),
        cost=Sum("cost"),
        payer=Sum("payer_share"),
    )
    collected = PaymentFact.objects.filter(day__gte=f.date_from, day__lte=f.date_to).aggregate(
        amount=Sum("amount"), refunded=Sum("refunded")
    )
    ageing = receivables_ageing()
    claims = Claim.objects.filter(
        submitted_at__date__gte=f.date_from, submitted_at__date__lte=f.date_to
    ).aggregate(
        decided=Count("id", filter=~Q(status__in=[ClaimStatus.DRAFT, ClaimStatus.SUBMITTED])),
        denied=Count("id", filter=Q(status=ClaimStatus.DENIED)),
    )
    denial = pct(claims["denied"], claims["decided"])
    kpis = [
        Kpi("Revenue (net)", _peso(totals["net"]), f"gross {_peso(totals['gross'])}"),
        Kpi(
            "Collections",
            _peso((collected["amount"] or 0) - (collected["refunded"] or 0)),
            f"refunds {_peso(collected['refunded'])}",
        ),
        Kpi(
            "Receivables now",
            _peso(sum(v for _, v in ageing)),
            f"over 90 days {_peso(ageing[-1][1])}",
            "warn" if ageing[-1][1] else "good",
        ),
        Kpi("Discounts", _peso(totals["discount"]), "statutory, VAT exemption and others"),
        Kpi(
            "Claims denial rate",
            f"{denial}%" if denial is not None else "—",
            f"{claims['denied']} of {claims['decided']} decided claims",
        ),
    ]
    if not charts:
        return kpis, []
    services = dict(Service.objects.values_list("id", "name"))
    by_service = facts.values("service_id").annotate(n=Sum("net")).order_by("-n")[:15]
    groups = dict(ServiceGroup.choices)
    by_group = list(
        facts.values("service_group")
        .annotate(n=Sum("net"), cost=Sum("cost"), disc=Sum("discount"))
        .order_by("-n")
    )
    dispensed_cost = stock.dispensed_value(f.date_from, f.date_to)
    payers = dict(Payer.objects.values_list("id", "name"))
    by_payer = facts.values("payer_id").annotate(n=Sum("net")).order_by("-n")
    by_provider = list(
        facts.exclude(provider_id=None).values("provider_id").annotate(n=Sum("net")).order_by("-n")
    )
    names = {
        u.pk: u.full_name
        for u in User.objects.filter(pk__in=[r["provider_id"] for r in by_provider])
    }
    weeks = dict(
        PaymentFact.objects.filter(day__gte=f.date_from, day__lte=f.date_to)
        .values(week=EPI_WEEK_START)
        .annotate(n=Sum("amount") - Sum("refunded"))
        .values_list("week", "n")
    )
    revenue_weeks = dict(
        facts.values(week=EPI_WEEK_START).annotate(n=Sum("net")).values_list("week", "n")
    )
    starts = []
    week = epi_week_start(f.date_from)
    while week <= f.date_to:
        starts.append(week)
        week += timedelta(days=7)
    return kpis, [
        line_chart(
            "revenue-collections-weekly",
            "Revenue and collections per week (PHP)",
            [f"W{epi_week(w)[1]:02d} {w:%d %b}" for w in starts],
            [
                ("Revenue", [float(revenue_weeks.get(w, 0)) for w in starts]),
                ("Collections", [float(weeks.get(w, 0)) for w in starts]),
            ],
            header=["Week", "Revenue (PHP)", "Collections (PHP)"],
        ),
        bar_chart(
            "revenue-by-service",
            "Revenue by service (PHP)",
            [(services.get(r["service_id"], "?"), float(r["n"])) for r in by_service],
            header=["Service", "Revenue (PHP)"],
        ),
        bar_chart(
            "revenue-by-group",
            "Revenue, discounts and cost by service group (PHP)",
            [
                (str(groups.get(r["service_group"], r["service_group"])), float(r["n"]))
                for r in by_group
            ],
            header=[
                "Service group",
                "Revenue (PHP)",
                "Discounts (PHP)",
                "Cost of items (PHP)",
                "Margin (PHP)",
            ],
            extra_columns=[
                [float(r["disc"]), float(r["cost"]), float(r["n"] - r["cost"])] for r in by_group
            ],
            note=f"Cost of all items dispensed in the period (billed or not): {_peso(dispensed_cost)}.",
        ),
        bar_chart(
            "revenue-by-payer",
            "Revenue by payer (PHP)",
            [
                (
                    payers.get(r["payer_id"], "Self-pay") if r["payer_id"] else "Self-pay",
                    float(r["n"]),
                )
                for r in by_payer
            ],
            header=["Payer", "Revenue (PHP)"],
        ),
        bar_chart(
            "revenue-by-provider",
            "Revenue by provider (PHP)",
            [
                (names.get(r["provider_id"], f"#{r['provider_id']}"), float(r["n"]))
                for r in by_provider
            ],
            header=["Provider", "Revenue (PHP)"],
        ),
        bar_chart(
            "receivables-ageing",
            "Receivables by age (what patients owe now, PHP)",
            [(b, float(v)) for b, v in ageing],
            header=["Age since issue", "Owed (PHP)"],
        ),
        *receivables_trend(f, payers),
    ]

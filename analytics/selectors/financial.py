"""Reads for the financial page: revenue, collections, receivables, discounts, margins and
claims (billing rollups, plus live receivables ageing and claim outcomes)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, Q, Sum
from django.utils import timezone

from accounts.models import User
from analytics.charts import Chart, bar_chart, line_chart
from analytics.epi import epi_week, epi_week_start
from analytics.models import (
    RECEIVABLE_BUCKETS,
    ReceivableFact,
)
from analytics.selectors import stock
from analytics.selectors.common import Filters, Kpi, pct
from billing.models import Claim, ClaimStatus, Payer, Service, ServiceGroup


def _peso(value) -> str:
    return f"PHP {Decimal(value or 0):,.2f}"


# The period's billing rollup summed in every way the page shows it, in one read of its
# rows: the totals (mask 31), per service (15), service group (23), payer (27), provider
# (29) and epidemiological week (30); the mask is GROUPING() of the five keys.
BILLING_SETS_SQL = """
SELECT {keys},
    SUM(net), SUM(discount), SUM(gross), SUM(cost), SUM(payer_share)
FROM (
    SELECT service_id, service_group, payer_id, provider_id,
        day - EXTRACT(DOW FROM day)::int AS week, net, discount, gross, cost, payer_share
    FROM analytics_billingfact
    WHERE day >= %(from)s AND day <= %(to)s {provider}
) AS b
GROUP BY GROUPING SETS {sets}
"""
BILLING_KEYS = "service_id, service_group, payer_id, provider_id, week"
BILLING_SETS = {
    # (select list: the mask and the keys, grouping sets)
    False: (
        f"GROUPING({BILLING_KEYS}), {BILLING_KEYS}",
        "((), (service_id), (service_group), (payer_id), (provider_id), (week))",
    ),
    True: ("31, NULL, NULL, NULL, NULL, NULL", "(())"),  # the totals alone
}

# Collections in the period, in total (mask 1) and per epidemiological week (0).
PAYMENT_SETS_SQL = """
SELECT {keys}, SUM(amount), SUM(refunded)
FROM (
    SELECT day - EXTRACT(DOW FROM day)::int AS week, amount, refunded
    FROM analytics_paymentfact WHERE day >= %(from)s AND day <= %(to)s
) AS p
GROUP BY GROUPING SETS {sets}
"""


def _billing_sums(f: Filters, *, totals_only: bool = False) -> dict:
    params = {"from": f.date_from, "to": f.date_to, "provider": f.provider_id}
    provider = "AND provider_id = %(provider)s" if f.provider_id else ""
    out = {"totals": {}, "service": [], "group": [], "payer": [], "provider": [], "weeks": {}}
    with connection.cursor() as cursor:
        keys, sets = BILLING_SETS[totals_only]
        cursor.execute(BILLING_SETS_SQL.format(provider=provider, keys=keys, sets=sets), params)
        for mask, service, group, payer, prov, week, net, disc, gross, cost, share in cursor:
            if mask == 31:
                out["totals"] = {
                    "net": net,
                    "discount": disc,
                    "gross": gross,
                    "cost": cost,
                    "payer": share,
                }
            elif mask == 15:
                out["service"].append({"service_id": service, "n": net})
            elif mask == 23:
                out["group"].append({"service_group": group, "n": net, "cost": cost, "disc": disc})
            elif mask == 27:
                out["payer"].append({"payer_id": payer, "n": net})
            elif mask == 29 and prov is not None:
                out["provider"].append({"provider_id": prov, "n": net})
            elif mask == 30:
                out["weeks"][week] = net
    for name, key in (
        ("service", "service_id"),
        ("group", "service_group"),
        ("payer", "payer_id"),
        ("provider", "provider_id"),
    ):
        out[name].sort(key=lambda r, key=key: (-r["n"], r[key] is None, r[key] or 0))
    return out


def _payment_sums(f: Filters, *, totals_only: bool = False) -> tuple[dict, dict]:
    """(the period's amount and refunded, collections per week unless ``totals_only``)."""
    collected, weeks = {"amount": None, "refunded": None}, {}
    with connection.cursor() as cursor:
        keys, sets = (
            ("1, NULL", "(())") if totals_only else ("GROUPING(week), week", "((), (week))")
        )
        cursor.execute(
            PAYMENT_SETS_SQL.format(keys=keys, sets=sets), {"from": f.date_from, "to": f.date_to}
        )
        for mask, week, amount, refunded in cursor:
            if mask:
                collected = {"amount": amount, "refunded": refunded}
            else:
                weeks[week] = amount - refunded
    return collected, weeks


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

    sums = _billing_sums(f, totals_only=not charts)
    totals = sums["totals"]
    collected, weeks = _payment_sums(f, totals_only=not charts)
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
    by_service = sums["service"][:15]
    groups = dict(ServiceGroup.choices)
    by_group = sums["group"]
    dispensed_cost = stock.dispensed_value(f.date_from, f.date_to)
    payers = dict(Payer.objects.values_list("id", "name"))
    by_payer = sums["payer"]
    by_provider = sums["provider"]
    names = {
        u.pk: u.full_name
        for u in User.objects.filter(pk__in=[r["provider_id"] for r in by_provider])
    }
    revenue_weeks = sums["weeks"]
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

"""Reads for the operational pages: staff productivity, inventory consumption and
data quality."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from analytics.charts import Chart, bar_chart
from analytics.models import QualityFact, VisitFact
from analytics.selectors import stock
from analytics.selectors.common import (
    Filters,
    pct,
)
from analytics.selectors.dashboards import available_minutes
from analytics.services.rollups import day_bounds
from appointments.models import Appointment, AppointmentStatus
from inventory.models import Item, MovementKind, StockMovement
from patients.models import (
    Visit,
    VisitStatus,
)

# --- Staff productivity -------------------------------------------------------------------


@dataclass
class ProviderRow:
    user_id: int
    name: str
    visits: int = 0
    days: int = 0
    per_day: float | None = None
    consult_avg: float | None = None
    sign_avg_h: float | None = None
    unsigned: int = 0
    booked_minutes: int = 0
    available_minutes: int = 0
    utilisation: float | None = None
    extra: dict = field(default_factory=dict)


def productivity(f: Filters, user) -> list[ProviderRow]:
    """Per provider; a provider who is not an administrator sees only their own row."""

    if user.role != Role.ADMIN:
        f = Filters(f.date_from, f.date_to, user.pk, f.patient_type, f.unit, f.sex, f.age_band)
    rows = (
        VisitFact.objects.filter(f.q())
        .exclude(provider_id=None)
        .values("provider_id")
        .annotate(
            n_visits=Sum("visits"),
            days=Count("day", distinct=True, filter=Q(visits__gt=0)),
            consults=Sum("consults"),
            consult_minutes=Sum("consult_minutes"),
            signed=Sum("signed_visits"),
            sign_minutes=Sum("sign_minutes"),
            booked=Sum("booked_minutes"),
        )
    )
    available = available_minutes(f)
    names = {
        u.pk: u.full_name
        for u in User.objects.filter(pk__in=[r["provider_id"] for r in rows] + list(available))
    }
    out = {}
    for r in rows:
        pid = r["provider_id"]
        out[pid] = ProviderRow(
            user_id=pid,
            name=names.get(pid, f"#{pid}"),
            visits=r["n_visits"] or 0,
            days=r["days"] or 0,
            per_day=round(r["n_visits"] / r["days"], 1) if r["days"] else None,
            consult_avg=round(r["consult_minutes"] / r["consults"], 1) if r["consults"] else None,
            sign_avg_h=round(r["sign_minutes"] / r["signed"] / 60, 1) if r["signed"] else None,
            unsigned=(r["n_visits"] or 0) - (r["signed"] or 0),
            booked_minutes=r["booked"] or 0,
        )
    for pid, minutes in available.items():
        row = out.setdefault(pid, ProviderRow(user_id=pid, name=names.get(pid, f"#{pid}")))
        row.available_minutes = minutes
    for row in out.values():
        row.utilisation = pct(row.booked_minutes, row.available_minutes)
    return sorted(out.values(), key=lambda r: (-r.visits, r.name))


def productivity_charts(rows: list[ProviderRow]) -> list[Chart]:
    return [
        bar_chart(
            "visits-per-provider",
            "Visits per provider",
            [(r.name, r.visits) for r in rows],
            header=[
                "Provider",
                "Visits",
                "Visits per working day",
                "Consultation (min)",
                "Visit to signature (h)",
                "Unsigned",
                "Utilisation (%)",
            ],
            extra_columns=[
                [r.per_day, r.consult_avg, r.sign_avg_h, r.unsigned, r.utilisation] for r in rows
            ],
        )
    ]


# --- Inventory ----------------------------------------------------------------------------


TOP_ITEMS = 20


def inventory_charts(f: Filters) -> list[Chart]:
    """Consumption per item and category and expiry losses from the days items moved; the
    top items' turnover, days of supply and stock-out days from their daily closing stock
    (monthly stock rollup plus the daily rows of partly covered months)."""

    days = (f.date_to - f.date_from).days + 1
    summary = stock.consumption_summary(f.date_from, f.date_to, top=TOP_ITEMS)
    top_ids = [r["item_id"] for r in summary["top"]]
    levels = {
        item_id: {"avg_stock": level["closing_sum"] / days, **level}
        for item_id, level in stock.stock_levels(f.date_from, f.date_to, top_ids).items()
    }
    shown = set(top_ids) | {r["item_id"] for r in summary["losses"]}
    items = {i.pk: i for i in Item.objects.filter(pk__in=shown)}
    table = []
    for r in summary["top"]:
        item = items.get(r["item_id"])
        if item is None:
            continue
        level = levels.get(r["item_id"], {})
        used = float(r["used"] or 0)
        daily = used / days if days else 0
        avg_stock = level.get("avg_stock")
        turnover = round(used / float(avg_stock), 2) if avg_stock and avg_stock > 0 else None
        supply = round(float(item.stock_available) / daily) if daily > 0 else None
        table.append(
            {
                "name": item.display_name if hasattr(item, "display_name") else item.name,
                "used": used,
                "value": float(r["value"] or 0),
                "turnover": turnover,
                "supply": supply,
                "stockout_days": level.get("stockout_days", 0),
            }
        )
    categories = sorted(summary["categories"].items(), key=lambda kv: (-kv[1], kv[0]))
    losses = []
    for r in summary["losses"]:
        item = items.get(r["item_id"])
        if item is not None:
            name = item.display_name if hasattr(item, "display_name") else item.name
            losses.append({"name": name, "expired": float(r["expired"])})
    return [
        bar_chart(
            "consumption-by-item",
            "Consumption per item (dispensed)",
            [(r["name"], r["used"]) for r in table],
            header=[
                "Item",
                "Dispensed",
                "Value (PHP)",
                "Turnover",
                "Days of supply",
                "Stock-out days",
            ],
            extra_columns=[
                [r["value"], r["turnover"], r["supply"], r["stockout_days"]] for r in table
            ],
        ),
        bar_chart(
            "consumption-by-category",
            "Consumption per category",
            categories,
            header=["Category", "Dispensed"],
        ),
        bar_chart(
            "expiry-losses",
            "Expiry losses (value written off, PHP)",
            [(r["name"], r["expired"]) for r in losses],
            header=["Item", "Written off (PHP)"],
        ),
    ]


# --- Data quality -------------------------------------------------------------------------

QUALITY_CHECKS = {
    "no-diagnosis": "Signed visits without a diagnosis",
    "unsigned": "Visits left unsigned for more than 24 hours",
    "no-visit": "Completed appointments without a visit",
    "no-patient": "Dispensing without a patient",
}


def quality_querysets() -> dict:

    return {
        "no-diagnosis": Visit.objects.filter(status=VisitStatus.SIGNED, diagnoses__isnull=True)
        .select_related("patient", "provider")
        .order_by("-started_at"),
        "unsigned": Visit.objects.filter(
            status=VisitStatus.DRAFT, started_at__lt=timezone.now() - timedelta(hours=24)
        )
        .select_related("patient", "provider")
        .order_by("started_at"),
        "no-visit": Appointment.objects.filter(
            status=AppointmentStatus.COMPLETED, visit__isnull=True
        )
        .select_related("patient", "provider__user")
        .order_by("-start"),
        "no-patient": StockMovement.objects.filter(kind=MovementKind.DISPENSE, patient__isnull=True)
        .select_related("item")
        .order_by("-created_at"),
    }


ROLLED_UP_CHECKS = ("no-diagnosis", "no-visit", "no-patient")


def quality_counts() -> list[tuple[str, str, int]]:
    """Counts of each check: the rolled-up ones summed from ``QualityFact`` (today's and
    yesterday's refreshed every few minutes, older days nightly), drafts over 24 h live
    (few rows, indexed by status)."""

    facts = dict(
        QualityFact.objects.values("problem").annotate(n=Sum("rows")).values_list("problem", "n")
    )
    unsigned = quality_querysets()["unsigned"].count()
    return [
        (key, label, unsigned if key == "unsigned" else facts.get(key) or 0)
        for key, label in QUALITY_CHECKS.items()
    ]


def quality_rows(check: str):
    """(rows queryset, known count or None) for a check's drill-down: a rolled-up check is
    narrowed to the days its rollup has rows for (so a page never scans the whole history
    for a handful of rows) and its count comes from the rollup."""

    qs = quality_querysets()[check]
    if check not in ROLLED_UP_CHECKS:
        return qs, None
    span = QualityFact.objects.filter(problem=check, rows__gt=0).aggregate(
        first=Min("day"), last=Max("day"), n=Sum("rows")
    )
    if not span["n"]:
        return qs.none(), 0
    lo, hi = day_bounds(span["first"])[0], day_bounds(span["last"])[1]
    field = {"no-diagnosis": "started_at", "no-visit": "start", "no-patient": "created_at"}[check]
    return qs.filter(**{f"{field}__gte": lo, f"{field}__lt": hi}), span["n"]

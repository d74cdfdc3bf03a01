"""Surveillance (weekly report, EARS signals, syndrome definitions) and forecasts."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.audit import audit_phi_list
from accounts.models import AuditAction
from accounts.permissions import require_perm
from analytics.forms import SyndromeForm
from analytics.models import SyndromeGroup
from analytics.selectors import surveillance as selectors
from analytics.services.surveillance import WEEKLY_METHOD, syndrome_save
from analytics.views._common import cached_page, respond, tabs
from uscpis.csvexport import csv_download
from uscpis.http import Request, render_page


@require_GET
@require_perm("analytics.view")
@cached_page()
def surveillance(request: Request):
    report = selectors.weekly_report()
    if request.GET.get("export") == "csv" and not request.GET.get("chart"):
        audit_phi_list(
            actor=request.user,
            action=AuditAction.EXPORT,
            object_type="analytics.surveillance",
            detail={"format": "csv", "weeks": len(report["weeks"])},
        )
        header = (
            ["Disease / syndrome", "ICD-10 codes"]
            + [
                f"MW{w['number'][1]} {w['number'][0]} ({w['start']:%d %b}–{w['end']:%d %b})"
                for w in report["weeks"]
            ]
            + ["Total"]
        )
        rows = [
            [r["group"].name, " ".join(r["group"].icd10_prefixes), *r["values"], r["total"]]
            for r in report["rows"]
        ]
        today = timezone.localdate()
        return csv_download(f"weekly-notifiable-report-{today:%Y%m%d}.csv", header, rows)
    groups = list(SyndromeGroup.objects.filter(is_active=True))
    signals = list(selectors.recent_signals())
    chosen = next((g for g in groups if g.slug == request.GET.get("group")), None)
    if chosen is None:
        chosen = signals[0].group if signals else (groups[0] if groups else None)
    charts = selectors.group_charts(chosen) if chosen else []
    return respond(
        request,
        template="analytics/surveillance.html",
        active="analytics:surveillance",
        title="Surveillance",
        subtitle="Syndromes by morbidity week (Sunday–Saturday) and EARS outbreak signals",
        charts=charts,
        context={
            "report": report,
            "signals": signals,
            "groups": groups,
            "chosen": chosen,
            "weekly_only": [WEEKLY_METHOD],
        },
    )


@require_GET
@require_perm("analytics.manage_syndromes")
def syndromes(request: Request):
    return render_page(
        request,
        "analytics/syndromes.html",
        {"tabs": tabs(request, "analytics:surveillance"), "groups": SyndromeGroup.objects.all()},
    )


@require_http_methods(["GET", "POST"])
@require_perm("analytics.manage_syndromes")
def syndrome_edit(request: Request, pk: int | None = None):
    group = get_object_or_404(SyndromeGroup, pk=pk) if pk else SyndromeGroup()
    form = SyndromeForm(request.POST or None, instance=group)
    if request.method == "POST" and form.is_valid():
        try:
            syndrome_save(actor=request.user, group=form.save(commit=False))
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Saved “{group.name}”; its history is being recounted.")
            return redirect("analytics:syndromes")
    return render_page(
        request,
        "analytics/syndrome_form.html",
        {"tabs": tabs(request, "analytics:surveillance"), "form": form, "group": group},
        status=422 if form.errors else 200,
    )


@require_GET
@require_perm("analytics.view")
@cached_page()
def forecasts(request: Request):
    sections = selectors.forecast_sections()
    charts = [chart for s in sections for _, _, chart in s["charts"]]
    return respond(
        request,
        template="analytics/forecasts.html",
        active="analytics:forecasts",
        title="Forecasts",
        subtitle="Visit load for the next 8 weeks, with the backtest error of each method",
        charts=charts,
        context={"sections": sections, "method_labels": selectors.METHOD_LABELS},
    )


@require_GET
@require_perm("inventory.view_stock")
def stock_forecast(request: Request):
    if request.GET.get("export") != "csv":
        # The page lists the items that run out first, 50 at a time; the CSV has them all.
        page = Paginator(selectors.stock_forecasts(), 50).get_page(request.GET.get("page"))
        return render_page(
            request,
            "analytics/stock_forecast.html",
            {
                "tabs": tabs(request, "analytics:forecasts"),
                "rows": page,
                "page": page,
                "computed_at": page[0].computed_at if page else None,
            },
        )
    rows = list(selectors.stock_forecasts())
    if request.GET.get("export") == "csv":
        return csv_download(
            "stock-out-forecast.csv",
            [
                "Item",
                "Daily use",
                "Usable",
                "On order",
                "Runs out in (days)",
                "With orders (days)",
                "Runs out on",
                "Reorder by",
                "Backtest error (%)",
            ],
            [
                [
                    r.item.name,
                    r.daily_use,
                    r.on_hand,
                    r.on_order,
                    r.days_left,
                    r.days_left_with_orders,
                    r.runs_out_on,
                    r.reorder_by,
                    r.backtest_error_pct,
                ]
                for r in rows
            ],
        )
    return render_page(
        request,
        "analytics/stock_forecast.html",
        {
            "tabs": tabs(request, "analytics:forecasts"),
            "rows": rows,
            "computed_at": rows[0].computed_at if rows else None,
        },
    )

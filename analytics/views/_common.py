"""Helpers shared by the analytics views: filters, tabs, CSV/PDF export of a page."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.urls import reverse

from accounts.audit import audit_record
from accounts.models import AuditAction
from accounts.roles import user_has_perm
from analytics.charts import Chart
from analytics.forms import FilterForm
from analytics.pdf import dashboard_pdf
from analytics.selectors import dashboards
from uscpis.csvexport import csv_download
from uscpis.http import render_page

TABS = [
    ("Overview", "analytics:overview", "analytics.view"),
    ("Visits", "analytics:visits", "analytics.view"),
    ("Diagnoses", "analytics:diagnoses", "analytics.view"),
    ("Productivity", "analytics:productivity", "analytics.view_productivity"),
    ("Inventory", "analytics:inventory", "analytics.view"),
    ("Financial", "analytics:financial", "analytics.view_financial"),
    ("Surveillance", "analytics:surveillance", "analytics.view"),
    ("Forecasts", "analytics:forecasts", "analytics.view"),
    ("Data quality", "analytics:quality", "analytics.view"),
]


def tabs(request, active: str) -> list[dict]:
    return [
        {"label": label, "url": reverse(name), "active": name == active}
        for label, name, perm in TABS
        if user_has_perm(request.user, perm)
    ]


def filter_form(request, *, default_days: int = 84, show_provider: bool = True):
    form = FilterForm(
        request.GET or None,
        choices=dashboards.filter_choices(),
        default_days=default_days,
        show_provider=show_provider,
    )
    return form, form.filters()


def query_without_export(request) -> str:
    query = request.GET.copy()
    for key in ("export", "chart"):
        query.pop(key, None)
    return query.urlencode()


def respond(
    request,
    *,
    template: str,
    active: str,
    title: str,
    subtitle: str,
    charts: list[Chart],
    context: dict,
    kpis=(),
    notes=(),
):
    """The page, or one chart's CSV (``?export=csv&chart=<id>``), or the page as a PDF
    (``?export=pdf``). Exports are audited."""
    export = request.GET.get("export")
    if export == "csv":
        chart = next((c for c in charts if c.id == request.GET.get("chart")), None)
        if chart is None:
            raise Http404("No such chart on this page.")
        audit_record(
            action=AuditAction.EXPORT,
            object_type="analytics.dashboard",
            object_id=chart.id,
            request=request,
            detail={"format": "csv", "page": active, "query": query_without_export(request)},
        )
        return csv_download(chart.csv_name, chart.header, chart.table_rows)
    if export == "pdf":
        audit_record(
            action=AuditAction.EXPORT,
            object_type="analytics.dashboard",
            object_id=active,
            request=request,
            detail={"format": "pdf", "query": query_without_export(request)},
        )
        pdf = dashboard_pdf(title=title, subtitle=subtitle, kpis=kpis, charts=charts, notes=notes)
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{active.split(":")[-1]}.pdf"'
        return response
    return render_page(
        request,
        template,
        {
            "tabs": tabs(request, active),
            "title": title,
            "subtitle": subtitle,
            "charts": charts,
            "kpis": kpis,
            "query": query_without_export(request),
            "as_of": dashboards.as_of(),
            **context,
        },
        partial="dashboard-body",
    )

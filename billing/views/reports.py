"""Financial reports, each with a CSV export (and a chart where a picture reads better)."""

from __future__ import annotations

from django.http import Http404
from django.views.decorators.http import require_GET

from accounts.audit import audit_phi_list
from accounts.models import AuditAction
from accounts.permissions import require_perm
from billing import forms, selectors
from uscpis.csvexport import csv_download
from uscpis.http import Request, render_page


def _bars(points) -> list[dict]:
    """Bars for a server-drawn SVG chart (heights in percent of the largest)."""
    top = max((v for _, v in points), default=0) or 1
    width = 100 / max(len(points), 1)
    return [
        {
            "label": label,
            "value": v,
            "x": i * width,
            "w": width * 0.8,
            "h": float(v) / float(top) * 100,
            "y": 100 - float(v) / float(top) * 100,
        }
        for i, (label, v) in enumerate(points)
    ]


@require_GET
@require_perm("billing.view")
def reports(request: Request):
    key = request.GET.get("report", "revenue_service")
    if key not in selectors.REPORTS:
        raise Http404("No such report")
    title, build, dated = selectors.REPORTS[key]
    form = forms.PeriodForm(request.GET or None)
    date_from, date_to = form.period()
    export = request.GET.get("export") == "csv"
    if key in selectors.PAGED_REPORTS:  # one page on screen, every row in the CSV
        report = build(page=None if export else (request.GET.get("page") or 1))
    else:
        report = build(date_from, date_to) if dated else build()
    if export:
        audit_phi_list(
            actor=request.user,
            action=AuditAction.EXPORT,
            object_type="billing.report",
            detail={"report": key, "from": str(date_from), "to": str(date_to)},
        )
        rows = [*report.rows, report.totals] if report.totals else report.rows
        return csv_download(f"{key}-{date_from}-{date_to}.csv", report.columns, rows)
    return render_page(
        request,
        "billing/reports.html",
        {
            "reports": [(k, v[0]) for k, v in selectors.REPORTS.items()],
            "key": key,
            "report": report,
            "form": form,
            "dated": dated,
            "date_from": date_from,
            "date_to": date_to,
            "bars": _bars(report.chart),
            "query": request.GET.urlencode(),
        },
        partial="report-body",
    )

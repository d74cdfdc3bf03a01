"""History (per provider and per patient, with CSV export) and the no-show/utilisation report."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.views.decorators.http import require_GET

from accounts.audit import audit_phi_list
from accounts.models import AuditAction
from accounts.permissions import require_perm
from appointments import forms, selectors
from appointments.views.common import (
    PAGE_SIZE,
    _csv_response,
    _history_filters,
    _query_without_page,
)
from patients.selectors import get_patient_for_user
from uscpis.csvexport import csv_download
from uscpis.http import Request, render_page


@require_GET
@require_perm("appointments.view_schedule")
def history(request: Request):
    form, filters = _history_filters(request)
    qs = selectors.history(**filters)
    if request.GET.get("export") == "csv":
        audit_phi_list(
            actor=request.user,
            action=AuditAction.EXPORT,
            object_type="appointments.appointment",
            detail={"format": "csv", "filters": {k: str(v) for k, v in filters.items() if v}},
        )
        return _csv_response(qs, "appointments.csv")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    audit_phi_list(
        actor=request.user,
        action=AuditAction.READ,
        object_type="appointments.appointment",
        detail={"view": "history"},
    )
    return render_page(
        request,
        "appointments/history.html",
        {"form": form, "page": page, "query": _query_without_page(request)},
        partial="history-table",
    )


@require_GET
@require_perm("appointments.view_schedule")
def patient_history(request: Request, patient_pk: int):
    export = request.GET.get("export") == "csv"
    patient = get_patient_for_user(
        request.user,
        patient_pk,
        purpose=AuditAction.EXPORT if export else AuditAction.READ,
        detail={"format": "csv"} if export else None,
        object_type="appointments.appointment",
    )
    form, filters = _history_filters(request)
    qs = selectors.history(patient_id=patient.pk, **filters)
    if export:
        return _csv_response(qs, f"appointments-{patient.id_number}.csv")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render_page(
        request,
        "appointments/patient_history.html",
        {"patient": patient, "page": page, "form": form, "query": _query_without_page(request)},
        partial="history-table",
    )


@require_GET
@require_perm("appointments.view_reports")
def report(request: Request):
    form = forms.ReportForm(forms.ReportForm.with_default_range(request.GET))
    stats = []
    if form.is_valid():
        date_from, date_to = form.cleaned_data["date_from"], form.cleaned_data["date_to"]
        stats = selectors.provider_report(date_from, date_to)
        if request.GET.get("export") == "csv":
            return csv_download(
                f"appointment-report-{date_from:%Y%m%d}-{date_to:%Y%m%d}.csv",
                REPORT_HEADER,
                [_report_row(s) for s in [*stats, selectors.report_totals(stats)] if s],
            )
    return render_page(
        request,
        "appointments/report.html",
        {
            "form": form,
            "stats": stats,
            "totals": selectors.report_totals(stats),
            "chart": selectors.report_chart(stats),
            "query": request.GET.urlencode(),
        },
    )


REPORT_HEADER = [
    "provider",
    "active",
    "appointments",
    "completed",
    "no_shows",
    "cancelled",
    "booked_minutes",
    "available_minutes",
    "utilisation_pct",
    "no_show_rate_pct",
]


def _report_row(s: selectors.ProviderStats) -> list:
    p = s.provider
    return [
        p.display_name if p else "Whole clinic",
        ("yes" if p.is_active and p.user.is_active else "no") if p else "",
        s.total,
        s.completed,
        s.no_shows,
        s.cancelled,
        s.booked_minutes,
        s.available_minutes,
        s.utilisation,
        s.no_show_rate,
    ]

"""The dashboards: overview, visits, diagnoses and outcomes, productivity, inventory,
financial, data quality, and the clinical drill-downs (patient lists, PHI-audited)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404
from django.views.decorators.http import require_GET

from accounts.audit import audit_phi_list
from accounts.models import AuditAction
from accounts.permissions import require_perm
from accounts.roles import user_has_perm
from analytics.charts import bar_chart
from analytics.selectors import dashboards, operations
from analytics.selectors import diagnoses as diagnosis_reads
from analytics.selectors import outcomes as outcome_reads
from analytics.selectors.common import is_clinical
from analytics.selectors.financial import financial as figures
from analytics.services.rollups import day_bounds
from analytics.views._common import cached_page, filter_form, respond, tabs
from patients.models import Icd10Code, Visit
from uscpis.http import Request, render_page

PAGE_SIZE = 25


@require_GET
@require_perm("analytics.view")
@cached_page()
def overview(request: Request):
    form, f = filter_form(request, default_days=84)
    days = dashboards.overview_days(f)  # one read of the visit rollup for the KPIs and chart
    kpis = dashboards.overview(f, days=days)
    if user_has_perm(request.user, "analytics.view_financial"):
        kpis += figures(f, charts=False)[0][:3]  # revenue, collections, receivables
    charts = dashboards.visits_charts(f, weekly_only=True, days=days)
    return respond(
        request,
        template="analytics/overview.html",
        active="analytics:overview",
        title="Clinic overview",
        subtitle=f.describe(),
        charts=charts,
        kpis=kpis,
        context={"form": form},
    )


@require_GET
@require_perm("analytics.view")
@cached_page()
def visits(request: Request):
    form, f = filter_form(request, default_days=182)
    return respond(
        request,
        template="analytics/dashboard.html",
        active="analytics:visits",
        title="Visits and trends",
        subtitle=f.describe(),
        charts=dashboards.visits_charts(f),
        context={"form": form},
    )


@require_GET
@require_perm("analytics.view")
@cached_page()
def diagnoses(request: Request):
    form, f = filter_form(request, default_days=182)
    counts, by_unit = diagnosis_reads.diagnosis_counts(f)
    top = diagnosis_reads.diagnosis_rows(f, counts=counts)
    charts = diagnosis_reads.diagnoses_charts(
        f, request.user, top=top, counts=counts, by_unit=by_unit
    )
    outcome = outcome_reads.outcomes(f, request.user)
    return respond(
        request,
        template="analytics/diagnoses.html",
        active="analytics:diagnoses",
        title="Diagnoses and outcomes",
        subtitle=f.describe(),
        charts=charts + outcome["charts"],
        notes=[
            f"Follow-ups kept: {outcome['followup_rate'] or '—'}% of {outcome['followups_due']} due.",
            f"Hypertensive patients with last BP under 140/90: {outcome['bp_control_rate'] or '—'}%.",
            f"Immunisation coverage: {outcome_reads.OUTCOME_FILTER_NOTES['immunisation']}",
        ],
        context={
            "form": form,
            "outcome": outcome,
            "top": top,
            "clinical": is_clinical(request.user),
        },
    )


@require_GET
@require_perm("analytics.drill_down")
def diagnosis_patients(request: Request, code: str):
    """The patients behind a diagnosis count (clinical roles; one PHI audit event)."""
    icd = Icd10Code.objects.filter(code=code).first()
    if icd is None:
        raise Http404("Unknown ICD-10 code.")
    form, f = filter_form(request, default_days=182)
    lo, hi = day_bounds(f.date_from)[0], day_bounds(f.date_to)[1]
    # No DISTINCT: a visit has at most one diagnosis row per code (unique per visit), and
    # DISTINCT over the joined rows made PostgreSQL sort every matching visit for a page.
    qs = (
        Visit.objects.filter(diagnoses__icd10=icd, started_at__gte=lo, started_at__lt=hi)
        .select_related("patient", "provider")
        .order_by("-started_at", "-id")
    )
    if f.provider_id:
        qs = qs.filter(provider_id=f.provider_id)
    for name, field in (("patient_type", "patient_type"), ("sex", "sex")):
        if getattr(f, name):
            qs = qs.filter(**{f"patient__{field}": getattr(f, name)})
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    audit_phi_list(
        actor=request.user,
        action=AuditAction.READ,
        object_type="patients.patient",
        detail={
            "view": "analytics drill-down",
            "icd10": code,
            "patients": sorted({v.patient_id for v in page}),
        },
    )
    return render_page(
        request,
        "analytics/patients.html",
        {"tabs": tabs(request, "analytics:diagnoses"), "icd": icd, "page": page, "form": form},
    )


@require_GET
@require_perm("analytics.view_productivity")
@cached_page(own_data=lambda request: request.user.role != "admin")
def productivity(request: Request):
    is_admin = request.user.role == "admin"
    form, f = filter_form(request, default_days=28, show_provider=is_admin)
    rows = operations.productivity(f, request.user)
    return respond(
        request,
        template="analytics/productivity.html",
        active="analytics:productivity",
        title="Staff productivity" if is_admin else "My productivity",
        subtitle=f.describe(),
        charts=operations.productivity_charts(rows),
        context={"form": form, "rows": rows, "is_admin": is_admin},
    )


@require_GET
@require_perm("analytics.view")
@cached_page()
def inventory(request: Request):
    form, f = filter_form(request, default_days=90, show_provider=False)
    return respond(
        request,
        template="analytics/dashboard.html",
        active="analytics:inventory",
        title="Inventory",
        subtitle=f.describe(),
        charts=operations.inventory_charts(f),
        context={"form": form, "inventory": True},
    )


@require_GET
@require_perm("analytics.view_financial")
@cached_page()
def financial(request: Request):
    form, f = filter_form(request, default_days=91)
    kpis, charts = figures(f)
    return respond(
        request,
        template="analytics/financial.html",
        active="analytics:financial",
        title="Financial analytics",
        subtitle=f.describe(),
        charts=charts,
        kpis=kpis,
        context={"form": form},
    )


@require_GET
@require_perm("analytics.view")
@cached_page()
def quality(request: Request):
    counts = operations.quality_counts()
    chart = bar_chart(
        "data-quality",
        "What makes the figures wrong",
        [(label, n) for _, label, n in counts],
        header=["Check", "Rows"],
    )
    return respond(
        request,
        template="analytics/quality.html",
        active="analytics:quality",
        title="Data quality",
        subtitle="Records that are missing something the figures depend on",
        charts=[chart],
        context={
            "counts": counts,
            "can_drill": user_has_perm(request.user, "analytics.drill_down"),
        },
    )


@require_GET
@require_perm("analytics.drill_down")
def quality_rows(request: Request, check: str):
    """The rows behind one data-quality count (clinical roles; one PHI audit event)."""
    if check not in operations.QUALITY_CHECKS:
        raise Http404("Unknown check.")
    rows, count = operations.quality_rows(check)
    paginator = Paginator(rows, PAGE_SIZE)
    if count is not None:
        paginator.count = count  # from the rollup: no COUNT over the whole history
    page = paginator.get_page(request.GET.get("page"))
    patients = sorted({getattr(row, "patient_id", None) for row in page} - {None})
    audit_phi_list(
        actor=request.user,
        action=AuditAction.READ,
        object_type="patients.patient",
        detail={"view": "analytics data quality", "check": check, "patients": patients},
    )
    return render_page(
        request,
        "analytics/quality_rows.html",
        {
            "tabs": tabs(request, "analytics:quality"),
            "check": check,
            "label": operations.QUALITY_CHECKS[check],
            "page": page,
        },
        partial="quality-rows",
    )

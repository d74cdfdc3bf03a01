"""A patient's billing: account page (invoices, payments, coverage, balance), coverage
entry, statements, and the read-only balance clinicians see from the chart."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.audit import audit_phi_access
from accounts.models import AuditAction
from accounts.permissions import require_perm
from billing import forms, selectors
from billing.models import Payment
from billing.pdf import statement_pdf
from billing.services import claims
from billing.views._common import form_errors, page_of, pdf_response
from uscpis.http import Request, redirect_htmx_aware, render_page


def _patient(request, pk):
    from patients.selectors import get_patient_for_user

    return get_patient_for_user(request.user, pk, purpose=None)


@require_GET
@require_perm("billing.view")
def patient_account(request: Request, patient_pk: int):
    patient = _patient(request, patient_pk)
    audit_phi_access(
        actor=request.user,
        action=AuditAction.READ,
        object_type="billing.account",
        patient_id=patient.pk,
    )
    return render_page(
        request,
        "billing/patient.html",
        {
            "patient": patient,
            "balance": selectors.patient_balance(patient.pk),
            "page": page_of(request, selectors.invoice_list(patient_id=patient.pk)),
            "payments": list(Payment.objects.filter(patient=patient).order_by("-received_at")[:10]),
            "coverages": selectors.coverages_for(patient.pk),
            "period": forms.PeriodForm(),
        },
        partial="patient-invoices",
    )


@require_http_methods(["GET", "POST"])
@require_perm("billing.manage")
def coverage_new(request: Request, patient_pk: int):
    patient = _patient(request, patient_pk)
    form = forms.CoverageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            claims.coverage_add(
                actor=request.user,
                patient=patient,
                coverage=form.save(commit=False),
                request=request,
            )
            return redirect_htmx_aware(request, reverse("billing:patient", args=[patient.pk]))
        except ValidationError as exc:
            form_errors(form, exc)
    return render_page(
        request,
        "billing/coverage_form.html",
        {"patient": patient, "form": form},
        status=422 if form.errors else 200,
    )


@require_GET
@require_perm("billing.view")
def statement_view(request: Request, patient_pk: int):
    patient = _patient(request, patient_pk)
    date_from, date_to = forms.PeriodForm(request.GET).period()
    audit_phi_access(
        actor=request.user,
        action=AuditAction.EXPORT,
        object_type="billing.statement",
        patient_id=patient.pk,
        detail={"from": str(date_from), "to": str(date_to)},
    )
    return pdf_response(
        statement_pdf(selectors.statement(patient, date_from, date_to)),
        f"statement-{patient.id_number}-{date_to}.pdf",
    )


@require_GET
@require_perm("billing.view_balance")
def patient_balance(request: Request, patient_pk: int):
    """Read-only: what the patient owes (for doctors and nurses at the chart)."""
    patient = _patient(request, patient_pk)
    audit_phi_access(
        actor=request.user,
        action=AuditAction.READ,
        object_type="billing.account",
        patient_id=patient.pk,
        detail={"view": "balance"},
    )
    return render_page(
        request,
        "billing/balance.html",
        {
            "patient": patient,
            "balance": selectors.patient_balance(patient.pk),
        },
    )

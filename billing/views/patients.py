"""A patient's billing: account page (invoices, payments, coverage, balance), coverage
entry, statements, and the read-only balance clinicians see from the chart."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.audit import read_purpose
from accounts.models import AuditAction
from accounts.permissions import require_perm
from billing import forms, screens, selectors
from billing.pdf import statement_pdf
from billing.services import claims
from billing.views._common import form_errors, pdf_response
from patients.selectors import get_patient_for_user
from uscpis.http import Request, redirect_htmx_aware, render_page


def _account(request, pk, purpose, object_type: str = "billing.account", **detail):
    """The patient whose billing the page shows, audited as ``purpose`` of that account."""
    return get_patient_for_user(
        request.user, pk, purpose=purpose, object_type=object_type, detail=detail or None
    )


@require_GET
@require_perm("billing.view")
def patient_account(request: Request, patient_pk: int):
    # The patient (audited read as billing.account) and the account's reads: one round trip.
    patient, account = screens.patient_account_for_user(
        request.user, patient_pk, request.GET.get("page")
    )
    return render_page(
        request,
        "billing/patient.html",
        {
            "patient": patient,
            "balance": account.balance,
            "page": account.page,
            "payments": account.payments,
            "coverages": account.coverages,
            "period": forms.PeriodForm(),
        },
        partial="patient-invoices",
    )


@require_http_methods(["GET", "POST"])
@require_perm("billing.manage")
def coverage_new(request: Request, patient_pk: int):
    patient = _account(request, patient_pk, read_purpose(request), view="coverage")
    form = forms.CoverageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            claims.coverage_add(
                actor=request.user,
                patient=patient,
                coverage=form.save(commit=False),
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
    date_from, date_to = forms.PeriodForm(request.GET).period()
    patient = _account(
        request,
        patient_pk,
        AuditAction.EXPORT,
        object_type="billing.statement",
        **{"from": str(date_from), "to": str(date_to)},
    )
    return pdf_response(
        statement_pdf(selectors.statement(patient, date_from, date_to)),
        f"statement-{patient.id_number}-{date_to}.pdf",
    )


@require_GET
@require_perm("billing.view_balance")
def patient_balance(request: Request, patient_pk: int):
    """Read-only: what the patient owes (for doctors and nurses at the chart)."""
    patient = _account(request, patient_pk, AuditAction.READ, view="balance")
    return render_page(
        request,
        "billing/balance.html",
        {
            "patient": patient,
            "balance": selectors.patient_balance(patient.pk),
        },
    )

"""Staff: portal accounts awaiting a patient record, and linking or unlinking an account."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.audit import audit_phi_list, read_purpose
from accounts.models import AuditAction
from accounts.permissions import require_perm
from patients import forms, selectors
from patients.services import patient_accounts
from patients.views.common import add_service_errors
from uscpis.http import Request, redirect_htmx_aware, render_page
from uscpis.pagination import CappedPaginator


def _patient_or_none(request: Request, pk, *, detail: dict) -> object | None:
    """The record named by a query parameter, shown on the page (a read), or None."""
    try:
        return (
            selectors.get_patient_for_user(
                request.user, pk, purpose=AuditAction.READ, detail=detail
            )
            if pk
            else None
        )
    except Http404:
        return None


@require_GET
@require_perm("patients.register")
def portal_accounts(request: Request):
    """Active patient accounts without a record, newest first; from a chart (``for_patient``)
    each row links straight to that record."""
    form = forms.PortalAccountSearchForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    page = CappedPaginator(selectors.portal_accounts_awaiting_record(data.get("q", "")), 25)
    page = page.get_page(request.GET.get("page"))
    suggested = selectors.unlinked_patients_by_email(a.email for a in page)
    for account in page:
        account.suggested_record = suggested.get(account.email.lower())
    if suggested:
        # The "possible record" column shows those records' names and ID numbers.
        audit_phi_list(
            actor=request.user,
            action=AuditAction.READ,
            object_type="patients.patient",
            detail={
                "view": "portal_accounts",
                "patients": sorted(p.pk for p in suggested.values()),
            },
        )
    ctx = {
        "form": form,
        "page": page,
        "for_patient": _patient_or_none(
            request, data.get("for_patient"), detail={"view": "portal_accounts"}
        ),
    }
    return render_page(request, "patients/portal_accounts.html", ctx, partial="account-table")


@require_http_methods(["GET", "POST"])
@require_perm("patients.register")
def account_link(request: Request, user_pk: int):
    """Pick the account holder's record (HTMX search), compare, confirm the ID was checked."""
    account = selectors.get_patient_account(user_pk)
    if request.method == "GET":
        selected = _patient_or_none(
            request, request.GET.get("patient"), detail=_link_detail(account)
        )
        form = forms.AccountLinkForm(initial={"patient": getattr(selected, "pk", None)})
        return _render_link_page(request, account, form, selected)
    form = forms.AccountLinkForm(request.POST)
    if form.is_valid():
        patient = selectors.get_patient_for_user(
            request.user, form.cleaned_data["patient"].pk, purpose=None
        )
        try:
            patient_accounts.patient_link_account(actor=request.user, patient=patient, user=account)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request,
                f"{account.email} is now linked to {patient.full_name}'s record; "
                "they have been notified.",
            )
            return redirect_htmx_aware(request, reverse("patients:chart", args=[patient.pk]))
    selected = _patient_or_none(request, request.POST.get("patient"), detail=_link_detail(account))
    return _render_link_page(request, account, form, selected, status=422)


def _link_detail(account) -> dict:
    return {"view": "account_link", "account": account.pk}


def _render_link_page(request: Request, account, form, selected, *, status: int = 200):
    """The whole page, or for HTMX the search results or the confirm panel alone."""
    confirm_only = bool(request.htmx) and request.htmx.target == "link-confirm"
    search = forms.LinkPatientSearchForm(request.GET)
    q = search.cleaned_data["q"] if search.is_valid() else ""
    results = [] if confirm_only else selectors.link_candidates(account, q)
    # Candidates show names, ID numbers, birth dates and emails: a read of patient data (the
    # selected record's confirm panel was audited when it was fetched).
    if results:
        audit_phi_list(
            actor=request.user,
            action=AuditAction.READ,
            object_type="patients.patient",
            detail={
                "view": "link_candidates",
                "account": account.pk,
                "q": q,
                "patients": [p.pk for p in results],
            },
        )
    differences = (
        patient_accounts.account_record_differences(account, selected)
        if selected is not None
        else []
    )
    ctx = {
        "differences": differences,
        "needs_clinician": "name" in differences and not request.user.can("patients.view_clinical"),
        "account": account,
        "linked_record": getattr(account, "patient", None),
        "search": search,
        "q": q,
        "results": results,
        "selected": selected,
        "form": form,
    }
    partial = "link-confirm" if confirm_only else "patient-results"
    return render_page(request, "patients/account_link.html", ctx, partial=partial, status=status)


@require_http_methods(["GET", "POST"])
@require_perm("patients.register")
def account_unlink(request: Request, pk: int):
    """Confirm, then disconnect the portal account from this record (the account stays)."""
    patient = selectors.get_patient_for_user(
        request.user, pk, purpose=read_purpose(request), detail={"view": "account_unlink"}
    )
    if request.method == "POST":
        try:
            patient_accounts.patient_unlink_account(actor=request.user, patient=patient)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "The portal account is unlinked from this record.")
        return redirect_htmx_aware(request, reverse("patients:chart", args=[patient.pk]))
    if patient.user_id is None:
        messages.info(request, "This patient has no portal account.")
        return redirect("patients:chart", patient.pk)
    return render_page(request, "patients/account_unlink.html", {"patient": patient})

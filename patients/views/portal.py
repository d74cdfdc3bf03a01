"""The patient portal (one's own record) and patient self-registration."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.audit import read_purpose
from accounts.models import AuditAction
from accounts.permissions import public, require_perm
from patients import forms, selectors
from patients.services import certificates as certificates_services
from patients.services import registry, self_registration
from patients.views.common import add_service_errors
from patients.views.records import (
    certificate_pdf_response,
    export_format,
    export_response,
    serve_document,
)
from uscpis.http import Request, redirect_htmx_aware, render_page
from uscpis.ratelimit import rate_limited


def needs_record(view):
    """A portal page for an account without a patient record yet shows what happens next
    (the clinic connects it) instead of "not found"."""

    @wraps(view)
    def wrapper(request: Request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except selectors.PortalRecordMissing:
            return render_page(request, "patients/portal_unlinked.html", {})

    return wrapper


@require_GET
@require_perm("patients.portal")
@needs_record
def portal_home(request: Request):
    patient = selectors.patient_for_portal(request.user, purpose=AuditAction.READ)
    ctx = {
        "patient": patient,
        "allergies": selectors.active_allergies(patient),
        "medications": list(patient.medications.filter(is_active=True)),
        "immunizations": list(patient.immunizations.all()[:10]),
        "recent_visits": list(selectors.visit_timeline(patient, signed_only=True)[:5]),
        "certificates": list(patient.certificates.all()[:5]),
    }
    return render_page(request, "patients/portal_home.html", ctx)


@require_http_methods(["GET", "POST"])
@require_perm("patients.portal")
@needs_record
def portal_profile(request: Request):
    patient = selectors.patient_for_portal(
        request.user, purpose=read_purpose(request), detail={"page": "profile"}
    )
    form = forms.ContactForm(
        request.POST or None, instance=selectors.patient_for_portal(request.user, purpose=None)
    )
    if request.method == "POST" and form.is_valid():
        registry.patient_contact_update(actor=request.user, patient=patient, data=form.cleaned_data)
        messages.success(request, "Your contact details are saved.")
        return redirect_htmx_aware(request, reverse("patients:portal"))
    return render_page(
        request,
        "patients/portal_profile.html",
        {"form": form, "patient": patient},
        status=422 if form.errors else 200,
    )


@require_GET
@require_perm("patients.portal")
@needs_record
def portal_visits(request: Request):
    patient = selectors.patient_for_portal(
        request.user, purpose=AuditAction.READ, detail={"page": "visits"}
    )
    page = Paginator(selectors.visit_timeline(patient, signed_only=True), 20).get_page(
        request.GET.get("page")
    )
    return render_page(
        request,
        "patients/portal_visits.html",
        {"patient": patient, "page": page},
        partial="portal-visits",
    )


@require_GET
@require_perm("patients.portal")
def portal_visit(request: Request, pk: int):
    visit = selectors.get_visit_for_user(request.user, pk, purpose=AuditAction.READ)
    return render_page(
        request,
        "patients/portal_visit.html",
        {"visit": visit, "patient": visit.patient, **selectors.visit_detail(visit)},
    )


@require_http_methods(["GET", "POST"])
@require_perm("patients.portal")
@needs_record
def portal_certificates(request: Request):
    patient = selectors.patient_for_portal(
        request.user, purpose=read_purpose(request), detail={"page": "certificates"}
    )
    form = forms.CertificateRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            certificates_services.certificate_request(
                actor=request.user, patient=patient, **form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request, "Your request was sent. You will be notified when a doctor decides."
            )
            return redirect_htmx_aware(request, reverse("patients:portal_certificates"))
    certificates = list(patient.certificates.select_related("decided_by")[:50])
    return render_page(
        request,
        "patients/portal_certificates.html",
        {"patient": patient, "form": form, "certificates": certificates},
        status=422 if form.errors else 200,
    )


@require_GET
@require_perm("patients.portal")
def portal_certificate_pdf(request: Request, pk: int):
    return certificate_pdf_response(
        selectors.get_certificate_for_user(
            request.user,
            pk,
            purpose=AuditAction.EXPORT,
            detail={"format": "pdf"},
            approved_only=True,
        )
    )


@require_GET
@require_perm("patients.portal")
@needs_record
def portal_documents(request: Request):
    patient = selectors.patient_for_portal(
        request.user, purpose=AuditAction.READ, detail={"page": "documents"}
    )
    page = Paginator(patient.documents.select_related("visit"), 20).get_page(
        request.GET.get("page")
    )
    return render_page(
        request, "patients/portal_documents.html", {"patient": patient, "page": page}
    )


@require_GET
@require_perm("patients.portal")
def portal_document_download(request: Request, pk: int):
    return serve_document(
        selectors.get_document_for_user(request.user, pk, purpose=AuditAction.EXPORT)
    )


@require_GET
@require_perm("patients.portal")
@needs_record
def portal_access_log(request: Request):
    """Who opened, downloaded or exported my record."""
    patient = selectors.patient_for_portal(
        request.user, purpose=AuditAction.READ, detail={"page": "access_log"}
    )
    page = Paginator(selectors.record_access_log(patient), 25).get_page(request.GET.get("page"))
    return render_page(
        request,
        "patients/portal_access.html",
        {"patient": patient, "page": page},
        partial="access-log",
    )


@require_GET
@require_perm("patients.portal")
@needs_record
def portal_export(request: Request, fmt: str):
    fmt = export_format(fmt)
    return export_response(
        selectors.patient_for_portal(
            request.user, purpose=AuditAction.EXPORT, detail={"format": fmt}
        ),
        fmt,
    )


@require_http_methods(["GET", "POST"])
@public
@rate_limited("signup", account=lambda request: request.POST.get("email", "")[:254])
def signup(request: Request):
    """Self-registration for students and employees with an institutional email."""
    if request.user.is_authenticated:
        return redirect("accounts:home")
    form = forms.SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        email, password = data.pop("email"), data.pop("password")
        try:
            self_registration.patient_self_register(email=email, password=password, data=data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return render_page(request, "patients/signup_sent.html", {"email": email})

    return render_page(
        request,
        "patients/signup.html",
        {"form": form, "domains": settings.PATIENT_EMAIL_DOMAINS},
        status=422 if form.errors else 200,
    )


@require_GET
@public
def verify_email(request: Request, token: str):
    try:
        self_registration.patient_email_verify(token=token)
    except ValidationError as exc:
        return render_page(
            request, "patients/verify_email.html", {"error": exc.messages[0]}, status=400
        )
    return render_page(request, "patients/verify_email.html", {"error": ""})

"""Staff: documents, medical certificates and record exports; the public verification page."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.audit import audit_phi_list, read_purpose
from accounts.models import AuditAction
from accounts.permissions import public, require_perm
from patients import forms, selectors
from patients.exports import csv, fhir, pdf
from patients.models import CertificateStatus, MedicalCertificate
from patients.services import certificates, documents
from patients.views.common import add_service_errors
from uscpis import ratelimit
from uscpis.http import Request, redirect_htmx_aware, render_page

# --- Documents -------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@require_perm("patients.manage_documents")
def document_upload(request: Request, pk: int):
    patient = selectors.get_patient_for_user(
        request.user, pk, purpose=read_purpose(request), detail={"view": "document_upload"}
    )
    form = forms.DocumentForm(request.POST or None, request.FILES or None, patient=patient)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            documents.document_upload(
                actor=request.user,
                patient=patient,
                upload=data["file"],
                kind=data["kind"],
                title=data["title"],
                visit=data["visit"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Document uploaded.")
            return redirect_htmx_aware(
                request, reverse("patients:chart_tab", args=[patient.pk, "documents"])
            )
    return render_page(
        request,
        "patients/document_form.html",
        {"form": form, "patient": patient},
        status=422 if form.errors else 200,
    )


def serve_document(doc):
    """Stream a stored document fetched (and audited) with ``purpose=AuditAction.EXPORT``."""
    try:
        handle = doc.file.open("rb")
    except (FileNotFoundError, OSError):
        raise Http404("The file is missing from storage") from None
    ext = doc.file.name.rsplit(".", 1)[-1]
    return FileResponse(
        handle,
        as_attachment=True,
        filename=f"{doc.kind}-{doc.pk}.{ext}",
        content_type=doc.content_type,
    )


@require_GET
@require_perm("patients.view_clinical")
def document_download(request: Request, pk: int):
    return serve_document(
        selectors.get_document_for_user(request.user, pk, purpose=AuditAction.EXPORT)
    )


# --- Certificates ----------------------------------------------------------------------


@require_POST
@require_perm("patients.view_clinical")
def certificate_new(request: Request, pk: int):
    patient = selectors.get_patient_for_user(request.user, pk, purpose=None)
    form = forms.CertificateRequestForm(request.POST)
    if form.is_valid():
        try:
            certificates.certificate_request(
                actor=request.user, patient=patient, **form.cleaned_data
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "Certificate request sent to the doctors' queue.")
    else:
        messages.error(request, "State what the certificate is for.")
    return redirect_htmx_aware(
        request, reverse("patients:chart_tab", args=[patient.pk, "certificates"])
    )


@require_GET
@require_perm("patients.approve_certificate")
def certificate_queue(request: Request):
    page = Paginator(selectors.certificates_pending(), 25).get_page(request.GET.get("page"))
    # The queue shows names, ID numbers and purposes: one read event for the page, naming
    # the certificates and patients listed.
    audit_phi_list(
        actor=request.user,
        action=AuditAction.READ,
        object_type="patients.medicalcertificate",
        detail={
            "view": "certificate_queue",
            "page": page.number,
            "certificates": [c.pk for c in page],
            "patients": sorted({c.patient_id for c in page}),
        },
    )
    return render_page(
        request, "patients/certificate_queue.html", {"page": page}, partial="certificate-table"
    )


@require_http_methods(["GET", "POST"])
@require_perm("patients.approve_certificate")
def certificate_decide(request: Request, pk: int):
    cert = selectors.get_certificate_for_user(request.user, pk, purpose=read_purpose(request))
    form = _decision_form(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        approve = data.pop("decision") == "approve"
        try:
            certificates.certificate_decide(
                actor=request.user, certificate=cert, approve=approve, **data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Certificate " + ("approved." if approve else "rejected."))
            return redirect_htmx_aware(request, reverse("patients:certificate_queue"))
    return _certificate_page(request, cert, form=form)


def _decision_form(data=None) -> forms.CertificateDecisionForm:
    today = timezone.localdate()
    return forms.CertificateDecisionForm(
        data,
        initial={
            "decision": "approve",
            "fitness": "fit",
            "valid_from": today,
            "valid_until": today + timezone.timedelta(days=30),
        },
    )


def _certificate_page(request: Request, cert, *, form=None, revoke_form=None) -> HttpResponse:
    """The certificate page: the decision form while pending, revocation once approved.
    ``cert`` was fetched with ``read_purpose``: a GET is audited as a read, a form answering
    a POST shows back what the user just saw and submitted."""
    ctx = {
        "certificate": cert,
        "patient": cert.patient,
        "form": form if form is not None else _decision_form(),
        "revoke_form": revoke_form if revoke_form is not None else forms.CertificateRevokeForm(),
        "clinical": True,
        "allergies": selectors.active_allergies(cert.patient),
        "recent_visits": list(selectors.visit_timeline(cert.patient, signed_only=True)[:5]),
    }
    invalid = (form is not None and form.errors) or (revoke_form is not None and revoke_form.errors)
    return render_page(
        request, "patients/certificate_decide.html", ctx, status=422 if invalid else 200
    )


@require_POST
@require_perm("patients.approve_certificate")
def certificate_revoke(request: Request, pk: int):
    cert = selectors.get_certificate_for_user(request.user, pk, purpose=None)
    form = forms.CertificateRevokeForm(request.POST)
    if form.is_valid():
        try:
            certificates.certificate_revoke(
                actor=request.user,
                certificate=cert,
                reason=form.cleaned_data["revoke_reason"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Certificate revoked.")
            return redirect_htmx_aware(
                request, reverse("patients:certificate_decide", args=[cert.pk])
            )
    return _certificate_page(request, cert, revoke_form=form)


def certificate_pdf_response(cert: MedicalCertificate) -> HttpResponse:
    """The PDF of a certificate fetched with ``approved_only`` and ``purpose=EXPORT``."""
    response = HttpResponse(pdf.certificate_pdf(cert), content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="medical-certificate-{cert.verification_code}.pdf"'
    )
    return response


@require_GET
@require_perm("patients.view_clinical")
def certificate_pdf(request: Request, pk: int):
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
@public
def verify_certificate(request: Request, code: str = ""):
    """Anyone holding a certificate can check it: name, dates and status, no health details."""
    form = forms.VerifyLookupForm(request.GET or None)
    if not code and form.is_valid():
        return redirect(
            "patients:verify_certificate", code=form.cleaned_data["code"].strip().upper()
        )
    cert = None
    if code:
        ratelimit.check(request, "certificate_verify")  # guessing codes: 429 past the limit
        cert = selectors.certificate_for_verification(request.user, code)
    today = timezone.localdate()
    return render_page(
        request,
        "patients/verify.html",
        {
            "form": form,
            "code": code,
            "certificate": cert,
            "is_revoked": bool(cert and cert.status == CertificateStatus.REVOKED),
            "is_current": bool(
                cert
                and cert.status == CertificateStatus.APPROVED
                and cert.valid_from <= today <= cert.valid_until
            ),
        },
    )


# --- Exports ---------------------------------------------------------------------------


EXPORT_FORMATS = ("pdf", "csv", "fhir")


def export_format(fmt: str) -> str:
    """``fmt`` if the record can be exported in it; else 404 (before anything is fetched)."""
    if fmt not in EXPORT_FORMATS:
        raise Http404("No such format")
    return fmt


def export_response(patient, fmt: str) -> HttpResponse:
    """The record as PDF, CSV or a FHIR R4 Bundle; ``patient`` was fetched with
    ``purpose=AuditAction.EXPORT`` and ``detail={"format": fmt}``."""
    # The file name is header text: slugified, so no ID number (even one saved before
    # control characters were refused) can break the response.
    stamp = f"{slugify(patient.id_number) or patient.pk}-{timezone.localdate().isoformat()}"
    if fmt == "pdf":
        response = HttpResponse(pdf.record_pdf(patient), content_type="application/pdf")
        name = f"record-{stamp}.pdf"
    elif fmt == "csv":
        response = HttpResponse(csv.record_csv(patient), content_type="text/csv; charset=utf-8")
        name = f"record-{stamp}.csv"
    elif fmt == "fhir":
        body = json.dumps(fhir.fhir_bundle(patient), indent=2, ensure_ascii=False)
        response = HttpResponse(body, content_type="application/fhir+json; charset=utf-8")
        name = f"record-{stamp}.fhir.json"
    else:
        raise Http404("No such format")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_GET
@require_perm("patients.export_record")
def patient_export(request: Request, pk: int, fmt: str):
    fmt = export_format(fmt)
    return export_response(
        selectors.get_patient_for_user(
            request.user, pk, purpose=AuditAction.EXPORT, detail={"format": fmt}
        ),
        fmt,
    )

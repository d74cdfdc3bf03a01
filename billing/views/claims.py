"""Claims: list, the claim page with its history and actions, remittance posting, export."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.audit import audit_phi_list
from accounts.models import AuditAction
from accounts.permissions import require_perm
from billing import forms, selectors
from billing.models import (
    CLAIM_CORRECTABLE,
    CLAIM_TRANSITIONS,
    Claim,
    ClaimLine,
    ClaimStatus,
    Payer,
)
from billing.pdf import claims_summary_pdf
from billing.services import claims as services
from billing.views._common import form_errors, page_of, pdf_response, query_without_page
from uscpis.csvexport import csv_download
from uscpis.http import Request, redirect_htmx_aware, render_page


@require_GET
@require_perm("billing.view")
def claim_list(request: Request):
    form = forms.ClaimFilterForm(request.GET or None)
    d = form.cleaned_data if form.is_valid() else {}
    qs = selectors.claim_list(
        status=d.get("status", ""), payer_id=d["payer"].pk if d.get("payer") else None
    )
    return render_page(
        request,
        "billing/claims.html",
        {
            "form": form,
            "page": page_of(request, qs),
            "query": query_without_page(request),
            "export_form": forms.ClaimExportForm(),
        },
        partial="claim-table",
    )


@require_GET
@require_perm("billing.view")
def claim_detail(request: Request, pk: int):
    claim = selectors.get_claim_for_user(request.user, pk, purpose=AuditAction.READ)
    return _claim_page(request, claim)


def _claim_page(request: Request, claim: Claim, *, bad_line=None, bad_form=None, status=200):
    lines = list(
        claim.lines.select_related(
            "invoice_line__invoice", "invoice_line__service", "icd10", "service"
        )
    )
    correctable = claim.status in CLAIM_CORRECTABLE and request.user.can("billing.manage")
    if correctable:
        for line in lines:
            line.form = (
                bad_form
                if bad_line == line.pk
                else forms.ClaimLineCorrectForm(
                    prefix=f"line{line.pk}",
                    initial={
                        "amount": line.amount,
                        "icd10": line.icd10_id or "",
                        "service": line.service_id,
                    },
                )
            )
    return render_page(
        request,
        "billing/claim.html",
        {
            "claim": claim,
            "lines": lines,
            "correctable": correctable,
            "changes": list(claim.line_changes.select_related("actor", "line")),
            "events": list(claim.events.select_related("actor")),
            "remittances": list(claim.remittance_lines.select_related("remittance")),
            "next_statuses": [
                (s, ClaimStatus(s).label) for s in CLAIM_TRANSITIONS.get(claim.status, ())
            ],
            "form": forms.ClaimActionForm(initial={"loa_number": claim.loa_number}),
        },
        status=status,
    )


@require_POST
@require_perm("billing.manage")
def claim_line_correct(request: Request, pk: int, line_pk: int):
    """Correct one line of a denied / partially paid claim (amount, ICD-10, service, reason)."""
    claim = selectors.get_claim_for_user(request.user, pk, purpose=None)
    line = get_object_or_404(ClaimLine, pk=line_pk, claim=claim)
    form = forms.ClaimLineCorrectForm(request.POST, prefix=f"line{line.pk}")
    if form.is_valid():
        d = form.cleaned_data
        try:
            services.claim_line_correct(
                actor=request.user,
                line=line,
                amount=d["amount"],
                icd10_code=d["icd10"],
                service=d["service"],
                reason=d["reason"],
            )
            messages.success(request, "Line corrected. Resubmit the claim when it is ready.")
            return redirect_htmx_aware(request, reverse("billing:claim", args=[pk]))
        except ValidationError as exc:
            form_errors(form, exc)
    claim.refresh_from_db()
    return _claim_page(request, claim, bad_line=line.pk, bad_form=form, status=422)


@require_POST
@require_perm("billing.manage")
def claim_action(request: Request, pk: int):
    claim = selectors.get_claim_for_user(request.user, pk, purpose=None)
    form = forms.ClaimActionForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError("Choose what happens to the claim.")
        d = form.cleaned_data
        services.claim_transition(
            actor=request.user,
            claim=claim,
            to_status=d["to_status"],
            denial_code=d["denial_code"],
            note=d["note"],
            loa_number=d["loa_number"] or None,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect_htmx_aware(request, reverse("billing:claim", args=[pk]))


def _remittance_items(request, claims) -> list[services.RemittanceItem]:
    items = []
    for claim in claims:
        try:
            paid, adj, moved = (
                Decimal(request.POST.get(f"{f}_{claim.pk}") or "0")
                for f in ("paid", "adj", "patient")
            )
        except InvalidOperation:
            raise ValidationError(f"{claim.number}: enter amounts as numbers.") from None
        if paid or adj or moved:
            items.append(
                services.RemittanceItem(
                    claim=claim, paid=paid, adjustment=adj, patient_responsibility=moved
                )
            )
    return items


@require_http_methods(["GET", "POST"])
@require_perm("billing.manage")
def remittance_new(request: Request):
    """One payer payment posted across its outstanding claims (paid, contractual adjustment,
    patient responsibility per claim)."""
    form = forms.RemittanceForm(request.POST or None, initial={"payer": request.GET.get("payer")})
    payer_id = request.POST.get("payer") or request.GET.get("payer")
    payer = Payer.objects.filter(pk=payer_id).first() if str(payer_id or "").isdigit() else None
    claims = (
        list(
            Claim.objects.filter(payer=payer, status__in=services.REMITTABLE)
            .select_related("patient")
            .order_by("created_at")
        )
        if payer
        else []
    )
    if request.method == "POST" and form.is_valid():
        try:
            d = form.cleaned_data
            services.remittance_post(
                actor=request.user,
                payer=d["payer"],
                reference=d["reference"],
                received_on=d["received_on"],
                amount=d["amount"],
                items=_remittance_items(request, claims),
            )
            messages.success(request, "Remittance posted.")
            return redirect_htmx_aware(request, reverse("billing:claims"))
        except ValidationError as exc:
            form_errors(form, exc)
    return render_page(
        request,
        "billing/remittance.html",
        {"form": form, "payer": payer, "claims": claims, "values": request.POST},
        status=422 if form.errors else 200,
    )


@require_GET
@require_perm("billing.view")
def claim_export(request: Request):
    """Claims of one payer and period as CSV (claim-form fields) or a PDF summary."""
    form = forms.ClaimExportForm(request.GET)
    if not form.is_valid():
        messages.error(request, "Choose the payer and the period to export.")
        return redirect_htmx_aware(request, reverse("billing:claims"))
    date_from, date_to = form.period()
    payer = form.cleaned_data["payer"]
    claims = list(
        Claim.objects.filter(
            payer=payer, created_at__date__gte=date_from, created_at__date__lte=date_to
        )
        .select_related("payer", "patient", "coverage")
        .order_by("created_at")
    )
    fmt = "pdf" if request.GET.get("format") == "pdf" else "csv"
    audit_phi_list(
        actor=request.user,
        action=AuditAction.EXPORT,
        object_type="billing.claim",
        detail={"format": fmt, "payer": payer.code, "claims": len(claims)},
    )
    name = f"claims-{payer.code}-{date_from}-{date_to}"
    if fmt == "pdf":
        return pdf_response(
            claims_summary_pdf(claims, payer_name=payer.name, date_from=date_from, date_to=date_to),
            f"{name}.pdf",
            inline=False,
        )
    rows = selectors.claim_rows(claims)
    header = [
        "claim",
        "status",
        "payer",
        "member_id",
        "loa",
        "patient",
        "patient_id_number",
        "birth_date",
        "service_date",
        "icd10",
        "services",
        "invoices",
        "amount",
        "paid",
    ]
    return csv_download(f"{name}.csv", header, ([r[h] for h in header] for r in rows))

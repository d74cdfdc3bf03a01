"""Invoice list, the invoice page (editing a draft, issuing, corrections) and its PDF."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import AuditAction
from accounts.permissions import require_perm
from accounts.roles import user_has_perm
from billing import forms, screens, selectors
from billing.models import ApprovalStatus, InvoiceLine, InvoiceStatus
from billing.pdf import invoice_pdf
from billing.services import claims as claim_services
from billing.services import invoices as services
from billing.views._common import (
    PAGE_SIZE,
    form_errors,
    page_of,
    pdf_response,
    query_without_page,
)
from uscpis.http import Request, redirect_htmx_aware, render_page


@require_GET
@require_perm("billing.view")
def invoice_list(request: Request):
    form = forms.InvoiceFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    filters = {k: v for k, v in filters.items() if v}
    totals, page = selectors.invoice_list_page(request.GET.get("page"), PAGE_SIZE, **filters)
    selectors.rows_served(
        request.user,
        page,
        object_type="billing.invoice",
        detail={"view": "invoice_list", "page": page.number},
    )
    return render_page(
        request,
        "billing/invoices.html",
        {"form": form, "page": page, "totals": totals, "query": query_without_page(request)},
        partial="invoice-table",
    )


def _detail_context(request, invoice, *, reads=None, **extra) -> dict:
    """The invoice page's context; ``reads``: its lines and history when already read."""
    lines, history = reads or screens.invoice_page_reads(invoice)
    draft = invoice.status == InvoiceStatus.DRAFT
    posted = not draft and invoice.status != InvoiceStatus.VOID
    owing = posted and invoice.balance > 0
    # The forms are built only where the page shows them (drafts: lines and terms; posted
    # invoices still owing: a credit note and a write-off; issued ones: voiding).
    context = {
        "invoice": invoice,
        "lines": lines,
        "allocations": history.allocations,
        "credit_notes": history.credit_notes,
        "write_offs": history.write_offs,
        "claims": history.claims,
        "claimable": not draft and any(x.payer_share > 0 for x in lines),
        # A draft's lines and terms can be changed here (by whoever manages billing).
        "editable": draft and user_has_perm(request.user, "billing.manage"),
        "line_form": forms.AddLineForm() if draft else None,
        "terms_form": forms.TermsForm(
            patient=invoice.patient,
            initial={
                "coverage": invoice.coverage_id,
                "statutory_discount": invoice.statutory_discount,
                "statutory_id_number": invoice.statutory_id_number,
            },
        )
        if draft
        else None,
        "void_form": forms.ReasonForm(prefix="void")
        if invoice.status == InvoiceStatus.ISSUED
        else None,
        "writeoff_form": forms.ReasonForm(prefix="writeoff") if owing else None,
        "credit_form": forms.CreditNoteForm(prefix="credit") if owing else None,
        "pending_writeoff": any(w.status == ApprovalStatus.REQUESTED for w in history.write_offs),
    }
    context.update(extra)
    return context


@require_GET
@require_perm("billing.view")
def invoice_detail(request: Request, pk: int):
    # The invoice, its lines and its history in one round trip, then the audited read.
    invoice, lines, history = screens.invoice_page_for_user(request.user, pk)
    return render_page(
        request,
        "billing/invoice.html",
        _detail_context(request, invoice, reads=(lines, history)),
        partial="invoice-lines",
    )


@require_POST
@require_perm("billing.manage")
def invoice_add_line(request: Request, pk: int):
    invoice = selectors.get_invoice_for_user(request.user, pk, purpose=None)
    form = forms.AddLineForm(request.POST)
    if form.is_valid():
        try:
            d = form.cleaned_data
            services.invoice_add_line(
                actor=request.user,
                invoice=invoice,
                service=d["service"],
                quantity=d["quantity"],
                unit_price_value=d["unit_price"],
                reason=d["reason"],
            )
            form = forms.AddLineForm()
        except ValidationError as exc:
            form_errors(form, exc)
    invoice = selectors.get_invoice_for_user(request.user, pk, purpose=None)
    return render_page(
        request,
        "billing/invoice.html",
        _detail_context(request, invoice, line_form=form),
        partial="invoice-lines",
        status=422 if form.errors else 200,
    )


@require_POST
@require_perm("billing.manage")
def invoice_line_action(request: Request, pk: int, line_pk: int, action: str):
    invoice = selectors.get_invoice_for_user(request.user, pk, purpose=None)
    line = get_object_or_404(InvoiceLine, pk=line_pk, invoice=invoice, voided=False)
    error = None
    try:
        if action == "remove":
            services.invoice_remove_line(actor=request.user, line=line)
        else:
            form = forms.PriceOverrideForm(request.POST)
            if not form.is_valid():
                raise ValidationError("Enter the new price and the reason.")
            services.invoice_override_price(
                actor=request.user,
                line=line,
                unit_price_value=form.cleaned_data["unit_price"],
                reason=form.cleaned_data["reason"],
            )
    except ValidationError as exc:
        error = " ".join(exc.messages)
    invoice = selectors.get_invoice_for_user(request.user, pk, purpose=None)
    return render_page(
        request,
        "billing/invoice.html",
        _detail_context(request, invoice, line_error=error),
        partial="invoice-lines",
        status=422 if error else 200,
    )


@require_POST
@require_perm("billing.manage")
def invoice_terms(request: Request, pk: int):
    invoice = selectors.get_invoice_for_user(request.user, pk, purpose=None)
    form = forms.TermsForm(request.POST, patient=invoice.patient)
    if form.is_valid():
        try:
            d = form.cleaned_data
            services.invoice_set_terms(
                actor=request.user,
                invoice=invoice,
                coverage=d["coverage"],
                statutory_discount=d["statutory_discount"],
                statutory_id_number=d["statutory_id_number"],
            )
            return redirect_htmx_aware(request, reverse("billing:invoice", args=[pk]))
        except ValidationError as exc:
            form_errors(form, exc)
    return render_page(
        request,
        "billing/invoice.html",
        _detail_context(
            request, selectors.get_invoice_for_user(request.user, pk, purpose=None), terms_form=form
        ),
        status=422,
    )


@require_http_methods(["POST"])
@require_perm("billing.manage")
def invoice_action(request: Request, pk: int, action: str):
    """Issue, void, credit note, write-off request, claim: one service call each."""
    invoice = selectors.get_invoice_for_user(request.user, pk, purpose=None)
    try:
        if action == "issue":
            services.invoice_issue(actor=request.user, invoice=invoice)
        elif action == "void":
            services.invoice_void(
                actor=request.user,
                invoice=invoice,
                reason=request.POST.get("void-reason", ""),
            )
        elif action == "credit":
            form = forms.CreditNoteForm(request.POST, prefix="credit")
            if not form.is_valid():
                raise ValidationError("Enter the amount and the reason of the credit note.")
            services.credit_note_create(
                actor=request.user,
                invoice=invoice,
                amount=form.cleaned_data["amount"],
                reason=form.cleaned_data["reason"],
            )
        elif action == "writeoff":
            services.writeoff_request(
                actor=request.user,
                invoice=invoice,
                reason=request.POST.get("writeoff-reason", ""),
            )
        elif action == "claim":
            claim = claim_services.claim_create(actor=request.user, invoice=invoice)
            return redirect_htmx_aware(request, reverse("billing:claim", args=[claim.pk]))
        else:
            raise ValidationError("Unknown action.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect_htmx_aware(request, reverse("billing:invoice", args=[pk]))


@require_GET
@require_perm("billing.view")
def invoice_pdf_view(request: Request, pk: int):
    invoice = selectors.get_invoice_for_user(
        request.user, pk, purpose=AuditAction.EXPORT, detail={"format": "pdf"}
    )
    return pdf_response(invoice_pdf(invoice), f"{invoice.number or f'draft-{invoice.pk}'}.pdf")


@require_GET
@require_perm("billing.view")
def void_register(request: Request):
    """The BIR void register: every voided invoice number, when, why and by whom."""
    page = page_of(
        request,
        selectors.invoice_list(status=InvoiceStatus.VOID)
        .select_related("voided_by")
        .order_by("-voided_at"),
    )
    return render_page(request, "billing/void_register.html", {"page": page}, partial="void-table")

"""The patient's own bills: invoices, receipts, statements, balance, claims on their
coverage. Another patient's documents are a 404."""

from __future__ import annotations

from django.views.decorators.http import require_GET

from accounts.models import AuditAction
from accounts.permissions import require_perm
from billing import forms, selectors
from billing.models import POSTED_STATUSES, Claim, Invoice, InvoiceStatus, Payment
from billing.pdf import invoice_pdf, receipt_pdf, statement_pdf
from billing.views._common import pdf_response
from patients.selectors import patient_for_portal
from uscpis.http import Request, render_page


@require_GET
@require_perm("billing.portal")
def my_bills(request: Request):
    patient = patient_for_portal(
        request.user, purpose=AuditAction.READ, object_type="billing.account"
    )
    return render_page(
        request,
        "billing/my_bills.html",
        {
            "patient": patient,
            "balance": selectors.patient_balance(patient.pk),
            "invoices": list(
                Invoice.objects.filter(
                    patient=patient, status__in=[*POSTED_STATUSES, InvoiceStatus.VOID]
                ).order_by("-visit_day", "-id")[:50]
            ),
            "payments": list(Payment.objects.filter(patient=patient).order_by("-received_at")[:50]),
            "claims": list(Claim.objects.filter(patient=patient).select_related("payer")[:20]),
            "period": forms.PeriodForm(),
        },
    )


@require_GET
@require_perm("billing.portal")
def my_invoice_pdf(request: Request, pk: int):
    invoice = selectors.get_invoice_for_user(
        request.user, pk, purpose=AuditAction.EXPORT, detail={"format": "pdf"}, own=True
    )
    return pdf_response(invoice_pdf(invoice), f"{invoice.number}.pdf")


@require_GET
@require_perm("billing.portal")
def my_receipt_pdf(request: Request, pk: int):
    payment = selectors.get_payment_for_user(
        request.user, pk, purpose=AuditAction.EXPORT, detail={"format": "pdf"}, own=True
    )
    return pdf_response(receipt_pdf(payment), f"{payment.receipt_number}.pdf")


@require_GET
@require_perm("billing.portal")
def my_statement_pdf(request: Request):
    date_from, date_to = forms.PeriodForm(request.GET).period()
    patient = patient_for_portal(
        request.user,
        purpose=AuditAction.EXPORT,
        object_type="billing.statement",
        detail={"from": str(date_from), "to": str(date_to)},
    )
    return pdf_response(
        statement_pdf(selectors.statement(patient, date_from, date_to)), f"statement-{date_to}.pdf"
    )

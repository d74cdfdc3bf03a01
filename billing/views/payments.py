"""Taking payments, receipts, refunds, approvals and the cashier's day."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.audit import read_purpose
from accounts.models import AuditAction
from accounts.permissions import require_perm
from billing import forms, screens, selectors
from billing.models import (
    OPEN_STATUSES,
    CashierDay,
    Invoice,
    PaymentMethod,
    Refund,
    WriteOff,
)
from billing.pdf import receipt_pdf
from billing.services import invoices as invoice_services
from billing.services import payments as services
from billing.views._common import form_errors, page_of, pdf_response
from patients.selectors import get_patient_for_user
from uscpis.http import Request, redirect_htmx_aware, render_page


def _open_invoices(patient):
    return list(
        Invoice.objects.filter(patient=patient, status__in=OPEN_STATUSES).order_by(
            "visit_day", "pk"
        )
    )


@require_http_methods(["GET", "POST"])
@require_perm("billing.manage")
def payment_new(request: Request, patient_pk: int):
    patient = get_patient_for_user(
        request.user,
        patient_pk,
        purpose=read_purpose(request),
        object_type="billing.account",
        detail={"view": "payment_new"},
    )
    open_invoices = _open_invoices(patient)
    form = forms.PaymentForm(
        request.POST or None,
        open_invoices=open_invoices,
        initial={"invoices": request.GET.getlist("invoice")},
    )
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            payment, _ = services.payment_record(
                actor=request.user,
                patient=patient,
                amount=d["amount"],
                method=d["method"],
                reference=d["reference"],
                idempotency_key=d["idempotency_key"],
                invoice_ids=form.chosen_invoice_ids() or None,
            )
            return redirect_htmx_aware(request, reverse("billing:payment", args=[payment.pk]))
        except ValidationError as exc:
            form_errors(form, exc)
    return render_page(
        request,
        "billing/payment_form.html",
        {
            "patient": patient,
            "form": form,
            "open_invoices": open_invoices,
            "balance": selectors.patient_balance(patient.pk),
            "cashier_day": selectors.open_cashier_day(request.user),
        },
        status=422 if form.errors else 200,
    )


@require_GET
@require_perm("billing.view")
def payment_detail(request: Request, pk: int):
    payment = selectors.get_payment_for_user(request.user, pk, purpose=AuditAction.READ)
    return render_page(
        request,
        "billing/payment.html",
        {
            "payment": payment,
            "allocations": list(payment.allocations.select_related("invoice")),
            "refunds": list(payment.refunds.all()),
            "refund_form": forms.RefundForm(),
        },
    )


@require_GET
@require_perm("billing.view")
def receipt_pdf_view(request: Request, pk: int):
    payment = selectors.get_payment_for_user(
        request.user, pk, purpose=AuditAction.EXPORT, detail={"format": "pdf"}
    )
    return pdf_response(receipt_pdf(payment), f"{payment.receipt_number}.pdf")


@require_POST
@require_perm("billing.manage")
def refund_request(request: Request, pk: int):
    payment = selectors.get_payment_for_user(request.user, pk, purpose=None)
    form = forms.RefundForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError("Enter the refund amount and the reason.")
        services.refund_request(
            actor=request.user,
            payment=payment,
            amount=form.cleaned_data["amount"],
            reason=form.cleaned_data["reason"],
        )
        messages.success(request, "Refund requested; an administrator approves it.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect_htmx_aware(request, reverse("billing:payment", args=[pk]))


@require_GET
@require_perm("billing.approve")
def approvals(request: Request):
    writeoffs, refunds = selectors.pending_approvals()
    return render_page(
        request, "billing/approvals.html", {"writeoffs": writeoffs, "refunds": refunds}
    )


@require_POST
@require_perm("billing.approve")
def approval_decide(request: Request, kind: str, pk: int):
    approve = request.POST.get("decision") == "approve"
    try:
        if kind == "writeoff":
            invoice_services.writeoff_decide(
                actor=request.user,
                writeoff=get_object_or_404(WriteOff, pk=pk),
                approve=approve,
            )
        else:
            services.refund_decide(
                actor=request.user,
                refund=get_object_or_404(Refund, pk=pk),
                approve=approve,
            )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect_htmx_aware(request, reverse("billing:approvals"))


@require_http_methods(["GET", "POST"])
@require_perm("billing.manage")
def cashier(request: Request):
    """Open the day with a float; take payments; close with counts per method."""
    screen = screens.cashier_screen(request.user)
    day = screen.day
    open_form = forms.OpenDayForm(request.POST if request.POST.get("action") == "open" else None)
    close_form = forms.CloseDayForm(request.POST if request.POST.get("action") == "close" else None)
    if request.method == "POST":
        try:
            if request.POST.get("action") == "open" and open_form.is_valid():
                services.cashier_day_open(
                    actor=request.user,
                    opening_float=open_form.cleaned_data["opening_float"],
                )
                return redirect_htmx_aware(request, reverse("billing:cashier"))
            if request.POST.get("action") == "close" and day and close_form.is_valid():
                closed = services.cashier_day_close(
                    actor=request.user,
                    day=day,
                    counted=close_form.counted(),
                    note=close_form.cleaned_data["note"],
                )
                return redirect_htmx_aware(
                    request, reverse("billing:cashier_day", args=[closed.pk])
                )
        except ValidationError as exc:
            form_errors(close_form if request.POST.get("action") == "close" else open_form, exc)
    context = {
        "day": day,
        "open_form": open_form,
        "close_form": close_form,
        "recent": screen.recent,
    }
    if day:
        context["expected"] = [(label, screen.expected[m]) for m, label in PaymentMethod.choices]
        context["payments"] = screen.payments
    return render_page(
        request,
        "billing/cashier.html",
        context,
        status=422 if (open_form.errors or close_form.errors) else 200,
    )


@require_GET
@require_perm("billing.view")
def cashier_day(request: Request, pk: int):
    """The close report: expected vs counted per method and the difference."""
    day = get_object_or_404(CashierDay.objects.select_related("cashier"), pk=pk)
    expected = services.expected_by_method(day) if day.status == "open" else day.expected
    rows = []

    for method, label in PaymentMethod.choices:
        exp = Decimal(str(expected.get(method, "0")))
        counted = Decimal(day.counted[method]) if method in day.counted else None
        rows.append(
            {
                "label": label,
                "expected": exp,
                "counted": counted,
                "difference": None if counted is None else counted - exp,
            }
        )
    page = page_of(request, day.payments.select_related("patient").order_by("-received_at"))
    # The payments name their patients: one read event for the page.
    selectors.rows_served(
        request.user,
        page,
        object_type="billing.payment",
        detail={"view": "cashier_day", "day": day.pk, "page": page.number},
    )
    return render_page(
        request,
        "billing/cashier_day.html",
        {"day": day, "rows": rows, "page": page},
        partial="day-payments",
    )

"""Charges waiting to be billed (and reversed ones), with bill / reverse actions."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import require_perm
from billing import forms, selectors
from billing.models import Charge, ChargeStatus
from billing.services import charges as charge_services
from billing.views._common import page_of
from uscpis.http import Request, redirect_htmx_aware, render_page


@require_GET
@require_perm("billing.view")
def charge_list(request: Request):
    status = request.GET.get("status", ChargeStatus.UNBILLED)
    if status not in ChargeStatus.values:
        status = ChargeStatus.UNBILLED
    page = page_of(request, selectors.unbilled_charges(status))
    return render_page(
        request,
        "billing/charges.html",
        {
            "page": page,
            "status": status,
            "statuses": ChargeStatus.choices,
            "reason_form": forms.ReasonForm(),
        },
        partial="charge-table",
    )


@require_POST
@require_perm("billing.manage")
def charge_action(request: Request, pk: int, action: str):
    charge = get_object_or_404(Charge, pk=pk)
    try:
        if action == "bill":
            invoice = charge_services.charge_bill(actor=request.user, charge=charge)
            return redirect_htmx_aware(request, reverse("billing:invoice", args=[invoice.pk]))
        form = forms.ReasonForm(request.POST)
        if action != "reverse" or not form.is_valid():
            raise ValidationError("Give the reason for reversing the charge.")
        charge_services.charge_reverse(
            actor=request.user, charge=charge, reason=form.cleaned_data["reason"]
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect_htmx_aware(request, reverse("billing:charges"))

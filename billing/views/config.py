"""The administrator's fee schedule: price lists and their prices, and payers."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.audit import audit_record
from accounts.permissions import require_perm
from billing import forms
from billing.models import Payer, Price, PriceList
from uscpis.http import Request, redirect_htmx_aware, render_page


@require_GET
@require_perm("billing.view")
def price_lists(request: Request):
    lists = list(PriceList.objects.prefetch_related("prices__service").order_by("patient_type", "-effective_from"))
    return render_page(request, "billing/price_lists.html",
                       {"lists": lists, "payers": list(Payer.objects.all())})


@require_http_methods(["GET", "POST"])
@require_perm("billing.configure")
def price_edit(request: Request, pk: int):
    """Change one price. Issued invoices keep the amounts they were issued with."""
    price = get_object_or_404(Price.objects.select_related("service", "price_list"), pk=pk)
    form = forms.PriceForm(request.POST or None, initial={"amount": price.amount,
                                                          "covered_per_term": price.covered_per_term})
    if request.method == "POST" and form.is_valid():
        before = str(price.amount)
        with transaction.atomic():
            price.amount = form.cleaned_data["amount"]
            price.covered_per_term = form.cleaned_data["covered_per_term"]
            try:
                price.full_clean()
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            else:
                price.save()
                audit_record(actor=request.user, action="update", obj=price, request=request,
                             detail={"amount": {"from": before, "to": str(price.amount)}})
                return redirect_htmx_aware(request, reverse("billing:price_lists"))
    return render_page(request, "billing/price_form.html", {"price": price, "form": form},
                       status=422 if form.errors else 200)

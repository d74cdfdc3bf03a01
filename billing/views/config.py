"""The administrator's fee schedule: price lists and their prices, and payers."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.permissions import require_perm
from billing import forms
from billing.models import Payer, Price, PriceList
from billing.services import catalogue as services
from billing.views._common import form_errors
from uscpis.http import Request, redirect_htmx_aware, render_page


@require_GET
@require_perm("billing.view")
def price_lists(request: Request):
    lists = list(
        PriceList.objects.prefetch_related("prices__service").order_by(
            "patient_type", "-effective_from"
        )
    )
    return render_page(
        request, "billing/price_lists.html", {"lists": lists, "payers": list(Payer.objects.all())}
    )


@require_http_methods(["GET", "POST"])
@require_perm("billing.configure")
def price_edit(request: Request, pk: int):
    """Change one price. Issued invoices keep the amounts they were issued with."""
    price = get_object_or_404(Price.objects.select_related("service", "price_list"), pk=pk)
    form = forms.PriceForm(
        request.POST or None,
        initial={"amount": price.amount, "covered_per_term": price.covered_per_term},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.price_update(
                actor=request.user,
                price=price,
                amount=form.cleaned_data["amount"],
                covered_per_term=form.cleaned_data["covered_per_term"],
            )
            return redirect_htmx_aware(request, reverse("billing:price_lists"))
        except ValidationError as exc:
            form_errors(form, exc)
    return render_page(
        request,
        "billing/price_form.html",
        {"price": price, "form": form},
        status=422 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@require_perm("billing.configure")
def price_list_copy(request: Request, pk: int):
    """A new price list from a date, starting from this one's prices."""
    source = get_object_or_404(PriceList, pk=pk)
    form = forms.PriceListCopyForm(request.POST or None, initial={"name": source.name})
    if request.method == "POST" and form.is_valid():
        try:
            services.price_list_copy(
                actor=request.user,
                source=source,
                effective_from=form.cleaned_data["effective_from"],
                name=form.cleaned_data["name"],
            )
            return redirect_htmx_aware(request, reverse("billing:price_lists"))
        except ValidationError as exc:
            form_errors(form, exc)
    return render_page(
        request,
        "billing/simple_form.html",
        {
            "form": form,
            "title": f"New price list from {source.name}",
            "button": "Create price list",
        },
        status=422 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@require_perm("billing.configure")
def payer_edit(request: Request, pk: int | None = None):
    payer = get_object_or_404(Payer, pk=pk) if pk else Payer()
    form = forms.PayerForm(request.POST or None, instance=payer)
    if request.method == "POST" and form.is_valid():
        try:
            services.payer_save(actor=request.user, payer=form.save(commit=False))
            return redirect_htmx_aware(request, reverse("billing:price_lists"))
        except ValidationError as exc:
            form_errors(form, exc)
    return render_page(
        request,
        "billing/simple_form.html",
        {"form": form, "title": payer.name or "New payer", "button": "Save payer"},
        status=422 if form.errors else 200,
    )

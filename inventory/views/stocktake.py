"""Stocktakes: starting, counting and posting."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_http_methods

from accounts.permissions import require_perm
from inventory import forms, selectors
from inventory.models import (
    Stocktake,
    StocktakeStatus,
)
from inventory.services import stocktake
from inventory.views.common import PAGE_SIZE, _form_error, _status
from uscpis.http import Request, render_page


@require_http_methods(["GET", "POST"])
@require_perm("inventory.manage_stock")
def stocktakes(request: Request):
    form = forms.StocktakeStartForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            st = stocktake.stocktake_start(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _form_error(form, exc)
        else:
            return redirect("inventory:stocktake_detail", pk=st.pk)
    page = Paginator(
        Stocktake.objects.select_related("location", "created_by", "posted_by"), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    return render_page(
        request, "inventory/stocktakes.html", {"form": form, "page": page}, status=_status(form)
    )


@require_http_methods(["GET", "POST"])
@require_perm("inventory.manage_stock")
def stocktake_detail(request: Request, pk: int):
    st = get_object_or_404(Stocktake.objects.select_related("location"), pk=pk)
    lines = selectors.stocktake_sheet(st)
    formset = forms.stocktake_count_formset(
        lines, request.POST if request.method == "POST" else None
    )
    errors = {}
    if request.method == "POST":
        try:
            if not formset.is_valid():
                raise ValidationError(
                    [*formset.non_form_errors()]
                    + [e for form in formset.forms for errs in form.errors.values() for e in errs]
                )
            counts = {
                form.cleaned_data["line"]: (
                    form.cleaned_data["counted"],
                    form.cleaned_data["reason"],
                )
                for form in formset.forms
            }
            stocktake.stocktake_record_counts(actor=request.user, stocktake=st, counts=counts)
            if request.POST.get("post"):
                stocktake.stocktake_post(actor=request.user, stocktake=st)
                posted = st.movements.count()
                messages.success(
                    request,
                    f"Count posted: {posted} stocktake adjustment{'s' if posted != 1 else ''} "
                    "recorded against the stock on hand at posting."
                    if posted
                    else "Count posted: every counted lot already held what was counted.",
                )
            else:
                messages.success(request, "Counts saved.")
            return redirect("inventory:stocktake_detail", pk=pk)
        except ValidationError as exc:
            errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    editable = st.status == StocktakeStatus.OPEN
    return render_page(
        request,
        "inventory/stocktake_detail.html",
        {
            "stocktake": st,
            "lines": lines,
            "errors": errors,
            "formset": formset,
            "reasons": forms.STOCKTAKE_REASON_CHOICES,
            "editable": editable,
            "moved": sum(line.moved_since_start for line in lines) if editable else 0,
        },
        status=422 if errors else 200,
    )

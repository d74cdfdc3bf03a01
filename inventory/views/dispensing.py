"""Dispensing stock against a visit or prescription."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from accounts.permissions import require_perm
from inventory import forms, quantities, selectors
from inventory.services import dispensing
from inventory.views.common import _form_error, _status
from uscpis.http import Request, render_page


@require_http_methods(["GET", "POST"])
@require_perm("inventory.dispense")
def dispense(request: Request):
    initial = {
        k: request.GET.get(k) for k in ("item", "visit", "patient_id_number") if request.GET.get(k)
    }
    rx, from_rx = selectors.dispense_initial_for_prescription(
        request.user, request.GET.get("prescription") or request.POST.get("prescription")
    )
    initial.update(from_rx)
    form = forms.DispenseForm(request.POST or None, initial=initial, user=request.user)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            result = dispensing.stock_dispense(
                actor=request.user,
                item=d["item"],
                quantity=d["quantity"],
                patient=d["patient"],
                visit=d["visit_obj"],
                prescription=d["prescription_obj"],
                destination=d["destination"] if d["recipient"] == "ward" else "",
                location=d["location"],
                course_days=d["course_days"],
                note=d["note"],
                request=request,
            )
        except ValidationError as exc:
            _form_error(form, exc)
        else:
            who = d["patient"].full_name if d["patient"] else d["destination"]
            messages.success(
                request,
                f"Dispensed {quantities.fmt_qty(result.total)} {d['item'].unit} of {d['item'].display_name} to {who}.",
            )
            for warning in result.warnings:
                messages.warning(request, warning)
            if d["prescription_obj"] is not None:  # back to the visit it was prescribed in
                return redirect("patients:visit", pk=d["prescription_obj"].visit_id)
            return redirect("inventory:item_detail", pk=d["item"].pk)
    context = {"form": form, "prescription": rx}
    return render_page(request, "inventory/dispense.html", context, status=_status(form))

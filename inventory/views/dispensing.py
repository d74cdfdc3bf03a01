"""Dispensing stock against a visit or prescription."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.http import require_http_methods

from accounts.permissions import require_perm
from accounts.roles import user_has_perm
from inventory import forms, quantities, selectors
from inventory.services import dispensing
from inventory.views.common import _form_error, _status
from uscpis.http import Request, redirect_htmx_aware, render_page


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


@require_http_methods(["GET", "POST"])
@require_perm("inventory.dispense")
def dispense_cancel(request: Request, pk: int):
    """Cancel a dispensing to a patient: the stock goes back to its lot and billing reverses the
    charge (``stock_dispense_cancel``). Only a dispensing to a patient is found here."""
    movement = selectors.dispensing_to_cancel(pk)
    if movement is None:
        raise Http404
    back = reverse("inventory:item_detail", args=[movement.item_id])
    form = forms.DispenseCancelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            dispensing.stock_dispense_cancel(
                actor=request.user,
                movement=movement,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            _form_error(form, exc)
        else:
            messages.success(
                request,
                f"Cancelled the dispensing of {quantities.fmt_qty(-movement.quantity)} "
                f"{movement.item.unit} of {movement.item.display_name}; the stock is back in "
                f"batch {movement.lot.batch_number}.",
            )
            return redirect_htmx_aware(request, back)
    show_patient = user_has_perm(request.user, "patients.view_demographics")
    who = movement.patient.full_name if show_patient else "a patient"
    context = {
        "form": form,
        "title": f"Cancel dispensing of {movement.item.display_name}",
        "subtitle": (
            f"{quantities.fmt_qty(-movement.quantity)} {movement.item.unit} to {who} on "
            f"{date_format(timezone.localtime(movement.created_at), 'D j M Y, g:i A')}, "
            f"batch {movement.lot.batch_number}"
        ),
        "back": back,
        "back_label": "Keep it",
        "submit": "Cancel dispensing",
    }
    return render_page(request, "inventory/form.html", context, status=_status(form))

"""Purchase orders: list, drafting, lines, sending, receiving and the PDF."""

from __future__ import annotations

from io import BytesIO

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import require_perm
from inventory import forms, selectors
from inventory.models import (
    POStatus,
    PurchaseOrder,
    PurchaseOrderLine,
)
from inventory.pdf import purchase_order_pdf
from inventory.services import purchasing
from inventory.views.common import PAGE_SIZE, _form_error, _status
from uscpis.http import Request, redirect_htmx_aware, render_page


@require_GET
@require_perm("inventory.manage_orders")
def orders(request: Request):
    status = request.GET.get("status", "")
    status = status if status in POStatus.values else ""
    page = Paginator(selectors.purchase_orders(status=status), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render_page(
        request,
        "inventory/orders.html",
        {"page": page, "status": status, "statuses": POStatus.choices},
        partial="order-table",
    )


@require_http_methods(["GET", "POST"])
@require_perm("inventory.manage_orders")
def order_new(request: Request):
    form = forms.OrderCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        order = purchasing.purchase_order_create(
            actor=request.user, vendor=form.cleaned_data["vendor"]
        )
        return redirect("inventory:order_detail", pk=order.pk)
    return render_page(
        request,
        "inventory/form.html",
        {
            "form": form,
            "title": "New purchase order",
            "back": reverse("inventory:orders"),
            "submit": "Create draft",
            "subtitle": "Each vendor has at most one draft; you will be taken to it if it exists.",
        },
        status=_status(form),
    )


def _order_context(order: PurchaseOrder, line_form=None) -> dict:
    lines = list(order.lines.select_related("item"))
    return {
        "order": order,
        "lines": lines,
        "total": sum((x.line_total for x in lines), 0),
        "line_form": line_form or forms.OrderLineForm(),
    }


@require_GET
@require_perm("inventory.manage_orders")
def order_detail(request: Request, pk: int):
    order = get_object_or_404(PurchaseOrder.objects.select_related("vendor", "created_by"), pk=pk)
    return render_page(
        request, "inventory/order_detail.html", _order_context(order), partial="order-lines"
    )


@require_POST
@require_perm("inventory.manage_orders")
def order_add_line(request: Request, pk: int):
    order = get_object_or_404(PurchaseOrder.objects.select_related("vendor"), pk=pk)
    form = forms.OrderLineForm(request.POST)
    if form.is_valid():
        try:
            purchasing.purchase_order_add_line(actor=request.user, order=order, **form.cleaned_data)
        except ValidationError as exc:
            _form_error(form, exc)
        else:
            form = None
    ctx = _order_context(order, form)
    return render_page(
        request,
        "inventory/order_detail.html",
        ctx,
        partial="order-lines",
        status=422 if form and form.errors else 200,
    )


@require_POST
@require_perm("inventory.manage_orders")
def order_remove_line(request: Request, pk: int, line_pk: int):
    line = get_object_or_404(
        PurchaseOrderLine.objects.select_related("order"), pk=line_pk, order_id=pk
    )
    try:
        purchasing.purchase_order_remove_line(actor=request.user, line=line)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return render_page(
        request, "inventory/order_detail.html", _order_context(line.order), partial="order-lines"
    )


ORDER_ACTIONS = {"send": purchasing.purchase_order_send, "cancel": purchasing.purchase_order_cancel}


@require_POST
@require_perm("inventory.manage_orders")
def order_action(request: Request, pk: int, action: str):
    if action not in ORDER_ACTIONS:
        raise Http404
    order = get_object_or_404(PurchaseOrder, pk=pk)
    try:
        order = ORDER_ACTIONS[action](actor=request.user, order=order)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        done = "sent to " + order.vendor.email if action == "send" else "cancelled"
        messages.success(request, f"{order.number} {done}.")
    return redirect_htmx_aware(request, reverse("inventory:order_detail", args=[pk]))


@require_http_methods(["GET", "POST"])
@require_perm("inventory.manage_orders")
def order_receive(request: Request, pk: int):
    order = get_object_or_404(PurchaseOrder.objects.select_related("vendor"), pk=pk)
    if order.status not in (POStatus.SENT, POStatus.PARTIAL):
        messages.error(request, "Only a sent order can be received.")
        return redirect("inventory:order_detail", pk=pk)
    lines = order.lines.select_related("item", "item__default_location")
    first = next(iter(lines), None)
    initial = {"location": first.item.default_location_id if first else None}
    form = forms.OrderReceiveForm(request.POST or None, lines=lines, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            purchasing.purchase_order_receive(
                actor=request.user,
                order=order,
                receipts=form.receipts(),
                confirm_over=form.cleaned_data["confirm_over"],
            )
        except ValidationError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, f"Goods received against {order.number}.")
            return redirect("inventory:order_detail", pk=pk)
    return render_page(
        request,
        "inventory/order_receive.html",
        {"order": order, "form": form},
        status=_status(form),
    )


@require_GET
@require_perm("inventory.manage_orders")
def order_pdf(request: Request, pk: int):
    order = get_object_or_404(PurchaseOrder.objects.select_related("vendor"), pk=pk)

    return FileResponse(
        BytesIO(purchase_order_pdf(order)),
        as_attachment=False,
        filename=f"{order.number}.pdf",
        content_type="application/pdf",
    )

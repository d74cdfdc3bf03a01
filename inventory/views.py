"""Inventory screens. Thin: bind the form, call one service, render or redirect."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.audit import audit_record
from accounts.permissions import require_perm
from accounts.roles import user_has_perm
from inventory import forms, selectors, services
from inventory.models import (
    Category,
    Equipment,
    Item,
    Location,
    LotStatus,
    MaintenanceSchedule,
    POStatus,
    PurchaseOrder,
    PurchaseOrderLine,
    StockLot,
    Stocktake,
    StocktakeStatus,
    Vendor,
)
from inventory.pdf import purchase_order_pdf
from uscpis.csvexport import csv_download
from uscpis.http import Request, redirect_htmx_aware, render_page

PAGE_SIZE = 25
LEDGER_CAP = 2500  # item ledger pages count at most 100 pages of history (all of it: CSV)


def _form_error(form, exc: ValidationError) -> None:
    """Attach a service's ValidationError to the form (fields it names, else non-field)."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _status(form) -> int:
    return 422 if form.errors else 200


# --- Stock ------------------------------------------------------------------------------------


@require_GET
@require_perm("inventory.view_stock")
def stock(request: Request):
    form = forms.StockFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    items = selectors.stock_overview(**{k: v for k, v in data.items() if v})
    page = Paginator(items, PAGE_SIZE).get_page(request.GET.get("page"))
    return render_page(
        request, "inventory/stock.html", {"form": form, "page": page}, partial="stock-table"
    )


@require_GET
@require_perm("inventory.view_stock")
def stock_export(request: Request):
    form = forms.StockFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    items = selectors.stock_overview(**{k: v for k, v in data.items() if v}).iterator(
        chunk_size=1000
    )
    audit_record(
        action="export", request=request, object_type="inventory.item", detail={"csv": "stock"}
    )
    rows = (
        [
            i.sku,
            i.name,
            i.get_kind_display(),
            i.category.name if i.category else "",
            i.unit,
            i.on_hand,
            i.usable,
            i.on_order,
            i.reorder_point,
            i.reorder_quantity,
        ]
        for i in items
    )
    header = [
        "code",
        "name",
        "kind",
        "category",
        "unit",
        "on_hand",
        "usable",
        "on_order",
        "reorder_point",
        "reorder_quantity",
    ]
    return csv_download(f"stock-{timezone.localdate():%Y%m%d}.csv", header, rows)


def _movement_row(m, show_patients: bool) -> list:
    who = (m.patient.id_number if show_patients else "patient") if m.patient_id else m.destination
    return [
        timezone.localtime(m.created_at).isoformat(timespec="seconds"),
        m.item_id,
        m.lot.batch_number,
        m.lot.location.name,
        m.kind,
        m.reason_code,
        m.quantity,
        m.unit_cost,
        m.actor.email if m.actor_id else "system",
        who,
        m.visit_id or "",
        m.note,
    ]


LEDGER_HEADER = [
    "time",
    "item_id",
    "batch",
    "location",
    "kind",
    "reason",
    "quantity",
    "unit_cost",
    "actor",
    "recipient",
    "visit",
    "note",
]


@require_GET
@require_perm("inventory.view_stock")
def ledger_export(request: Request):
    show = user_has_perm(request.user, "patients.view_demographics")
    movements = selectors.ledger_all().iterator(chunk_size=2000)
    audit_record(
        action="export",
        request=request,
        object_type="inventory.stockmovement",
        detail={"csv": "ledger"},
    )
    return csv_download(
        f"ledger-{timezone.localdate():%Y%m%d}.csv",
        LEDGER_HEADER,
        (_movement_row(m, show) for m in movements),
    )


@require_GET
@require_perm("inventory.view_stock")
def item_detail(request: Request, pk: int):
    item = selectors.get_item(pk)
    lots = list(selectors.item_lots(item))
    page = selectors.item_ledger_page(
        item, request.GET.get("page"), lots=lots, per_page=PAGE_SIZE, cap=LEDGER_CAP
    )
    show_patients = user_has_perm(request.user, "patients.view_demographics")
    patient_ids = sorted({m.patient_id for m in page if m.patient_id})
    if patient_ids and show_patients:
        audit_record(
            action="read", request=request, obj=item, detail={"ledger_patients": patient_ids}
        )
    context = {
        "item": item,
        "lots": lots,
        "page": page,
        "show_patients": show_patients,
    }
    return render_page(request, "inventory/item_detail.html", context, partial="ledger")


@require_GET
@require_perm("inventory.view_stock")
def item_ledger_export(request: Request, pk: int):
    item = get_object_or_404(Item, pk=pk)
    show = user_has_perm(request.user, "patients.view_demographics")
    audit_record(action="export", request=request, obj=item, detail={"csv": "ledger"})
    movements = selectors.item_ledger(item).iterator(chunk_size=2000)
    return csv_download(
        f"ledger-{item.sku}.csv", LEDGER_HEADER, (_movement_row(m, show) for m in movements)
    )


@require_http_methods(["GET", "POST"])
@require_perm("inventory.manage_stock")
def item_edit(request: Request, pk: int | None = None):
    item = get_object_or_404(Item, pk=pk) if pk else None
    form = forms.ItemForm(request.POST or None, instance=item)
    if request.method == "POST" and form.is_valid():
        try:
            item = services.item_save(
                actor=request.user, item=form.save(commit=False), request=request
            )
        except ValidationError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, f"{item.display_name} saved.")
            return redirect("inventory:item_detail", pk=item.pk)
    return render_page(
        request,
        "inventory/form.html",
        {
            "form": form,
            "title": f"Edit {item}" if item else "New item",
            "back": reverse("inventory:item_detail", args=[item.pk])
            if item
            else reverse("inventory:stock"),
        },
        status=_status(form),
    )


@require_http_methods(["GET", "POST"])
@require_perm("inventory.manage_stock")
def item_receive(request: Request, pk: int):
    item = get_object_or_404(Item, pk=pk)
    form = forms.ReceiveForm(request.POST or None, initial={"location": item.default_location_id})
    if request.method == "POST" and form.is_valid():
        try:
            services.stock_receive(
                actor=request.user, item=item, request=request, **form.cleaned_data
            )
        except ValidationError as exc:
            _form_error(form, exc)
        else:
            messages.success(
                request,
                f"Received {form.cleaned_data['quantity']} {item.unit} of {item.display_name}.",
            )
            return redirect("inventory:item_detail", pk=item.pk)
    return render_page(
        request,
        "inventory/form.html",
        {
            "form": form,
            "title": f"Receive {item.display_name}",
            "subtitle": "Stock without a purchase order (donation, opening balance).",
            "back": reverse("inventory:item_detail", args=[item.pk]),
            "submit": "Receive",
        },
        status=_status(form),
    )


LOT_ACTIONS = {
    "adjust": (forms.AdjustForm, services.stock_adjust, "Adjust"),
    "transfer": (forms.TransferForm, services.stock_transfer, "Move to another location"),
    "dispose": (forms.DisposeForm, services.stock_dispose, "Dispose of"),
}


@require_http_methods(["GET", "POST"])
@require_perm("inventory.manage_stock")
def lot_action(request: Request, pk: int, action: str):
    if action not in LOT_ACTIONS:
        raise Http404
    lot = get_object_or_404(StockLot.objects.select_related("item", "location"), pk=pk)
    form_class, service, verb = LOT_ACTIONS[action]
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            service(actor=request.user, lot=lot, request=request, **form.cleaned_data)
        except ValidationError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, f"{verb}: batch {lot.batch_number} done.")
            return redirect_htmx_aware(
                request, reverse("inventory:item_detail", args=[lot.item_id])
            )
    return render_page(
        request,
        "inventory/form.html",
        {
            "form": form,
            "title": f"{verb} {lot.item.display_name}",
            "subtitle": f"Batch {lot.batch_number} at {lot.location} · {services.fmt_qty(lot.quantity)} {lot.item.unit} on hand",
            "back": reverse("inventory:item_detail", args=[lot.item_id]),
            "submit": verb,
        },
        status=_status(form),
    )


@require_POST
@require_perm("inventory.manage_stock")
def lot_status(request: Request, pk: int):
    lot = get_object_or_404(StockLot, pk=pk)
    status = request.POST.get("status", "")
    try:
        services.lot_set_status(actor=request.user, lot=lot, status=status, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"Batch {lot.batch_number} is now {LotStatus(status).label.lower()}."
        )
    return redirect_htmx_aware(request, reverse("inventory:item_detail", args=[lot.item_id]))


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
            result = services.stock_dispense(
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
                f"Dispensed {services.fmt_qty(result.total)} {d['item'].unit} of {d['item'].display_name} to {who}.",
            )
            for warning in result.warnings:
                messages.warning(request, warning)
            if d["prescription_obj"] is not None:  # back to the visit it was prescribed in
                return redirect("patients:visit", pk=d["prescription_obj"].visit_id)
            return redirect("inventory:item_detail", pk=d["item"].pk)
    context = {"form": form, "prescription": rx}
    return render_page(request, "inventory/dispense.html", context, status=_status(form))


# --- Expiry and low stock -----------------------------------------------------------------------


def _bar_chart(rows: list[dict]) -> dict:
    """Geometry for a horizontal SVG bar chart (attributes only: strict CSP)."""
    top = max((r["value"] for r in rows), default=0) or 1
    width, bar_h, gap, label_w = 640, 30, 14, 130
    bars = []
    for i, row in enumerate(rows):
        w = int((width - label_w - 110) * float(row["value"]) / float(top))
        y = i * (bar_h + gap)
        bars.append(
            {
                **row,
                "x": label_w,
                "y": y,
                "w": max(w, 2),
                "h": bar_h,
                "ty": y + bar_h // 2 + 4,
                "vx": label_w + max(w, 2) + 8,
            }
        )
    return {"bars": bars, "width": width, "height": len(rows) * (bar_h + gap)}


@require_GET
@require_perm("inventory.view_stock")
def expiry(request: Request):
    try:
        days = int(request.GET.get("days", 90))
    except ValueError:
        days = 90
    days = days if days in (30, 60, 90) else 90
    risk = selectors.expiry_value_at_risk()
    page = Paginator(selectors.expiring_lots(days=days), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "risk": risk,
        "chart": _bar_chart(risk),
        "page": page,
        "days": days,
        "today": timezone.localdate(),
    }
    return render_page(request, "inventory/expiry.html", context, partial="expiring-lots")


@require_GET
@require_perm("inventory.view_stock")
def low_stock(request: Request):
    page = Paginator(
        selectors.low_stock_items().select_related("preferred_vendor"), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    drafted = set(
        PurchaseOrderLine.objects.filter(
            order__status=POStatus.DRAFT, item__in=[i.pk for i in page]
        ).values_list("item_id", flat=True)
    )
    return render_page(
        request,
        "inventory/low_stock.html",
        {"page": page, "drafted": drafted},
        partial="low-stock-table",
    )


@require_POST
@require_perm("inventory.manage_orders")
def draft_order(request: Request):
    item_id = request.POST.get("item")
    items = None
    if item_id:
        items = [get_object_or_404(Item, pk=item_id)]
    orders = services.purchase_orders_draft_for_low_stock(
        actor=request.user, items=items, request=request
    )
    if orders:
        messages.success(
            request,
            "Drafted: "
            + ", ".join(f"{o.number} ({o.vendor})" for o in orders)
            + ". Review and send.",
        )
    else:
        messages.info(
            request,
            "Nothing to draft: items are already on a draft, covered by open orders, or have no preferred vendor.",
        )
    if len(orders) == 1:
        return redirect_htmx_aware(request, reverse("inventory:order_detail", args=[orders[0].pk]))
    return redirect_htmx_aware(request, reverse("inventory:orders"))


# --- Purchase orders ------------------------------------------------------------------------------


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
        order = services.purchase_order_create(
            actor=request.user, vendor=form.cleaned_data["vendor"], request=request
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
            services.purchase_order_add_line(
                actor=request.user, order=order, request=request, **form.cleaned_data
            )
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
        services.purchase_order_remove_line(actor=request.user, line=line, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return render_page(
        request, "inventory/order_detail.html", _order_context(line.order), partial="order-lines"
    )


ORDER_ACTIONS = {"send": services.purchase_order_send, "cancel": services.purchase_order_cancel}


@require_POST
@require_perm("inventory.manage_orders")
def order_action(request: Request, pk: int, action: str):
    if action not in ORDER_ACTIONS:
        raise Http404
    order = get_object_or_404(PurchaseOrder, pk=pk)
    try:
        order = ORDER_ACTIONS[action](actor=request.user, order=order, request=request)
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
            services.purchase_order_receive(
                actor=request.user,
                order=order,
                receipts=form.receipts(),
                confirm_over=form.cleaned_data["confirm_over"],
                request=request,
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
    from io import BytesIO

    return FileResponse(
        BytesIO(purchase_order_pdf(order)),
        as_attachment=False,
        filename=f"{order.number}.pdf",
        content_type="application/pdf",
    )


# --- Vendors -------------------------------------------------------------------------------------


@require_GET
@require_perm("inventory.manage_orders")
def vendors(request: Request):
    page = Paginator(Vendor.objects.order_by("name"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render_page(request, "inventory/vendors.html", {"page": page}, partial="vendor-table")


@require_http_methods(["GET", "POST"])
@require_perm("inventory.manage_orders")
def vendor_edit(request: Request, pk: int | None = None):
    vendor = get_object_or_404(Vendor, pk=pk) if pk else None
    return _catalogue_edit(
        request,
        obj=vendor,
        form_class=forms.VendorForm,
        save=lambda v: services.vendor_save(actor=request.user, vendor=v, request=request),
        noun="Vendor",
        list_url="inventory:vendors",
    )


def _catalogue_edit(request: Request, *, obj, form_class, save, noun: str, list_url: str):
    """New/edit form of a small catalogue record (vendor, location, category): bind the
    form, save through the service (its ``ValidationError`` lands on the form), back to
    the list."""
    form = form_class(request.POST or None, instance=obj)
    if request.method == "POST" and form.is_valid():
        try:
            save(form.save(commit=False))
        except ValidationError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, f"{noun} saved.")
            return redirect(list_url)
    return render_page(
        request,
        "inventory/form.html",
        {
            "form": form,
            "title": f"Edit {obj}" if obj else f"New {noun.lower()}",
            "back": reverse(list_url),
        },
        status=_status(form),
    )


# --- Locations and categories ---------------------------------------------------------------------


@require_GET
@require_perm("inventory.view_stock")
def locations(request: Request):
    page = Paginator(selectors.locations_with_counts(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render_page(
        request, "inventory/locations.html", {"page": page}, partial="location-table"
    )


@require_http_methods(["GET", "POST"])
@require_perm("inventory.manage_stock")
def location_edit(request: Request, pk: int | None = None):
    location = get_object_or_404(Location, pk=pk) if pk else None
    return _catalogue_edit(
        request,
        obj=location,
        form_class=forms.LocationForm,
        save=lambda loc: services.location_save(actor=request.user, location=loc, request=request),
        noun="Location",
        list_url="inventory:locations",
    )


@require_GET
@require_perm("inventory.view_stock")
def categories(request: Request):
    page = Paginator(selectors.categories_with_counts(), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render_page(
        request, "inventory/categories.html", {"page": page}, partial="category-table"
    )


@require_http_methods(["GET", "POST"])
@require_perm("inventory.manage_stock")
def category_edit(request: Request, pk: int | None = None):
    category = get_object_or_404(Category, pk=pk) if pk else None
    return _catalogue_edit(
        request,
        obj=category,
        form_class=forms.CategoryForm,
        save=lambda c: services.category_save(actor=request.user, category=c, request=request),
        noun="Category",
        list_url="inventory:categories",
    )


# --- Equipment -----------------------------------------------------------------------------------


@require_GET
@require_perm("inventory.view_stock")
def equipment_list(request: Request):
    qs = (
        Equipment.objects.select_related("location")
        .prefetch_related("schedules")
        .order_by("name", "asset_tag")
    )
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render_page(
        request,
        "inventory/equipment_list.html",
        {"page": page, "today": timezone.localdate()},
        partial="equipment-table",
    )


@require_http_methods(["GET", "POST"])
@require_perm("inventory.manage_equipment")
def equipment_edit(request: Request, pk: int | None = None):
    equipment = get_object_or_404(Equipment, pk=pk) if pk else None
    form = forms.EquipmentForm(request.POST or None, instance=equipment)
    if request.method == "POST" and form.is_valid():
        try:
            equipment = services.equipment_save(
                actor=request.user, equipment=form.save(commit=False), request=request
            )
        except ValidationError as exc:
            _form_error(form, exc)
        else:
            return redirect("inventory:equipment_detail", pk=equipment.pk)
    return render_page(
        request,
        "inventory/form.html",
        {
            "form": form,
            "title": f"Edit {equipment}" if equipment else "New equipment",
            "back": reverse("inventory:equipment"),
        },
        status=_status(form),
    )


@require_GET
@require_perm("inventory.view_stock")
def equipment_detail(request: Request, pk: int):
    equipment = get_object_or_404(Equipment.objects.select_related("location", "vendor"), pk=pk)
    logs = Paginator(equipment.logs.select_related("performed_by"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render_page(
        request,
        "inventory/equipment_detail.html",
        {
            "equipment": equipment,
            "schedules": equipment.schedules.all(),
            "logs": logs,
            "today": timezone.localdate(),
            "log_form": forms.MaintenanceLogForm(initial={"performed_on": timezone.localdate()}),
            "schedule_form": forms.ScheduleForm(),
        },
        partial="maintenance-log",
    )


@require_POST
@require_perm("inventory.manage_equipment")
def equipment_log(request: Request, pk: int):
    equipment = get_object_or_404(Equipment, pk=pk)
    form = forms.MaintenanceLogForm(request.POST)
    if form.is_valid():
        try:
            services.maintenance_record(
                actor=request.user, equipment=equipment, request=request, **form.cleaned_data
            )
        except ValidationError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, "Maintenance recorded.")
            return redirect_htmx_aware(request, reverse("inventory:equipment_detail", args=[pk]))
    return render_page(
        request,
        "inventory/form.html",
        {
            "form": form,
            "title": f"Log maintenance for {equipment}",
            "back": reverse("inventory:equipment_detail", args=[pk]),
        },
        status=422,
    )


@require_POST
@require_perm("inventory.manage_equipment")
def schedule_add(request: Request, pk: int):
    equipment = get_object_or_404(Equipment, pk=pk)
    form = forms.ScheduleForm(request.POST, instance=MaintenanceSchedule(equipment=equipment))
    if form.is_valid():
        try:
            services.schedule_save(
                actor=request.user, schedule=form.save(commit=False), request=request
            )
        except ValidationError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, "Schedule saved.")
            return redirect_htmx_aware(request, reverse("inventory:equipment_detail", args=[pk]))
    return render_page(
        request,
        "inventory/form.html",
        {
            "form": form,
            "title": f"Schedule for {equipment}",
            "back": reverse("inventory:equipment_detail", args=[pk]),
        },
        status=422,
    )


@require_GET
@require_perm("inventory.view_stock")
def equipment_calendar(request: Request):
    today = timezone.localdate()
    try:
        year, month = (
            int(request.GET.get("year", today.year)),
            int(request.GET.get("month", today.month)),
        )
        first = date(year, month, 1)
    except ValueError:
        first = today.replace(day=1)
    last = date(first.year, first.month, calendar.monthrange(first.year, first.month)[1])
    due: dict[date, list] = {}
    for schedule in selectors.schedules_between(first, last):
        due.setdefault(schedule.next_due_on, []).append(schedule)
    overdue = selectors.schedules_between(date(1900, 1, 1), today - timedelta(days=1))
    weeks = [
        [{"day": d, "in_month": d.month == first.month, "items": due.get(d, [])} for d in week]
        for week in calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)
    ]
    prev_month = (first - timedelta(days=1)).replace(day=1)
    next_month = last + timedelta(days=1)
    return render_page(
        request,
        "inventory/equipment_calendar.html",
        {
            "weeks": weeks,
            "month": first,
            "prev": prev_month,
            "next": next_month,
            "today": today,
            "overdue": list(overdue[:50]),
        },
    )


# --- Stocktake -----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@require_perm("inventory.manage_stock")
def stocktakes(request: Request):
    form = forms.StocktakeStartForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            st = services.stocktake_start(actor=request.user, request=request, **form.cleaned_data)
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
    errors = {}
    if request.method == "POST":
        counts = {
            line.pk: (
                request.POST.get(f"count_{line.pk}", "").strip(),
                request.POST.get(f"reason_{line.pk}", ""),
            )
            for line in lines
        }
        try:
            services.stocktake_record_counts(
                actor=request.user, stocktake=st, counts=counts, request=request
            )
            if request.POST.get("post"):
                services.stocktake_post(actor=request.user, stocktake=st, request=request)
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
            for line in lines:
                raw, reason = counts[line.pk]
                line.entered, line.entered_reason = raw, reason
    editable = st.status == StocktakeStatus.OPEN
    return render_page(
        request,
        "inventory/stocktake_detail.html",
        {
            "stocktake": st,
            "lines": lines,
            "errors": errors,
            "reasons": forms.STOCKTAKE_REASON_CHOICES,
            "editable": editable,
            "moved": sum(line.moved_since_start for line in lines) if editable else 0,
        },
        status=422 if errors else 200,
    )

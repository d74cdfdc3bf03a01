"""The stock overview, items, their lots and ledgers (pages and CSV)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.audit import audit_phi_list, audit_record
from accounts.models import AuditAction
from accounts.permissions import require_perm
from accounts.roles import user_has_perm
from inventory import filters, forms, overview, quantities, screens, selectors
from inventory.models import (
    Item,
    LotStatus,
    StockLot,
)
from inventory.services import catalogue
from inventory.services import stock as stock_services
from inventory.views.common import PAGE_SIZE, _form_error, _status
from uscpis.csvexport import csv_download
from uscpis.http import Request, redirect_htmx_aware, render_page

LEDGER_CAP = 2500  # item ledger pages count at most 100 pages of history (all of it: CSV)


@require_GET
@require_perm("inventory.view_stock")
def stock(request: Request):
    bar, page = overview.stock_overview(request.GET, request.GET.get("page"), per_page=PAGE_SIZE)
    return render_page(
        request, "inventory/stock.html", {"bar": bar, "page": page}, partial="stock-table"
    )


@require_GET
@require_perm("inventory.view_stock")
def stock_export(request: Request):
    form = filters.StockFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    items = selectors.stock_overview(**{k: v for k, v in data.items() if v}).iterator(
        chunk_size=1000
    )
    audit_phi_list(
        actor=request.user,
        action=AuditAction.EXPORT,
        object_type="inventory.item",
        detail={"csv": "stock"},
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
    audit_phi_list(
        actor=request.user,
        action=AuditAction.EXPORT,
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
    item, lots, page = screens.item_rows_page(
        pk, request.GET.get("page"), per_page=PAGE_SIZE, cap=LEDGER_CAP
    )
    show_patients = user_has_perm(request.user, "patients.view_demographics")
    rows = page.object_list
    patient_ids = sorted({m.patient_id for m in rows if m.patient_id})
    if patient_ids and show_patients:
        audit_record(
            action=AuditAction.READ,
            request=request,
            obj=item,
            detail={"ledger_patients": patient_ids},
        )
    context = {
        "item": item,
        "lots": lots,
        "page": page,
        "show_patients": show_patients,
        "can_dispense": user_has_perm(request.user, "inventory.dispense"),
        "cancelled": selectors.cancelled_dispensings(rows),
    }
    return render_page(request, "inventory/item_detail.html", context, partial="ledger")


@require_GET
@require_perm("inventory.view_stock")
def item_ledger_export(request: Request, pk: int):
    item = get_object_or_404(Item, pk=pk)
    show = user_has_perm(request.user, "patients.view_demographics")
    audit_record(action=AuditAction.EXPORT, request=request, obj=item, detail={"csv": "ledger"})
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
            item = catalogue.item_save(actor=request.user, item=form.save(commit=False))
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
            stock_services.stock_receive(actor=request.user, item=item, **form.cleaned_data)
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
    "adjust": (forms.AdjustForm, stock_services.stock_adjust, "Adjust"),
    "transfer": (forms.TransferForm, stock_services.stock_transfer, "Move to another location"),
    "dispose": (forms.DisposeForm, stock_services.stock_dispose, "Dispose of"),
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
            service(actor=request.user, lot=lot, **form.cleaned_data)
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
            "subtitle": f"Batch {lot.batch_number} at {lot.location} · {quantities.fmt_qty(lot.quantity)} {lot.item.unit} on hand",
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
        stock_services.lot_set_status(actor=request.user, lot=lot, status=status)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"Batch {lot.batch_number} is now {LotStatus(status).label.lower()}."
        )
    return redirect_htmx_aware(request, reverse("inventory:item_detail", args=[lot.item_id]))

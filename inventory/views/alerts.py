"""Expiry and low-stock pages, and drafting orders for what runs low."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import require_perm
from inventory import selectors
from inventory.models import (
    Item,
    POStatus,
    PurchaseOrderLine,
)
from inventory.services import purchasing
from inventory.views.common import PAGE_SIZE
from uscpis.forms import parse_id
from uscpis.http import Request, redirect_htmx_aware, render_page
from uscpis.registry import page_links


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
        {
            "page": page,
            "drafted": drafted,
            "page_links": page_links(request.user, "inventory:low_stock"),
        },
        partial="low-stock-table",
    )


@require_POST
@require_perm("inventory.manage_orders")
def draft_order(request: Request):
    raw = request.POST.get("item")
    items = None
    if raw:
        item_id = parse_id(raw)
        if item_id is None:
            raise Http404("No such item")
        items = [get_object_or_404(Item, pk=item_id)]
    orders = purchasing.purchase_orders_draft_for_low_stock(actor=request.user, items=items)
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

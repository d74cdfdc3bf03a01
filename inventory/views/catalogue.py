"""Vendors, locations and categories."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.permissions import require_perm
from inventory import forms, selectors
from inventory.models import (
    Category,
    Location,
    Vendor,
)
from inventory.services import catalogue
from inventory.views.common import PAGE_SIZE, _form_error, _status
from uscpis.http import Request, render_page


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
        save=lambda v: catalogue.vendor_save(actor=request.user, vendor=v),
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
        save=lambda loc: catalogue.location_save(actor=request.user, location=loc),
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
        save=lambda c: catalogue.category_save(actor=request.user, category=c),
        noun="Category",
        list_url="inventory:categories",
    )

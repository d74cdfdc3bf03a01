from django.contrib import admin

from inventory import models


@admin.register(models.Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "is_active"]


@admin.register(models.Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name"]


@admin.register(models.Vendor)
class VendorAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "lead_time_days", "is_active"]


@admin.register(models.Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "kind", "unit", "reorder_point", "reorder_quantity"]
    list_filter = ["kind", "category"]
    search_fields = ["sku", "name", "generic_name"]


@admin.register(models.StockLot)
class StockLotAdmin(admin.ModelAdmin):
    """Read-only: quantities change only through the services (and leave a movement)."""

    list_display = ["item", "batch_number", "location", "expiry_date", "quantity", "status"]
    list_select_related = ["item", "location"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.Equipment)
class EquipmentAdmin(admin.ModelAdmin):
    list_display = ["name", "asset_tag", "location", "status"]

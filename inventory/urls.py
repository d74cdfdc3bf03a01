from django.urls import path

from inventory import views

app_name = "inventory"

urlpatterns = [
    path("", views.stock, name="stock"),
    path("export/stock.csv", views.stock_export, name="stock_export"),
    path("export/ledger.csv", views.ledger_export, name="ledger_export"),
    path("items/new/", views.item_edit, name="item_new"),
    path("items/<int:pk>/", views.item_detail, name="item_detail"),
    path("items/<int:pk>/edit/", views.item_edit, name="item_edit"),
    path("items/<int:pk>/receive/", views.item_receive, name="item_receive"),
    path("items/<int:pk>/ledger.csv", views.item_ledger_export, name="item_ledger_export"),
    path("lots/<int:pk>/status/", views.lot_status, name="lot_status"),
    path("lots/<int:pk>/<slug:action>/", views.lot_action, name="lot_action"),
    path("dispense/", views.dispense, name="dispense"),
    path("expiry/", views.expiry, name="expiry"),
    path("low-stock/", views.low_stock, name="low_stock"),
    path("low-stock/draft/", views.draft_order, name="draft_order"),
    path("orders/", views.orders, name="orders"),
    path("orders/new/", views.order_new, name="order_new"),
    path("orders/<int:pk>/", views.order_detail, name="order_detail"),
    path("orders/<int:pk>/lines/", views.order_add_line, name="order_add_line"),
    path(
        "orders/<int:pk>/lines/<int:line_pk>/delete/",
        views.order_remove_line,
        name="order_remove_line",
    ),
    path("orders/<int:pk>/receive/", views.order_receive, name="order_receive"),
    path("orders/<int:pk>/pdf/", views.order_pdf, name="order_pdf"),
    path("orders/<int:pk>/<slug:action>/", views.order_action, name="order_action"),
    path("vendors/", views.vendors, name="vendors"),
    path("vendors/new/", views.vendor_edit, name="vendor_new"),
    path("vendors/<int:pk>/", views.vendor_edit, name="vendor_edit"),
    path("equipment/", views.equipment_list, name="equipment"),
    path("equipment/new/", views.equipment_edit, name="equipment_new"),
    path("equipment/calendar/", views.equipment_calendar, name="equipment_calendar"),
    path("equipment/<int:pk>/", views.equipment_detail, name="equipment_detail"),
    path("equipment/<int:pk>/edit/", views.equipment_edit, name="equipment_edit"),
    path("equipment/<int:pk>/log/", views.equipment_log, name="equipment_log"),
    path("equipment/<int:pk>/schedules/", views.schedule_add, name="schedule_add"),
    path("stocktakes/", views.stocktakes, name="stocktakes"),
    path("stocktakes/<int:pk>/", views.stocktake_detail, name="stocktake_detail"),
]

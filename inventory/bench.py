"""Inventory benchmark: the stock overview and an item's ledger with 5,000 items and
2,000,000 movements (issue 5: under 50 ms server time).

Data is generated in bulk with ``INSERT ... SELECT generate_series`` and topped up to the
requested scale (idempotent). Lot quantities are then set to the sum of their movements and
the per-item stock totals recomputed, so ``manage.py inventory check`` still holds on the
bench database.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.urls import reverse

from accounts.models import User
from inventory.models import Item
from uscpis.bench import api_case, page_case
from uscpis.benchhttp import HttpPage

CHUNK = 500_000


def _scalar(sql: str, params=()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def generate(scale: dict, stdout) -> None:
    items_target = int(scale.get("items", 5_000))
    movements_target = int(scale.get("movements", 2_000_000))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO inventory_location (name, code, description, is_active) "
            "VALUES ('Bench store', 'bench-store', 'benchmark data', true) ON CONFLICT DO NOTHING"
        )
        cursor.execute(
            "INSERT INTO inventory_vendor (name, contact_name, email, phone, address, lead_time_days, notes, is_active) "
            "VALUES ('Bench Vendor', '', 'bench@vendor.example.com', '', '', 7, '', true) ON CONFLICT DO NOTHING"
        )
        location_id = _scalar("SELECT id FROM inventory_location WHERE code = 'bench-store'")
        vendor_id = _scalar("SELECT id FROM inventory_vendor WHERE name = 'Bench Vendor'")
        have = _scalar("SELECT COUNT(*) FROM inventory_item WHERE sku LIKE 'BENCH-%%'")
        if have < items_target:
            stdout.write(f"  items: {have} -> {items_target}")
            cursor.execute(
                """
                INSERT INTO inventory_item (sku, name, kind, generic_name, strength, form, unit, allows_fractions,
                    reorder_point, reorder_quantity, preferred_vendor_id, default_location_id, is_active,
                    search_text, created_at, category_id, stock_on_hand, stock_available, stock_on_order)
                SELECT 'BENCH-' || lpad(g::text, 6, '0'), 'Bench medicine ' || g, 'medication', 'benchazol ' || g,
                    (g %% 9 + 1) * 50 || ' mg', 'Tablet', 'tablet', false, (g %% 7) * 20, 500, %s, %s, true,
                    lower('Bench medicine ' || g || ' benchazol ' || g || ' BENCH-' || lpad(g::text, 6, '0')),
                    now(), NULL, 0, 0, 0
                FROM generate_series(%s, %s) AS g
                """,
                [vendor_id, location_id, have + 1, items_target],
            )
            # Three lots per new item, expiring from next month to three years out.
            cursor.execute(
                """
                INSERT INTO inventory_stocklot (item_id, location_id, batch_number, expiry_date, quantity,
                    unit_cost, status, received_at)
                SELECT i.id, %s, 'BENCH-' || i.id || '-' || n, current_date + ((30 + (i.id * 37 + n * 211) %% 1000))::int,
                    0, 1 + (i.id %% 40) * 0.25, 'available', now() - interval '400 days'
                FROM inventory_item i CROSS JOIN generate_series(1, 3) AS n
                WHERE i.sku LIKE 'BENCH-%%'
                ON CONFLICT DO NOTHING
                """,
                [location_id],
            )
    have_mov = _scalar("SELECT COUNT(*) FROM inventory_stockmovement")
    missing = movements_target - have_mov
    if missing > 0:
        stdout.write(f"  movements: {have_mov} -> {movements_target}")
    offset = have_mov
    while missing > 0:
        batch = min(CHUNK, missing)
        with transaction.atomic(), connection.cursor() as cursor:
            # Every 4th movement receives 10, the others dispense 1 to a ward: each lot's
            # running total stays positive, and the lot quantity is set to the sum below.
            cursor.execute(
                """
                WITH l AS (
                    SELECT array_agg(id ORDER BY id) AS lots, array_agg(item_id ORDER BY id) AS items,
                           count(*) AS n
                    FROM inventory_stocklot WHERE batch_number LIKE 'BENCH-%%'
                )
                INSERT INTO inventory_stockmovement (lot_id, item_id, kind, reason_code, quantity, unit_cost,
                    created_at, destination, note)
                SELECT l.lots[1 + (g %% l.n)], l.items[1 + (g %% l.n)],
                    CASE WHEN (g / l.n) %% 4 = 0 THEN 'receive' ELSE 'dispense' END,
                    CASE WHEN (g / l.n) %% 4 = 0 THEN 'purchase' ELSE 'ward_use' END,
                    CASE WHEN (g / l.n) %% 4 = 0 THEN 10 ELSE -1 END, 1.50,
                    now() - interval '730 days' + (g * interval '30 seconds'),
                    CASE WHEN (g / l.n) %% 4 = 0 THEN '' ELSE 'Bench ward' END, ''
                FROM l, generate_series(%s, %s) AS g
                """,
                [offset, offset + batch - 1],
            )
        offset += batch
        missing -= batch
        stdout.write(f"    ... {offset} movements")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE inventory_stocklot l SET quantity = m.total
            FROM (SELECT lot_id, SUM(quantity) AS total FROM inventory_stockmovement GROUP BY lot_id) m
            WHERE m.lot_id = l.id AND l.quantity <> m.total AND l.batch_number LIKE 'BENCH-%'
            """
        )
        # Raw SQL bypassed the services: rebuild the per-item stock totals they keep.
        from inventory import totals

        totals.recompute_all()


def _manager():

    return User.objects.get(email="inventory@usc.edu.ph")


def _busiest_item_url() -> str:

    item = Item.objects.filter(sku="BENCH-002500").first() or Item.objects.order_by("id").first()
    return reverse("inventory:item_detail", args=[item.pk])


CASES = [
    api_case(
        "api: stock list",
        user=_manager,
        url=lambda: "/api/v1/inventory/items/",
        target_ms=40,
        description="GET /api/v1/inventory/items/ first cursor page of 5,000 items",
    ),
    page_case(
        "inventory: stock overview",
        user=_manager,
        url=lambda: reverse("inventory:stock"),
        target_ms=50,
        description="first page of 5,000 items with on hand / usable / on order",
    ),
    page_case(
        "inventory: stock overview search",
        user=_manager,
        url=lambda: reverse("inventory:stock") + "?q=benchazol+42",
        target_ms=50,
    ),
    page_case(
        "inventory: stock overview low filter",
        user=_manager,
        url=lambda: reverse("inventory:stock") + "?status=low",
        target_ms=50,
    ),
    page_case(
        "inventory: item ledger",
        user=_manager,
        url=_busiest_item_url,
        target_ms=50,
        description="an item with ~400 of the 2,000,000 movements",
    ),
    page_case(
        "inventory: item ledger page 10 (htmx)",
        user=_manager,
        url=lambda: _busiest_item_url() + "?page=10",
        target_ms=50,
        htmx=True,
    ),
]


HTTP_PAGES = [
    HttpPage("stock overview", lambda: reverse("inventory:stock"), user="inventory@usc.edu.ph"),
    HttpPage(
        "stock overview search",
        lambda: reverse("inventory:stock") + "?q=benchazol+42",
        user="inventory@usc.edu.ph",
    ),
    HttpPage("item ledger", _busiest_item_url, user="inventory@usc.edu.ph"),
    HttpPage(
        "api: stock list", "/api/v1/inventory/items/", user="inventory@usc.edu.ph", token=True
    ),
]

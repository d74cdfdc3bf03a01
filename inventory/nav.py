from uscpis.registry import NavItem

NAV = [
    NavItem("Stock", "inventory:stock", "inventory.view_stock", section="Inventory"),
    NavItem("Dispense", "inventory:dispense", "inventory.dispense", section="Inventory"),
    NavItem("Expiry", "inventory:expiry", "inventory.view_stock", section="Inventory"),
    NavItem("Low stock", "inventory:low_stock", "inventory.view_stock", section="Inventory"),
    NavItem("Purchase orders", "inventory:orders", "inventory.manage_orders", section="Inventory"),
    NavItem("Equipment", "inventory:equipment", "inventory.view_stock", section="Inventory"),
    NavItem("Stocktake", "inventory:stocktakes", "inventory.manage_stock", section="Inventory"),
    NavItem("Locations", "inventory:locations", "inventory.manage_stock", section="Inventory"),
    NavItem("Categories", "inventory:categories", "inventory.manage_stock", section="Inventory"),
]

from uscpis.registry import NavItem

NAV = [
    NavItem("Analytics", "analytics:overview", "analytics.view", section="Analytics"),
    NavItem(
        "Productivity", "analytics:productivity", "analytics.view_productivity", section="Analytics"
    ),
    NavItem("Surveillance", "analytics:surveillance", "analytics.view", section="Analytics"),
    NavItem("Forecasts", "analytics:forecasts", "analytics.view", section="Analytics"),
    NavItem(
        "Financial reports", "analytics:financial", "analytics.view_financial", section="Analytics"
    ),
]

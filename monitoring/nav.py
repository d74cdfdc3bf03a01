from uscpis.registry import NavItem

NAV = [NavItem("Monitor", "monitoring:monitor", "monitoring.view")]

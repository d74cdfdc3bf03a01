from uscpis.registry import NavItem

NAV = [
    NavItem("My bills", "billing:my_bills", "billing.portal"),
    NavItem("Billing home", "billing:home", "billing.view", section="Billing"),
    NavItem("Unbilled charges", "billing:charges", "billing.view", section="Billing"),
    NavItem("Invoices", "billing:invoices", "billing.view", section="Billing"),
    NavItem("Cashier", "billing:cashier", "billing.manage", section="Billing"),
    NavItem("Claims", "billing:claims", "billing.view", section="Billing"),
    NavItem("PhilHealth Konsulta", "billing:konsulta", "billing.konsulta", section="Billing"),
    NavItem("Billing reports", "billing:reports", "billing.view", section="Billing"),
    NavItem("Approvals", "billing:approvals", "billing.approve", section="Billing"),
    NavItem("Prices and payers", "billing:price_lists", "billing.view", section="Billing"),
]

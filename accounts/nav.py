from uscpis.registry import NavItem

NAV = [
    NavItem("Home", "accounts:home", "accounts.signed_in"),
    NavItem("Users", "accounts:user_list", "accounts.manage_users"),
    NavItem("Audit trail", "accounts:audit_list", "accounts.view_audit"),
    NavItem("API tokens", "accounts:api_token_admin", "accounts.manage_users"),
]

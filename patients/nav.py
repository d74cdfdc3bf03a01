from uscpis.registry import NavItem

NAV = [
    NavItem("Patients", "patients:list", "patients.view_demographics"),
    NavItem("Portal accounts", "patients:portal_accounts", "patients.register"),
    NavItem("Certificates", "patients:certificate_queue", "patients.approve_certificate"),
    NavItem("My health record", "patients:portal", "patients.portal"),
    NavItem("My visits", "patients:portal_visits", "patients.portal"),
    NavItem("My certificates", "patients:portal_certificates", "patients.portal"),
]

"""The role matrix: which role may do what, in every domain. The one place it is declared.

Views declare the permission they need with ``@require_perm("domain.action")`` (or
``@public`` for pages anyone may open); ``tests/accounts/test_permissions_declared.py`` walks
every URL pattern and fails on a view that declares none. Object-level checks ("is this
patient's record visible to this user?") live in each domain's selectors.
"""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Administrator"
    DOCTOR = "doctor", "Doctor"
    DENTIST = "dentist", "Dentist"
    NURSE = "nurse", "Nurse"
    FRONT_DESK = "front_desk", "Front desk"
    INVENTORY_MANAGER = "inventory_manager", "Inventory manager"
    BILLING_CLERK = "billing_clerk", "Billing clerk"
    PATIENT = "patient", "Patient"


PUBLIC = "public"  # marker for views anyone (even anonymous) may open

# Every permission, with what it allows. Keep in sync with MATRIX below.
PERMISSIONS: dict[str, str] = {
    # accounts
    "accounts.signed_in": "Use the site as a signed-in user (own profile, notifications)",
    "accounts.manage_users": "Create, invite, change roles of and deactivate users",
    "accounts.view_audit": "Search the audit trail",
    # patients
    "patients.view_demographics": "See patients' names, IDs and contact details",
    "patients.register": "Register patients and edit their demographics",
    "patients.view_clinical": "Read clinical records (visits, allergies, documents)",
    "patients.write_clinical": (
        "Add to clinical records: visits, allergies, medications, history, immunizations "
        "(which kind of visit is checked by the services)"
    ),
    "patients.write_medical_visit": "Record medical consultations and vitals",
    "patients.write_dental_visit": "Record dental visits and tooth charts",
    "patients.sign_visit": "Sign (lock) visits",
    "patients.manage_documents": "Upload patients' documents",
    "patients.approve_certificate": "Approve or reject medical certificates",
    "patients.export_record": "Export a patient's record (PDF, CSV, FHIR)",
    "patients.portal": "See one's own record in the patient portal",
    # appointments
    "appointments.book_self": "Book, reschedule and cancel one's own appointments",
    "appointments.book_for_patient": "Book appointments on behalf of patients, register walk-ins",
    "appointments.view_schedule": "See provider calendars and the day's queue",
    "appointments.manage_queue": "Check patients in and move them through the queue",
    "appointments.manage_schedules": "Set provider availability and appointment types",
    "appointments.view_reports": "See no-show and utilisation reports",
    # inventory
    "inventory.view_stock": "See stock, lots and the ledger",
    "inventory.manage_stock": "Receive, adjust, transfer, dispose and count stock",
    "inventory.dispense": "Dispense medication and supplies",
    "inventory.manage_orders": "Manage vendors and purchase orders",
    "inventory.manage_equipment": "Manage equipment and its maintenance",
    # billing
    "billing.view": "See invoices and payments",
    "billing.manage": "Issue invoices, record payments, work claims and the cashier's day",
    "billing.approve": "Approve write-offs and refunds",
    "billing.configure": "Manage the services catalogue, price lists and payers",
    "billing.konsulta": "Register PhilHealth Konsulta members and post capitation received",
    "billing.view_balance": "See a patient's billing balance on the chart (read-only)",
    "billing.portal": "See one's own bills",
    # analytics
    "analytics.view": "See clinic analytics (dashboards, surveillance, forecasts)",
    "analytics.view_productivity": "See staff productivity (providers: only their own)",
    "analytics.drill_down": "Open the patient lists behind analytics figures",
    "analytics.manage_syndromes": "Edit the surveillance syndrome definitions",
    "analytics.view_financial": "See financial analytics",
    # monitoring
    "monitoring.view": "See the database monitor and system health",
    "monitoring.manage_backups": "Start, verify and download backups",
    "monitoring.restore": "Restore a backup (also needs two-factor authentication)",
}

_CLINICIAN = {
    "accounts.signed_in",
    "patients.view_demographics",
    "patients.register",
    "patients.view_clinical",
    "patients.manage_documents",
    "appointments.book_for_patient",
    "appointments.view_schedule",
    "inventory.view_stock",
    "inventory.dispense",
    "billing.view_balance",
}

MATRIX: dict[str, frozenset[str]] = {
    Role.ADMIN: frozenset(
        {
            "accounts.signed_in",
            "accounts.manage_users",
            "accounts.view_audit",
            "patients.view_demographics",
            "appointments.book_for_patient",
            "appointments.view_schedule",
            "appointments.manage_schedules",
            "appointments.view_reports",
            "inventory.view_stock",
            "billing.view",
            "billing.approve",
            "billing.configure",
            "billing.konsulta",
            "analytics.view",
            "analytics.view_productivity",
            "analytics.manage_syndromes",
            "analytics.view_financial",
            "monitoring.view",
            "monitoring.manage_backups",
            "monitoring.restore",
        }
    ),
    Role.DOCTOR: frozenset(
        _CLINICIAN
        | {
            "patients.write_clinical",
            "patients.write_medical_visit",
            "patients.sign_visit",
            "patients.approve_certificate",
            "patients.export_record",
            "appointments.manage_queue",
            "analytics.view",
            "analytics.view_productivity",
            "analytics.drill_down",
        }
    ),
    Role.DENTIST: frozenset(
        _CLINICIAN
        | {
            "patients.write_clinical",
            "patients.write_dental_visit",
            "patients.sign_visit",
            "patients.export_record",
            "appointments.manage_queue",
            "analytics.view_productivity",
        }
    ),
    Role.NURSE: frozenset(
        _CLINICIAN
        | {
            "patients.write_clinical",
            "patients.write_medical_visit",
            "appointments.manage_queue",
            "analytics.view_productivity",
        }
    ),
    Role.FRONT_DESK: frozenset(
        {
            "accounts.signed_in",
            "patients.view_demographics",
            "patients.register",
            "appointments.book_for_patient",
            "appointments.view_schedule",
            "appointments.manage_queue",
        }
    ),
    Role.INVENTORY_MANAGER: frozenset(
        {
            "accounts.signed_in",
            "inventory.view_stock",
            "inventory.manage_stock",
            "inventory.dispense",
            "inventory.manage_orders",
            "inventory.manage_equipment",
        }
    ),
    Role.BILLING_CLERK: frozenset(
        {
            "accounts.signed_in",
            "patients.view_demographics",
            "billing.view",
            "billing.manage",
            "billing.konsulta",
            "analytics.view_financial",
        }
    ),
    Role.PATIENT: frozenset(
        {
            "accounts.signed_in",
            "patients.portal",
            "appointments.book_self",
            "billing.portal",
        }
    ),
}

STAFF_ROLES = frozenset(r for r in Role if r != Role.PATIENT)
PROVIDER_ROLES = frozenset({Role.DOCTOR, Role.DENTIST, Role.NURSE})


def role_has_perm(role: str, perm: str) -> bool:
    if perm not in PERMISSIONS:
        raise KeyError(f"Unknown permission {perm!r}: add it to accounts/roles.py")
    return perm in MATRIX.get(role, frozenset())


def user_has_perm(user, perm: str) -> bool:
    """True when ``user`` is signed in, active, and their role grants ``perm``."""
    if perm == PUBLIC:
        return True
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return role_has_perm(user.role, perm)


def perms_for_role(role: str) -> frozenset[str]:
    return MATRIX.get(role, frozenset())

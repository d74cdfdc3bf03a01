"""Portal accounts for patients: staff-created invitations, linking and unlinking."""

from __future__ import annotations

import unicodedata

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from accounts import outbox
from accounts.audit import audit_record
from accounts.models import AuditAction, User
from accounts.roles import Role, user_has_perm
from accounts.services import invitation_send, notify, user_invite
from patients.models import (
    Patient,
    PendingSignup,
)
from uscpis.mail import send_templated_email


@transaction.atomic
def patient_account_create(*, actor: User | None, patient: Patient) -> Patient:
    """Create the patient's portal account (staff side) and email them an invitation to
    choose a password. The account is linked to this record at once.

    An unconfirmed sign-up with the record's email (a ``PendingSignup``) does not block
    this: that account becomes the invited one. The password the sign-up chose, its details
    and its confirmation link are dropped, so whoever made it gains nothing.

    Raises ``ValidationError`` when the record has no email, already has an account, or the
    email belongs to another account (link that one instead: nothing is overwritten).
    """

    # The account row before the patient row, the order patient_link_account locks them in.
    email = Patient.objects.filter(pk=patient.pk).values_list("email", flat=True).first() or ""
    email = User.objects.normalize_email(email).strip().lower()
    unconfirmed = (
        User.objects.select_for_update()
        .filter(email__iexact=email, is_active=False, role=Role.PATIENT)
        .exclude(pending_signup=None)
        .first()
        if email
        else None
    )
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if patient.user_id:
        raise ValidationError("This patient already has a portal account.")
    if not patient.email:
        raise ValidationError("Add the patient's email address first: the invitation goes there.")
    if unconfirmed is not None and unconfirmed.email == patient.email.strip().lower():
        user = _invite_over_unconfirmed_signup(actor=actor, user=unconfirmed, patient=patient)
    else:
        user = user_invite(
            actor=actor,
            email=patient.email,
            first_name=patient.first_name,
            last_name=patient.last_name,
            role=Role.PATIENT,
        )
    patient.user = user
    patient.save(update_fields=["user", "updated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=patient,
        patient_id=patient.pk,
        detail={"portal_account": user.email},
    )
    return patient


def _invite_over_unconfirmed_signup(*, actor: User | None, user, patient: Patient):
    """Turn an unconfirmed sign-up's account into a staff invitation (what
    ``accounts.services.user_invite`` creates): active, without a password, and the
    invitation to choose one emailed to the address."""

    PendingSignup.objects.filter(user=user).delete()
    user.first_name, user.last_name = patient.first_name, patient.last_name
    user.is_active = True
    user.set_unusable_password()  # also voids the sign-up's confirmation link
    user.save()
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=user,
        detail={"invited": True, "replaced_unconfirmed_signup": True},
    )
    invitation_send(user=user, actor=actor)
    return user


def _portal_write_check(actor: User | None) -> None:
    if not user_has_perm(actor, "patients.register"):
        raise PermissionDenied("Your role cannot manage patients' portal accounts.")


@transaction.atomic
def patient_link_account(*, actor: User | None, patient: Patient, user) -> Patient:
    """Connect a patient's existing portal account (one that has no record, e.g. a
    self-registration whose details did not match) to ``patient``, and tell the account
    holder in the app and by email.

    The account row, then the patient row, are locked (the same order everywhere, so two
    links cannot deadlock); whoever locks second sees the first one's link and is refused.
    ``Patient.user`` is a one-to-one column, so the database refuses a double link even on
    a path that skipped the locks. Raises ``PermissionDenied`` for a role without
    ``patients.register`` and ``ValidationError`` when the record already has an account,
    the account is already linked, inactive, or not a patient's account.
    """

    _portal_write_check(actor)
    user = User.objects.select_for_update().get(pk=user.pk)
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if user.role != Role.PATIENT:
        raise ValidationError("Only a patient's portal account can be linked to a record.")
    if not user.is_active:
        raise ValidationError(
            "This account is not active yet (its email is not confirmed), so it cannot be linked."
        )
    if patient.user_id == user.pk:
        raise ValidationError("This account is already linked to this record.")
    if patient.user_id:
        raise ValidationError(
            "This patient already has a portal account. Unlink it first if it is the wrong one."
        )
    if Patient.objects.filter(user=user).exists():
        raise ValidationError("This account is already linked to another patient record.")
    if "name" in account_record_differences(user, patient) and not user_has_perm(
        actor, "patients.view_clinical"
    ):
        # Front desk could otherwise give an account it controls the whole clinical record.
        raise ValidationError(
            "The account's name differs from the record's. Linking them needs a second "
            "person: a doctor, dentist or nurse must check the ID and make this link."
        )
    patient.user = user
    try:
        with transaction.atomic():
            patient.save(update_fields=["user", "updated_at"])
    except IntegrityError as exc:
        raise ValidationError("This account is already linked to another patient record.") from exc
    _record_link_change(
        actor=actor,
        patient=patient,
        user=user,
        linked=True,
        title="Your health record is now connected",
        body=(
            "The clinic connected your portal account to your health record. You can now "
            "see your visits, certificates and documents, and book appointments online."
        ),
    )
    return patient


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text or "")
    return " ".join("".join(c for c in text if not unicodedata.combining(c)).casefold().split())


def account_record_differences(user, patient: Patient) -> list[str]:
    """What differs between a portal account and a record ("name", "email"): names compared
    ignoring case, accents and spacing; the email only when the record has one."""
    differences = []
    if (_fold(user.first_name), _fold(user.last_name)) != (
        _fold(patient.first_name),
        _fold(patient.last_name),
    ):
        differences.append("name")
    if patient.email and patient.email.strip().lower() != user.email.strip().lower():
        differences.append("email")
    return differences


def _record_link_change(*, actor: User | None, patient, user, linked: bool, title: str, body: str):
    """Audit a portal-account link or unlink, tell the account holder (in the app and by
    email, so the message carries no clinical details) and, when the record has its own
    email, tell that address too: an account linked or unlinked behind the patient's back
    does not go unnoticed."""

    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=patient,
        patient_id=patient.pk,
        detail={"portal_account": user.email, "portal_account_linked": linked},
    )
    notify(user=user, title=title, body=body, url=reverse("patients:portal"), category="account")
    if patient.email and patient.email.strip().lower() != user.email.strip().lower():
        outbox.enqueue(
            "patients.tasks.send_record_access_changed_email",
            claim=True,
            patient_id=patient.pk,
            account_email=user.email,
            linked=linked,
        )


def record_access_changed_email_send(
    *, patient_id: int, account_email: str, linked: bool, outbox_id: int | None = None
) -> bool:
    """Email the record's own address that a portal account was linked or unlinked (once)."""
    patient = Patient.objects.filter(pk=patient_id).first()
    if patient is None or not patient.email or not outbox.claim(outbox_id):
        return False
    try:
        send_templated_email(
            to=[patient.email],
            subject="A portal account was "
            + ("connected to" if linked else "disconnected from")
            + " your health record",
            template="patients_record_access_changed",
            context={
                "patient": patient,
                "account_email": account_email,
                "linked": linked,
                "clinic_phone": getattr(settings, "CLINIC_PHONE", ""),
            },
        )
    except Exception:
        outbox.release(outbox_id)
        raise
    return True


@transaction.atomic
def patient_unlink_account(*, actor: User | None, patient: Patient) -> Patient:
    """Disconnect the portal account from ``patient`` (e.g. it was linked to the wrong
    record). The account itself stays, unlinked, and its holder is told without details.

    Raises ``PermissionDenied`` for a role without ``patients.register`` and
    ``ValidationError`` when the record has no account.
    """

    _portal_write_check(actor)
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    user = patient.user
    if user is None:
        raise ValidationError("This patient has no portal account to unlink.")
    patient.user = None
    patient.save(update_fields=["user", "updated_at"])
    _record_link_change(
        actor=actor,
        patient=patient,
        user=user,
        linked=False,
        title="Your portal account is no longer connected to a health record",
        body="If you think this is a mistake, please contact the clinic front desk.",
    )
    return patient

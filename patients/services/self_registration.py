"""Patient self-registration and email verification."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from accounts import outbox
from accounts.audit import audit_record
from accounts.models import AuditAction, User
from accounts.roles import Role
from patients.models import (
    Patient,
    PatientType,
    PendingSignup,
)
from patients.selectors import patient_possible_duplicates
from patients.services.registry import _id_number_field, _validate_birth_date, patient_register
from uscpis import mail
from uscpis.mail import send_templated_email


def email_domain_allowed(email: str) -> bool:
    domain = email.rsplit("@", 1)[-1].lower() if "@" in email else ""
    return domain in {d.lower() for d in settings.PATIENT_EMAIL_DOMAINS}


@transaction.atomic
def patient_self_register(*, email: str, password: str, data: dict):
    """Sign a student or employee up with their institutional email: an inactive account,
    a ``PendingSignup`` holding what they typed, and an email with the link that activates
    it (``patient_email_verify``). Nothing is linked to or added to the registry before the
    link is opened, and the answer is the same whatever the ID number, so the form never
    tells a stranger whose ID number exists.

    A new sign-up with the email of an account still awaiting confirmation replaces it (its
    password and details; the old link stops working): a sign-up nobody confirms, a
    stranger's or one whose email got lost, locks nobody out.

    An email that already has an account (confirmed, invited, deactivated, staff) gets the
    same answer as a new one: nothing is created, and the address's owner is told by email
    that someone tried to sign up with it (``None`` is returned). Raises
    ``ValidationError`` for a domain outside ``PATIENT_EMAIL_DOMAINS``, a weak password, a
    birth date in the future or an ID number with spaces or control characters inside.
    """

    email = User.objects.normalize_email(email).strip().lower()
    if not email_domain_allowed(email):
        raise ValidationError(
            {
                "email": "Use your institutional email address ("
                + ", ".join("@" + d for d in settings.PATIENT_EMAIL_DOMAINS)
                + ")."
            }
        )
    # Everything the form can object to is checked before looking the email up, so the
    # answer never depends on whether an account exists.
    _validate_birth_date(data["birth_date"])
    id_number = _id_number_field(data["id_number"], taken=False)
    validate_password(
        password, User(email=email, first_name=data["first_name"], last_name=data["last_name"])
    )
    user = User.objects.select_for_update().filter(email__iexact=email).first()
    replacing = user is not None
    if replacing and not _is_unconfirmed_signup(user):
        _tell_owner_of_signup_attempt(user)
        return None
    if user is None:
        user = User(email=email, role=Role.PATIENT, is_active=False)
    user.first_name, user.last_name = data["first_name"], data["last_name"]
    user.set_password(password)  # a new password also voids the previous link
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # a sign-up with the same email at the same moment
        existing = User.objects.filter(email__iexact=email).first()
        if existing is not None:
            _tell_owner_of_signup_attempt(existing)
        return None
    PendingSignup.objects.update_or_create(
        user=user,
        defaults={
            "id_number": id_number,
            "first_name": data["first_name"],
            "last_name": data["last_name"],
            "sex": data["sex"],
            "birth_date": data["birth_date"],
            "patient_type": data.get("patient_type") or PatientType.STUDENT,
            "created_at": timezone.now(),
        },
    )
    audit_record(
        actor=user,
        action=AuditAction.UPDATE if replacing else AuditAction.CREATE,
        obj=user,
        detail={"self_registration": True, "replaced_unconfirmed": replacing},
    )
    outbox.enqueue("patients.tasks.send_verification_email", claim=True, user_id=user.pk)
    return user


def _tell_owner_of_signup_attempt(user) -> None:
    audit_record(
        action=AuditAction.DENIED,
        obj=user,
        allowed=False,
        detail={"self_registration": "email already has an account"},
    )
    outbox.enqueue("patients.tasks.send_account_exists_email", claim=True, user_id=user.pk)


def account_exists_email_send(*, user_id: int, outbox_id: int | None = None) -> bool:
    """Tell an account's owner that someone tried to sign up with their email; once per
    outbox message."""

    user = User.objects.filter(pk=user_id).first()
    if user is None or not outbox.claim(outbox_id):
        return False
    try:
        send_templated_email(
            to=[user.email],
            subject="Someone tried to sign up with your email",
            template="patients_account_exists",
            context={
                "user": user,
                "login_url": f"{settings.SITE_URL}{reverse('accounts:login')}",
                "reset_url": f"{settings.SITE_URL}{reverse('accounts:password_reset')}",
            },
        )
    except Exception:
        outbox.release(outbox_id)
        raise
    return True


def verification_email_send(*, user_id: int, outbox_id: int | None = None) -> bool:
    """Email the sign-up's confirmation link; once per outbox message."""

    user = User.objects.filter(pk=user_id).first()
    if user is None or not outbox.claim(outbox_id):
        return False
    try:
        mail.send_templated_email(
            to=[user.email],
            subject="Confirm your email",
            template="patients_verify_email",
            context={"user": user, "link": email_verification_url(user)},
        )
    except Exception:
        outbox.release(outbox_id)
        raise
    return True


def _is_unconfirmed_signup(user) -> bool:
    """An account made by a sign-up whose email was never confirmed (replaceable). An
    inactive account without a ``PendingSignup`` was deactivated: it is not."""

    return (
        not user.is_active
        and user.role == Role.PATIENT
        and PendingSignup.objects.filter(user=user).exists()
    )


VERIFY_SALT = "patients.verify-email"


VERIFY_MAX_AGE = 3 * 24 * 3600


def _password_stamp(user) -> str:
    """Changes whenever the account's password does, so a confirmation link only works for
    the sign-up it was sent for, not for one that replaced it since."""

    return salted_hmac(VERIFY_SALT, user.password, algorithm="sha256").hexdigest()[:32]


def email_verification_url(user) -> str:

    token = signing.dumps(
        {"u": user.pk, "e": user.email, "p": _password_stamp(user)}, salt=VERIFY_SALT
    )
    return f"{settings.SITE_URL}{reverse('patients:verify_email', args=[token])}"


@transaction.atomic
def patient_email_verify(*, token: str):
    """Activate the account a signed, unexpired confirmation link names, and only then give
    it its patient record (``_self_registration_record``). Opening the link again changes
    nothing.

    Raises ``ValidationError`` when the link is forged or expired, was sent for a sign-up
    that has since been replaced (another password), or names a deactivated account.
    """

    invalid = ValidationError("This link is invalid or has expired.")
    try:
        payload = signing.loads(token, salt=VERIFY_SALT, max_age=VERIFY_MAX_AGE)
    except signing.BadSignature as exc:
        raise invalid from exc
    if not isinstance(payload, dict):
        raise invalid
    # The account row before any patient row: the order patient_link_account locks them in.
    user = (
        User.objects.select_for_update().filter(pk=payload.get("u"), email=payload.get("e")).first()
    )
    if user is None or not constant_time_compare(str(payload.get("p", "")), _password_stamp(user)):
        raise invalid
    if user.is_active:
        return user
    pending = PendingSignup.objects.filter(user=user).first()
    if pending is None:  # deactivated by an administrator: a link does not reopen it
        raise invalid
    user.is_active = True
    user.save(update_fields=["is_active"])
    patient = _self_registration_record(user=user, pending=pending)
    pending.delete()
    audit_record(
        actor=user,
        action=AuditAction.UPDATE,
        obj=user,
        patient_id=patient.pk if patient is not None else None,
        detail={"email_verified": True, "record_linked": patient is not None},
    )
    return user


def _self_registration_record(*, user, pending: PendingSignup) -> Patient | None:
    """The record a just-confirmed sign-up gets, or None: staff then check the person's ID
    and link one by hand (``patient_link_account``; the account waits in their list).

    An existing record is linked only when its own email is the confirmed one and the ID
    number and birth date match as well: knowing a student's ID and birth date is not
    enough. A record is created only when nothing in the registry may be this person: no
    record with the ID number, the same name and birth date (``patient_possible_duplicates``)
    or the email.
    """
    if not pending.id_number or pending.birth_date is None or not pending.sex:
        return None  # a sign-up from before its details were kept
    record = Patient.objects.select_for_update().filter(id_number__iexact=pending.id_number).first()
    if record is not None:
        if (
            record.user_id is None
            and record.birth_date == pending.birth_date
            and record.email.strip()
            and record.email.strip().lower() == user.email.lower()
        ):
            record.user = user
            record.save(update_fields=["user", "updated_at"])
            audit_record(
                actor=user,
                action=AuditAction.UPDATE,
                obj=record,
                patient_id=record.pk,
                detail={"portal_account": user.email, "self_registration": True},
            )
            return record
        return None
    if (
        patient_possible_duplicates(
            id_number=pending.id_number,
            first_name=pending.first_name,
            last_name=pending.last_name,
            birth_date=pending.birth_date,
        )
        or Patient.objects.filter(email__iexact=user.email).exists()
    ):
        return None
    data = {
        "id_number": pending.id_number,
        "first_name": pending.first_name,
        "last_name": pending.last_name,
        "sex": pending.sex,
        "birth_date": pending.birth_date,
        "patient_type": pending.patient_type or PatientType.STUDENT,
        "email": user.email,
    }
    try:
        return patient_register(actor=user, data=data, user=user)
    except ValidationError:
        return None  # a registration at the same moment took the ID number or the name

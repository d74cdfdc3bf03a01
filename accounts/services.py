"""Writes for users and notifications. Each runs in a transaction and leaves an audit event."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import outbox
from accounts.audit import audit_record
from accounts.models import ApiToken, AuditAction, IdempotencyRecord, Notification, TokenScope, User
from accounts.roles import Role, user_has_perm
from uscpis.mail import send_templated_email


def password_setup_url(user: User) -> str:
    """An absolute, signed, expiring link (``PASSWORD_RESET_TIMEOUT``) to set a password."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    path = reverse("accounts:password_reset_confirm", kwargs={"uidb64": uid, "token": token})
    return f"{settings.SITE_URL}{path}"


@transaction.atomic
def user_invite(*, actor: User, email: str, first_name: str, last_name: str, role: str) -> User:
    """Create an account without a password and email an invitation to set one.

    Raises ``ValidationError`` when the email is taken or the role unknown.
    """
    if role not in Role.values:
        raise ValidationError({"role": "Unknown role."})
    email = User.objects.normalize_email(email).lower()
    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None:
        hint = (
            " They have not chosen a password yet: open their page to resend the invitation."
            if existing.invitation_pending
            else ""
        )
        raise ValidationError({"email": f"A user with this email already exists.{hint}"})
    user = User.objects.create_user(
        email=email,
        first_name=first_name,
        last_name=last_name,
        role=role,
        is_staff=role == Role.ADMIN,
    )
    audit_record(actor=actor, action=AuditAction.CREATE, obj=user, detail={"role": role})
    invitation_send(user=user, actor=actor)
    return user


@transaction.atomic
def user_invite_resend(*, actor: User, user: User) -> User:
    """Email a new set-password link to an invited user who never chose a password (the
    first link expires after ``PASSWORD_RESET_TIMEOUT``).

    Raises ``ValidationError`` when the account is deactivated or already has a password.
    """
    user = User.objects.select_for_update().get(pk=user.pk)
    if not user.is_active:
        raise ValidationError("This account is deactivated: reactivate it first.")
    if not user.invitation_pending:
        raise ValidationError(
            "This user has already chosen a password; they can use “Forgot your password?”."
        )
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=user,
        detail={"invitation": "resent"},
    )
    invitation_send(user=user, actor=actor)
    return user


def invitation_send(*, user: User, actor: User) -> None:
    """Email ``user`` the link to choose a password (after commit); also used by the
    patients app when it turns an unconfirmed sign-up into an invitation."""
    outbox.enqueue(
        "accounts.tasks.send_invitation_email",
        claim=True,
        user_id=user.pk,
        actor_id=getattr(actor, "pk", None),
    )


def invitation_email_send(
    *, user_id: int, actor_id: int | None, outbox_id: int | None = None
) -> bool:
    """Email the invitation (the link to choose a password); once per outbox message."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not outbox.claim(outbox_id):
        return False
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    try:
        send_templated_email(
            to=[user.email],
            subject="You are invited to USC-PIS",
            template="invite",
            context={"user": user, "link": password_setup_url(user), "invited_by": actor},
        )
    except Exception:
        outbox.release(outbox_id)  # the task retries; nothing was sent
        raise
    return True


@transaction.atomic
def user_update(
    *,
    actor: User,
    user: User,
    first_name: str,
    last_name: str,
    role: str,
    is_active: bool,
) -> User:
    """Change a user's name, role or active flag. An admin cannot demote or lock themself."""
    if role not in Role.values:
        raise ValidationError({"role": "Unknown role."})
    if user.pk == actor.pk and (role != user.role or not is_active):
        raise ValidationError("You cannot change your own role or deactivate yourself.")
    before = {"role": user.role, "is_active": user.is_active}
    user.first_name, user.last_name = first_name, last_name
    user.role, user.is_active = role, is_active
    user.is_staff = role == Role.ADMIN
    if role != Role.ADMIN:
        user.is_superuser = False
    user.save()
    if not is_active:
        # knox refuses an inactive user's tokens anyway; deleting them makes it final.
        ApiToken.objects.filter(user=user).delete()
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=user,
        detail={"before": before, "after": {"role": role, "is_active": is_active}},
    )
    return user


@transaction.atomic
def user_set_preferences(*, user: User, email_notifications: bool) -> User:
    user.email_notifications = email_notifications
    user.save(update_fields=["email_notifications"])
    audit_record(
        actor=user,
        action=AuditAction.UPDATE,
        obj=user,
        detail={"email_notifications": email_notifications},
    )
    return user


def notify(
    *,
    user: User,
    title: str,
    body: str = "",
    url: str = "",
    category: str = "general",
    email: bool = True,
) -> Notification:
    """Create an in-app notification for ``user``; email it too when the user wants email.

    The email is sent by a Celery task after the surrounding transaction commits, exactly
    once (see ``notification_email_send``). Every domain uses this one function.
    """
    notification = Notification.objects.create(
        user=user,
        title=title[:200],
        body=body,
        url=url[:500],
        category=category[:40],
        email_wanted=bool(email and user.email_notifications and user.is_active),
    )
    if notification.email_wanted:
        outbox.enqueue("accounts.tasks.send_notification_email", notification_id=notification.pk)
    return notification


def notification_email_send(*, notification_id: int) -> bool:
    """Email one notification; returns False when there is nothing to send.

    The notification is claimed (``emailed_at`` set by a guarded UPDATE) before sending, so
    a second beat, a duplicate delivery or a retry after success sends nothing twice. If the
    backend raises, the claim is released and the error re-raised so the task can retry.
    """
    claimed = Notification.objects.filter(
        pk=notification_id, email_wanted=True, emailed_at__isnull=True
    ).update(emailed_at=timezone.now())
    if not claimed:
        return False
    notification = Notification.objects.select_related("user").get(pk=notification_id)
    try:
        send_templated_email(
            to=[notification.user.email],
            subject=notification.title,
            template="notification",
            context={"notification": notification, "user": notification.user},
        )
    except Exception:
        Notification.objects.filter(pk=notification_id).update(emailed_at=None)
        raise
    return True


def notification_mark_read(*, user: User, notification_id: int | None = None) -> int:
    """Mark one (or, with no id, all) of ``user``'s notifications read; returns how many."""
    qs = Notification.objects.filter(user=user, read_at__isnull=True)
    if notification_id is not None:
        qs = qs.filter(pk=notification_id)
    return qs.update(read_at=timezone.now())


# --- Two-factor authentication ---------------------------------------------------------

RECOVERY_CODE_COUNT = 10


def totp_device_start(*, user: User) -> TOTPDevice:
    """The user's authenticator device awaiting its first code, created on first call (one
    per user: a reload of the set-up page shows the same QR code)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return device


def _two_factor_audit(user: User, change: str, *, obj=None, object_type: str = ""):
    audit_record(
        actor=user,
        action=AuditAction.UPDATE,
        obj=obj,
        object_type=object_type,
        detail={"two_factor": change},
    )


def _recovery_codes_replace(user: User) -> list[str]:
    device, _ = StaticDevice.objects.get_or_create(user=user, name="Recovery codes")
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=c) for c in codes)
    return codes


def two_factor_enrol(*, user: User, device: TOTPDevice, token: str) -> list[str]:
    """Confirm ``device`` with a code from the user's app and issue fresh recovery codes
    (returned once, never stored in clear elsewhere).

    Raises ``ValidationError`` when the code is wrong or the device is throttled after wrong
    codes; the throttle itself is recorded outside the transaction, so it survives the error.
    """
    allowed, _ = device.verify_is_allowed()
    if not allowed:
        raise ValidationError("Too many wrong codes in a row: wait a few seconds, then try again.")
    if not device.verify_token(token):
        raise ValidationError("That code is not valid. Check your phone's clock and try again.")
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _recovery_codes_replace(user)
        _two_factor_audit(user, "enrolled", obj=device)
    return codes


@transaction.atomic
def recovery_codes_regenerate(*, user: User) -> list[str]:
    """Replace the user's recovery codes (the old ones stop working) and return the new ones."""
    codes = _recovery_codes_replace(user)
    _two_factor_audit(user, "recovery codes regenerated", object_type="otp_static.staticdevice")
    return codes


@transaction.atomic
def two_factor_disable(*, user: User) -> None:
    """Remove the user's authenticator and recovery codes. Refused (``ValidationError``) for
    roles that must keep two-factor on."""
    if user.requires_two_factor:
        raise ValidationError("Administrators must keep two-factor authentication on.")
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    _two_factor_audit(user, "disabled", object_type="otp_totp.totpdevice")


# --- Personal API tokens -------------------------------------------------------------------


@transaction.atomic
def api_token_create(
    *, actor: User, name: str, scope: str, expires_in_days: int | None = None
) -> tuple[ApiToken, str]:
    """Issue a personal API token for ``actor``; returns it and its secret, which is shown
    once and never stored (only its SHA-512 digest is). Every token expires: the default is
    ``API_TOKEN_DEFAULT_DAYS``, at most ``API_TOKEN_MAX_DAYS``. Patients' tokens only ever
    reach their own record (the API's access rules are the portal's)."""

    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Name the token after what will use it."})
    if scope not in TokenScope.values:
        raise ValidationError({"scope": "Choose read only or read and write."})
    days = expires_in_days or settings.API_TOKEN_DEFAULT_DAYS
    if not 1 <= days <= settings.API_TOKEN_MAX_DAYS:
        raise ValidationError(
            {"expires_in_days": f"A token lasts 1 to {settings.API_TOKEN_MAX_DAYS} days."}
        )
    if not user_has_perm(actor, "accounts.signed_in"):
        raise ValidationError("Only active accounts can have API tokens.")
    token, secret = ApiToken.objects.create(
        user=actor, expiry=timedelta(days=days), name=name[:80], scope=scope
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=token,
        object_id=str(token.uid),
        detail={"api_token": token.name, "scope": scope, "expires": token.expiry.isoformat()},
    )
    return token, secret


@transaction.atomic
def api_token_revoke(*, actor: User, token: ApiToken) -> None:
    """Delete a token: it stops working at once. The owner may revoke their own; an
    administrator (``accounts.manage_users``) any."""

    if token.user_id != actor.pk and not user_has_perm(actor, "accounts.manage_users"):
        raise PermissionDenied("You can only revoke your own tokens.")
    audit_record(
        actor=actor,
        action=AuditAction.DELETE,
        obj=token,
        object_id=str(token.uid),
        detail={"api_token": token.name, "owner": token.user.email},
    )
    ApiToken.objects.filter(pk=token.pk).delete()


def api_records_prune(*, now=None) -> dict:
    """Delete expired API tokens (knox refuses them anyway) and Idempotency-Key records
    older than ``IDEMPOTENCY_KEY_HOURS`` (default 24). Returns the counts deleted."""

    now = now or timezone.now()
    hours = getattr(settings, "IDEMPOTENCY_KEY_HOURS", 24)
    tokens, _ = ApiToken.objects.filter(expiry__lt=now).delete()
    keys, _ = IdempotencyRecord.objects.filter(created_at__lt=now - timedelta(hours=hours)).delete()
    return {"tokens": tokens, "idempotency_keys": keys}

"""Signed links in appointment emails: confirm or cancel without signing in, each used once."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from appointments.models import (
    Appointment,
    AppointmentStatus,
    SignedLinkUse,
)
from appointments.selectors import LINK_SALT, link_read
from appointments.services.booking import appointment_cancel
from appointments.services.lifecycle import appointment_transition


def link_token(appointment: Appointment, action: str) -> str:
    return signing.dumps(
        {"a": appointment.pk, "x": action, "j": secrets.token_urlsafe(12)}, salt=LINK_SALT
    )


def link_url(appointment: Appointment, action: str) -> str:

    return settings.SITE_URL + reverse(
        "appointments:email_link", args=[link_token(appointment, action)]
    )


def link_use(*, token: str) -> Appointment:
    """Confirm or cancel from an email link. Each link works once; raises ``ValidationError``."""
    appointment, action, jti = link_read(token, purpose=None)  # the change is audited below
    with transaction.atomic():
        try:
            with transaction.atomic():
                SignedLinkUse.objects.create(jti=jti, appointment=appointment, action=action)
        except IntegrityError:
            raise ValidationError("This link has already been used.") from None
        if action == "confirm":
            if appointment.status == AppointmentStatus.CONFIRMED:
                return appointment
            if (
                appointment.status != AppointmentStatus.BOOKED
                or appointment.start <= timezone.now()
            ):
                raise ValidationError("This appointment can no longer be confirmed.")
            return appointment_transition(
                actor=None,
                appointment=appointment,
                to_status=AppointmentStatus.CONFIRMED,
                note="Confirmed from the email link",
            )
        return appointment_cancel(actor=None, appointment=appointment, via_link=True)

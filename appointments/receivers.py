"""What invalidates the shared schedule reads (``appointments.schedule_cache``): every saved
or deleted row that a clinic calendar or a free-slot list is made from. Model signals,
so every writer is covered (services, the admin, the API, data fixes), each bump deferred
to the writing transaction's commit. Appointments are never changed by ``QuerySet.update``
(which sends no signal); keep it that way or bump the dates by hand."""

from __future__ import annotations

from django.db.models.signals import m2m_changed, post_delete, post_save

from accounts.models import User
from appointments import schedule_cache
from appointments.models import (
    Appointment,
    AppointmentType,
    AvailabilityException,
    ProviderProfile,
    WaitlistOffer,
    WeeklyAvailability,
)
from patients.models import Patient

# Saves that change nothing a schedule shows (signing in, changing a password).
_USER_FIELDS_NOT_SHOWN = frozenset({"last_login", "password", "email_notifications"})


def _appointment_saved(sender, instance: Appointment, **kwargs) -> None:
    # A reschedule changes the date it left as well as the one it moved to.
    schedule_cache.days_changed(instance.start, getattr(instance, "loaded_start", None))


def _offer_saved(sender, instance: WaitlistOffer, **kwargs) -> None:
    schedule_cache.days_changed(instance.start)  # a pending offer holds its slot


def _schedule_saved(sender, **kwargs) -> None:
    schedule_cache.schedule_changed()


def _patient_saved(sender, instance, created: bool = False, **kwargs) -> None:
    if not created:  # a new patient has no appointments yet; a renamed one shows everywhere
        schedule_cache.schedule_changed()


def _user_saved(sender, instance, created: bool = False, update_fields=None, **kwargs) -> None:
    if created or (update_fields and set(update_fields) <= _USER_FIELDS_NOT_SHOWN):
        return
    schedule_cache.schedule_changed()  # a provider's name, role or active flag


def connect() -> None:
    """Called once from ``AppointmentsConfig.ready``."""
    for signal in (post_save, post_delete):
        signal.connect(_appointment_saved, sender=Appointment, dispatch_uid="sc-appointment")
        signal.connect(_offer_saved, sender=WaitlistOffer, dispatch_uid="sc-offer")
        for model in (ProviderProfile, WeeklyAvailability, AvailabilityException, AppointmentType):
            signal.connect(_schedule_saved, sender=model, dispatch_uid=f"sc-{model.__name__}")
        signal.connect(_patient_saved, sender=Patient, dispatch_uid="sc-patient")
        signal.connect(_user_saved, sender=User, dispatch_uid="sc-user")
    # Which types a provider performs (free slots).
    m2m_changed.connect(
        _schedule_saved,
        sender=ProviderProfile.appointment_types.through,
        dispatch_uid="sc-provider-types",
    )

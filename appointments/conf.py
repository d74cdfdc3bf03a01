"""Appointment settings, read from Django settings with environment-backed defaults.

Kept in the app (not uscpis/settings.py) so the domain owns its knobs; each can be
overridden in settings (tests use ``override_settings``) or in the environment.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from uscpis.env import env_int, env_list


def _offsets_from_env() -> tuple[int, ...]:
    raw = env_list("APPOINTMENT_REMINDER_OFFSETS_MINUTES", ["1440", "120"])
    try:
        values = tuple(sorted({int(v) for v in raw}, reverse=True))
    except ValueError:
        raise ImproperlyConfigured(
            f"APPOINTMENT_REMINDER_OFFSETS_MINUTES must be integers, got {raw!r}"
        ) from None
    if any(v <= 0 for v in values):
        raise ImproperlyConfigured("APPOINTMENT_REMINDER_OFFSETS_MINUTES must be positive")
    return values


_DEFAULTS = {
    # Reminders before the start, in minutes (24 h and 2 h).
    "APPOINTMENT_REMINDER_OFFSETS": _offsets_from_env(),
    # Patients may not cancel or reschedule within this many minutes of the start.
    "APPOINTMENT_CANCEL_CUTOFF_MINUTES": env_int(
        "APPOINTMENT_CANCEL_CUTOFF_MINUTES", 120, minimum=0
    ),
    # A booked appointment not checked in this long after its start becomes a no-show.
    "APPOINTMENT_NO_SHOW_GRACE_MINUTES": env_int(
        "APPOINTMENT_NO_SHOW_GRACE_MINUTES", 30, minimum=1
    ),
    # How long a waitlist offer holds the freed slot.
    "APPOINTMENT_WAITLIST_HOLD_MINUTES": env_int(
        "APPOINTMENT_WAITLIST_HOLD_MINUTES", 120, minimum=5
    ),
    # A waitlist offer ends where online booking closes (start minus the type's lead time),
    # so it can always be accepted while it runs. A slot whose offer would run shorter than
    # this (or than the whole hold, if that is shorter) is not offered: it stays free for
    # anyone rather than blocked by an offer nobody has time to take up.
    "APPOINTMENT_WAITLIST_MIN_HOLD_MINUTES": env_int(
        "APPOINTMENT_WAITLIST_MIN_HOLD_MINUTES", 15, minimum=1
    ),
    # Signed confirm/cancel email links stop working after this many hours.
    "APPOINTMENT_LINK_MAX_AGE_HOURS": env_int("APPOINTMENT_LINK_MAX_AGE_HOURS", 24 * 14, minimum=1),
    # Slot start times are on this grid (minutes).
    "APPOINTMENT_SLOT_GRID_MINUTES": env_int("APPOINTMENT_SLOT_GRID_MINUTES", 5, minimum=1),
    # Calendar grid hours (clinic wall clock).
    "APPOINTMENT_CALENDAR_START_HOUR": env_int("APPOINTMENT_CALENDAR_START_HOUR", 7, minimum=0),
    "APPOINTMENT_CALENDAR_END_HOUR": env_int("APPOINTMENT_CALENDAR_END_HOUR", 19, minimum=1),
}


def get(name: str):
    return getattr(settings, name, _DEFAULTS[name])


def clinic_tz() -> ZoneInfo:
    """The clinic's time zone (``settings.TIME_ZONE``, from CLINIC_TIME_ZONE)."""
    return ZoneInfo(settings.TIME_ZONE)

"""What the booking pages and the slots API read on every request: the appointment types,
the providers and which types each provider is limited to (under the whole-schedule token,
which every write to a type, a provider profile, a provider's user row or the provider–type
list replaces on commit), and a week of free slots drawn as the booking page shows it
(under that token and the week's date tokens, which every appointment or waitlist hold on
those dates replaces). Both are shared through ``schedule_cache`` (invalidation by
``appointments.receivers``), so a change shows on the next request.

Only what the pages show is read and cached: provider rows without their calendar feed
token, user rows without password or e-mail. Bookings are still validated against the
database (``slots.validate_slot``) whatever a page offered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import User
from appointments import schedule_cache
from appointments.models import AppointmentType, ProviderProfile
from appointments.slots import Slot, free_slots_lasting, search_window

T = TypeVar("T")

_TYPE_FIELDS = tuple(f.attname for f in AppointmentType._meta.concrete_fields)
_PROFILE_FIELDS = ("id", "user_id", "room", "location", "is_active")  # no feed token
_USER_FIELDS = ("id", "first_name", "last_name", "role", "is_active")  # no password, e-mail


@dataclass(frozen=True)
class Choices:
    """Rows, not model instances: a request unpickles a few tuples and makes only the
    instances it uses (with the fields above; any other is read when first used)."""

    type_rows: tuple[tuple, ...]  # active types, by name (every field)
    provider_rows: tuple[tuple[tuple, tuple], ...]  # active profiles and their users, by name
    limited_to: dict[int, frozenset[int]]  # provider id -> its explicit types (absent: none)

    @staticmethod
    def _type(row: tuple) -> AppointmentType:
        return AppointmentType.from_db(AppointmentType.objects.db, _TYPE_FIELDS, row)

    @staticmethod
    def _provider(rows: tuple[tuple, tuple]) -> ProviderProfile:
        profile = ProviderProfile.from_db(ProviderProfile.objects.db, _PROFILE_FIELDS, rows[0])
        profile.user = User.from_db(User.objects.db, _USER_FIELDS, rows[1])
        return profile

    def types_for(self, *, staff: bool) -> list[AppointmentType]:
        """What ``AppointmentType.objects.filter(is_active=True)`` gives (staff), or its
        ``self_bookable`` part (patients)."""
        types = [self._type(row) for row in self.type_rows]
        return [t for t in types if staff or t.self_bookable]

    def bookable_providers(self) -> list[ProviderProfile]:
        """``selectors.active_providers()``: the profile and its user both active."""
        return [self._provider(rows) for rows in self.provider_rows if rows[1][-1]]

    def type(self, pk: int) -> AppointmentType | None:
        """The active type ``pk``, or None."""
        return next((self._type(row) for row in self.type_rows if row[0] == pk), None)

    def provider(self, pk: int) -> ProviderProfile | None:
        """The active provider profile ``pk`` (its user active or not), or None."""
        return next((self._provider(rows) for rows in self.provider_rows if rows[0][0] == pk), None)

    def performs(self, provider: ProviderProfile, appointment_type: AppointmentType) -> bool:
        """``slots.provider_performs`` without its query."""
        if not provider.is_active or provider.user.role not in appointment_type.provider_roles:
            return False
        explicit = self.limited_to.get(provider.pk)
        return not explicit or appointment_type.pk in explicit


def _build() -> Choices:
    limited: dict[int, set[int]] = {}
    for pid, tid in ProviderProfile.appointment_types.through.objects.values_list(
        "providerprofile_id", "appointmenttype_id"
    ):
        limited.setdefault(pid, set()).add(tid)
    width = len(_PROFILE_FIELDS)
    providers = ProviderProfile.objects.filter(is_active=True).values_list(
        *_PROFILE_FIELDS, *(f"user__{name}" for name in _USER_FIELDS)
    )
    return Choices(
        type_rows=tuple(AppointmentType.objects.filter(is_active=True).values_list(*_TYPE_FIELDS)),
        provider_rows=tuple((row[:width], row[width:]) for row in providers),
        limited_to={pid: frozenset(tids) for pid, tids in limited.items()},
    )


def choices() -> Choices:
    """The active types and providers, current as of the last committed write."""
    return schedule_cache.cached("picker-choices", [], _build)


# --- A week of free slots, drawn -----------------------------------------------------------


@dataclass(frozen=True)
class SlotWeek:
    first: date
    last: date
    html: str  # the seven days' radios (``_slot_days.html``), escaped by the template
    any_slots: bool
    lapses: datetime | None  # a waitlist hold counted as busy lapses then: draw it again


def week_days(first: date, slots: list[Slot]) -> list[dict]:
    """The seven dates from ``first``, each with its slots."""
    days = [{"date": first + timedelta(days=i), "slots": []} for i in range(7)]
    index = {d["date"]: d for d in days}
    for slot in slots:
        day = index.get(slot.local_start.date())
        if day is not None:
            day["slots"].append(slot)
    return days


def shared_free_slots(
    *,
    name: str,
    appointment_type: AppointmentType,
    provider: ProviderProfile | None,
    date_from: date,
    date_to: date,
    patient_id: int | None,
    staff: bool,
    draw: Callable[[list[Slot], datetime | None], T],
    exclude_id: int | None = None,
) -> T:
    """``draw(free slots, when a hold counted lapses)`` for a page or an API answer, shared
    while the schedule of the dates is unchanged (date and whole-schedule tokens), the time
    has not moved the search window (``slots.search_window``: the key holds it) and no
    hold it counted has lapsed (``draw``'s value must have a ``lapses`` attribute or key).
    ``name`` tells what ``draw`` makes; the value must not depend on who asks beyond
    ``patient_id`` and ``staff``. A reschedule (``exclude_id``) is drawn afresh: the
    appointment it moves frees its time."""
    now = timezone.now()

    def build() -> T:
        slots, lapses = free_slots_lasting(
            appointment_type=appointment_type,
            provider=provider,
            date_from=date_from,
            date_to=date_to,
            patient_id=patient_id,
            enforce_lead_time=not staff,
            exclude_appointment_id=exclude_id,
            now=now,
            shared=True,
        )
        return draw(slots, lapses)

    if exclude_id:
        return build()
    start, end = search_window(
        appointment_type, date_from, date_to, now=now, enforce_lead_time=not staff
    )
    key = (
        f"{name}:{appointment_type.pk}:{provider.pk if provider else '-'}:{date_from}:"
        f"{date_to}:{patient_id or '-'}:{int(staff)}:{int(start.timestamp())}:"
        f"{int(end.timestamp()) // 60}"
    )
    # The schedule read covers the evening before ``date_from`` too (slots._shared_schedule).
    days = [date_from + timedelta(days=i) for i in range(-1, (date_to - date_from).days + 1)]
    return schedule_cache.cached(key, days, build, still_valid=_not_lapsed)


def _not_lapsed(value) -> bool:
    lapses = value["lapses"] if isinstance(value, dict) else value.lapses
    return lapses is None or timezone.now() < lapses


def slot_week(
    *,
    appointment_type: AppointmentType,
    provider: ProviderProfile | None,
    first: date,
    patient_id: int | None = None,
    staff: bool = False,
    exclude_id: int | None = None,
) -> SlotWeek:
    """The booking page's week of free slots from ``first``, for staff (no lead time) or
    for a patient (``patient_id``: their own appointments left out, their hold theirs),
    drawn (``_slot_days.html``) and shared (``shared_free_slots``)."""
    last = first + timedelta(days=6)

    def draw(slots: list[Slot], lapses: datetime | None) -> SlotWeek:
        html = render_to_string("appointments/_slot_days.html", {"days": week_days(first, slots)})
        return SlotWeek(first, last, html, bool(slots), lapses)

    return shared_free_slots(
        name="slot-week",
        appointment_type=appointment_type,
        provider=provider,
        date_from=first,
        date_to=last,
        patient_id=patient_id,
        staff=staff,
        draw=draw,
        exclude_id=exclude_id,
    )


# --- The slot picker form, validated and drawn ------------------------------------------------


@dataclass(frozen=True)
class Picked:
    """What the slot picker form asks for: a type, a provider (None: any) and the first date,
    or no type when the form is unbound or invalid; with its fields drawn."""

    appointment_type: AppointmentType | None
    provider: ProviderProfile | None
    first: date | None
    fields_html: str = ""

    @classmethod
    def from_form(cls, form, fields_html: str = "") -> Picked:
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            return cls(data["type"], data["provider"], data["date"], fields_html)
        return cls(None, None, None, fields_html)


_PICKER_FIELDS = ("type", "provider", "date")


def picked(data, *, staff: bool) -> Picked:
    """``SlotPickerForm(data, staff=staff)`` validated, with its fields drawn
    (``_picker_fields.html``). Shared under the whole-schedule token (the form shows the
    types and providers) keyed by the three values the form reads and today's date (an
    earlier date is moved to today)."""
    from appointments.forms import SlotPickerForm  # forms reads ``choices`` from here

    def build() -> Picked:
        form = SlotPickerForm(data, staff=staff)
        html = render_to_string("appointments/_picker_fields.html", {"form": form})
        return Picked.from_form(form, html)

    values = None if data is None else [data.get(name) for name in _PICKER_FIELDS]
    digest = hashlib.sha256(json.dumps([values, staff]).encode()).hexdigest()[:32]
    return schedule_cache.cached(f"picker-form:{timezone.localdate()}:{digest}", [], build)

"""Free-slot computation and slot validation.

Working time is built per provider from weekly blocks (clinic wall-clock times turned into
aware datetimes for each local date, so daylight-saving changes are handled by zoneinfo),
plus extra-hours exceptions, minus leave/holiday/closure exceptions. Busy time is every
active appointment's ``[start, end_with_buffer)``, plus slots held for a waitlist offer.
A candidate ``[t, t + duration)`` must sit inside working time and ``[t, t + duration +
buffer)`` must not touch busy time. All arithmetic is done on aware datetimes in UTC.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from appointments import conf, schedule_cache
from appointments.models import (
    Appointment,
    AppointmentType,
    AvailabilityException,
    ExceptionKind,
    OfferStatus,
    ProviderProfile,
    WaitlistOffer,
    WeeklyAvailability,
)

# Longest appointment (8 h) plus longest buffer (4 h): bounds the index range scans.
MAX_SPAN = timedelta(hours=12)
Interval = tuple[datetime, datetime]


class SlotTaken(ValidationError):
    """The slot is no longer free. ``next_slots`` lists the nearest free alternatives."""

    def __init__(self, message: str = "That slot was just taken.", next_slots=None):
        super().__init__(message, code="slot_taken")
        self.next_slots = list(next_slots or [])


@dataclass(frozen=True)
class Slot:
    provider_id: int
    provider_name: str
    start: datetime
    end: datetime

    @property
    def value(self) -> str:
        """What a form posts back: ``<provider id>|<UTC ISO start>`` (validated again on POST)."""
        return f"{self.provider_id}|{self.start.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"

    @property
    def local_start(self) -> datetime:
        return self.start.astimezone(conf.clinic_tz())


def parse_slot_value(value: str) -> tuple[int, datetime]:
    """Inverse of ``Slot.value``; a tampered or malformed value raises ``ValidationError``."""
    try:
        provider_part, _, start_part = (value or "").partition("|")
        provider_id = int(provider_part)
        start = parse_datetime(start_part)
    except (TypeError, ValueError):
        start = None
        provider_id = 0
    if start is None or timezone.is_naive(start) or provider_id <= 0:
        raise ValidationError(
            "That slot is not valid. Please choose one from the list.", code="bad_slot"
        )
    return provider_id, start


# --- Building blocks ---------------------------------------------------------------------


def providers_for_type(appointment_type: AppointmentType):
    """Active providers who perform ``appointment_type`` (by role, and by explicit list if any)."""
    return (
        ProviderProfile.objects.filter(
            is_active=True, user__is_active=True, user__role__in=appointment_type.provider_roles
        )
        .filter(Q(appointment_types=None) | Q(appointment_types=appointment_type))
        .select_related("user")
        .distinct()
    )


def provider_performs(provider: ProviderProfile, appointment_type: AppointmentType) -> bool:
    if not provider.is_active or provider.user.role not in appointment_type.provider_roles:
        return False
    explicit = list(provider.appointment_types.values_list("pk", flat=True))
    return not explicit or appointment_type.pk in explicit


def local_day_bounds(day: date) -> Interval:
    tz = conf.clinic_tz()
    start = datetime.combine(day, time.min).replace(tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min).replace(tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[list[datetime]] = []
    for s, e in sorted(intervals):
        if e <= s:
            continue
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def _subtract(intervals: list[Interval], removals: list[Interval]) -> list[Interval]:
    result = []
    for s, e in intervals:
        pieces = [(s, e)]
        for rs, re_ in removals:
            next_pieces = []
            for ps, pe in pieces:
                if re_ <= ps or rs >= pe:
                    next_pieces.append((ps, pe))
                    continue
                if rs > ps:
                    next_pieces.append((ps, rs))
                if re_ < pe:
                    next_pieces.append((re_, pe))
            pieces = next_pieces
        result.extend(pieces)
    return _merge(result)


def working_time(provider_ids: list[int], window: Interval) -> dict[int, list[Interval]]:
    """Each provider's working intervals (UTC) overlapping ``window``. Two queries."""
    tz = conf.clinic_tz()
    w_start, w_end = window
    first_day = w_start.astimezone(tz).date() - timedelta(days=1)
    last_day = w_end.astimezone(tz).date()
    blocks: dict[int, dict[int, list[tuple[time, time]]]] = defaultdict(lambda: defaultdict(list))
    for pid, weekday, st, et in WeeklyAvailability.objects.filter(
        provider_id__in=provider_ids
    ).values_list("provider_id", "weekday", "start_time", "end_time"):
        blocks[pid][weekday].append((st, et))
    added: dict[int, list[Interval]] = defaultdict(list)
    removed: dict[int | None, list[Interval]] = defaultdict(list)
    for pid, kind, s, e in AvailabilityException.objects.filter(
        Q(provider_id__in=provider_ids) | Q(provider__isnull=True),
        starts_at__lt=w_end,
        ends_at__gt=w_start,
    ).values_list("provider_id", "kind", "starts_at", "ends_at"):
        (added[pid] if kind == ExceptionKind.EXTRA else removed[pid]).append((s, e))
    # A local day and time to UTC, once per (day, time): providers mostly share block times.
    instants: dict[tuple[date, time], datetime] = {}

    def utc(day: date, at: time) -> datetime:
        instant = instants.get((day, at))
        if instant is None:
            instant = datetime.combine(day, at).replace(tzinfo=tz).astimezone(UTC)
            instants[(day, at)] = instant
        return instant

    result = {}
    for pid in provider_ids:
        intervals = list(added.get(pid, []))
        day = first_day
        while day <= last_day:
            for st, et in blocks[pid].get(day.weekday(), []):
                intervals.append((utc(day, st), utc(day, et)))
            day += timedelta(days=1)
        intervals = [(max(s, w_start), min(e, w_end)) for s, e in _merge(intervals)]
        result[pid] = _subtract(_merge(intervals), removed.get(pid, []) + removed.get(None, []))
    return result


def _busy_rows(
    provider_ids: list[int], window: Interval, *, exclude_appointment_id: int | None = None
) -> tuple[list[tuple], list[tuple]]:
    """Active appointments ``(provider, start, end_with_buffer)`` and unexpired pending
    offer holds ``(provider, start, end, expires_at, patient)`` touching ``window``."""
    w_start, w_end = window
    qs = Appointment.objects.active().filter(
        provider_id__in=provider_ids,
        start__gte=w_start - MAX_SPAN,
        start__lt=w_end,
        end_with_buffer__gt=w_start,
    )
    if exclude_appointment_id:
        qs = qs.exclude(pk=exclude_appointment_id)
    holds = WaitlistOffer.objects.filter(
        provider_id__in=provider_ids,
        status=OfferStatus.PENDING,
        expires_at__gt=timezone.now(),
        start__lt=w_end,
        end__gt=w_start,
    )
    return (
        list(qs.values_list("provider_id", "start", "end_with_buffer")),
        list(holds.values_list("provider_id", "start", "end", "expires_at", "entry__patient_id")),
    )


def _busy_from_rows(
    appointments: list[tuple],
    holds: list[tuple],
    *,
    hold_owner_patient_id: int | None,
    now: datetime | None = None,
) -> dict[int, list[Interval]]:
    busy: dict[int, list[Interval]] = defaultdict(list)
    for pid, s, e in appointments:
        busy[pid].append((s, e))
    now = now or timezone.now()  # holds read earlier (from the cache) may have lapsed since
    for pid, s, e, expires_at, owner in holds:
        if expires_at > now and (not hold_owner_patient_id or owner != hold_owner_patient_id):
            busy[pid].append((s, e))
    return {pid: _merge(v) for pid, v in busy.items()}


def busy_time(
    provider_ids: list[int],
    window: Interval,
    *,
    exclude_appointment_id: int | None = None,
    hold_owner_patient_id: int | None = None,
) -> dict[int, list[Interval]]:
    """Time each provider is taken: active appointments (with buffer) and pending offer holds."""
    appointments, holds = _busy_rows(
        provider_ids, window, exclude_appointment_id=exclude_appointment_id
    )
    return _busy_from_rows(appointments, holds, hold_owner_patient_id=hold_owner_patient_id)


def _shared_schedule(
    provider_ids: list[int], date_from: date, date_to: date, window: Interval
) -> tuple[dict[int, list[Interval]], tuple[list[tuple], list[tuple]]]:
    """``working_time`` and ``_busy_rows`` for ``window`` (inside the local dates
    ``date_from``..``date_to``), from what is read for those whole dates and shared through
    ``schedule_cache`` until a write changes them. Clipping the whole dates' working time to
    ``window`` gives what ``working_time(window)`` gives; the busy rows are a superset outside
    ``window``, which no slot inside it can touch."""
    days = (local_day_bounds(date_from)[0], local_day_bounds(date_to)[1])

    def build():
        return working_time(provider_ids, days), _busy_rows(provider_ids, days)

    key = f"slots:{','.join(map(str, sorted(provider_ids)))}:{date_from}:{date_to}"
    # An appointment from the evening before can run into the first date (MAX_SPAN).
    dates = [date_from + timedelta(days=i) for i in range(-1, (date_to - date_from).days + 1)]
    whole, (appointments, holds) = schedule_cache.cached(key, dates, build)
    w_start, w_end = window
    working = {
        pid: [(max(s, w_start), min(e, w_end)) for s, e in intervals if s < w_end and e > w_start]
        for pid, intervals in whole.items()
    }
    return working, (appointments, holds)


def patient_busy(
    patient_id: int, window: Interval, *, exclude_appointment_id: int | None = None
) -> list[Interval]:
    w_start, w_end = window
    qs = Appointment.objects.active().filter(
        patient_id=patient_id, start__gte=w_start - MAX_SPAN, start__lt=w_end, end__gt=w_start
    )
    if exclude_appointment_id:
        qs = qs.exclude(pk=exclude_appointment_id)
    return _merge(qs.values_list("start", "end"))


def _align_up(t: datetime) -> datetime:
    grid = conf.get("APPOINTMENT_SLOT_GRID_MINUTES") * 60
    ts = t.timestamp()
    rem = ts % grid
    return t if rem == 0 else t + timedelta(seconds=grid - rem)


def on_grid(t: datetime) -> bool:
    grid = conf.get("APPOINTMENT_SLOT_GRID_MINUTES") * 60
    return t.second == 0 and t.microsecond == 0 and t.timestamp() % grid == 0


def _overlaps(intervals: list[Interval], s: datetime, e: datetime) -> Interval | None:
    for bs, be in intervals:
        if bs < e and be > s:
            return bs, be
    return None


# --- Public API ----------------------------------------------------------------------------


def booking_window(
    appointment_type: AppointmentType,
    *,
    now: datetime | None = None,
    enforce_lead_time: bool = True,
) -> Interval:
    """Earliest and latest start allowed now (lead time for patients; horizon for everyone)."""
    now = now or timezone.now()
    earliest = (
        now + timedelta(minutes=appointment_type.lead_time_minutes) if enforce_lead_time else now
    )
    latest = now + timedelta(days=appointment_type.horizon_days)
    return earliest, latest


def free_slots(**search) -> list[Slot]:
    """The slots of :func:`free_slots_lasting` (the same keyword arguments), without the
    moment the list may change."""
    return free_slots_lasting(**search)[0]


def search_window(
    appointment_type: AppointmentType,
    date_from: date,
    date_to: date,
    *,
    now: datetime,
    enforce_lead_time: bool,
) -> Interval:
    """Where ``free_slots`` looks: the local dates cut to the booking window, the start on
    the slot grid. Slot starts and ends are whole minutes, so the result depends on ``now``
    only through this window with its end cut to the minute (and on lapsing holds)."""
    earliest, latest = booking_window(
        appointment_type, now=now, enforce_lead_time=enforce_lead_time
    )
    window = (local_day_bounds(date_from)[0], local_day_bounds(date_to)[1])
    return max(window[0], _align_up(earliest)), min(window[1], latest)


def free_slots_lasting(
    *,
    appointment_type: AppointmentType,
    provider: ProviderProfile | None = None,
    date_from: date,
    date_to: date,
    patient_id: int | None = None,
    enforce_lead_time: bool = True,
    exclude_appointment_id: int | None = None,
    now: datetime | None = None,
    limit: int | None = None,
    shared: bool = False,
) -> tuple[list[Slot], datetime | None]:
    """Free slots of ``appointment_type`` between two local dates (inclusive), soonest first,
    and the moment the first waitlist hold it counted as busy lapses (None if none did):
    until then (and until a write, or ``search_window`` moves) the list stays the same.

    ``provider=None`` means any provider who performs the type. With ``patient_id``, slots
    clashing with that patient's own appointments are left out (and their waitlist hold is
    theirs to use). ``shared=True`` (pages that only display slots, outside any write)
    reads the providers' schedule through ``schedule_cache``; every booking is validated
    against the database (``validate_slot``) whatever a page showed.
    """
    now = now or timezone.now()
    providers = [provider] if provider is not None else list(providers_for_type(appointment_type))
    if not providers:
        return [], None
    window = search_window(
        appointment_type, date_from, date_to, now=now, enforce_lead_time=enforce_lead_time
    )
    if window[0] >= window[1]:
        return [], None
    pids = [p.pk for p in providers]
    if shared and not exclude_appointment_id:
        working, (appointments, holds) = _shared_schedule(pids, date_from, date_to, window)
    else:
        working = working_time(pids, window)
        appointments, holds = _busy_rows(
            pids, window, exclude_appointment_id=exclude_appointment_id
        )
    held_at = timezone.now()  # holds lapse in real time, whatever ``now`` was given
    busy = _busy_from_rows(appointments, holds, hold_owner_patient_id=patient_id, now=held_at)
    lapses = min(
        (h[3] for h in holds if h[3] > held_at and (not patient_id or h[4] != patient_id)),
        default=None,
    )
    mine = (
        patient_busy(patient_id, window, exclude_appointment_id=exclude_appointment_id)
        if patient_id
        else []
    )
    duration = timedelta(minutes=appointment_type.duration_minutes)
    held = duration + timedelta(minutes=appointment_type.buffer_minutes)
    slots: list[Slot] = []
    for p in providers:
        taken = busy.get(p.pk, [])
        for s, e in working.get(p.pk, []):
            t = _align_up(s)
            while t + duration <= e and t <= window[1]:
                clash = _overlaps(taken, t, t + held) or _overlaps(mine, t, t + duration)
                if clash:
                    t = _align_up(max(clash[1], t + timedelta(minutes=1)))
                    continue
                slots.append(Slot(p.pk, p.display_name, t, t + duration))
                t = _align_up(t + held)
    slots.sort(key=lambda sl: (sl.start, sl.provider_name))
    return (slots[:limit] if limit else slots), lapses


def next_free_slots(
    appointment_type: AppointmentType,
    provider: ProviderProfile | None,
    after: datetime,
    *,
    patient_id: int | None = None,
    enforce_lead_time: bool = True,
    count: int = 5,
    days: int = 14,
) -> list[Slot]:
    tz = conf.clinic_tz()
    first = after.astimezone(tz).date()
    slots = free_slots(
        appointment_type=appointment_type,
        provider=provider,
        date_from=first,
        date_to=first + timedelta(days=days),
        patient_id=patient_id,
        enforce_lead_time=enforce_lead_time,
    )
    return [s for s in slots if s.start >= after][:count] or slots[:count]


def validate_slot(
    *,
    appointment_type: AppointmentType,
    provider: ProviderProfile,
    start: datetime,
    patient_id: int | None,
    by_staff: bool,
    exclude_appointment_id: int | None = None,
    now: datetime | None = None,
    past_tolerance: timedelta = timedelta(0),
) -> datetime:
    """Check one requested start; return its end. Raises ``ValidationError`` (``SlotTaken``
    when the only problem is that someone else holds the time)."""
    now = now or timezone.now()
    if not appointment_type.is_active:
        raise ValidationError("This appointment type is not offered any more.")
    if not by_staff and not appointment_type.self_bookable:
        raise ValidationError("This appointment type is booked through the clinic front desk.")
    if not provider_performs(provider, appointment_type):
        raise ValidationError(
            f"{provider.display_name} does not perform {appointment_type.name.lower()} appointments."
        )
    if timezone.is_naive(start) or not on_grid(start):
        raise ValidationError("That time is not a valid slot.")
    if start < now - past_tolerance:
        raise ValidationError("That time is in the past.")
    earliest, latest = booking_window(appointment_type, now=now, enforce_lead_time=not by_staff)
    if start < earliest - past_tolerance:
        hours = appointment_type.lead_time_minutes / 60
        raise ValidationError(f"Online booking needs at least {hours:g} hours' notice.")
    if start > latest:
        raise ValidationError(f"Bookings open only {appointment_type.horizon_days} days ahead.")
    end = start + timedelta(minutes=appointment_type.duration_minutes)
    held_end = end + timedelta(minutes=appointment_type.buffer_minutes)
    window = (start, held_end)
    working = working_time([provider.pk], window).get(provider.pk, [])
    if not any(s <= start and end <= e for s, e in working):
        raise ValidationError(f"{provider.display_name} is not available at that time.")
    if patient_id and patient_busy(
        patient_id, (start, end), exclude_appointment_id=exclude_appointment_id
    ):
        raise ValidationError("The patient already has another appointment at that time.")
    taken = busy_time(
        [provider.pk],
        window,
        exclude_appointment_id=exclude_appointment_id,
        hold_owner_patient_id=patient_id,
    ).get(provider.pk, [])
    if _overlaps(taken, start, held_end):
        raise SlotTaken(
            next_slots=next_free_slots(
                appointment_type,
                provider,
                start,
                patient_id=patient_id,
                enforce_lead_time=not by_staff,
            )
        )
    return end

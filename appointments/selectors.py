"""Reads: fetch-and-authorize helpers, calendars, the queue, history and reports."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from accounts.audit import audit_phi_denied, audit_phi_list, audit_phi_served
from accounts.models import AuditAction, User
from accounts.roles import PROVIDER_ROLES, user_has_perm
from appointments import conf
from appointments.models import (
    ACTIVE_STATUSES,
    UPCOMING_STATUSES,
    Appointment,
    AppointmentStatus,
    ExceptionKind,
    PatientCalendarFeed,
    ProviderProfile,
    ReminderClaim,
    WaitlistOffer,
)
from appointments.slots import (
    Slot,
    free_slots,
    local_day_bounds,
    working_time,
)


def patient_for_user(user):
    """The signed-in patient's own record, or None when their account has none yet."""
    try:
        return user.patient
    except Exception:  # RelatedObjectDoesNotExist
        return None


# Access helpers: like ``patients.selectors.get_patient_for_user``, they take a required
# ``purpose`` (AuditAction.READ or EXPORT, or None for a write whose service audits it) and
# record the read, so a view cannot show an appointment without the audit trail knowing.


def own_patient(user, *, purpose: AuditAction | None, detail: dict | None = None):
    """The signed-in patient's record for their appointment pages, or None when their account
    has none yet; audited as ``purpose`` of their appointments."""
    patient = patient_for_user(user)
    if patient is not None:
        audit_phi_served(
            user,
            purpose,
            object_type="appointments.appointment",
            patient_id=patient.pk,
            detail=detail,
        )
    return patient


def get_appointment_for_user(
    user, pk, *, purpose: AuditAction | None, detail: dict | None = None, own: bool = False
) -> Appointment:
    """The appointment ``pk`` if ``user`` may see it — schedule staff any (unless ``own``:
    the patient pages), a patient their own — audited as ``purpose``. Otherwise 404 for
    "not found" and "not yours" alike; "not yours" is audited as denied."""
    try:
        appointment = Appointment.objects.with_related().get(pk=pk)
    except (Appointment.DoesNotExist, ValueError, TypeError):
        raise Http404("No such appointment") from None
    if own or not user_has_perm(user, "appointments.view_schedule"):
        patient = patient_for_user(user)
        if patient is None or appointment.patient_id != patient.pk:
            audit_phi_denied(
                user,
                object_type="appointments.appointment",
                object_id=appointment.pk,
                patient_id=appointment.patient_id,
            )
            raise Http404("No such appointment")
    audit_phi_served(
        user, purpose, obj=appointment, patient_id=appointment.patient_id, detail=detail
    )
    return appointment


def get_own_appointment(
    user, pk, *, purpose: AuditAction | None, detail: dict | None = None
) -> Appointment:
    """The patient's own appointment (the patient pages); see ``get_appointment_for_user``."""
    return get_appointment_for_user(user, pk, purpose=purpose, detail=detail, own=True)


def appointments_served(user, appointments, *, detail: dict) -> None:
    """A page of appointments was served (the API list): one READ event listing them,
    naming the patient when they are all one patient's."""
    appointments = list(appointments)
    patients = sorted({a.patient_id for a in appointments})
    if not patients:
        return
    audit_phi_served(
        user,
        AuditAction.READ,
        object_type="appointments.appointment",
        patient_id=patients[0] if len(patients) == 1 else None,
        detail={**detail, "appointments": [a.pk for a in appointments]},
    )


def get_own_offer(
    user, pk, *, purpose: AuditAction | None, detail: dict | None = None
) -> WaitlistOffer:
    """The patient's own waitlist offer (404 otherwise), audited as ``purpose``."""
    patient = patient_for_user(user)
    try:
        if patient is None:
            raise WaitlistOffer.DoesNotExist
        offer = WaitlistOffer.objects.select_related(
            "entry__appointment_type", "provider__user", "entry__patient"
        ).get(pk=pk, entry__patient=patient)
    except (WaitlistOffer.DoesNotExist, ValueError, TypeError):
        raise Http404("No such offer") from None
    audit_phi_served(user, purpose, obj=offer, patient_id=patient.pk, detail=detail)
    return offer


def active_providers():
    return ProviderProfile.objects.filter(is_active=True, user__is_active=True).select_related(
        "user"
    )


def provider_for_user(user) -> ProviderProfile | None:
    return ProviderProfile.objects.filter(user=user).select_related("user").first()


@dataclass(frozen=True)
class OwnFeed:
    """The signed-in provider's calendar feed (``feed_token`` None: not created yet)."""

    feed_token: str | None


_OWN_FEED_SQL = f"SELECT feed_token FROM {ProviderProfile._meta.db_table} WHERE user_id = %s"  # noqa: S608


def own_feed(user) -> OwnFeed | None:
    """``user``'s feed if they have a provider profile, else None. One plain query (the
    calendar asks on every view; building the ORM query cost more than running it)."""
    with connection.cursor() as cursor:
        cursor.execute(_OWN_FEED_SQL, [user.pk])
        row = cursor.fetchone()
    return None if row is None else OwnFeed(feed_token=row[0])


# --- Calendars -----------------------------------------------------------------------------


@dataclass
class Column:
    key: str
    label: str
    sublabel: str = ""
    items: list = field(default_factory=list)
    free: list = field(default_factory=list)


class _Grid:
    """The day grid's geometry, read once per calendar: a clinic day positions hundreds of
    cells, and settings lookups per cell add up."""

    def __init__(self):
        self.tz = conf.clinic_tz()
        self.first_hour = conf.get("APPOINTMENT_CALENDAR_START_HOUR")
        self.rows = (conf.get("APPOINTMENT_CALENDAR_END_HOUR") - self.first_hour) * 12

    def position(self, start: datetime, end: datetime, day: date) -> tuple[int, int]:
        """CSS grid row (1 = header) and span for a 5-minute-row day grid."""
        rows, first_hour = self.rows, self.first_hour
        ls, le = start.astimezone(self.tz), end.astimezone(self.tz)
        start_min = (ls.hour - first_hour) * 60 + ls.minute if ls.date() == day else 0
        end_min = (le.hour - first_hour) * 60 + le.minute if le.date() == day else rows * 5
        row = max(0, min(rows - 1, start_min // 5))
        span = max(1, min(rows - row, (end_min - start_min) // 5 if end_min > start_min else 1))
        return row + 2, span


def calendar_rows() -> list[dict]:
    first_hour = conf.get("APPOINTMENT_CALENDAR_START_HOUR")
    last_hour = conf.get("APPOINTMENT_CALENDAR_END_HOUR")
    labels = []
    for h in range(first_hour, last_hour):
        for half in (0, 30):
            hour12 = h % 12 or 12
            row = (h - first_hour) * 12 + half // 5 + 2
            labels.append(
                {
                    "cls": f"r-{row}" + ("" if half == 0 else " minor"),
                    "label": f"{hour12}:{half:02d} {'AM' if h < 12 else 'PM'}",
                }
            )
    return labels


ITEM_FIELDS = (
    "pk",
    "provider_id",
    "start",
    "end",
    "status",
    "patient__first_name",
    "patient__last_name",
    "appointment_type__name",
)
STATUS_LABELS = dict(AppointmentStatus.choices)


def DETAIL_BASE() -> str:  # noqa: N802 - a constant, resolved lazily (URLconf loads after models)

    return reverse("appointments:staff_detail", args=[0])[:-2]


def _items(qs, tz) -> list[dict]:
    """Plain dicts for calendar cells: the day view renders hundreds, so no model instances."""
    base = DETAIL_BASE()
    items = []
    for pk, pid, start, end, status, first, last, type_name in qs.values_list(*ITEM_FIELDS):
        local_start = start.astimezone(tz)
        hour12 = local_start.hour % 12 or 12
        minute = f"{local_start.minute:02d}"
        items.append(
            {
                "pk": pk,
                "href": f"{base}{pk}/",
                "provider_id": pid,
                "start": local_start,
                "end": end.astimezone(tz),
                "status": status,
                "status_label": STATUS_LABELS.get(status, status),
                "patient": f"{first} {last}",
                "type": type_name,
                "date": local_start.date(),
                "time": f"{hour12}:{minute} {'AM' if local_start.hour < 12 else 'PM'}",
                "short_time": f"{hour12}:{minute}",
            }
        )
    return items


def day_calendar(
    day: date, provider: ProviderProfile | None = None, providers=None
) -> list[Column]:
    """One column per provider (or just ``provider``) with that day's appointments and working
    time, positioned on a 5-minute grid. Three queries whatever the number of appointments."""
    providers = (
        [provider] if provider else list(providers if providers is not None else active_providers())
    )
    window = local_day_bounds(day)
    tz = conf.clinic_tz()
    qs = (
        Appointment.objects.filter(start__gte=window[0], start__lt=window[1])
        .exclude(status=AppointmentStatus.CANCELLED)
        .order_by("start")
    )
    if provider:
        qs = qs.filter(provider=provider)
    grid = _Grid()
    by_provider: dict[int, list] = defaultdict(list)
    for item in _items(qs, tz):
        row, span = grid.position(item["start"], item["end"], day)
        item["cls"] = f"cal-item st-{item['status']} r-{row} s-{span}"
        by_provider[item["provider_id"]].append(item)
    working = working_time([p.pk for p in providers], window)
    columns = []
    for p in providers:
        col = Column(
            key=str(p.pk),
            label=p.display_name,
            sublabel=p.room or p.user.get_role_display(),
            items=by_provider.get(p.pk, []),
        )
        col.free = [
            "cal-free r-{} s-{}".format(*grid.position(s, e, day)) for s, e in working.get(p.pk, [])
        ]
        columns.append(col)
    return columns


def week_calendar(
    monday: date, provider: ProviderProfile | None = None, providers=None
) -> list[Column]:
    """Seven columns (one per day) of appointments, for one provider or the whole clinic."""
    start = local_day_bounds(monday)[0]
    end = local_day_bounds(monday + timedelta(days=6))[1]
    qs = (
        Appointment.objects.filter(start__gte=start, start__lt=end)
        .exclude(status=AppointmentStatus.CANCELLED)
        .order_by("start")
    )
    if provider:
        qs = qs.filter(provider=provider)
    tz = conf.clinic_tz()
    names = {p.pk: p.display_name for p in (providers or [])}
    days = [monday + timedelta(days=i) for i in range(7)]
    columns = {
        d: Column(key=d.isoformat(), label=d.strftime("%a"), sublabel=d.strftime("%-d %b"))
        for d in days
    }
    grid = _Grid()
    for item in _items(qs, tz):
        if provider:
            row, span = grid.position(item["start"], item["end"], item["date"])
            item["cls"] = f"cal-item st-{item['status']} r-{row} s-{span}"
        else:
            item["cls"] = f"cal-item st-{item['status']}"
        item["provider"] = names.get(item["provider_id"], "")
        columns[item["date"]].items.append(item)
    if provider:
        working = working_time([provider.pk], (start, end)).get(provider.pk, [])
        for s, e in working:
            d = timezone.localtime(s, tz).date()
            if d in columns:
                columns[d].free.append("cal-free r-{} s-{}".format(*grid.position(s, e, d)))
    return list(columns.values())


def feed_window(qs, limit: int) -> list[Appointment]:
    """At most ``limit`` appointments of ``qs`` for a calendar feed, in start order: every
    upcoming one first (those matter to a subscriber), then the most recent past ones."""
    now = timezone.now()
    upcoming = list(qs.filter(start__gte=now).order_by("start", "id")[:limit])
    past = list(qs.filter(start__lt=now).order_by("-start", "-id")[: limit - len(upcoming)])
    return past[::-1] + upcoming


# --- Secret links: appointment emails and calendar feeds ---------------------------------

LINK_SALT = "appointments.email-link"
FEED_LIMIT_PROVIDER = 2000
FEED_LIMIT_PATIENT = 500


def link_read(token: str, *, purpose: AuditAction | None) -> tuple[Appointment, str, str]:
    """The appointment, action and one-time id of an email link; raises ``ValidationError``
    when it is tampered with or expired. Serving it is a read of the patient's appointment
    by whoever holds the link (no one is signed in): recorded as ``purpose``."""
    max_age = timedelta(hours=conf.get("APPOINTMENT_LINK_MAX_AGE_HOURS"))
    try:
        data = signing.loads(token, salt=LINK_SALT, max_age=max_age)
        appointment = Appointment.objects.with_related().get(pk=int(data["a"]))
        action, jti = str(data["x"]), str(data["j"])
    except signing.SignatureExpired:
        raise ValidationError(
            "This link has expired. Please sign in to manage your appointment."
        ) from None
    except (signing.BadSignature, KeyError, TypeError, ValueError, Appointment.DoesNotExist):
        raise ValidationError("This link is not valid.") from None
    if action not in ("confirm", "cancel"):
        raise ValidationError("This link is not valid.")
    audit_phi_served(
        None,
        purpose,
        obj=appointment,
        patient_id=appointment.patient_id,
        detail={"via": "email link", "link": action},
    )
    return appointment, action, jti


@dataclass
class CalendarFeed:
    name: str
    audience: str  # "provider" or "patient"
    appointments: list[Appointment]


def calendar_feed(token: str) -> CalendarFeed:
    """The appointments behind a secret calendar-feed URL (``Http404`` for an unknown token),
    recorded as served to whoever holds the URL: a patient's feed as one read naming the
    patient, a provider's (many patients) as one list event."""
    since = timezone.now() - timedelta(days=60)
    provider = (
        ProviderProfile.objects.select_related("user").filter(feed_token=token).first()
        if token
        else None
    )
    if provider is not None:
        qs = Appointment.objects.with_related().filter(provider=provider, start__gte=since)
        rows = feed_window(qs, FEED_LIMIT_PROVIDER)
        audit_phi_list(
            actor=None,
            object_type="appointments.appointment",
            detail={
                "view": "provider calendar feed",
                "provider": provider.pk,
                "patients": sorted({a.patient_id for a in rows}),
            },
        )
        return CalendarFeed(f"USC-PIS: {provider.display_name}", "provider", rows)
    patient_feed = (
        PatientCalendarFeed.objects.select_related("patient").filter(token=token).first()
        if token
        else None
    )
    if patient_feed is None:
        raise Http404("No such feed")
    qs = Appointment.objects.with_related().filter(patient=patient_feed.patient, start__gte=since)
    rows = feed_window(qs, FEED_LIMIT_PATIENT)
    audit_phi_served(
        None,
        AuditAction.READ,
        obj=patient_feed.patient,
        patient_id=patient_feed.patient_id,
        detail={"via": "calendar feed", "appointments": len(rows)},
    )
    return CalendarFeed("My clinic appointments", "patient", rows)


def queue_for_day(day: date, provider: ProviderProfile | None = None):
    window = local_day_bounds(day)
    qs = (
        Appointment.objects.with_related()
        .filter(start__gte=window[0], start__lt=window[1])
        .exclude(status=AppointmentStatus.CANCELLED)
        .order_by("start", "id")
    )
    if provider:
        qs = qs.filter(provider=provider)
    return qs


def day_counts(day: date) -> dict[str, int]:
    window = local_day_bounds(day)
    rows = (
        Appointment.objects.filter(start__gte=window[0], start__lt=window[1])
        .values("status")
        .annotate(n=Count("id"))
    )
    counts = dict.fromkeys(AppointmentStatus.values, 0)
    for row in rows:
        counts[row["status"]] = row["n"]
    counts["total"] = sum(v for k, v in counts.items() if k != AppointmentStatus.CANCELLED)
    counts["waiting"] = counts[AppointmentStatus.CHECKED_IN]
    counts["expected"] = counts[AppointmentStatus.BOOKED] + counts[AppointmentStatus.CONFIRMED]
    return counts


# --- History and reports ---------------------------------------------------------------------


def history(
    *, provider_id=None, patient_id=None, status="", type_id=None, date_from=None, date_to=None
):
    qs = Appointment.objects.with_related().order_by("-start", "-id")
    if provider_id:
        qs = qs.filter(provider_id=provider_id)
    if patient_id:
        qs = qs.filter(patient_id=patient_id)
    if status:
        qs = qs.filter(status=status)
    if type_id:
        qs = qs.filter(appointment_type_id=type_id)
    if date_from:
        qs = qs.filter(start__gte=local_day_bounds(date_from)[0])
    if date_to:
        qs = qs.filter(start__lt=local_day_bounds(date_to)[1])
    return qs


@dataclass
class ProviderStats:
    provider: ProviderProfile | None  # None for the clinic's total row
    booked_minutes: int
    available_minutes: int
    completed: int
    no_shows: int
    cancelled: int
    total: int

    @property
    def utilisation(self) -> float:
        return (
            round(100 * self.booked_minutes / self.available_minutes, 1)
            if self.available_minutes
            else 0.0
        )

    @property
    def no_show_rate(self) -> float:
        due = self.completed + self.no_shows
        return round(100 * self.no_shows / due, 1) if due else 0.0


def provider_report(date_from: date, date_to: date) -> list[ProviderStats]:
    """Per provider: utilisation (booked ÷ available minutes) and no-show rate for a range.

    Active providers, and any provider (even one who has since left) with appointments in
    the range, so the clinic's figures for a past period stay complete. Four queries."""
    window = (local_day_bounds(date_from)[0], local_day_bounds(date_to)[1])
    in_range = Appointment.objects.filter(start__gte=window[0], start__lt=window[1])
    rows = in_range.values("provider_id").annotate(
        total=Count("id"),
        completed=Count("id", filter=Q(status=AppointmentStatus.COMPLETED)),
        no_shows=Count("id", filter=Q(status=AppointmentStatus.NO_SHOW)),
        cancelled=Count("id", filter=Q(status=AppointmentStatus.CANCELLED)),
    )
    by_pid = {r["provider_id"]: r for r in rows}
    providers = list(
        ProviderProfile.objects.filter(
            Q(is_active=True, user__is_active=True) | Q(pk__in=list(by_pid))
        ).select_related("user")
    )
    minutes: dict[int, int] = defaultdict(int)
    for pid, s, e in in_range.exclude(status=AppointmentStatus.CANCELLED).values_list(
        "provider_id", "start", "end"
    ):
        minutes[pid] += int((e - s).total_seconds() // 60)
    working = working_time([p.pk for p in providers], window)
    stats = []
    for p in providers:
        r = by_pid.get(p.pk, {})
        available = sum(int((e - s).total_seconds() // 60) for s, e in working.get(p.pk, []))
        stats.append(
            ProviderStats(
                p,
                minutes.get(p.pk, 0),
                available,
                r.get("completed", 0),
                r.get("no_shows", 0),
                r.get("cancelled", 0),
                r.get("total", 0),
            )
        )
    return stats


def report_totals(stats: list[ProviderStats]) -> ProviderStats | None:
    """The whole clinic's row: sums of minutes and counts, rates recomputed from them."""
    if not stats:
        return None
    return ProviderStats(
        None,
        sum(s.booked_minutes for s in stats),
        sum(s.available_minutes for s in stats),
        sum(s.completed for s in stats),
        sum(s.no_shows for s in stats),
        sum(s.cancelled for s in stats),
        sum(s.total for s in stats),
    )


def report_chart(stats: list[ProviderStats]) -> dict:
    """Geometry for a server-rendered SVG bar chart (utilisation and no-show rate, in %)."""
    bar_h, gap, label_w, width = 14, 14, 170, 640
    plot_w = width - label_w - 60
    rows = []
    for i, s in enumerate(stats):
        y = 10 + i * (2 * bar_h + gap)
        rows.append(
            {
                "label": s.provider.display_name,
                "y": y,
                "label_y": y + bar_h + 4,
                "util_w": round(plot_w * min(s.utilisation, 100) / 100, 1),
                "util": s.utilisation,
                "util_text_x": label_w + round(plot_w * min(s.utilisation, 100) / 100, 1) + 6,
                "ns_y": y + bar_h,
                "ns_w": round(plot_w * min(s.no_show_rate, 100) / 100, 1),
                "ns": s.no_show_rate,
                "ns_text_x": label_w + round(plot_w * min(s.no_show_rate, 100) / 100, 1) + 6,
            }
        )
    height = 20 + len(stats) * (2 * bar_h + gap)
    return {
        "rows": rows,
        "width": width,
        "height": max(height, 40),
        "label_w": label_w,
        "plot_w": plot_w,
        "bar_h": bar_h,
        "label_x": label_w - 8,
    }


STALE_CLAIM = timedelta(minutes=15)  # a reminder claimed this long ago and unsent is retried


def _minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


def _reminder_offsets() -> list[int]:
    return sorted(conf.get("APPOINTMENT_REMINDER_OFFSETS"))


def reminder_offset_due(appointment: Appointment, *, now: datetime) -> int | None:
    """The one reminder offset (minutes) to send for ``appointment`` at ``now``, or None.

    The rules, which ``reminders_due`` applies in SQL too:

    * An offset X applies only if the patient learnt the current time (booked, or last
      rescheduled: ``Appointment.scheduled_at``) more than X before the start; otherwise the
      confirmation (or reschedule) email already served as that reminder.
    * Of the applicable offsets whose time has come (start - now <= X), only the nearest
      (smallest) is sent; the larger ones are superseded and recorded as skipped.
    """
    if appointment.status not in UPCOMING_STATUSES or appointment.start <= now:
        return None
    notice = appointment.start - appointment.scheduled_at
    left = appointment.start - now
    due = [x for x in _reminder_offsets() if left <= _minutes(x) < notice]
    return due[0] if due else None


def reminders_due(*, now: datetime | None = None) -> list[tuple[int, int]]:
    """(appointment id, offset) pairs to send now: at most one per appointment, chosen by the
    rules of ``reminder_offset_due``, and not yet handled.

    Handled means sent, skipped, or claimed within ``STALE_CLAIM``. An unsent claim older than
    that belongs to a worker that died mid-send (with reject-on-worker-lost the redelivered
    task found the claim still fresh and gave up), so it is due again and the task this
    returns takes it over; a fresh claim is left to its worker and never sent twice.
    """
    now = now or timezone.now()
    offsets = _reminder_offsets()
    upcoming = Appointment.objects.filter(status__in=UPCOMING_STATUSES, start__gt=now).annotate(
        told_at=Coalesce("rescheduled_at", "created_at")
    )
    due = []
    for i, offset in enumerate(offsets):
        qs = upcoming.filter(
            start__lte=now + _minutes(offset), start__gt=F("told_at") + _minutes(offset)
        )
        for nearer in offsets[:i]:
            # A nearer reminder applies now: that one goes out instead of this one.
            qs = qs.exclude(
                start__lte=now + _minutes(nearer), start__gt=F("told_at") + _minutes(nearer)
            )
        handled = ReminderClaim.objects.filter(
            appointment=OuterRef("pk"), offset_minutes=offset
        ).filter(
            Q(sent_at__isnull=False)
            | Q(skipped_at__isnull=False)
            | Q(claimed_at__gte=now - STALE_CLAIM)
        )
        ids = qs.exclude(Exists(handled)).values_list("pk", flat=True)[:1000]
        due.extend((pk, offset) for pk in ids)
    return due


def providers_without_profile():
    """Active users in a provider role who have no provider profile (so no schedule) yet."""
    return User.objects.filter(
        role__in=PROVIDER_ROLES, is_active=True, provider_profile__isnull=True
    )


MOVE_SEARCH_DAYS = 14  # how far past an affected appointment a new time is looked for


@dataclass
class AffectedAppointment:
    """An appointment time off would land on, with the free slots it could move to (the
    first is the suggested one; none: it can only be cancelled)."""

    appointment: Appointment
    options: list[Slot]
    chosen: str = ""  # the slot value (or "cancel") posted for it, when shown again

    @property
    def field_name(self) -> str:
        return f"move_{self.appointment.pk}"

    @property
    def suggested(self) -> Slot | None:
        return self.options[0] if self.options else None

    @property
    def selected(self) -> str:
        """The choice the form shows: as posted, else the suggested slot, else cancel."""
        valid = {"cancel", *(slot.value for slot in self.options)}
        if self.chosen in valid:
            return self.chosen
        return self.suggested.value if self.suggested else "cancel"


def time_off_move_options(
    affected: list[Appointment], *, starts_at, ends_at, count: int = 5
) -> list[AffectedAppointment]:
    """For each affected appointment, up to ``count`` free slots of the same provider and
    type at or after its time and outside the time off (staff rules: no lead time). The
    suggestions do not collide with each other: each appointment's list leaves out the
    time already suggested to an earlier one. One slot search per provider and type.

    This is a proposal only: the move itself validates the slot again inside the
    transaction that adds the time off, and the exclusion constraint guards the rest.
    """
    by_pair: dict[tuple[int, int], list[Appointment]] = defaultdict(list)
    for appointment in affected:
        by_pair[(appointment.provider_id, appointment.appointment_type_id)].append(appointment)
    options: dict[int, list[Slot]] = {}
    suggested: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    tz = conf.clinic_tz()
    for (provider_id, _type_id), group in by_pair.items():
        first = group[0]
        appointment_type = first.appointment_type
        held = timedelta(minutes=appointment_type.buffer_minutes)
        slots = [
            slot
            for slot in free_slots(
                appointment_type=appointment_type,
                provider=first.provider,
                date_from=timezone.localtime(first.start, tz).date(),
                date_to=timezone.localtime(group[-1].start, tz).date()
                + timedelta(days=MOVE_SEARCH_DAYS),
                enforce_lead_time=False,
            )
            if not (slot.start < ends_at and slot.end + held > starts_at)
        ]
        for appointment in group:
            mine = []
            for slot in slots:
                if slot.start < appointment.start:
                    continue
                if any(slot.start < e and slot.end + held > s for s, e in suggested[provider_id]):
                    continue
                mine.append(slot)
                if len(mine) == count:
                    break
            if mine:
                suggested[provider_id].append((mine[0].start, mine[0].end + held))
            options[appointment.pk] = mine
    return [AffectedAppointment(a, options.get(a.pk, [])) for a in affected]


def appointments_affected_by_time_off(*, provider, kind: str, starts_at, ends_at):
    """Active appointments not yet started that time off from ``starts_at`` to ``ends_at``
    would land on (``provider`` None: the whole clinic). Extra hours affect nothing."""

    if kind == ExceptionKind.EXTRA:
        return Appointment.objects.none()
    qs = Appointment.objects.with_related().filter(
        status__in=ACTIVE_STATUSES, start__lt=ends_at, end__gt=starts_at, start__gt=timezone.now()
    )
    if provider is not None:
        qs = qs.filter(provider=provider)
    return qs.order_by("start", "id")

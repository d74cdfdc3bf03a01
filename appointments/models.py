"""Appointments: provider schedules, appointment types, bookings and their history.

Double booking is made impossible by the database itself: two GiST exclusion constraints
refuse overlapping active appointments for one provider (time range including the buffer
after) and for one patient. PostgreSQL without ``btree_gist`` cannot mix ``=`` on a bigint
with ``&&`` on a range, so the id is wrapped in a one-point ``int8range`` that overlaps only
itself.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import (
    ArrayField,
    BigIntegerRangeField,
    DateTimeRangeField,
    RangeOperators,
)
from django.db import models
from django.db.models import F, Func, Q, Value
from django.utils import timezone

from accounts.roles import Role


class Int8Range(Func):
    function = "int8range"
    output_field = BigIntegerRangeField()


class TsTzRange(Func):
    function = "tstzrange"
    output_field = DateTimeRangeField()


def new_token() -> str:
    return secrets.token_urlsafe(32)


class ProviderProfile(models.Model):
    """A doctor, dentist or nurse who sees patients, with where they see them."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider_profile"
    )
    room = models.CharField(max_length=60, blank=True)
    location = models.CharField(max_length=120, blank=True, default="Main clinic")
    # Empty = every active type whose provider_roles include the user's role.
    appointment_types = models.ManyToManyField(
        "AppointmentType",
        blank=True,
        related_name="providers",
        help_text="Leave empty to offer every type this provider's role performs.",
    )
    is_active = models.BooleanField(default=True)
    feed_token = models.CharField(max_length=64, unique=True, null=True, blank=True)

    class Meta:
        ordering = ["user__last_name", "user__first_name", "id"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        prefix = {Role.DOCTOR: "Dr. ", Role.DENTIST: "Dr. "}.get(self.user.role, "")
        return f"{prefix}{self.user.full_name}"

    @property
    def role(self) -> str:
        return self.user.role


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class WeeklyAvailability(models.Model):
    """One block of regular working hours (clinic wall-clock time), e.g. Monday 08:00–12:00."""

    provider = models.ForeignKey(
        ProviderProfile, on_delete=models.CASCADE, related_name="weekly_blocks"
    )
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start_time = models.TimeField()
    end_time = models.TimeField()

    class Meta:
        ordering = ["provider", "weekday", "start_time"]
        indexes = [models.Index(fields=["provider", "weekday"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_time__gt=F("start_time")),
                name="appointments_weekly_end_after_start",
            ),
            models.CheckConstraint(
                condition=Q(weekday__gte=0, weekday__lte=6),
                name="appointments_weekly_weekday_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start_time:%H:%M}–{self.end_time:%H:%M}"


class ExceptionKind(models.TextChoices):
    LEAVE = "leave", "Leave"
    HOLIDAY = "holiday", "Holiday"
    CLOSURE = "closure", "Clinic closure"
    EXTRA = "extra", "Extra hours"


class AvailabilityException(models.Model):
    """Time taken out of (leave, holiday, closure) or added to (extra hours) the schedule.

    ``provider`` empty means the whole clinic (holidays and closures).
    """

    provider = models.ForeignKey(
        ProviderProfile, null=True, blank=True, on_delete=models.CASCADE, related_name="exceptions"
    )
    kind = models.CharField(max_length=10, choices=ExceptionKind.choices)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["starts_at"]
        indexes = [models.Index(fields=["provider", "ends_at", "starts_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")),
                name="appointments_exception_end_after_start",
            ),
            models.CheckConstraint(
                condition=~Q(kind="extra") | Q(provider__isnull=False),
                name="appointments_exception_extra_has_provider",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.starts_at:%Y-%m-%d %H:%M}"


class VisitKind(models.TextChoices):
    MEDICAL = "medical", "Medical"
    DENTAL = "dental", "Dental"


class AppointmentType(models.Model):
    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.CharField(max_length=240, blank=True)
    duration_minutes = models.PositiveSmallIntegerField(default=30)
    buffer_minutes = models.PositiveSmallIntegerField(
        default=0, help_text="Free time after, for the provider."
    )
    provider_roles = ArrayField(
        models.CharField(
            max_length=20,
            choices=[
                (Role.DOCTOR.value, Role.DOCTOR.label),
                (Role.DENTIST.value, Role.DENTIST.label),
                (Role.NURSE.value, Role.NURSE.label),
            ],
        ),
        default=list,
    )
    visit_kind = models.CharField(
        max_length=10, choices=VisitKind.choices, default=VisitKind.MEDICAL
    )
    self_bookable = models.BooleanField(default=True)
    lead_time_minutes = models.PositiveIntegerField(
        default=120, help_text="Earliest online booking, from now."
    )
    horizon_days = models.PositiveSmallIntegerField(
        default=30, help_text="Latest booking, days ahead."
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=5, duration_minutes__lte=480),
                name="appointments_type_duration_range",
            ),
            models.CheckConstraint(
                condition=Q(buffer_minutes__lte=240), name="appointments_type_buffer_range"
            ),
            models.CheckConstraint(
                condition=Q(horizon_days__gte=1), name="appointments_type_horizon_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class AppointmentStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    CONFIRMED = "confirmed", "Confirmed"
    CHECKED_IN = "checked_in", "Checked in"
    IN_CONSULTATION = "in_consultation", "In consultation"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    NO_SHOW = "no_show", "No-show"


# Statuses that hold the provider's and the patient's time (the exclusion constraints).
ACTIVE_STATUSES = (
    AppointmentStatus.BOOKED,
    AppointmentStatus.CONFIRMED,
    AppointmentStatus.CHECKED_IN,
    AppointmentStatus.IN_CONSULTATION,
    AppointmentStatus.COMPLETED,
)
UPCOMING_STATUSES = (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED)

# Allowed moves; cancellation and no-show are only possible before the consultation.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    AppointmentStatus.BOOKED: (
        AppointmentStatus.CONFIRMED,
        AppointmentStatus.CHECKED_IN,
        AppointmentStatus.CANCELLED,
        AppointmentStatus.NO_SHOW,
    ),
    AppointmentStatus.CONFIRMED: (
        AppointmentStatus.CHECKED_IN,
        AppointmentStatus.CANCELLED,
        AppointmentStatus.NO_SHOW,
    ),
    AppointmentStatus.CHECKED_IN: (
        AppointmentStatus.IN_CONSULTATION,
        AppointmentStatus.COMPLETED,
        AppointmentStatus.CANCELLED,
    ),
    AppointmentStatus.IN_CONSULTATION: (AppointmentStatus.COMPLETED,),
    AppointmentStatus.COMPLETED: (),
    AppointmentStatus.CANCELLED: (),
    AppointmentStatus.NO_SHOW: (),
}


class BookingSource(models.TextChoices):
    ONLINE = "online", "Online (patient)"
    STAFF = "staff", "Staff (phone or desk)"
    WALK_IN = "walk_in", "Walk-in"
    WAITLIST = "waitlist", "Waitlist offer"


class AppointmentQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status__in=ACTIVE_STATUSES)

    def with_related(self):
        return self.select_related("patient", "provider__user", "appointment_type")


class Appointment(models.Model):
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="appointments"
    )
    provider = models.ForeignKey(
        ProviderProfile, on_delete=models.PROTECT, related_name="appointments"
    )
    appointment_type = models.ForeignKey(
        AppointmentType, on_delete=models.PROTECT, related_name="appointments"
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    # end + the type's buffer: the provider's time this appointment holds.
    end_with_buffer = models.DateTimeField()
    status = models.CharField(
        max_length=20, choices=AppointmentStatus.choices, default=AppointmentStatus.BOOKED
    )
    source = models.CharField(
        max_length=10, choices=BookingSource.choices, default=BookingSource.ONLINE
    )
    reason = models.TextField(blank=True, max_length=1000)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancel_reason = models.CharField(max_length=300, blank=True)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    consultation_started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # The clinical visit opened on completion.
    visit = models.ForeignKey(
        "patients.Visit",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="appointments",
    )
    visit_ref = models.CharField(max_length=40, blank=True)
    sequence = models.PositiveIntegerField(
        default=0, help_text="iCalendar SEQUENCE; bumps on changes."
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Set by ``appointment_reschedule``: the patient was emailed the new details then. With
    # ``created_at`` it tells how long before the start the patient learnt the current time
    # (``scheduled_at``), which decides which reminders still make sense.
    rescheduled_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AppointmentQuerySet.as_manager()

    class Meta:
        ordering = ["start", "id"]
        indexes = [
            models.Index(fields=["provider", "start"], name="appt_provider_start"),
            models.Index(fields=["start"], name="appt_start"),
            models.Index(fields=["patient", "start"], name="appt_patient_start"),
            models.Index(fields=["status", "start"], name="appt_status_start"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=F("start")), name="appointments_end_after_start"
            ),
            models.CheckConstraint(
                condition=Q(end_with_buffer__gte=F("end")), name="appointments_buffer_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(status__in=AppointmentStatus.values), name="appointments_status_valid"
            ),
            ExclusionConstraint(
                name="appointments_no_provider_overlap",
                index_type="GIST",
                expressions=[
                    (
                        Int8Range(F("provider_id"), F("provider_id"), Value("[]")),
                        RangeOperators.OVERLAPS,
                    ),
                    (
                        TsTzRange(F("start"), F("end_with_buffer"), Value("[)")),
                        RangeOperators.OVERLAPS,
                    ),
                ],
                condition=Q(status__in=ACTIVE_STATUSES),
                violation_error_message="That slot was just taken.",
            ),
            ExclusionConstraint(
                name="appointments_no_patient_overlap",
                index_type="GIST",
                expressions=[
                    (
                        Int8Range(F("patient_id"), F("patient_id"), Value("[]")),
                        RangeOperators.OVERLAPS,
                    ),
                    (TsTzRange(F("start"), F("end"), Value("[)")), RangeOperators.OVERLAPS),
                ],
                condition=Q(status__in=ACTIVE_STATUSES),
                violation_error_message="The patient already has an appointment at that time.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.appointment_type} · {self.patient.full_name} · {self.start:%Y-%m-%d %H:%M}"

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # The start it was read with: a save that moves it changes two dates' schedules
        # (appointments.receivers invalidates both).
        instance.loaded_start = instance.__dict__.get("start")
        return instance

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_upcoming(self) -> bool:
        return self.status in UPCOMING_STATUSES and self.start > timezone.now()

    @property
    def duration_minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)

    @property
    def scheduled_at(self) -> datetime:
        """When the patient was told the current time: booked, or last rescheduled."""
        return self.rescheduled_at or self.created_at

    @property
    def waiting_minutes(self) -> int | None:
        if self.checked_in_at is None:
            return None
        until = self.consultation_started_at or self.completed_at or timezone.now()
        return max(0, int((until - self.checked_in_at).total_seconds() // 60))

    @property
    def status_tone(self) -> str:
        return {
            AppointmentStatus.CONFIRMED: "info",
            AppointmentStatus.CHECKED_IN: "warn",
            AppointmentStatus.IN_CONSULTATION: "warn",
            AppointmentStatus.COMPLETED: "good",
            AppointmentStatus.CANCELLED: "bad",
            AppointmentStatus.NO_SHOW: "bad",
        }.get(self.status, "")


class AppointmentEvent(models.Model):
    """Immutable history: who changed what, when, from which status to which."""

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    note = models.CharField(max_length=300, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["appointment", "at"])]

    def __str__(self) -> str:
        return f"{self.from_label or '—'} → {self.to_label}"

    @property
    def from_label(self) -> str:
        return dict(AppointmentStatus.choices).get(self.from_status, self.from_status)

    @property
    def to_label(self) -> str:
        return dict(AppointmentStatus.choices).get(self.to_status, self.to_status)


class ReminderClaim(models.Model):
    """One row per (appointment, offset): claimed before the reminder is sent, so it is sent once.

    ``sent_at`` empty and ``claimed_at`` old means the worker died mid-send (the claim is taken
    over); ``skipped_at`` set means a nearer reminder went out instead and this one never will.
    """

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="reminders")
    offset_minutes = models.PositiveIntegerField()
    claimed_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    skipped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["appointment", "offset_minutes"],
                name="appointments_one_reminder_per_offset",
            ),
        ]
        indexes = [models.Index(fields=["sent_at", "claimed_at"])]

    def __str__(self) -> str:
        return f"Reminder {self.offset_minutes} min before #{self.appointment_id}"


class SignedLinkUse(models.Model):
    """A confirm/cancel email link that has been used (links are single-use)."""

    jti = models.CharField(max_length=64, unique=True)
    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="+")
    action = models.CharField(max_length=10)
    used_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.action} link used for #{self.appointment_id}"


class PatientCalendarFeed(models.Model):
    """The secret token of a patient's iCalendar feed (regenerate = new token, revoke = delete)."""

    patient = models.OneToOneField(
        "patients.Patient", on_delete=models.CASCADE, related_name="calendar_feed"
    )
    token = models.CharField(max_length=64, unique=True, default=new_token)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Calendar feed of patient #{self.patient_id}"


class WaitlistStatus(models.TextChoices):
    WAITING = "waiting", "Waiting"
    OFFERED = "offered", "Offered a slot"
    BOOKED = "booked", "Booked"
    LAPSED = "lapsed", "Offer lapsed"
    CANCELLED = "cancelled", "Cancelled"


class WaitlistEntry(models.Model):
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="waitlist_entries"
    )
    appointment_type = models.ForeignKey(
        AppointmentType, on_delete=models.CASCADE, related_name="+"
    )
    provider = models.ForeignKey(
        ProviderProfile, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    date_from = models.DateField()
    date_to = models.DateField()
    status = models.CharField(
        max_length=10, choices=WaitlistStatus.choices, default=WaitlistStatus.WAITING
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "appointment_type", "date_from"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(date_to__gte=F("date_from")), name="appointments_waitlist_dates_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"Waitlist #{self.pk}: {self.date_from}–{self.date_to} ({self.status})"


class OfferStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    EXPIRED = "expired", "Expired"
    DECLINED = "declined", "Declined"


class WaitlistOffer(models.Model):
    """A freed slot held for one waiting patient until ``expires_at``."""

    entry = models.ForeignKey(WaitlistEntry, on_delete=models.CASCADE, related_name="offers")
    provider = models.ForeignKey(ProviderProfile, on_delete=models.CASCADE, related_name="+")
    start = models.DateTimeField()
    end = models.DateTimeField()
    expires_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=OfferStatus.choices, default=OfferStatus.PENDING
    )
    appointment = models.ForeignKey(
        Appointment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "expires_at"]),
            models.Index(fields=["provider", "start"]),
        ]

    def __str__(self) -> str:
        return f"Offer #{self.pk} for {self.start:%Y-%m-%d %H:%M} ({self.status})"

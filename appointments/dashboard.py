"""Appointments' cards on the home dashboard (a few cheap queries, only for roles that care)."""

from django.urls import reverse
from django.utils import timezone

from accounts.roles import PROVIDER_ROLES, user_has_perm
from appointments.models import Appointment, AppointmentStatus
from appointments.selectors import day_counts, local_day_bounds, patient_for_user
from uscpis.registry import Card, UserCount, clinic_figure

MINE_TODAY = UserCount(
    "appointments.mine_today",
    Appointment,
    lambda user_id, start, end: Appointment.objects.filter(
        provider__user_id=user_id, start__gte=start, start__lt=end
    ).exclude(status=AppointmentStatus.CANCELLED),
    lambda user: (user.pk, *local_day_bounds(timezone.localdate())),
)


def cards(user) -> list[Card]:
    result = []
    if user_has_perm(user, "appointments.manage_queue") or (
        user_has_perm(user, "appointments.view_schedule") and user.role not in PROVIDER_ROLES
    ):
        today = timezone.localdate()
        counts = clinic_figure(
            f"appointments.day_counts:{today.isoformat()}", lambda: day_counts(today)
        )
        queue = reverse("appointments:queue")
        result += [
            Card(
                "Appointments today",
                counts["total"],
                detail=f"{counts['expected']} still expected",
                url=queue,
            ),
            Card(
                "Waiting now",
                counts["waiting"],
                detail="checked in, not yet seen",
                url=queue,
                tone="warn" if counts["waiting"] > 5 else "neutral",
            ),
            Card("Completed today", counts["completed"], url=queue, tone="good"),
            Card(
                "No-shows today",
                counts["no_show"],
                url=queue,
                tone="bad" if counts["no_show"] else "neutral",
            ),
        ]
    if user.role in PROVIDER_ROLES:
        mine = MINE_TODAY.value(user)
        result.append(
            Card("My appointments today", mine, url=reverse("appointments:queue") + "?mine=1")
        )
    if user_has_perm(user, "appointments.book_self"):
        patient = patient_for_user(user)
        upcoming = None
        if patient is not None:
            upcoming = (
                Appointment.objects.filter(
                    patient=patient,
                    start__gte=timezone.now(),
                    status__in=[AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED],
                )
                .select_related("appointment_type")
                .order_by("start")
                .first()
            )
        if upcoming:
            when = timezone.localtime(upcoming.start)
            result.append(
                Card(
                    "Next appointment",
                    when.strftime("%a %-d %b, %-I:%M %p"),
                    detail=upcoming.appointment_type.name,
                    url=reverse("appointments:my_detail", args=[upcoming.pk]),
                )
            )
        else:
            result.append(
                Card(
                    "Next appointment",
                    "None",
                    detail="Book one online",
                    url=reverse("appointments:book"),
                )
            )
    return result

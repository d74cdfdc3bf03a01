"""Appointment views, split by audience; ``urls.py`` refers to them as ``views.<name>``."""

from appointments.views.patient import (
    book,
    my_cancel,
    my_detail,
    my_feed,
    my_ics,
    my_list,
    my_reschedule,
    waitlist_join,
    waitlist_offer,
)
from appointments.views.public import email_link, feed
from appointments.views.reports import history, patient_history, report
from appointments.views.schedules import my_provider_feed, schedule_edit, schedules, type_edit
from appointments.views.staff import (
    calendar,
    queue,
    staff_book,
    staff_cancel,
    staff_detail,
    staff_ics,
    staff_reschedule,
    staff_transition,
    walk_in,
)

__all__ = [
    "book",
    "calendar",
    "email_link",
    "feed",
    "history",
    "my_cancel",
    "my_detail",
    "my_feed",
    "my_ics",
    "my_list",
    "my_provider_feed",
    "my_reschedule",
    "patient_history",
    "queue",
    "report",
    "schedule_edit",
    "schedules",
    "staff_book",
    "staff_cancel",
    "staff_detail",
    "staff_ics",
    "staff_reschedule",
    "staff_transition",
    "type_edit",
    "waitlist_join",
    "waitlist_offer",
    "walk_in",
]

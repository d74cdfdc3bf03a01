from django.urls import path, re_path

from appointments.views import calendar, patient, public, reports, schedules, staff

app_name = "appointments"

urlpatterns = [
    # Patients
    path("book/", patient.book, name="book"),
    path("my/", patient.my_list, name="my_list"),
    path("my/feed/", patient.my_feed, name="my_feed"),
    path("my/<int:pk>/", patient.my_detail, name="my_detail"),
    path("my/<int:pk>/reschedule/", patient.my_reschedule, name="my_reschedule"),
    path("my/<int:pk>/cancel/", patient.my_cancel, name="my_cancel"),
    path("my/<int:pk>/appointment.ics", patient.my_ics, name="my_ics"),
    path("waitlist/", patient.waitlist_join, name="waitlist_join"),
    path("waitlist/offers/<int:pk>/", patient.waitlist_offer, name="waitlist_offer"),
    # Staff
    path("calendar/", calendar.calendar, name="calendar"),
    path("queue/", staff.queue, name="queue"),
    path("new/", staff.staff_book, name="staff_book"),
    path("walk-in/", staff.walk_in, name="walk_in"),
    path("history/", reports.history, name="history"),
    path("patients/<int:patient_pk>/", reports.patient_history, name="patient_history"),
    path("reports/", reports.report, name="report"),
    path("feed/", schedules.my_provider_feed, name="my_provider_feed"),
    path("schedules/", schedules.schedules, name="schedules"),
    path("schedules/<int:pk>/", schedules.schedule_edit, name="schedule_edit"),
    path("types/new/", schedules.type_edit, name="type_new"),
    path("types/<int:pk>/", schedules.type_edit, name="type_edit"),
    path("<int:pk>/", staff.staff_detail, name="staff_detail"),
    path("<int:pk>/status/", staff.staff_transition, name="staff_transition"),
    path("<int:pk>/cancel/", staff.staff_cancel, name="staff_cancel"),
    path("<int:pk>/reschedule/", staff.staff_reschedule, name="staff_reschedule"),
    path("<int:pk>/appointment.ics", staff.staff_ics, name="staff_ics"),
    # Public
    # URL tokens are matched against their alphabet (signed links: URL-safe base64 and ":";
    # feed tokens: URL-safe base64): anything else is a 404 before any code runs.
    re_path(r"^link/(?P<token>[A-Za-z0-9_:-]{1,400})/$", public.email_link, name="email_link"),
    re_path(r"^feeds/(?P<token>[A-Za-z0-9_-]{1,64})\.ics$", public.feed, name="feed"),
]

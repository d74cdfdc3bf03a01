from django.urls import path

from appointments import views

app_name = "appointments"

urlpatterns = [
    # Patients
    path("book/", views.book, name="book"),
    path("my/", views.my_list, name="my_list"),
    path("my/feed/", views.my_feed, name="my_feed"),
    path("my/<int:pk>/", views.my_detail, name="my_detail"),
    path("my/<int:pk>/reschedule/", views.my_reschedule, name="my_reschedule"),
    path("my/<int:pk>/cancel/", views.my_cancel, name="my_cancel"),
    path("my/<int:pk>/appointment.ics", views.my_ics, name="my_ics"),
    path("waitlist/", views.waitlist_join, name="waitlist_join"),
    path("waitlist/offers/<int:pk>/", views.waitlist_offer, name="waitlist_offer"),
    # Staff
    path("calendar/", views.calendar, name="calendar"),
    path("queue/", views.queue, name="queue"),
    path("new/", views.staff_book, name="staff_book"),
    path("walk-in/", views.walk_in, name="walk_in"),
    path("history/", views.history, name="history"),
    path("patients/<int:patient_pk>/", views.patient_history, name="patient_history"),
    path("reports/", views.report, name="report"),
    path("feed/", views.my_provider_feed, name="my_provider_feed"),
    path("schedules/", views.schedules, name="schedules"),
    path("schedules/<int:pk>/", views.schedule_edit, name="schedule_edit"),
    path("types/new/", views.type_edit, name="type_new"),
    path("types/<int:pk>/", views.type_edit, name="type_edit"),
    path("<int:pk>/", views.staff_detail, name="staff_detail"),
    path("<int:pk>/status/", views.staff_transition, name="staff_transition"),
    path("<int:pk>/cancel/", views.staff_cancel, name="staff_cancel"),
    path("<int:pk>/reschedule/", views.staff_reschedule, name="staff_reschedule"),
    path("<int:pk>/appointment.ics", views.staff_ics, name="staff_ics"),
    # Public
    path("link/<str:token>/", views.email_link, name="email_link"),
    path("feeds/<str:token>.ics", views.feed, name="feed"),
]

"""Views: permission matrix, object-level 404s, HTMX fragments, conflicts and query counts."""

import csv
import io
from datetime import UTC, timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from accounts.roles import Role
from appointments.models import Appointment, AppointmentStatus
from tests.appointments.factories import AppointmentFactory, PatientFactory, ProviderFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

STAFF_VIEW = {Role.ADMIN, Role.DOCTOR, Role.DENTIST, Role.NURSE, Role.FRONT_DESK}
MATRIX = [
    ("/appointments/book/", {Role.PATIENT}),
    ("/appointments/my/", {Role.PATIENT}),
    ("/appointments/calendar/", STAFF_VIEW),
    ("/appointments/calendar/?view=week", STAFF_VIEW),
    ("/appointments/queue/", STAFF_VIEW),
    ("/appointments/new/", STAFF_VIEW),
    ("/appointments/walk-in/", STAFF_VIEW),
    ("/appointments/history/", STAFF_VIEW),
    ("/appointments/reports/", {Role.ADMIN}),
    ("/appointments/schedules/", {Role.ADMIN}),
    ("/appointments/types/new/", {Role.ADMIN}),
    ("/appointments/{appt}/", STAFF_VIEW),
    ("/appointments/{appt}/reschedule/", STAFF_VIEW),
    ("/appointments/{appt}/appointment.ics", STAFF_VIEW),
    ("/appointments/my/{appt}/", {Role.PATIENT}),
    ("/appointments/my/{appt}/reschedule/", {Role.PATIENT}),
    ("/appointments/patients/{patient}/", STAFF_VIEW),
    ("/appointments/schedules/{provider}/", {Role.ADMIN}),
]


@pytest.fixture
def appt(clinic):
    return AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.patient,
        start=clinic.at("10:00"),
    )


@pytest.mark.parametrize("url,allowed", MATRIX)
@pytest.mark.parametrize("role", list(Role))
def test_permission_matrix(clinic, appt, client_for, user_for_role, url, allowed, role):
    url = url.format(appt=appt.pk, patient=clinic.patient.pk, provider=clinic.doctor.pk)
    response = client_for(user_for_role(role)).get(url)
    assert response.status_code == (200 if role in allowed else 403), (role, url)


@pytest.mark.parametrize("url", [m[0] for m in MATRIX])
def test_anonymous_is_sent_to_login(clinic, appt, url):
    url = url.format(appt=appt.pk, patient=clinic.patient.pk, provider=clinic.doctor.pk)
    response = Client().get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize(
    "url",
    [
        "/appointments/my/{appt}/",
        "/appointments/my/{appt}/reschedule/",
        "/appointments/my/{appt}/appointment.ics",
        "/appointments/my/999999/",
    ],
)
def test_someone_elses_appointment_is_404(appt, client_for, other_patient_user, url):
    assert client_for(other_patient_user).get(url.format(appt=appt.pk)).status_code == 404


def test_someone_elses_cancel_is_404_and_changes_nothing(appt, client_for, other_patient_user):
    assert (
        client_for(other_patient_user).post(f"/appointments/my/{appt.pk}/cancel/").status_code
        == 404
    )
    appt.refresh_from_db()
    assert appt.status == "booked"


def test_patient_without_a_record_sees_a_clear_message(db, client_for, make_user):
    """An account not yet linked to a record (waiting for the front desk) is told what
    happens next on its appointment pages, not shown an error."""
    lonely = make_user(Role.PATIENT, email="norecord@usc.edu.ph")
    for url in ("/appointments/book/", "/appointments/my/"):
        response = client_for(lonely).get(url)
        assert response.status_code == 200, url
        assert b"not connected to your health record yet" in response.content, url
        assert b"front desk will connect it" in response.content, url


def test_transition_permissions(appt, client_for, admin_user, front_desk_user, patient_user):
    url = f"/appointments/{appt.pk}/status/"
    assert client_for(admin_user).post(url, {"to": "checked_in"}).status_code == 403
    assert client_for(patient_user).post(url, {"to": "checked_in"}).status_code == 403
    assert client_for(front_desk_user).post(url, {"to": "checked_in"}).status_code == 302
    appt.refresh_from_db()
    assert appt.status == "checked_in"


# --- Booking flow through the views ------------------------------------------------------------


def slot_value(clinic, hhmm, provider=None):
    from appointments.slots import Slot

    p = provider or clinic.doctor
    return Slot(p.pk, "", clinic.at(hhmm), clinic.at(hhmm)).value


def test_patient_books_through_the_form(clinic, client_for, patient_user):
    client = client_for(patient_user)
    page = client.get(f"/appointments/book/?type={clinic.consult.pk}&date={clinic.day:%Y-%m-%d}")
    assert page.status_code == 200 and slot_value(clinic, "08:40").encode() in page.content
    response = client.post(
        f"/appointments/book/?type={clinic.consult.pk}",
        {"type": clinic.consult.pk, "slot": slot_value(clinic, "08:40"), "reason": "Cough"},
    )
    appointment = Appointment.objects.get()
    assert (
        response.status_code == 302
        and response["Location"] == f"/appointments/my/{appointment.pk}/"
    )
    assert appointment.patient == clinic.patient and appointment.reason == "Cough"


def test_slot_picker_htmx_returns_the_fragment(clinic, client_for, patient_user):
    response = client_for(patient_user).get(
        f"/appointments/book/?type={clinic.consult.pk}", HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert response.status_code == 200 and body.lstrip().startswith('<div id="slot-picker">')
    assert "<html" not in body


def test_taken_slot_answers_409_with_next_slots_and_saves_nothing(clinic, client_for, patient_user):
    AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.other,
        start=clinic.at("08:40"),
    )
    response = client_for(patient_user).post(
        f"/appointments/book/?type={clinic.consult.pk}",
        {"type": clinic.consult.pk, "slot": slot_value(clinic, "08:40"), "reason": "x"},
    )
    assert response.status_code == 409
    assert (
        b"That slot was just taken" in response.content and b"Next free times" in response.content
    )
    assert Appointment.objects.count() == 1


@pytest.mark.parametrize(
    "slot,message",
    [
        ("garbage", b"not valid"),
        ("999999|2030-01-01T00:00:00Z", b"not valid"),
        ("{doctor}|2020-01-01T00:00:00Z", b"in the past"),
        ("{dentist}|{tomorrow10}", b"does not perform"),
        ("{doctor}|{far}", b"days ahead"),
        ("{doctor}|{late}", b"not available"),
    ],
)
def test_bad_slot_values_give_clear_errors_and_save_nothing(
    clinic, client_for, patient_user, slot, message
):

    def iso(dt):
        return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    slot = slot.format(
        doctor=clinic.doctor.pk,
        dentist=clinic.dentist.pk,
        tomorrow10=iso(clinic.at("10:00")),
        far=iso(clinic.at("10:00") + timedelta(days=60)),
        late=iso(clinic.at("22:00")),
    )
    response = client_for(patient_user).post(
        f"/appointments/book/?type={clinic.consult.pk}", {"type": clinic.consult.pk, "slot": slot}
    )
    assert response.status_code == 422 and message in response.content, response.content[-2000:]
    assert not Appointment.objects.exists()


def test_staff_reschedule_conflict_is_409_fragment(clinic, appt, client_for, front_desk_user):
    AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.other,
        start=clinic.at("14:00"),
    )
    response = client_for(front_desk_user).post(
        f"/appointments/{appt.pk}/reschedule/",
        {"provider": clinic.doctor.pk, "date": f"{clinic.day:%Y-%m-%d}", "time": "14:10"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 409
    assert response.content.decode().lstrip().startswith('<div class="card" id="reschedule-form">')
    assert b"just taken" in response.content
    appt.refresh_from_db()
    assert appt.start == clinic.at("10:00")


def test_staff_books_for_a_patient_by_id_number(clinic, client_for, front_desk_user):
    response = client_for(front_desk_user).post(
        f"/appointments/new/?type={clinic.consult.pk}",
        {
            "type": clinic.consult.pk,
            "patient": clinic.other.id_number,
            "slot": slot_value(clinic, "09:20"),
        },
    )
    assert response.status_code == 302
    assert Appointment.objects.get().source == "staff"
    response = client_for(front_desk_user).post(
        f"/appointments/new/?type={clinic.consult.pk}",
        {"type": clinic.consult.pk, "patient": "NOPE", "slot": slot_value(clinic, "11:20")},
    )
    assert response.status_code == 422 and b"No patient has that ID number" in response.content


def test_queue_check_in_via_htmx_returns_the_queue(clinic, client_for, front_desk_user):
    today = AppointmentFactory(
        provider=clinic.doctor,
        appointment_type=clinic.consult,
        patient=clinic.patient,
        start=(timezone.now() + timedelta(minutes=30)).replace(second=0, microsecond=0),
    )
    response = client_for(front_desk_user).post(
        f"/appointments/{today.pk}/status/",
        {"to": "checked_in", "from": "queue"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<div id="queue-table"')
    today.refresh_from_db()
    assert today.status == AppointmentStatus.CHECKED_IN


def test_history_csv_export(clinic, appt, client_for, front_desk_user):
    appt.reason = "=HYPERLINK(evil)"
    appt.save()
    type(clinic.patient).objects.filter(pk=clinic.patient.pk).update(first_name="@SUM(A1)")
    response = client_for(front_desk_user).get("/appointments/history/?export=csv")
    body = b"".join(response.streaming_content).decode()
    assert response.status_code == 200 and clinic.patient.id_number in body
    assert "'=HYPERLINK" in body
    assert "'@SUM(A1)" in body  # names are defused too, not only free text


def test_report_renders_svg_chart(clinic, appt, client_for, admin_user):
    response = client_for(admin_user).get("/appointments/reports/")
    assert (
        response.status_code == 200 and b'<svg class="chart" id="report-chart"' in response.content
    )


def _report_day(clinic):
    """On clinic.day: the doctor has 60 booked minutes (a completed 30 and a no-show 30) and
    a cancelled 30 (not booked time); a nurse who has since left saw one patient."""
    at = clinic.at
    for hhmm, status in (
        ("09:00", AppointmentStatus.COMPLETED),
        ("10:00", AppointmentStatus.NO_SHOW),
        ("11:00", AppointmentStatus.CANCELLED),
    ):
        AppointmentFactory(
            provider=clinic.doctor,
            patient=clinic.patient,
            appointment_type=clinic.consult,
            start=at(hhmm),
            status=status,
        )
    gone = ProviderFactory(user=UserFactory(role=Role.NURSE, first_name="Gina", last_name="Gone"))
    AppointmentFactory(
        provider=gone,
        patient=clinic.other,
        appointment_type=clinic.consult,
        start=at("09:00"),
        status=AppointmentStatus.COMPLETED,
    )
    gone.is_active = False
    gone.save()
    return gone


def test_report_figures_are_right_and_export_as_csv(clinic, client_for, admin_user):
    gone = _report_day(clinic)
    day = clinic.day.isoformat()
    client = client_for(admin_user)
    response = client.get("/appointments/reports/", {"date_from": day, "date_to": day})
    stats = {s.provider.pk: s for s in response.context["stats"]}
    doctor = stats[clinic.doctor.pk]
    # 08:00–17:00 = 540 available minutes; 60 booked → 11.1 %; 1 no-show of 2 due → 50 %.
    assert (doctor.available_minutes, doctor.booked_minutes) == (540, 60)
    assert (doctor.utilisation, doctor.no_show_rate) == (11.1, 50.0)
    assert (doctor.total, doctor.completed, doctor.no_shows, doctor.cancelled) == (3, 1, 1, 1)
    # A provider who has left still counts for the period they worked in.
    assert gone.pk in stats and stats[gone.pk].completed == 1
    body = response.content.decode()
    assert "inactive" in body and "9 h" in body and 'id="report-total"' in body
    totals = response.context["totals"]
    assert totals.booked_minutes == 90 and totals.no_shows == 1 and totals.completed == 2

    export = client.get(
        "/appointments/reports/", {"date_from": day, "date_to": day, "export": "csv"}
    )
    assert export["Content-Disposition"].endswith(f'-{clinic.day:%Y%m%d}.csv"')
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    by_name = {r["provider"]: r for r in rows}
    row = by_name[clinic.doctor.display_name]
    assert (row["booked_minutes"], row["available_minutes"]) == ("60", "540")
    assert (row["utilisation_pct"], row["no_show_rate_pct"]) == ("11.1", "50.0")
    assert by_name[gone.display_name]["active"] == "no"
    assert by_name["Whole clinic"]["appointments"] == "4"


def test_report_with_bad_dates_is_a_form_error_and_exports_nothing(clinic, client_for, admin_user):
    response = client_for(admin_user).get(
        "/appointments/reports/",
        {"date_from": "2026-02-10", "date_to": "2026-02-01", "export": "csv"},
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert "before the start date" in response.content.decode()


# --- Query counts --------------------------------------------------------------------------------


def _fill(clinic, n):
    for i in range(n):
        AppointmentFactory(
            provider=clinic.doctor,
            appointment_type=clinic.consult,
            patient=PatientFactory(),
            start=clinic.at("08:00") + timedelta(minutes=40 * i),
        )


@pytest.mark.parametrize(
    "url",
    [
        "/appointments/calendar/?date={day}",
        "/appointments/calendar/?view=week&date={day}",
        "/appointments/calendar/?view=week&date={day}&provider={doctor}",
        "/appointments/queue/?date={day}",
        "/appointments/history/",
    ],
)
@pytest.mark.parametrize("rows", [2, 12])
def test_staff_pages_use_a_fixed_number_of_queries(
    clinic, client_for, front_desk_user, django_assert_max_num_queries, url, rows
):
    _fill(clinic, rows)
    client = client_for(front_desk_user)
    url = url.format(day=f"{clinic.day:%Y-%m-%d}", doctor=clinic.doctor.pk)
    with django_assert_max_num_queries(16):
        response = client.get(url)
    assert response.status_code == 200
    assert response.content.count(b"appointments/") >= rows


@pytest.mark.parametrize(
    "url,fragment",
    [
        ("/appointments/calendar/?date={day}", '<div id="calendar-grid">'),
        ("/appointments/calendar/?view=week&date={day}", '<div id="calendar-grid">'),
        ("/appointments/history/?status=booked", '<div class="card" id="history-table">'),
        ("/appointments/queue/", '<div id="queue-table"'),
    ],
)
def test_htmx_requests_get_only_the_fragment(
    clinic, appt, client_for, front_desk_user, url, fragment
):
    response = client_for(front_desk_user).get(
        url.format(day=f"{clinic.day:%Y-%m-%d}"), HTTP_HX_REQUEST="true"
    )
    body = response.content.decode().lstrip()
    assert response.status_code == 200 and body.startswith(fragment) and "<html" not in body


def test_patient_joins_waitlist_and_sees_offer_others_get_404(
    clinic, client_for, patient_user, other_patient_user
):
    from appointments.models import WaitlistEntry, WaitlistOffer

    response = client_for(patient_user).post(
        "/appointments/waitlist/",
        {
            "type": clinic.consult.pk,
            "date_from": f"{clinic.day:%Y-%m-%d}",
            "date_to": f"{clinic.day:%Y-%m-%d}",
        },
    )
    assert response.status_code == 302
    entry = WaitlistEntry.objects.get(patient=clinic.patient)
    offer = WaitlistOffer.objects.create(
        entry=entry,
        provider=clinic.doctor,
        start=clinic.at("10:00"),
        end=clinic.at("10:40"),
        expires_at=timezone.now() + timedelta(hours=1),
    )
    assert (
        client_for(other_patient_user).get(f"/appointments/waitlist/offers/{offer.pk}/").status_code
        == 404
    )
    page = client_for(patient_user).get(f"/appointments/waitlist/offers/{offer.pk}/")
    assert page.status_code == 200 and b"Book it" in page.content
    response = client_for(patient_user).post(
        f"/appointments/waitlist/offers/{offer.pk}/", {"decision": "accept"}
    )
    assert response.status_code == 302
    assert Appointment.objects.get(patient=clinic.patient).start == clinic.at("10:00")


def test_patient_feed_link_can_be_created_and_revoked(clinic, client_for, patient_user):
    from appointments.models import PatientCalendarFeed

    client = client_for(patient_user)
    assert client.post("/appointments/my/feed/").status_code == 302
    token = PatientCalendarFeed.objects.get(patient=clinic.patient).token
    assert token in client.get("/appointments/my/").content.decode()
    client.post("/appointments/my/feed/", {"revoke": "1"})
    assert not PatientCalendarFeed.objects.exists()


def test_admin_edits_schedules_and_types(clinic, client_for, admin_user):
    client = client_for(admin_user)
    url = f"/appointments/schedules/{clinic.doctor.pk}/"
    before = clinic.doctor.weekly_blocks.count()
    assert (
        client.post(
            url, {"form": "block", "weekday": 6, "start_time": "18:00", "end_time": "20:00"}
        ).status_code
        == 302
    )
    assert clinic.doctor.weekly_blocks.count() == before + 1
    bad = client.post(
        url, {"form": "block", "weekday": 6, "start_time": "20:00", "end_time": "18:00"}
    )
    assert bad.status_code == 422 and clinic.doctor.weekly_blocks.count() == before + 1
    response = client.post(
        "/appointments/types/new/",
        {
            "name": "Vaccination",
            "slug": "vaccination",
            "duration_minutes": 15,
            "buffer_minutes": 0,
            "provider_roles": ["nurse"],
            "visit_kind": "medical",
            "self_bookable": "on",
            "lead_time_minutes": 60,
            "horizon_days": 30,
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    assert client.post("/appointments/types/new/", {"name": "x"}).status_code == 422


def test_invalid_email_link_is_a_clear_400(db):
    response = Client().get("/appointments/link/not-a-token/")
    assert response.status_code == 400 and b"not valid" in response.content


def test_walk_in_view_books_the_first_free_time_and_checks_in(clinic, client_for, front_desk_user):
    with time_machine.travel(clinic.at("10:07"), tick=False):
        response = client_for(front_desk_user).post(
            "/appointments/walk-in/",
            {
                "patient": clinic.patient.id_number,
                "type": clinic.consult.pk,
                "provider": clinic.doctor.pk,
            },
        )
        assert response.status_code == 302 and response["Location"] == "/appointments/queue/"
        walk_in = Appointment.objects.get()
        assert walk_in.status == "checked_in" and walk_in.source == "walk_in"
        assert walk_in.start <= timezone.now() + timedelta(minutes=60)
        bad = client_for(front_desk_user).post(
            "/appointments/walk-in/", {"patient": "NOPE", "type": clinic.consult.pk}
        )
    assert bad.status_code == 422 and Appointment.objects.count() == 1


def _history_mix(clinic):
    """Three of the patient's appointments with the doctor: completed, no-show, booked."""
    made = {}
    for days, status in ((-20, "completed"), (-10, "no_show"), (3, "booked")):
        made[status] = AppointmentFactory(
            provider=clinic.doctor,
            patient=clinic.patient,
            appointment_type=clinic.consult,
            start=clinic.at("09:00", day=clinic.day + timedelta(days=days)),
            status=status,
        )
    return made


def test_portal_history_filters_and_exports_what_it_shows(clinic, client_for, patient_user):
    made = _history_mix(clinic)
    client = client_for(patient_user)
    response = client.get("/appointments/my/", {"status": "no_show"})
    shown = [a.pk for a in response.context["page"].object_list]
    assert shown == [made["no_show"].pk]
    fragment = client.get("/appointments/my/", {"status": "completed"}, HTTP_HX_REQUEST="true")
    assert fragment.content.decode().lstrip().startswith('<div id="history-table"')
    export = client.get("/appointments/my/", {"status": "no_show", "export": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert [int(r["id"]) for r in rows] == [made["no_show"].pk]
    # A bad date is a form error, not a 500, and filters nothing.
    bad = client.get("/appointments/my/", {"date_from": "not-a-date"})
    assert bad.status_code == 200 and bad.context["filter_form"].errors["date_from"]


def test_chart_history_filters_by_status_and_dates(clinic, client_for, front_desk_user):
    made = _history_mix(clinic)
    client = client_for(front_desk_user)
    url = f"/appointments/patients/{clinic.patient.pk}/"
    response = client.get(url, {"status": "completed"})
    assert [a.pk for a in response.context["page"].object_list] == [made["completed"].pk]
    since = (clinic.day - timedelta(days=15)).isoformat()
    response = client.get(url, {"date_from": since})
    assert {a.pk for a in response.context["page"].object_list} == {
        made["no_show"].pk,
        made["booked"].pk,
    }
    assert 'href="?date_from=' in response.content.decode()  # the CSV link keeps the filter

"""Appointments' buttons on the patient chart (the patients app never imports us)."""

from django.urls import reverse

from accounts.roles import user_has_perm
from uscpis.registry import ChartLink


def links(user, patient) -> list[ChartLink]:
    result = []
    if user_has_perm(user, "appointments.book_for_patient"):
        result.append(
            ChartLink(
                "Book appointment",
                reverse("appointments:staff_book") + f"?patient={patient.id_number}",
            )
        )
    if user_has_perm(user, "appointments.view_schedule"):
        result.append(
            ChartLink("Appointments", reverse("appointments:patient_history", args=[patient.pk]))
        )
    return result

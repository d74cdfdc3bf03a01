"""Appointments' buttons on the patient chart (the patients app never imports us)."""

from urllib.parse import quote

from accounts.roles import user_has_perm
from uscpis.fasturl import reverse_ints
from uscpis.registry import ChartLink


def links(user, patient) -> list[ChartLink]:
    result = []
    if user_has_perm(user, "appointments.book_for_patient"):
        result.append(
            ChartLink(
                "Book appointment",
                reverse_ints("appointments:staff_book")
                + f"?patient={quote(patient.id_number, safe='')}",
            )
        )
    if user_has_perm(user, "appointments.view_schedule"):
        result.append(
            ChartLink("Appointments", reverse_ints("appointments:patient_history", patient.pk))
        )
    return result

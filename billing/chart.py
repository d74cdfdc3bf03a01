"""Billing on the patient chart (the patients app never imports us): the balance,
read-only for clinicians, and the billing account for the billing office."""

from django.urls import reverse

from accounts.roles import user_has_perm
from accounts.templatetags.uscpis import money
from billing.selectors import patient_owed
from uscpis.registry import ChartLink


def links(user, patient) -> list[ChartLink]:
    result = []
    if user_has_perm(user, "billing.view"):
        result.append(ChartLink("Billing", reverse("billing:patient", args=[patient.pk])))
    elif user_has_perm(user, "billing.view_balance"):
        result.append(
            ChartLink(
                f"Balance {money(patient_owed(patient.pk))}",
                reverse("billing:patient_balance", args=[patient.pk]),
            )
        )
    return result

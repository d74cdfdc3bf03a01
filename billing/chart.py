"""Billing on the patient chart (the patients app never imports us): the balance,
read-only for clinicians, and the billing account for the billing office."""

from accounts.roles import user_has_perm
from accounts.templatetags.uscpis import money
from billing.selectors import patient_owed
from uscpis.fasturl import reverse_ints
from uscpis.registry import ChartLink


def links(user, patient) -> list[ChartLink]:
    result = []
    if user_has_perm(user, "billing.view"):
        result.append(ChartLink("Billing", reverse_ints("billing:patient", patient.pk)))
    elif user_has_perm(user, "billing.view_balance"):
        result.append(
            ChartLink(
                f"Balance {money(patient_owed(patient.pk))}",
                reverse_ints("billing:patient_balance", patient.pk),
            )
        )
    return result

"""Billing on the patient chart (the patients app never imports us): the balance,
read-only for clinicians, and the billing account for the billing office."""

from accounts.roles import user_has_perm
from accounts.templatetags.uscpis import money
from billing.selectors import patient_owed, patient_owed_from_row, patient_owed_statement
from uscpis.fasturl import reverse_ints
from uscpis.registry import ChartLink


def _shows_balance(user) -> bool:
    return not user_has_perm(user, "billing.view") and user_has_perm(user, "billing.view_balance")


def link_reads(user, patient_id: int) -> list[tuple[str, list]]:
    """The balance button's read, for the chart to send with its own reads."""
    return [patient_owed_statement(patient_id)] if _shows_balance(user) else []


def links(user, patient, rows: list | None = None) -> list[ChartLink]:
    """``rows``: the rows of ``link_reads(user, patient.pk)``'s statements, when the chart
    read them; otherwise the balance is read here."""
    result = []
    if user_has_perm(user, "billing.view"):
        result.append(ChartLink("Billing", reverse_ints("billing:patient", patient.pk)))
    elif user_has_perm(user, "billing.view_balance"):
        owed = patient_owed(patient.pk) if rows is None else patient_owed_from_row(rows[0][0])
        result.append(
            ChartLink(
                f"Balance {money(owed)}",
                reverse_ints("billing:patient_balance", patient.pk),
            )
        )
    return result

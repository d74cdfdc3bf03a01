"""Billing's cards on the home dashboard (clerk and administrator; a patient's balance)."""

from django.urls import reverse

from accounts.roles import user_has_perm
from accounts.templatetags.uscpis import money
from billing.selectors import home_counts, patient_balance
from patients.models import Patient
from uscpis.registry import Card


def _peso(value) -> str:

    return money(value)


def cards(user) -> list[Card]:
    result = []
    if user_has_perm(user, "billing.view"):
        c = home_counts()
        result += [
            Card(
                "Unbilled charges",
                c["unbilled"],
                detail=f"{c['drafts']} draft invoices",
                url=reverse("billing:charges"),
                tone="warn" if c["unbilled"] else "neutral",
            ),
            Card(
                "Open invoices",
                c["open_invoices"],
                detail=f"{_peso(c['open_amount'])} owed",
                url=reverse("billing:invoices") + "?status=open",
            ),
            Card(
                "Collected today",
                _peso(c["collected_today"]),
                url=reverse("billing:reports") + "?report=collections_method",
                tone="good",
            ),
            Card(
                "Claims awaiting action",
                c["claims_action"],
                detail="drafts and denials",
                url=reverse("billing:claims") + "?status=action",
                tone="warn" if c["claims_action"] else "neutral",
            ),
        ]
        if user_has_perm(user, "billing.approve") and c["approvals"]:
            result.append(
                Card(
                    "Billing approvals",
                    c["approvals"],
                    detail="write-offs and refunds",
                    url=reverse("billing:approvals"),
                    tone="warn",
                )
            )
    if user_has_perm(user, "billing.portal"):
        patient = Patient.objects.filter(user=user).only("pk").first()
        if patient is not None:
            bal = patient_balance(patient.pk)
            result.append(
                Card(
                    "My balance",
                    _peso(bal.owed),
                    url=reverse("billing:my_bills"),
                    detail=f"{bal.open_invoices} open invoice(s)",
                    tone="warn" if bal.owed > 0 else "good",
                )
            )
    return result

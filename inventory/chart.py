"""Inventory's actions in the patient record (the patients app never imports us)."""

from urllib.parse import urlencode

from django.urls import reverse

from accounts.roles import user_has_perm
from uscpis.registry import ChartLink


def links(user, patient) -> list[ChartLink]:
    return []


def prescription_links(user, prescription) -> list[ChartLink]:
    """ "Dispense" next to a prescription: the dispense form, filled in from it."""
    if not user_has_perm(user, "inventory.dispense"):
        return []
    query = urlencode({"prescription": prescription.pk})
    return [ChartLink("Dispense", f"{reverse('inventory:dispense')}?{query}")]

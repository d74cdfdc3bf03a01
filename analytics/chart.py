"""Links analytics offers on other domains' pages (through ``uscpis.registry``)."""

from django.urls import reverse

from accounts.roles import user_has_perm
from uscpis.registry import ChartLink


def links(user, patient) -> list[ChartLink]:
    return []


def page_links(user, page: str) -> list[ChartLink]:
    """The low-stock page links to the stock-out forecast ("runs out in N days")."""
    if page == "inventory:low_stock" and user_has_perm(user, "inventory.view_stock"):
        return [ChartLink("Stock-out forecast", reverse("analytics:stock_forecast"))]
    return []

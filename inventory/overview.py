"""The stock overview screen: its filter bar and one page of rows, read in one round trip.

The filter bar's lists (categories, locations) and the page's count and rows are sent
together, the page read with the filters the submission is expected to hold
(``filters.guess``). The bar then validates the submission against the lists read; when the
filters it finds differ from the guess (a category that is not offered, an invalid value
that voids the whole form), the page is read again with the bar's filters, so the page
always shows what ``StockFilterForm(request.GET or None)`` would have filtered.
"""

from __future__ import annotations

from django.core.paginator import Page
from django.utils.translation import get_language

from inventory import filters, screens


def stock_overview(data, number, *, per_page: int) -> tuple[filters.FilterBar, Page]:
    """The filter bar for ``data`` (the query string) and page ``number`` of the items it
    selects, as ``screens.StockRow``."""
    values = filters.submitted(data)
    guess = filters.guess(values)
    lists, expired, page = screens.stock_rows_page_with_lists(
        number, per_page=per_page, guess=guess
    )
    bar = filters.filter_bar(lists, values, get_language())
    found = bar.filters
    if page is None or found != guess:
        names = screens.category_names(lists)
        page = screens.stock_rows_page(
            number, per_page=per_page, names=names, expired=expired, **found
        )
    return bar, page

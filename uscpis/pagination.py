"""Pagination that stays fast on large tables."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property


class CappedPaginator(Paginator):
    """Counts at most ``cap`` matching rows.

    A broad search over 100,000 patients or millions of audit events would otherwise spend
    most of the request in ``COUNT(*)``; past the cap the page says "more than N" and asks
    the user to narrow the search.

    ``when_few`` (optional) re-orders the rows when they turned out to be at most ``cap``:
    PostgreSQL assumes matches are spread evenly through an index, so for a first page
    in name order it walks the name index and filters, which is fast when matches are
    many and slow (tens of thousands of rows discarded) when they are few and clustered
    ("quinones ram": every match under Q). Once the count says they are few, sorting just
    them is always cheap; ``when_few`` expresses the order so the index cannot serve it.
    """

    def __init__(self, object_list, per_page, *, cap: int = 1000, when_few=None, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.cap = cap
        self.capped = False
        self.when_few = when_few

    @cached_property
    def count(self) -> int:
        # Without ORDER BY the scan can stop at the cap instead of walking an index in order.
        counted = self.object_list.order_by()[: self.cap + 1].count()
        self.capped = counted > self.cap
        if not self.capped and self.when_few is not None:
            self.object_list = self.when_few(self.object_list)
        return min(counted, self.cap)

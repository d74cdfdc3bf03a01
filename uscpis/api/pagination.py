"""Cursor pagination on every list: stable under inserts, constant cost per page."""

from __future__ import annotations

from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination


class ApiCursorPagination(CursorPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100
    ordering = "-id"

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        return tuple(ordering)

    def served_shape(self, request) -> tuple[int, bool]:
        """As ``paginate_queryset`` will serve the rows its statement finds: how many of
        the first are served (the one after them only tells whether a next page exists),
        and whether in the reverse of the statement's order (a "previous" cursor)."""
        size = self.get_page_size(request) or 0
        cursor = self.decode_cursor(request) if size else None
        return size, cursor is not None and cursor.reverse

    def decode_cursor(self, request):
        """DRF's, and a cursor whose position cannot be an id (when the list is ordered by
        id) is an invalid cursor (404) like any other malformed one, not a failed query."""
        cursor = super().decode_cursor(request)
        by_id = self.ordering[0].lstrip("-") in ("id", "pk")
        if cursor is not None and cursor.position is not None and by_id:
            try:
                int(cursor.position)
            except ValueError:
                raise NotFound(self.invalid_cursor_message) from None
        return cursor

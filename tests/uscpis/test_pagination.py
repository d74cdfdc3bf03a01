"""CappedPaginator counts at most `cap` rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Notification
from tests.factories import UserFactory
from uscpis.pagination import CappedPaginator

pytestmark = pytest.mark.django_db


def test_count_stops_at_the_cap_and_says_so():
    user = UserFactory()
    Notification.objects.bulk_create(Notification(user=user, title=f"n{i}") for i in range(30))
    paginator = CappedPaginator(Notification.objects.order_by("id"), 5, cap=12)
    with CaptureQueriesContext(connection) as ctx:
        assert paginator.count == 12
    assert "LIMIT 13" in ctx.captured_queries[0]["sql"]
    assert paginator.capped is True and paginator.num_pages == 3
    assert "ORDER BY" not in ctx.captured_queries[0]["sql"]
    # The last reachable page ends at the cap; the template asks to narrow the search.
    assert [n.title for n in paginator.page(3)] == ["n10", "n11"]


def test_small_results_are_counted_exactly():
    user = UserFactory()
    Notification.objects.bulk_create(Notification(user=user, title=f"n{i}") for i in range(7))
    paginator = CappedPaginator(Notification.objects.order_by("id"), 5, cap=12)
    assert paginator.count == 7 and paginator.capped is False and paginator.num_pages == 2


def test_when_few_reorders_only_results_under_the_cap():
    user = UserFactory()
    Notification.objects.bulk_create(Notification(user=user, title=f"n{i}") for i in range(7))
    seen = []

    def when_few(qs):
        seen.append(qs.count())
        return qs.order_by("-id")

    few = CappedPaginator(Notification.objects.order_by("id"), 5, cap=12, when_few=when_few)
    assert [n.title for n in few.page(1)] == ["n6", "n5", "n4", "n3", "n2"]
    assert seen == [7]
    many = CappedPaginator(Notification.objects.order_by("id"), 5, cap=3, when_few=when_few)
    assert [n.title for n in many.page(1)] == ["n0", "n1", "n2"]  # capped: order kept
    assert seen == [7]

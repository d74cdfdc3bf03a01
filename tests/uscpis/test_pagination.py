"""CappedPaginator counts at most `cap` rows; CappedSortingPaginator also sorts few matches
in the query that counts them."""

from __future__ import annotations

import re

import pytest
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Value
from django.db.models.functions import Lower
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.models import Notification
from tests.factories import UserFactory
from uscpis.pagination import CappedPaginator, CappedSortingPaginator, rows_found_by_keys

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


def _titles(page):
    return [n.title for n in page]


@pytest.mark.parametrize("ordering", [("title", "id"), ("-title", "-id"), ("user_id", "-id")])
def test_sorting_paginator_pages_few_matches_in_the_lists_order(ordering):
    user = UserFactory()
    Notification.objects.bulk_create(
        Notification(user=user, title=f"t{(i * 7) % 5}") for i in range(12)
    )
    listed = Notification.objects.filter(title__gte="t1").order_by(*ordering)
    expected = Paginator(listed, 4)
    for number in range(1, expected.num_pages + 2):  # and one past the last page
        paginator = CappedSortingPaginator(listed, 4, cap=50)
        with CaptureQueriesContext(connection) as ctx:
            page = paginator.get_page(number)
            titles = _titles(page)
        assert paginator.count == expected.count and not paginator.capped
        assert page.number == min(number, expected.num_pages)
        assert [n.pk for n in page] == [n.pk for n in expected.get_page(number)], titles
        if number <= expected.num_pages:
            # One statement counts the matches, sorts them and reads the page's rows.
            assert len(ctx.captured_queries) == 1, ctx.captured_queries
            assert "t1" in ctx.captured_queries[0]["sql"]


def test_sorting_paginator_applies_when_few_only_to_pages_the_orm_reads():
    user = UserFactory()
    Notification.objects.bulk_create(Notification(user=user, title=f"t{i:02d}") for i in range(9))
    listed = Notification.objects.filter(user=user).order_by("title", "id")
    asked = []

    def when_few(qs):
        asked.append(qs)
        return qs.order_by(Lower("title"), "id")

    paginator = CappedSortingPaginator(listed, 4, cap=50, when_few=when_few)
    assert _titles(paginator.get_page(2)) == ["t04", "t05", "t06", "t07"]
    assert asked == []  # the statement read the page: the reordered queryset is never built
    # Past the last page: the last page is read with the ORM, in the few-match order.
    past = CappedSortingPaginator(listed, 4, cap=50, when_few=when_few)
    with CaptureQueriesContext(connection) as ctx:
        page = past.get_page(99)
        assert _titles(page) == ["t08"] and page.number == 3
    assert len(asked) == 1 and "LOWER" in ctx.captured_queries[-1]["sql"].upper()
    assert _titles(past.page(1)) == ["t00", "t01", "t02", "t03"] and len(asked) == 1


def test_sorting_paginator_reads_capped_matches_in_index_order():
    user = UserFactory()
    Notification.objects.bulk_create(Notification(user=user, title=f"n{i:02d}") for i in range(30))
    for listed in (
        Notification.objects.filter(user=user).order_by("title", "id"),
        Notification.objects.order_by("title", "id"),  # no filter: the whole table
    ):
        paginator = CappedSortingPaginator(listed, 5, cap=12)
        with CaptureQueriesContext(connection) as ctx:
            page = paginator.get_page(2)
            titles = _titles(page)
        assert "ARRAY" in ctx.captured_queries[0]["sql"] and len(ctx.captured_queries) == 1
        assert paginator.count == 12 and paginator.capped and paginator.num_pages == 3
        assert titles == ["n05", "n06", "n07", "n08", "n09"]
        # The last reachable page ends at the cap, as CappedPaginator's does.
        assert _titles(paginator.get_page(3)) == ["n10", "n11"]
        orphans = CappedSortingPaginator(listed, 5, cap=12, orphans=2)
        assert _titles(orphans.get_page(2)) == [f"n{i:02d}" for i in range(5, 12)]


def test_sorting_paginator_leaves_other_orders_to_the_capped_paginator():
    user = UserFactory()
    Notification.objects.bulk_create(Notification(user=user, title=f"n{i}") for i in range(7))
    for listed in (
        Notification.objects.order_by("title"),  # no unique field last
        Notification.objects.order_by(Lower("title"), "id"),  # an expression
        Notification.objects.order_by("user__email", "id"),  # another table
        Notification.objects.filter(user__email=user.email).order_by("title", "id"),  # a join
        Notification.objects.annotate(one=Value(1)).order_by("title", "id"),  # more columns
    ):
        paginator = CappedSortingPaginator(listed, 5, cap=12)
        with CaptureQueriesContext(connection) as ctx:
            assert paginator.count == 7
        assert "ARRAY" not in ctx.captured_queries[0]["sql"]
        assert _titles(paginator.get_page(1)) == _titles(Paginator(listed, 5).get_page(1))


def test_sorting_paginator_keeps_only_and_defer_and_select_related():
    user = UserFactory()
    Notification.objects.bulk_create(Notification(user=user, title=f"n{i}") for i in range(7))
    for listed in (
        Notification.objects.only("title", "user").filter(user=user).order_by("title", "id"),
        Notification.objects.defer("title").filter(user=user).order_by("title", "id"),
        Notification.objects.select_related("user").filter(user=user).order_by("title", "id"),
    ):
        page = CappedSortingPaginator(listed, 5, cap=12).get_page(2)
        expected = list(Paginator(listed, 5).get_page(2))
        assert [n.pk for n in page] == [n.pk for n in expected]
        for got, want in zip(page, expected, strict=True):
            assert got.get_deferred_fields() == want.get_deferred_fields()
        with CaptureQueriesContext(connection) as ctx:
            assert [n.user_id for n in page] == [user.pk, user.pk]
            if listed.query.select_related:
                assert page[0].user.email == user.email
        assert len(ctx.captured_queries) == 0


# --- rows_found_by_keys ---------------------------------------------------------------------

KEY_ORDERINGS = [
    ("last_name", "first_name", "id"),
    ("-birth_date", "id"),
    ("created_at", "id"),
    ("-last_name", "-first_name", "-id"),
]


@pytest.fixture
def patients_with_ties():
    from datetime import date

    from tests.patients.factories import PatientFactory

    for i in range(14):
        PatientFactory(
            last_name=["Dimaculangan", "Santos", "Abad"][i % 3],
            first_name=["Ana", "Ben"][i % 2],
            birth_date=date(2000, 1 + i % 3, 1),
            philhealth_pin=f"{i:012d}" if i % 4 == 0 else None,
            year_level=None if i % 5 == 0 else 1 + i % 4,
        )


def _all_fields(patient) -> dict:
    return {f.attname: getattr(patient, f.attname) for f in type(patient)._meta.concrete_fields}


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    q=st.sampled_from(["", "ana", "dimacul", "santos ben", "zzz", "T000"]),
    ordering=st.sampled_from(KEY_ORDERINGS),
    start=st.integers(0, 15),
    size=st.integers(0, 8),
    after=st.sampled_from([None, "B", "Dimaculangan", "S"]),
)
def test_rows_found_by_keys_are_the_querysets_own_rows(
    patients_with_ties, q, ordering, start, size, after
):
    """Found reading only the keys, then read whole: the same instances (every field, as
    converted by the ORM), in the same order, as the queryset itself gives, in one
    statement (none for an empty slice)."""
    from patients.models import Patient
    from patients.selectors import patient_search

    listed = patient_search(q=q, qs=Patient.objects.all()).order_by(*ordering)
    if after is not None:
        listed = listed.filter(last_name__gt=after)
    keys = ["id", *(o.lstrip("-") for o in ordering)]
    expected = [_all_fields(p) for p in listed[start : start + size]]
    with CaptureQueriesContext(connection) as ctx:
        found = list(rows_found_by_keys(listed, keys)[start : start + size])
    assert [_all_fields(p) for p in found] == expected
    assert all(p.get_deferred_fields() == set() for p in found)
    assert len(ctx.captured_queries) == (1 if size else 0)
    if size:  # the rows are found reading no column but the keys (and what is filtered on)
        inner = ctx.captured_queries[0]["sql"].split("FROM (SELECT ", 1)[1].split(" LIMIT ")[0]
        read = set(re.findall(r'"patients_patient"\."(\w+)"', inner))
        assert read <= {*keys, "search_text", "id_number", "last_name"}, inner
        assert "address" not in inner and "created_at" not in read - set(keys)


def test_rows_found_by_keys_refuses_what_it_cannot_read():
    for listed in (
        Notification.objects.select_related("user"),
        Notification.objects.values("id"),
        Notification.objects.annotate(one=Value(1)),
        Notification.objects.prefetch_related("user"),
    ):
        with pytest.raises(ValueError, match="plain model queryset"):
            rows_found_by_keys(listed, ["id"])
    assert list(rows_found_by_keys(Notification.objects.none(), ["id"])) == []


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    per_page=st.integers(1, 6),
    orphans=st.integers(0, 2),
    cap=st.integers(3, 30),
    number=st.integers(1, 9),
    ordering=st.sampled_from([("title", "id"), ("-title", "-id"), ("user_id", "-id")]),
)
def test_sorting_paginator_pages_an_unfiltered_list_as_the_paginator_does(
    notifications, per_page, orphans, cap, number, ordering
):
    """An unfiltered list (the whole table) is counted without reading its rows and its
    page read in the list's order, in one statement: the same count (up to the cap) and
    the same page as Django's paginator gives, capped or not, past the last page too."""
    listed = Notification.objects.order_by(*ordering)
    paginator = CappedSortingPaginator(listed, per_page, cap=cap, orphans=orphans)
    with CaptureQueriesContext(connection) as ctx:
        page = paginator.get_page(number)
        titles = _titles(page)
    total = Notification.objects.count()
    assert paginator.count == min(total, cap) and paginator.capped == (total > cap)
    expected = Paginator(list(listed)[: min(total, cap)], per_page, orphans=orphans)
    want = expected.get_page(number)
    assert page.number == want.number and titles == _titles(want)
    if number <= expected.num_pages:
        assert len(ctx.captured_queries) == 1
        assert "WHERE" not in ctx.captured_queries[0]["sql"]


@pytest.fixture
def notifications():
    user, other = UserFactory(), UserFactory()
    Notification.objects.bulk_create(
        Notification(user=(user, other)[i % 2], title=f"t{(i * 7) % 5}") for i in range(17)
    )


def test_rows_found_by_keys_leaves_other_lists_to_the_compiler(patients_with_ties):
    """Orders that are not plain fields of the table, and filters through another table,
    are written by the query compiler: the same rows as the queryset still."""
    from django.db.models.functions import Lower as LowerName

    from patients.models import Patient

    for listed in (
        Patient.objects.order_by(LowerName("last_name"), "id"),
        Patient.objects.filter(user__isnull=True).order_by("-first_name", "id"),
        Patient.objects.filter(user__email__isnull=True).order_by("last_name", "id"),
        Patient.objects.order_by("user", "id"),
    ):
        expected = [_all_fields(p) for p in listed[2:7]]
        assert [_all_fields(p) for p in rows_found_by_keys(listed, ["id"])[2:7]] == expected


# --- model_rows -----------------------------------------------------------------------------


def _built(instances) -> list[tuple]:
    return [
        (type(i), {k: v for k, v in vars(i).items() if k != "_state"}, vars(i._state))
        for i in instances
    ]


@pytest.mark.parametrize("loaded", ["all", "some"])
def test_model_rows_are_what_from_db_builds(patients_with_ties, loaded):
    """Instances built straight into ``__dict__`` equal ``Model.from_db``'s: the same
    values (after the converters), the same deferred fields, saved state and database;
    a deferred field still loads on access and a foreign key's object still reads."""
    from patients.models import Patient
    from uscpis.pagination import model_rows

    fields = [
        f
        for f in Patient._meta.concrete_fields
        if loaded == "all" or f.attname in ("id", "user_id", "last_name", "birth_date")
    ]
    columns = ", ".join(f.column for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM patients_patient ORDER BY id")  # noqa: S608
        rows = cursor.fetchall()
    attnames = [f.attname for f in fields]
    built = model_rows(Patient, "default", fields, rows)
    assert _built(built) == _built(Patient.from_db("default", attnames, r) for r in rows)
    assert len(built) == 14 and built[0]._state.adding is False and built[0]._state.db == "default"
    every = {f.attname for f in Patient._meta.concrete_fields}
    assert built[0].get_deferred_fields() == every - set(attnames)
    first = Patient.objects.order_by("id").first()
    assert built[0].first_name == first.first_name  # deferred: read on access
    with CaptureQueriesContext(connection) as ctx:
        assert built[0].user is None and built[0].last_name == first.last_name
    assert len(ctx.captured_queries) == 0  # no account: nothing to read


def test_model_rows_leave_models_with_init_receivers_to_from_db(patients_with_ties):
    from django.db.models.signals import post_init

    from patients.models import Patient
    from uscpis.pagination import model_rows

    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance.pk)

    fields = list(Patient._meta.concrete_fields)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM patients_patient ORDER BY id LIMIT 3")
        rows = cursor.fetchall()
    post_init.connect(receiver, sender=Patient)
    try:
        built = model_rows(Patient, "default", fields, rows)
    finally:
        post_init.disconnect(receiver, sender=Patient)
    assert seen == [p.pk for p in built] and len(seen) == 3

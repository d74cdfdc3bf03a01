"""``uscpis.compiled``: a queryset compiled once gives what the ORM gives (same rows, same
order, same field values and types, deferred fields deferred), and querysets it cannot
reproduce go through the ORM."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import BooleanField, Count
from django.db.models.expressions import RawSQL
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from patients.models import Allergy, Patient
from tests.patients.factories import AllergyFactory, PatientFactory
from uscpis.compiled import CompiledQuery, build, columns, fetch_together, split, width

pytestmark = pytest.mark.django_db


def _values(objects) -> list[tuple]:
    """Every loaded field of every object, with its type (a model's ``==`` is only the pk)."""
    return [
        tuple(
            (f.attname, type(v), v)
            for f in o._meta.concrete_fields
            if f.attname not in o.get_deferred_fields()
            for v in [getattr(o, f.attname)]
        )
        for o in objects
    ]


def test_rows_equal_the_orms():
    patient = PatientFactory(birth_date=date(1999, 2, 3), middle_name="<b>&", year_level=None)
    AllergyFactory(patient=patient, substance="Peanut", severity="severe")
    AllergyFactory(patient=patient, substance="aspirin")
    AllergyFactory(patient=patient, substance="Latex", is_active=False)
    AllergyFactory(substance="Not theirs")
    by_pk = CompiledQuery(Patient, lambda pk: Patient.objects.filter(pk=pk))
    active = CompiledQuery(
        Allergy,
        lambda pid: Allergy.objects.filter(patient_id=pid, is_active=True).order_by("substance"),
    )
    for _ in range(2):  # compiled on the first call, reused on the second
        assert _values(by_pk.all(patient.pk)) == _values([Patient.objects.get(pk=patient.pk)])
        got = active.all(patient.pk)
        want = list(Allergy.objects.filter(patient=patient, is_active=True).order_by("substance"))
        assert _values(got) == _values(want)
        assert {a.substance for a in got} == {"Peanut", "aspirin"}
    assert by_pk.first(patient.pk + 10_000) is None
    assert by_pk.first(patient.pk)._state.adding is False
    assert by_pk.first(patient.pk)._state.db == "default"


def test_deferred_fields_stay_deferred():
    patient = PatientFactory()
    light = CompiledQuery(
        Patient, lambda pk: Patient.objects.filter(pk=pk).only("first_name", "last_name")
    )
    got = light.first(patient.pk)
    want = Patient.objects.only("first_name", "last_name").get(pk=patient.pk)
    assert got.get_deferred_fields() == want.get_deferred_fields() != set()
    assert _values([got]) == _values([want])


def test_one_statement_per_call_through_the_connection():
    patient = PatientFactory()
    by_pk = CompiledQuery(Patient, lambda pk: Patient.objects.filter(pk=pk))
    by_pk.first(patient.pk)
    with CaptureQueriesContext(connection) as queries:
        by_pk.first(patient.pk)
    assert len(queries) == 1 and f"= {patient.pk}" in queries[0]["sql"]


def _tree(obj, path: str = "") -> list:
    """``_values`` of ``obj`` and of every related object ``select_related`` cached on it
    (forward and reverse one-to-one), nested, with ``None`` where a relation is empty."""
    if obj is None:
        return [(path, None)]
    out = [(path, _values([obj]))]
    cache = obj._state.fields_cache
    for name in sorted(cache):
        out += _tree(cache[name], f"{path}.{name}") if name != "patient" or path == "" else []
    return out


def test_select_related_chains_equal_the_orms(doctor_user, nurse_user):
    """Nested relations, a nullable one-to-one and nullable foreign keys (LEFT JOIN: None),
    each object field for field, the reverse one-to-one cached as the ORM caches it."""
    with_user = PatientFactory(user=doctor_user, middle_name="<i>")
    without_user = PatientFactory(user=None)
    AllergyFactory(patient=with_user, substance="Peanut", recorded_by=nurse_user)
    AllergyFactory(patient=with_user, substance="Aspirin", recorded_by=None)
    AllergyFactory(patient=without_user, substance="Latex", recorded_by=doctor_user)

    def chain(pid):
        return (
            Allergy.objects.select_related("patient__user", "recorded_by")
            .filter(patient_id=pid)
            .order_by("substance")
        )

    compiled = CompiledQuery(Allergy, chain)
    for patient in (with_user, without_user, with_user):
        assert compiled.statement(patient.pk) is not None  # compiled, not the ORM
        got, want = compiled.all(patient.pk), list(chain(patient.pk))
        assert [_tree(a) for a in got] == [_tree(a) for a in want] != []
        for fast, orm in zip(got, want, strict=True):
            assert fast.recorded_by_id == orm.recorded_by_id
            assert (fast.recorded_by is None) == (orm.recorded_by is None)
            assert (fast.patient.user is None) == (orm.patient.user is None)
            if orm.patient.user is not None:  # the reverse side, as RelatedPopulator sets it
                assert fast.patient.user.patient is fast.patient
    with CaptureQueriesContext(connection) as queries:
        rows = compiled.all(with_user.pk)
        [(a.patient.user, a.recorded_by) for a in rows]
    assert len(queries) == 1 and "LEFT OUTER JOIN" in queries[0]["sql"]
    assert compiled.all(10**9) == []


def test_string_keys_are_compiled_too(doctor_user, nurse_user):
    nurse_user.email = "o'hara@example.com"
    nurse_user.save()
    patient = PatientFactory(user=doctor_user)

    def by_email(email):
        return Patient.objects.select_related("user").filter(user__email=email)

    compiled = CompiledQuery(Patient, by_email)
    for email in (doctor_user.email, doctor_user.email, nurse_user.email, "", "x%_\\'"):
        assert compiled.statement(email) is not None
        assert [_tree(p) for p in compiled.all(email)] == [_tree(p) for p in by_email(email)]
    assert compiled.first(doctor_user.email) == patient
    # int and str arguments in one query, each compiled once for its types.
    mixed = CompiledQuery(
        Patient, lambda pk, email: Patient.objects.filter(pk=pk, user__email=email)
    )
    assert mixed.first(patient.pk, doctor_user.email) == patient
    assert mixed.first(patient.pk, nurse_user.email) is None
    assert mixed.statement(patient.pk, "x") is not None


def test_what_it_cannot_reproduce_goes_through_the_orm(doctor_user):
    patient = PatientFactory(user=doctor_user)
    # The id used twice: not one parameter per argument.
    twice = CompiledQuery(Patient, lambda pk: Patient.objects.filter(pk=pk, id__gte=pk))
    assert twice.statement(patient.pk) is None
    assert twice.first(patient.pk) == patient
    # Another model's rows.
    other = CompiledQuery(Patient, lambda pk: User.objects.filter(pk=pk))
    assert other.statement(doctor_user.pk) is None
    # A key that reaches the SQL transformed (LIKE pattern), not as itself.
    contains = CompiledQuery(Patient, lambda name: Patient.objects.filter(last_name__contains=name))
    assert contains.statement(patient.last_name) is None
    assert contains.all(patient.last_name[1:]) == list(
        Patient.objects.filter(last_name__contains=patient.last_name[1:])
    )
    # A str for an integer field: the ORM decides (it reads "12" as 12, refuses "abc").
    by_pk = CompiledQuery(Patient, lambda pk: Patient.objects.filter(pk=pk))
    assert by_pk.statement(str(patient.pk)) is None
    assert by_pk.first(str(patient.pk)) == patient
    with pytest.raises(ValueError, match="expected a number"):
        by_pk.first("abc")
    # An int for a text field: converted to text by the ORM, so no sentinel among the params.
    by_name = CompiledQuery(Patient, lambda name: Patient.objects.filter(last_name=name))
    assert by_name.statement(7) is None
    # Annotations, prefetches, values(): the ORM's iterables.
    annotated = CompiledQuery(
        Patient, lambda pk: Patient.objects.filter(pk=pk).annotate(n=Count("allergies"))
    )
    assert annotated.statement(patient.pk) is None
    assert annotated.first(patient.pk).n == 0
    prefetched = CompiledQuery(
        Patient, lambda pk: Patient.objects.filter(pk=pk).prefetch_related("allergies")
    )
    assert prefetched.statement(patient.pk) is None
    assert prefetched.first(patient.pk) == patient
    # Nothing to compile (an empty IN list): the ORM answers without a query.
    empty = CompiledQuery(Patient, lambda pk: Patient.objects.filter(pk=pk, id__in=[]))
    assert empty.statement(patient.pk) is None and empty.all(patient.pk) == []
    for wrong in (1.5, True, None, b"1"):
        with pytest.raises(TypeError):
            by_pk.first(wrong)


def test_fetch_together_returns_each_statements_rows():
    a, b = PatientFactory(), PatientFactory()
    by_pk = CompiledQuery(Patient, lambda pk: Patient.objects.filter(pk=pk))
    with CaptureQueriesContext(connection) as queries:
        first, second, third = fetch_together(
            [by_pk.statement(a.pk), by_pk.statement(b.pk), ("SELECT %s + 1", [41])]
        )
    assert len(queries) == 1
    assert [p.pk for p in by_pk.objects(first, a.pk)] == [a.pk]
    assert [p.pk for p in by_pk.objects(second, b.pk)] == [b.pk]
    assert third == [(42,)]


def test_fetch_together_takes_named_parameters():
    """Named parameters (as ``inventory.fastread.fetch_many`` sends): statements share the
    names they have in common; a name given two values is refused."""
    shared = {"a": 1, "b": 2}
    assert fetch_together([("SELECT %(a)s", shared), ("SELECT %(b)s", shared)]) == [
        [(1,)],
        [(2,)],
    ]
    assert fetch_together(
        [("SELECT %(a)s", {"a": 1}), ("SELECT %(a)s + %(b)s", {"a": 1, "b": 3})]
    ) == [[(1,)], [(4,)]]
    with pytest.raises(ValueError):
        fetch_together([("SELECT %(a)s", {"a": 1}), ("SELECT %(a)s", {"a": 2})])
    with pytest.raises(TypeError):
        fetch_together([("SELECT %(a)s", {"a": 1}), ("SELECT %s", [2])])


def test_rows_written_by_hand_read_as_the_orm_reads_them(doctor_user):
    """``columns``/``build``/``split``: a hand-written JOIN's row cut into instances, ``None``
    where the LEFT JOIN found nothing."""
    with_user = PatientFactory(user=doctor_user, birth_date=date(1990, 1, 2))
    without_user = PatientFactory(user=None)
    sql = (
        f"SELECT {columns(Patient, 'p')[0]}, {columns(User, 'u')[0]} FROM patients_patient p "
        "LEFT JOIN accounts_user u ON u.id = p.user_id WHERE p.id = %s"
    )
    for patient in (with_user, without_user):
        (row,) = fetch_together([(sql, [patient.pk])])[0]
        got, user = split(row, [Patient, User])
        want = Patient.objects.select_related("user").get(pk=patient.pk)
        assert _values([got]) == _values([want])
        assert _values([user] if user else []) == _values([want.user] if want.user else [])
        assert _values([build(Patient, row[: width(Patient)])]) == _values([want])
        assert got._state.adding is False and got._state.db == "default"


def test_compiled_counts_equal_the_orms_for_every_argument():
    from datetime import datetime, timedelta

    from django.utils import timezone

    from uscpis.compiled import CompiledCount

    base = timezone.make_aware(datetime(2026, 3, 4, 9, 0))
    patients = [PatientFactory() for _ in range(3)]
    for n, patient in enumerate(patients):
        for k in range(n + 1):
            AllergyFactory(patient=patient, substance=f"S{k}", is_active=k != 1)
    Patient.objects.filter(pk=patients[2].pk).update(created_at=base + timedelta(hours=4))
    Patient.objects.exclude(pk=patients[2].pk).update(created_at=base)

    def build(patient_id, substance, since):
        return Allergy.objects.filter(
            patient_id=patient_id, is_active=True, patient__created_at__gte=since
        ).exclude(substance=substance)

    counted = CompiledCount(Allergy, build)
    for patient in patients:
        for substance in ["S0", "S2", "nothing"]:
            for since in [base, base + timedelta(hours=3)]:
                args = (patient.pk, substance, since)
                assert counted.count(*args) == build(*args).count(), args
    sql, params = counted.statement(patients[0].pk, "S0", base)
    assert sql.startswith("SELECT COUNT(*) FROM (")
    assert sorted(map(str, params)) == sorted(map(str, [patients[0].pk, "S0", base]))
    with CaptureQueriesContext(connection) as one:
        assert fetch_together([counted.statement(p.pk, "x", base) for p in patients]) == [
            [(build(p.pk, "x", base).count(),)] for p in patients
        ]
    assert len(one.captured_queries) == 1 + len(patients)  # the statements, then the checks


def test_counts_it_cannot_compile_go_through_the_orm():
    from uscpis.compiled import CompiledCount

    patient = PatientFactory()
    AllergyFactory(patient=patient)
    # The argument reaches the SQL transformed (id + 0 is computed in Python first).
    shifted = CompiledCount(Allergy, lambda pid: Allergy.objects.filter(patient_id=pid + 0))
    assert shifted.statement(patient.pk) is not None  # same value: compiled
    doubled = CompiledCount(Allergy, lambda pid: Allergy.objects.filter(patient_id=pid * 1 + 1))
    assert doubled.statement(patient.pk - 1) is None
    assert doubled.count(patient.pk - 1) == 1  # the ORM counted
    with pytest.raises(TypeError):
        CompiledCount(Allergy, lambda d: Allergy.objects.all()).count(date(2020, 1, 1))


@pytest.mark.parametrize(
    "make",
    [
        lambda: Patient.objects.order_by("pk"),
        lambda: Patient.objects.only("id_number", "last_name", "created_at").order_by("-pk"),
        lambda: Patient.objects.defer("address").order_by("pk")[1:3],
        lambda: Patient.objects.order_by("last_name", "-id")[1:],
        lambda: Patient.objects.filter(year_level__isnull=False).order_by("-year_level", "pk"),
        lambda: Patient.objects.filter(middle_name__contains="&").order_by("pk").reverse(),
        lambda: Patient.objects.filter(allergies__isnull=False).distinct().order_by("pk"),
        lambda: (
            Patient.objects.only("last_name")
            .filter(RawSQL('"patients_patient"."year_level" IS NULL OR %s', [True], BooleanField()))
            .order_by("pk")[:5]
        ),
        lambda: Allergy.objects.select_related("patient").order_by("pk"),  # ModelIterable's
        lambda: Patient.objects.annotate(n=Count("allergies")).order_by("pk"),
    ],
)
def test_plain_instances_are_the_orms(make):
    """``plain_instances(qs)``: the instances the ORM makes (every loaded field, its type,
    deferred fields deferred, related objects and annotations where the query has them),
    in one statement."""
    from uscpis.compiled import plain_instances

    for n in range(3):
        AllergyFactory(patient=PatientFactory(year_level=n or None, middle_name="<&>"))
    orm = list(make())
    with CaptureQueriesContext(connection) as queries:
        fast = list(plain_instances(make()))
    assert len(queries) == 1
    assert [type(o) for o in fast] == [type(o) for o in orm] and len(orm) >= 2
    assert _values(fast) == _values(orm)
    assert [o.get_deferred_fields() for o in fast] == [o.get_deferred_fields() for o in orm]
    assert [o._state.adding for o in fast] == [False] * len(orm)
    assert [o._state.db for o in fast] == [o._state.db for o in orm]
    if isinstance(orm[0], Allergy):
        assert _values(o.patient for o in fast) == _values(o.patient for o in orm)
    if hasattr(orm[0], "n"):
        assert [o.n for o in fast] == [o.n for o in orm]
    values = make().values("pk")
    assert plain_instances(values) is values  # not a list of instances: left as it is


def test_one_table_lists_are_written_without_the_compiler():
    """``one_table_select`` writes the SQL of a one-table list in a plain order (the filter
    compiled alone) and declines anything it would get wrong, which the compiler then
    writes; the statement it writes finds what the ORM's does."""
    from uscpis.compiled import one_table_select, plain_instances

    for n in range(4):
        PatientFactory(year_level=n or None)
    conn = connection
    plain = Patient.objects.filter(year_level__gte=1).order_by("-year_level", "pk")[1:3]
    sql, params = one_table_select(plain, conn, '"patients_patient"."id"')
    assert "JOIN" not in sql and sql.endswith("LIMIT 2 OFFSET 1") and params == [1]
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        assert [r[0] for r in cursor.fetchall()] == [p.pk for p in plain]
    declined = [
        Patient.objects.order_by("pk").reverse(),
        Patient.objects.distinct().order_by("pk"),
        Patient.objects.filter(allergies__isnull=False).order_by("pk"),
        Patient.objects.all(),  # no explicit order (the model's own applies)
        Patient.objects.order_by("allergies__substance"),
        Patient.objects.select_for_update().order_by("pk"),
    ]
    assert all(one_table_select(qs, conn, "1") is None for qs in declined)
    with pytest.raises(EmptyResultSet):
        one_table_select(Patient.objects.none().order_by("pk"), conn, "1")
    with CaptureQueriesContext(connection) as queries:
        assert list(plain_instances(Patient.objects.none().order_by("pk"))) == []
    assert len(queries) == 0


def test_a_32_bit_key_is_compiled_too(admin_user):
    """A model with a 32-bit integer key (django-otp's devices): Django finds the usual
    sentinel out of that column's range and compiles the lookup to nothing, so the query
    is compiled with sentinels that fit, and gives the ORM's rows for any key."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from uscpis.compiled import CompiledCount

    device = TOTPDevice.objects.create(user=admin_user, name="phone", confirmed=True)
    by_pk = CompiledQuery(TOTPDevice, lambda pk: TOTPDevice.objects.filter(id=pk))
    sql, params = by_pk.statement(device.pk)
    assert params == [device.pk] and "otp_totp_totpdevice" in sql
    assert _values(by_pk.all(device.pk)) == _values(TOTPDevice.objects.filter(id=device.pk))
    with CaptureQueriesContext(connection) as seen:
        assert by_pk.first(device.pk + 1) is None
        assert by_pk.first(2**40) is None  # past the column's range: no row, no error
    assert len(seen) == 2
    counted = CompiledCount(TOTPDevice, lambda pk: TOTPDevice.objects.filter(id=pk))
    assert counted.statement(device.pk) is not None
    assert counted.count(device.pk) == 1 and counted.count(2**40) == 0
    # An empty filter is nothing with either sentinel: the ORM answers.
    empty = CompiledQuery(TOTPDevice, lambda pk: TOTPDevice.objects.filter(id=pk, pk__in=[]))
    assert empty.statement(device.pk) is None and empty.first(device.pk) is None

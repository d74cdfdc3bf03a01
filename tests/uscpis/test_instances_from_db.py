"""``uscpis.compiled.instances_from_db`` makes the instances ``Model.from_db`` makes (the
lists' rows: 25 invoices and their patients a page), without ``Model.__init__`` per row,
and leaves it to ``from_db`` whenever the difference could be seen."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db.models.signals import post_init

from billing.models import Invoice
from patients.models import Patient, PatientDocument
from tests.patients.factories import PatientFactory
from uscpis.compiled import _fast_attnames, instances_from_db

pytestmark = pytest.mark.django_db

INVOICE_NAMES = ("id", "patient_id", "visit_day", "status", "number", "net_total")
INVOICE_ROWS = [
    (1, 7, date(2026, 1, 2), "issued", "INV-1", Decimal("10.00")),
    (2, 8, date(2026, 1, 3), "paid", "", Decimal("0.50")),
]


def _same(fast, slow) -> None:
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow, strict=True):
        assert type(a) is type(b)
        assert list(a.__dict__) == list(b.__dict__)  # the same attributes, in the same order
        for key, value in b.__dict__.items():
            if key == "_state":
                assert (a._state.adding, a._state.db) == (value.adding, value.db)
                assert a._state.fields_cache == value.fields_cache == {}
            else:
                assert getattr(a, key) == value and type(a.__dict__[key]) is type(value)
        assert a.get_deferred_fields() == b.get_deferred_fields()
        assert a == b and a.pk == b.pk


def test_the_instances_from_db_makes():
    fast = instances_from_db(Invoice, "default", INVOICE_NAMES, INVOICE_ROWS)
    slow = [Invoice.from_db("default", INVOICE_NAMES, row) for row in INVOICE_ROWS]
    _same(fast, slow)
    assert fast[0].get_deferred_fields() >= {"amount_paid", "issued_at"}
    assert "net_total" not in fast[0].get_deferred_fields()
    assert instances_from_db(Invoice, "default", INVOICE_NAMES, []) == []


def test_a_whole_row_and_the_database_alias():
    patient = PatientFactory(middle_name="<Q>")
    fields = Patient._meta.concrete_fields
    row = tuple(getattr(patient, f.attname) for f in fields)
    names = tuple(f.attname for f in fields)
    fast = instances_from_db(Patient, "other", names, [row])
    _same(fast, [Patient.from_db("other", names, row)])
    assert fast[0]._state.db == "other" and not fast[0].get_deferred_fields()
    assert fast[0].full_name == patient.full_name


def test_a_deferred_column_loads_as_from_dbs_does():
    patient = PatientFactory(first_name="Ana", last_name="Cruz")
    names = ("id", "last_name")
    (fast,) = instances_from_db(Patient, "default", names, [(patient.pk, "Cruz")])
    (slow,) = [Patient.from_db("default", names, (patient.pk, "Cruz"))]
    assert fast.first_name == slow.first_name == "Ana"  # loaded from the database
    assert fast.get_deferred_fields() == slow.get_deferred_fields()


def test_a_post_init_receiver_sees_every_instance():
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance.pk)

    post_init.connect(receiver, sender=Invoice)
    try:
        made = instances_from_db(Invoice, "default", INVOICE_NAMES, INVOICE_ROWS)
    finally:
        post_init.disconnect(receiver, sender=Invoice)
    assert seen == [1, 2] and [i.pk for i in made] == [1, 2]


def test_a_column_with_its_own_descriptor_goes_through_from_db():
    names = tuple(f.attname for f in PatientDocument._meta.concrete_fields)
    assert _fast_attnames(PatientDocument, names) is None  # FileField: FieldFile wrapping
    assert _fast_attnames(Invoice, INVOICE_NAMES) == INVOICE_NAMES


def test_the_values_are_read_in_field_order_as_from_db_reads_them():
    shuffled = ("number", "id", "status", "patient_id", "visit_day", "net_total")
    fast = instances_from_db(Invoice, "default", shuffled, INVOICE_ROWS)
    _same(fast, [Invoice.from_db("default", shuffled, row) for row in INVOICE_ROWS])

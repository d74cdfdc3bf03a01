"""Serializer fast paths: the project ModelSerializer builds its fields once per class (each
serializer still gets its own field instances), and the free-slot serializer's direct
representation is what DRF's generic one gives."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from appointments.api import SlotSerializer
from appointments.slots import Slot
from inventory.api import ItemSerializer
from patients.api.rest import PatientSerializer


def test_model_serializer_builds_fields_once_and_hands_out_copies(monkeypatch):
    PatientSerializer().fields  # noqa: B018 - the prototype exists
    built = []
    original = serializers.ModelSerializer.build_field
    monkeypatch.setattr(
        serializers.ModelSerializer,
        "build_field",
        lambda self, *a, **k: built.append(a[0]) or original(self, *a, **k),
    )
    first, second = PatientSerializer(), PatientSerializer()
    assert list(first.fields) == list(second.fields) and "last_name" in first.fields
    assert built == []  # no model introspection after the first
    assert first.fields["last_name"] is not second.fields["last_name"]
    assert first.fields["last_name"].parent is first and second.fields["last_name"].parent is second
    # Another class builds its own.
    assert "usable" in ItemSerializer().fields and "usable" not in first.fields


@pytest.mark.parametrize("zone", ["Asia/Manila", "UTC"])
def test_slot_representation_is_drfs(zone):
    slots = [
        Slot(
            7,
            "Dr. Ana Cruz",
            datetime(2026, 3, 1, 1, 0, tzinfo=UTC),
            datetime(2026, 3, 1, 1, 20, tzinfo=UTC),
        ),
        Slot(
            8,
            "Dr. Ñ",
            datetime(2026, 12, 31, 23, 40, tzinfo=ZoneInfo("Asia/Manila")),
            datetime(2027, 1, 1, 0, 0, tzinfo=ZoneInfo("Asia/Manila")),
        ),
    ]
    with timezone.override(ZoneInfo(zone)):
        fast = SlotSerializer(slots, many=True).data
        generic = [serializers.Serializer.to_representation(SlotSerializer(), s) for s in slots]
    assert [dict(x) for x in fast] == [dict(x) for x in generic]
    assert fast[0]["start"].endswith("Z" if zone == "UTC" else "+08:00")


def _fast_and_generic(monkeypatch, serializer_class, instances, **kwargs):
    """The project serializer's output, and DRF's generic ``to_representation`` for the
    same objects (nested serializers included), as JSON text."""
    from rest_framework.renderers import JSONRenderer

    from uscpis.api import serializers as ours

    fast = JSONRenderer().render(serializer_class(instances, many=True, **kwargs).data)
    with monkeypatch.context() as m:
        m.setattr(
            ours.ModelSerializer, "to_representation", serializers.Serializer.to_representation
        )
        generic = JSONRenderer().render(serializer_class(instances, many=True, **kwargs).data)
    return fast.decode(), generic.decode()


@pytest.mark.parametrize("zone", ["Asia/Manila", "UTC"])
def test_model_rows_are_represented_as_drf_does(world, monkeypatch, zone):
    """Every model serializer's rows (plain fields, properties, dotted sources, related
    primary keys, nested serializers, decimals, dates and datetimes, empty values) come out
    of the per-serializer plan exactly as DRF's field-by-field reading gives them."""
    from appointments.api import AppointmentSerializer
    from billing.api import ClaimSerializer, InvoiceSerializer
    from patients.api.rest import (
        AllergySerializer,
        CertificateSerializer,
        VisitSerializer,
        VisitSummarySerializer,
    )
    from patients.models import Patient

    Patient.objects.filter(pk=world.other.pk).update(
        philhealth_pin="123456789012", middle_name="", year_level=None, email="ñ<&>@usc.edu.ph"
    )
    patients = list(Patient.objects.order_by("pk"))
    cases = [
        (PatientSerializer, patients),
        (VisitSerializer, [world.visit, world.other_visit]),
        (VisitSummarySerializer, [world.visit]),
        (AllergySerializer, list(world.patient.allergies.all())),
        (CertificateSerializer, list(world.patient.certificates.all())),
        (AppointmentSerializer, [world.appointment, world.other_appointment]),
        (ItemSerializer, [world.item]),
        (InvoiceSerializer, [world.invoice, world.other_invoice]),
        (ClaimSerializer, [world.claim]),
    ]
    with timezone.override(ZoneInfo(zone)):
        for serializer_class, instances in cases:
            assert instances, serializer_class
            fast, generic = _fast_and_generic(monkeypatch, serializer_class, instances)
            assert fast == generic, serializer_class.__name__
            many = JSONRenderer().render(serializer_class.represent_many(instances)).decode()
            assert many == generic, serializer_class.__name__
    assert (
        '"philhealth_pin":"12-345678901-2"'
        in _fast_and_generic(monkeypatch, PatientSerializer, patients)[0]
    )


def test_a_plain_field_that_fails_to_read_is_handled_as_drf_does():
    """A missing attribute on a plain field goes through DRF's own handling (here: an
    optional field is left out), and a callable attribute is called as DRF calls it."""

    class Row:
        id = 7

        def last_name(self):
            return "Cruz"

    class RowSerializer(PatientSerializer):
        class Meta(PatientSerializer.Meta):
            fields = ["id", "last_name", "first_name"]
            read_only_fields = fields
            extra_kwargs = {"first_name": {"required": False}}

    ser = RowSerializer()
    ser.fields["first_name"].required = False
    assert ser.to_representation(Row()) == {"id": 7, "last_name": "Cruz"}
    assert ser.to_representation({"id": 8, "last_name": "Go", "first_name": "Ana"}) == {
        "id": 8,
        "last_name": "Go",
        "first_name": "Ana",
    }


_ZONES = st.sampled_from([UTC, ZoneInfo("Asia/Manila"), ZoneInfo("America/New_York")])
_MOMENTS = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),  # naive
    st.builds(
        lambda moment, zone: moment.replace(tzinfo=zone),
        st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1)),
        _ZONES,
    ),
)
_TEXT = st.text(max_size=12)


def _patients():
    from patients.models import Patient

    return st.builds(
        Patient,
        id=st.one_of(st.none(), st.integers(1, 2**62)),
        id_number=_TEXT,
        first_name=_TEXT,
        middle_name=_TEXT,
        last_name=_TEXT,
        sex=st.sampled_from(["F", "M", "X", "", "?"]),
        birth_date=st.one_of(st.none(), st.dates()),
        email=_TEXT,
        phone=_TEXT,
        address=_TEXT,
        patient_type=st.sampled_from(["student", "employee", "dependent", "", "other"]),
        college=_TEXT,
        course=_TEXT,
        year_level=st.one_of(st.none(), st.integers(0, 9)),
        department=_TEXT,
        emergency_contact_name=_TEXT,
        emergency_contact_phone=_TEXT,
        emergency_contact_relation=_TEXT,
        blood_type=st.sampled_from(["", "A+", "O-", "Z"]),
        philhealth_pin=st.one_of(st.none(), st.from_regex(r"\A\d{12}\Z")),
        created_at=_MOMENTS,
        updated_at=_MOMENTS,
    )


@hypothesis_settings(max_examples=150, deadline=None)
@given(patients=st.lists(_patients(), max_size=4), zone=st.sampled_from(["Asia/Manila", "UTC"]))
def test_represent_many_is_drfs_generic_reading(patients, zone):
    """Patients with any values (empty, naive or aware datetimes in any zone, choices that
    are not choices, no birth date): ``represent_many`` gives what DRF's field-by-field
    ``to_representation`` gives, and what the serializer's ``data`` gives."""
    with timezone.override(ZoneInfo(zone)):
        generic = [
            serializers.Serializer.to_representation(PatientSerializer(), p) for p in patients
        ]
        assert PatientSerializer.represent_many(patients) == generic
        assert [dict(row) for row in PatientSerializer(patients, many=True).data] == generic


def test_represent_many_hands_other_serializers_and_odd_rows_to_drf(world):
    """A serializer with nested or related fields is DRF's; a row whose attribute is missing
    or callable goes through DRF's handling, the other rows keep the plain reading."""
    from patients.api.rest import VisitSerializer

    assert VisitSerializer.represent_many([world.visit]) == [
        dict(VisitSerializer(world.visit).data)
    ]

    class Row:
        id = 7

        def last_name(self):
            return "Cruz"

    class RowSerializer(PatientSerializer):
        class Meta(PatientSerializer.Meta):
            fields = ["id", "last_name"]
            read_only_fields = fields

    class Plain:
        id = 8
        last_name = "Go"

    assert RowSerializer.represent_many([Row(), Plain(), {"id": 9, "last_name": "Yu"}]) == [
        {"id": 7, "last_name": "Cruz"},
        {"id": 8, "last_name": "Go"},
        {"id": 9, "last_name": "Yu"},
    ]

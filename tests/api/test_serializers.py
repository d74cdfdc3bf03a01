"""Serializer fast paths: the project ModelSerializer builds its fields once per class (each
serializer still gets its own field instances), and the free-slot serializer's direct
representation is what DRF's generic one gives."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from rest_framework import serializers

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

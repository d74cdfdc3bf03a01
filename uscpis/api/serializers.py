"""The project's ``ModelSerializer``: DRF's, with its fields built from the model once per
serializer class instead of on every instantiation.

DRF's ``ModelSerializer.get_fields`` introspects the model for every field on every
serializer it makes (``build_field``, ``get_field_kwargs``, uniqueness validators): about as
much work as the rest of a small API read. The fields depend only on the class (its
``Meta`` and declared fields), so the first build is kept and each serializer gets a deep
copy of it (what DRF already does with declared fields): the same unbound field instances,
made without the introspection. Subclasses that build fields from ``self.context`` or the
instance must not use it (none does).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import date, datetime

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import ISO_8601, api_settings


class ModelSerializer(serializers.ModelSerializer):
    def get_fields(self):
        cls = type(self)
        prototype = cls.__dict__.get("_field_prototypes")
        if prototype is None:
            prototype = super().get_fields()
            cls._field_prototypes = prototype
        return copy.deepcopy(prototype)

    def to_representation(self, instance):
        """DRF's ``Serializer.to_representation``, with each field's way of reading its
        value worked out once per serializer rather than on every row: a plain field read
        from one attribute (``CharField``, ``IntegerField``, ``DateField``…, not a
        subclass) is read with ``getattr`` and converted by its own ``to_representation``;
        anything else (dotted or ``*`` sources, callables, related and nested fields,
        dictionaries, a missing attribute) goes through the field's ``get_attribute`` as in
        DRF. The output is the same, key for key (``tests/api/test_serializers.py``)."""
        if isinstance(instance, Mapping):
            return super().to_representation(instance)
        plan = self.__dict__.get("_row_plan")
        if plan is None:
            plan = self._row_plan = _row_plan(self._readable_fields)
        ret = {}
        for name, field, attr, convert in plan:
            if attr is not None:
                try:
                    value = getattr(instance, attr)
                except Exception:  # DRF's own handling (defaults, SkipField, errors)
                    value = _GENERIC
                else:
                    if callable(value):
                        value = _GENERIC
            else:
                value = _GENERIC
            if value is _GENERIC:
                try:
                    value = field.get_attribute(instance)
                except SkipField:
                    continue
                check = value.pk if isinstance(value, PKOnlyObject) else value
                ret[name] = None if check is None else field.to_representation(value)
            else:
                ret[name] = None if value is None else convert(value)
        return ret

    @classmethod
    def represent_many(cls, instances) -> list[dict]:
        """``cls(instances, many=True).data`` as a list of plain dicts (the same keys,
        values and order) without making the serializer's fields again on every call:
        when every field reads one attribute and converts it by itself (no context,
        nothing related or nested), the fields made once per class and time zone read
        the rows; any other serializer, and any row a plain read does not suit, goes
        through DRF's way (``tests/api/test_serializers.py``)."""
        zone = timezone.get_current_timezone() if settings.USE_TZ else None
        plans = cls.__dict__.get("_many_plans")
        if plans is None:
            plans = cls._many_plans = {}
        plan = plans.get(zone)
        if plan is None:
            prototype = cls()
            plan = plans[zone] = (prototype, _row_plan(prototype._readable_fields))
        prototype, fields = plan
        if any(attr is None for _, _, attr, _ in fields):
            return [dict(row) for row in cls(instances, many=True).data]
        out = []
        for instance in instances:
            if isinstance(instance, Mapping):
                out.append(prototype.to_representation(instance))
                continue
            row = {}
            for name, _, attr, convert in fields:
                try:
                    value = getattr(instance, attr)
                except Exception:  # DRF's own handling, row by row
                    row = prototype.to_representation(instance)
                    break
                if callable(value):
                    row = prototype.to_representation(instance)
                    break
                row[name] = None if value is None else convert(value)
            out.append(row)
        return out


_GENERIC = object()
# Field classes whose value is one attribute converted by ``to_representation`` alone (no
# related objects, no context): read by the fast path when used as they are, not subclassed.
_PLAIN_FIELDS = (
    serializers.BigIntegerField,
    serializers.BooleanField,
    serializers.CharField,
    serializers.ChoiceField,
    serializers.DateField,
    serializers.DateTimeField,
    serializers.DecimalField,
    serializers.EmailField,
    serializers.FloatField,
    serializers.IntegerField,
    serializers.ReadOnlyField,
    serializers.TimeField,
    serializers.URLField,
    serializers.UUIDField,
)


def _row_plan(fields) -> list[tuple]:
    """(output name, field, attribute or None, converter) for each readable field."""
    plan = []
    for field in fields:
        plain = type(field) in _PLAIN_FIELDS and len(field.source_attrs) == 1
        if isinstance(field, serializers.DateTimeField) and not hasattr(field, "timezone"):
            # What ``enforce_timezone`` asks for on every value, asked once per serializer.
            field.timezone = field.default_timezone()
        plan.append(
            (field.field_name, field, field.source_attrs[0] if plain else None, _converter(field))
        )
    return plan


def _converter(field):
    """``field.to_representation`` for a value that is not None, written out for the plain
    field types' usual values (anything else is handed to the field itself)."""
    kind = type(field)
    if kind is serializers.CharField:
        return str  # CharField.to_representation
    if kind is serializers.IntegerField:
        return int  # IntegerField.to_representation
    if kind is serializers.BigIntegerField:
        if getattr(field, "coerce_to_string", api_settings.COERCE_BIGINT_TO_STRING):
            return str
        return int
    if kind is serializers.ChoiceField:
        choices = field.choice_strings_to_values

        def choice(value):
            return value if value == "" else choices.get(str(value), value)

        return choice
    if kind is serializers.DateField and _iso(field, api_settings.DATE_FORMAT):
        generic_date = field.to_representation

        def day(value):
            return value.isoformat() if type(value) is date else generic_date(value)

        return day
    zone = getattr(field, "timezone", None)
    if (
        kind is serializers.DateTimeField
        and zone is not None
        and _iso(field, api_settings.DATETIME_FORMAT)
    ):
        generic_moment = field.to_representation

        def moment(value):
            # enforce_timezone, then the ISO text with "Z" for UTC, for an aware datetime
            if type(value) is not datetime or value.utcoffset() is None:
                return generic_moment(value)
            text = value.astimezone(zone).isoformat()
            return text[:-6] + "Z" if text.endswith("+00:00") else text

        return moment
    return field.to_representation


def _iso(field, default) -> bool:
    output_format = getattr(field, "format", default)
    return output_format is not None and output_format.lower() == ISO_8601

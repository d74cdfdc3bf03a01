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

from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject


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


_GENERIC = object()
# Field classes whose value is one attribute converted by ``to_representation`` alone (no
# related objects, no context): read by the fast path when used as they are, not subclassed.
_PLAIN_FIELDS = (
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
        if type(field) is serializers.CharField:
            convert = str  # CharField.to_representation
        elif type(field) is serializers.IntegerField:
            convert = int  # IntegerField.to_representation
        else:
            convert = field.to_representation
        plan.append((field.field_name, field, field.source_attrs[0] if plain else None, convert))
    return plan

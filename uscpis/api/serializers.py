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

from rest_framework import serializers


class ModelSerializer(serializers.ModelSerializer):
    def get_fields(self):
        cls = type(self)
        prototype = cls.__dict__.get("_field_prototypes")
        if prototype is None:
            prototype = super().get_fields()
            cls._field_prototypes = prototype
        return copy.deepcopy(prototype)

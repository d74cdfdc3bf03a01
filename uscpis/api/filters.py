"""Ordering only on the fields a view whitelists; anything else is a 400, never a 500."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.filters import OrderingFilter


class StrictOrderingFilter(OrderingFilter):
    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        if params is None:
            return self.get_default_ordering(view)
        allowed = {
            name for name, _label in self.get_valid_fields(queryset, view, {"request": request})
        }
        fields = [p.strip() for p in params.split(",") if p.strip()]
        unknown = [f for f in fields if f.lstrip("-") not in allowed]
        if unknown or not fields:
            raise serializers.ValidationError(
                {
                    self.ordering_param: [
                        f"Unknown ordering {', '.join(unknown) or '(empty)'}; allowed: "
                        f"{', '.join(sorted(allowed)) or 'none'} (prefix - for descending)."
                    ]
                }
            )
        ordering = list(fields)
        # A unique tie-breaker keeps cursor pages stable.
        if not any(f.lstrip("-") == "id" for f in ordering):
            ordering.append("id")
        return ordering

    def get_valid_fields(self, queryset, view, context=None):
        fields = getattr(view, "ordering_fields", None) or []
        return [(f, f) for f in fields]

    def get_schema_operation_parameters(self, view):
        if not getattr(view, "ordering_fields", None):
            return []
        params = super().get_schema_operation_parameters(view)
        for p in params:
            allowed = []
            for f in view.ordering_fields:
                allowed += [f, f"-{f}"]
            p["schema"] = {"type": "string", "enum": allowed}
            p["description"] = "Sort by one field (prefix - for descending)."
        return params

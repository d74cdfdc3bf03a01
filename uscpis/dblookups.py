"""``field = ANY(%s)``: membership in a list of ids sent as one array parameter.

``field__in=ids`` writes one placeholder per id; with hundreds of ids Django prepares each
value and psycopg splits a query with hundreds of placeholders, which costs more than
running it. ``any_of("visit_id", ids)`` sends the list as a single ``bigint[]`` (PostgreSQL
uses the index on the column just as for ``IN``); an empty list matches nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.postgres.fields import ArrayField
from django.db.models import BigIntegerField, F, Lookup, Q
from django.db.models.expressions import RawSQL


class _AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]


def any_of(field: str, ids: Iterable[int]) -> _AnyOf | Q:
    """A filter expression: ``field`` (an integer column) is one of ``ids``."""
    ids = [int(i) for i in ids]
    if not ids:
        return Q(pk__in=[])
    # A raw parameter: psycopg adapts the list of ints as an array in one go (a Value
    # with an ArrayField would have Django prepare every element).
    return _AnyOf(
        F(field), RawSQL("%s::bigint[]", (ids,), output_field=ArrayField(BigIntegerField()))
    )

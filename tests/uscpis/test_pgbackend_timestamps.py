"""The database backend reads ``timestamptz`` with psycopg's C loader: the same values, in
the same time zone object, as Django's own (pure-Python) loader gives."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from django.db import DataError, connection
from django.db.backends.postgresql.psycopg_any import BaseTzLoader, register_tzloader
from django.utils import timezone as dj_timezone

from patients.models import Patient
from tests.patients.factories import PatientFactory
from uscpis.pgbackend.base import _C_TIMESTAMPTZ_LOADER, UtcTimestamptzLoader

pytestmark = pytest.mark.django_db

VALUES = [
    "2026-12-05 22:48:51.598485+00",
    "2026-12-05 22:48:51+00",
    "2026-12-05 22:48:51.5+00",
    "2026-06-30 23:59:59.999999+08",  # another offset: the same instant, read in UTC
    "2026-01-01 00:00:00-05:30",
    "1970-01-01 00:00:00+00",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
    "2024-02-29 12:00:00.000001+00",
]
SQL = "SELECT " + ", ".join(f"%s::timestamptz AS v{i}" for i in range(len(VALUES)))


def _read(django_loader: bool):
    with connection.cursor() as cursor:
        if django_loader:  # what Django's backend registers, on this cursor only
            register_tzloader(UTC, cursor.cursor)
        cursor.execute(SQL, VALUES)
        return cursor.fetchone()


def test_the_connection_reads_timestamptz_in_c():
    connection.ensure_connection()
    oid = psycopg.postgres.types["timestamptz"].oid
    registered = connection.connection.adapters.get_loader(oid, psycopg.pq.Format.TEXT)
    assert registered is UtcTimestamptzLoader and registered.timezone is UTC
    assert _C_TIMESTAMPTZ_LOADER.__module__.startswith(("psycopg_binary", "psycopg_c"))
    with connection.cursor() as cursor:
        # no loader of the cursor's own (Django's create_cursor found the time zone agreed)
        assert cursor.cursor.adapters.get_loader(oid, psycopg.pq.Format.TEXT) is registered
        made = psycopg.adapt.Transformer.from_context(cursor.cursor)
        loader = made.get_loader(oid, psycopg.pq.Format.TEXT)
        assert type(loader) is _C_TIMESTAMPTZ_LOADER  # not Django's Python subclass
        assert not isinstance(loader, BaseTzLoader)


def test_the_values_are_djangos_to_the_microsecond_and_time_zone_object():
    ours, djangos = _read(False), _read(True)
    assert ours == djangos
    for mine, theirs in zip(ours, djangos, strict=True):
        assert mine.tzinfo is theirs.tzinfo is UTC
        assert (mine.year, mine.microsecond, mine.hour) == (
            theirs.year,
            theirs.microsecond,
            theirs.hour,
        )
    assert ours[3] == datetime(2026, 6, 30, 15, 59, 59, 999999, tzinfo=UTC)


def test_a_value_python_cannot_hold_fails_alike():
    for text in ("infinity", "-infinity", "0044-03-15 00:00:00+00 BC"):
        errors = []
        for django_loader in (False, True):
            with connection.cursor() as cursor:
                if django_loader:
                    register_tzloader(UTC, cursor.cursor)
                with pytest.raises(DataError) as raised:
                    cursor.execute("SELECT %s::timestamptz", [text])
                    cursor.fetchone()
                errors.append(type(raised.value))
        assert errors[0] is errors[1]


def test_models_get_aware_utc_datetimes():
    made = PatientFactory()
    read = Patient.objects.get(pk=made.pk)
    assert read.created_at.tzinfo is UTC
    assert dj_timezone.is_aware(read.created_at)
    assert abs((read.created_at - made.created_at).total_seconds()) < 1e-6

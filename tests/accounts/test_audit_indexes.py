"""The audit trail keeps one index per way it is read, and no more (each is a write per
event): the actor's events come from the (actor, created_at) index, not a second one."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def _indexes() -> dict[str, tuple[str, ...]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "accounts_auditevent")
    return {name: tuple(c["columns"]) for name, c in constraints.items() if c["index"]}


def test_actor_lookups_have_exactly_one_index():
    by_columns = list(_indexes().values())
    assert ("actor_id",) not in by_columns
    assert ("actor_id", "created_at") in by_columns


def test_the_actor_is_still_a_foreign_key():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "accounts_auditevent")
    fks = [c["foreign_key"] for c in constraints.values() if c["foreign_key"]]
    assert ("accounts_user", "id") in fks


def test_a_users_events_are_found_through_the_actor_index(django_user_model):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM accounts_auditevent WHERE actor_id = 1 "
            "ORDER BY created_at DESC LIMIT 50"
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "accounts_au_actor_i_e03d4d_idx" in plan

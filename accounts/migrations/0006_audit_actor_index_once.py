"""The audit trail's actor column loses its single-column index: the (actor, created_at)
index answers every lookup by actor, and each index is one more write per audited request.

Only the index is dropped (a moment's lock). A plain AlterField would also drop and re-add
the foreign key, re-checking every event while blocking writes to the trail.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

INDEX = "accounts_auditevent_actor_id_179eee89"


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_api_tokens"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="actor",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{INDEX}"',
                    reverse_sql=(
                        f'CREATE INDEX IF NOT EXISTS "{INDEX}" '
                        'ON "accounts_auditevent" ("actor_id")'
                    ),
                ),
            ],
        ),
    ]

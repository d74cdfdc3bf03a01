"""Reminder timing: when an appointment was last rescheduled, and reminders skipped because a
nearer one went out instead.

``rescheduled_at`` is backfilled from the history: the time of each appointment's latest
reschedule event (those record ``from`` and ``to`` in their detail).
"""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def backfill_rescheduled_at(apps, schema_editor):
    Appointment = apps.get_model("appointments", "Appointment")
    AppointmentEvent = apps.get_model("appointments", "AppointmentEvent")
    moves = AppointmentEvent.objects.filter(detail__has_keys=["from", "to"])
    latest = moves.filter(appointment=OuterRef("pk")).order_by("-at", "-id").values("at")[:1]
    Appointment.objects.filter(pk__in=moves.values("appointment_id")).update(
        rescheduled_at=Subquery(latest)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("appointments", "0002_appointment_visit"),
    ]

    operations = [
        migrations.AddField(
            model_name="appointment",
            name="rescheduled_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="reminderclaim",
            name="skipped_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(backfill_rescheduled_at, migrations.RunPython.noop),
    ]

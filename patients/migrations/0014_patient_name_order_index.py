"""The name-order index also carries ``id`` (the list's last sort key) and, as included
columns, the ID number and search text a patient search filters on: a search with many
matches then walks the index in name order and tests each entry there (an index-only scan)
instead of reading a table row for every name it passes. It replaces the plain
(last_name, first_name) index, whose every use it serves. Built and dropped concurrently, so
registrations are not blocked while it builds."""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("patients", "0013_visit_started_id_diagnosis_code_visit")]

    operations = [
        AddIndexConcurrently(
            model_name="patient",
            index=models.Index(
                fields=["last_name", "first_name", "id"],
                include=["id_number", "search_text"],
                name="patients_patient_name_order",
            ),
        ),
        RemoveIndexConcurrently(model_name="patient", name="patients_pa_last_na_1b32a7_idx"),
    ]

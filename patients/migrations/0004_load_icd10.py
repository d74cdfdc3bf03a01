"""Load the complete WHO ICD-10 list into ``Icd10Code`` (about 12,000 codes)."""

from django.db import migrations


def load(apps, schema_editor):
    from patients.icd10 import icd10_load

    icd10_load(apps.get_model("patients", "Icd10Code"))


class Migration(migrations.Migration):
    dependencies = [("patients", "0003_search_indexes")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]

"""Recompute ``Patient.search_text`` with the compact names: names without their spaces,
apostrophes and hyphens ("obrien" for O'Brien, "delacruz" for Dela Cruz) are now included.
Same batched pass as 0005 (only rows whose text changes are written)."""

from importlib import import_module

from django.db import migrations


# The same batched pass as 0005 (it uses the current ``patient_search_text``).
recompute = import_module("patients.migrations.0005_recompute_search_text").recompute


class Migration(migrations.Migration):
    dependencies = [("patients", "0007_certificate_revocation")]

    operations = [migrations.RunPython(recompute, migrations.RunPython.noop, elidable=True)]

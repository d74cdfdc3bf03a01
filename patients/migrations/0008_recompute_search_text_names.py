"""Recompute ``Patient.search_text`` with the compact names: names without their spaces,
apostrophes and hyphens ("obrien" for O'Brien, "delacruz" for Dela Cruz) are now included.
Same batched pass as 0005 (only rows whose text changes are written)."""

from django.db import migrations


def recompute(apps, schema_editor):
    from patients.models import patient_search_text

    Patient = apps.get_model("patients", "Patient")
    fields = ("last_name", "first_name", "middle_name", "id_number", "email")
    changed = []
    rows = Patient.objects.only("pk", "search_text", *fields).order_by("pk")
    for patient in rows.iterator(chunk_size=2000):
        text = patient_search_text(**{f: getattr(patient, f) for f in fields})
        if text != patient.search_text:
            patient.search_text = text
            changed.append(patient)
        if len(changed) >= 1000:
            Patient.objects.bulk_update(changed, ["search_text"])
            changed = []
    if changed:
        Patient.objects.bulk_update(changed, ["search_text"])


class Migration(migrations.Migration):
    dependencies = [("patients", "0007_certificate_revocation")]

    operations = [migrations.RunPython(recompute, migrations.RunPython.noop, elidable=True)]

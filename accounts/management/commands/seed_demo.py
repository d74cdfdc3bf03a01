"""``manage.py seed_demo``: idempotent demo data, one user per role and realistic records.

Each domain app contributes ``<app>/seed.py`` with ``run(stdout=...)``; they run in
dependency order (accounts first). Running it again changes nothing that already exists.
"""

from django.core.management.base import BaseCommand

from accounts.seed import DEMO_PASSWORD, DEMO_USERS
from uscpis.registry import app_modules


class Command(BaseCommand):
    help = "Create demo users (one per role) and realistic demo data. Safe to run repeatedly."

    def handle(self, *args, **options):
        for module in app_modules("seed"):
            self.stdout.write(f"Seeding {module.__name__.split('.')[0]}...")
            module.run(stdout=self.stdout)

        self.stdout.write(self.style.SUCCESS(f"\nDemo logins (password for all: {DEMO_PASSWORD})"))
        for email, _first, _last, role in DEMO_USERS:
            self.stdout.write(f"  {role:<18} {email}")

"""``manage.py audit verify``: check the audit trail's hash chain."""

from django.core.management.base import BaseCommand, CommandError

from accounts.audit import audit_chain_verify


class Command(BaseCommand):
    help = "Audit trail tools. 'verify' walks the hash chain and reports the first broken link."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["verify"])

    def handle(self, *args, **options):
        report = audit_chain_verify()
        if not report.ok:
            raise CommandError(
                f"Audit chain BROKEN at event {report.broken_at}: {report.reason}. "
                f"{report.checked} events before it are intact."
            )
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {report.checked} events verified."))

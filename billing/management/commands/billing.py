"""``manage.py billing check``: verify the money invariants (invoice totals = lines, paid =
allocations, payments fully accounted for, claims = lines and remittances, gap-free unique
document numbers); prints each breach and exits 1 when there is any.

``manage.py billing capture --since YYYY-MM-DD``: create the charges missing for billable
events since that day (completed appointments, signed visits, approved certificates,
dispensing, no-shows when the fee is on). Idempotent: a second run creates nothing.

``manage.py billing rebuild-open``: recompute the open-balance summary (kept by triggers;
only needed after writes that bypassed them).
"""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from billing.services.charges import capture_since
from billing.services.checks import billing_check
from billing.services.open_balances import open_balances_rebuild


class Command(BaseCommand):
    help = "Billing maintenance: `check` verifies the invariants; `capture --since` reconciles charges."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["check", "capture", "rebuild-open"])
        parser.add_argument("--since", help="First day to reconcile (YYYY-MM-DD), for capture")

    def handle(self, *args, action, since=None, **options):
        if action == "rebuild-open":
            patients = open_balances_rebuild()
            self.stdout.write(f"open balances rebuilt: {patients} patients with open invoices")
            return
        if action == "capture":
            if not since:
                raise CommandError("capture needs --since YYYY-MM-DD")
            try:
                day = date.fromisoformat(since)
            except ValueError as exc:
                raise CommandError(
                    f"--since must be a date like 2026-01-31, not {since!r}"
                ) from exc

            counts = capture_since(day)
            self.stdout.write(
                "captured "
                + ", ".join(f"{n} {kind}" for kind, n in counts.items())
                + f" (total {sum(counts.values())} new charges)"
            )
            return

        report = billing_check()
        failed = False
        for name, breaches in report.items():
            mark = "ok  " if not breaches else "FAIL"
            self.stdout.write(f"{mark} {name}")
            for line in breaches:
                failed = True
                self.stdout.write(f"     {line}")
        if failed:
            raise CommandError("billing check failed: the breaches are listed above", returncode=1)
        self.stdout.write("billing check passed")

"""``manage.py inventory check``: every lot's quantity equals the sum of its movements.

Prints each lot that disagrees and exits non-zero when any does (for cron and CI).
``manage.py inventory alerts`` runs the alert job once, in-process.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

LEDGER_CHECK_SQL = """
SELECT l.id, l.item_id, l.batch_number, l.quantity, COALESCE(m.total, 0) AS ledger
FROM inventory_stocklot l
LEFT JOIN (
    SELECT lot_id, SUM(quantity) AS total FROM inventory_stockmovement GROUP BY lot_id
) m ON m.lot_id = l.id
WHERE l.quantity <> COALESCE(m.total, 0)
ORDER BY l.id
"""


def ledger_mismatches() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(LEDGER_CHECK_SQL)
        return cursor.fetchall()


class Command(BaseCommand):
    help = "Inventory maintenance: `check` verifies lots against the ledger; `alerts` runs the alert job."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["check", "alerts"])

    def handle(self, *args, action, **options):
        if action == "alerts":
            from inventory.alerts import alerts_run

            run = alerts_run()
            self.stdout.write(
                f"quarantined {run.quarantined}, opened {len(run.opened)}, closed {run.closed}"
            )
            return
        bad = ledger_mismatches()
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM inventory_stocklot")
            total = cursor.fetchone()[0]
        for lot_id, item_id, batch, quantity, ledger in bad:
            self.stdout.write(
                f"lot {lot_id} (item {item_id}, batch {batch}): quantity {quantity} but ledger sums to {ledger}"
            )
        if bad:
            raise CommandError(f"{len(bad)} of {total} lots disagree with the ledger.")
        self.stdout.write(self.style.SUCCESS(f"OK: all {total} lots match the ledger."))

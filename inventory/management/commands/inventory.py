"""``manage.py inventory check``: every lot's quantity equals the sum of its movements, and
every item's stored stock totals (on hand, available, on order) equal the sums of its lots
and open purchase-order lines.

Prints each lot or item that disagrees and exits non-zero when any does (for cron and CI).
``manage.py inventory recompute`` rebuilds the item totals from the lots (repair / bulk loads).
``manage.py inventory alerts`` runs the alert job once, in-process.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from inventory import totals
from inventory.alerts import alerts_run

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
        parser.add_argument("action", choices=["check", "alerts", "recompute"])

    def handle(self, *args, action, **options):
        if action == "alerts":
            run = alerts_run()
            self.stdout.write(
                f"quarantined {run.quarantined}, opened {len(run.opened)}, closed {run.closed}"
            )
            return

        if action == "recompute":
            with transaction.atomic():
                changed = totals.recompute_all()
            self.stdout.write(f"recomputed stock totals: {changed} items changed")
            return
        bad = ledger_mismatches()
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM inventory_stocklot")
            total = cursor.fetchone()[0]
        for lot_id, item_id, batch, quantity, ledger in bad:
            self.stdout.write(
                f"lot {lot_id} (item {item_id}, batch {batch}): quantity {quantity} but ledger sums to {ledger}"
            )
        drift = totals.mismatches()
        for item_id, on_hand, lots, available, lots_available, on_order, open_lines in drift:
            self.stdout.write(
                f"item {item_id}: stored on hand {on_hand} / available {available} / on order "
                f"{on_order} but lots sum to {lots} / {lots_available} and open orders to {open_lines}"
            )
        problems = []
        if bad:
            problems.append(f"{len(bad)} of {total} lots disagree with the ledger.")
        if drift:
            problems.append(
                f"{len(drift)} items' stock totals disagree with their lots or open orders "
                "(`manage.py inventory recompute` rebuilds them)."
            )
        if problems:
            raise CommandError(" ".join(problems))
        self.stdout.write(
            self.style.SUCCESS(
                f"OK: all {total} lots match the ledger and every item's totals match its lots."
            )
        )

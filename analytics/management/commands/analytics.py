"""``manage.py analytics rebuild [--since DATE] [--until DATE]`` and ``analytics refresh``.

``rebuild`` recomputes the daily rollups (then surveillance signals and forecasts);
``refresh`` does what the beat does every few minutes (today and yesterday). Exits
non-zero on a bad date.
"""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from analytics.services import rollups
from analytics.services.forecasts import forecasts_compute
from analytics.services.surveillance import signals_detect


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"Not a date (YYYY-MM-DD): {value!r}") from exc


class Command(BaseCommand):
    help = "Rebuild or refresh the analytics rollups, signals and forecasts."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        rebuild = sub.add_parser("rebuild", help="Recompute the daily rollups of past days.")
        rebuild.add_argument("--since", type=_date, help="First day (default: the first data)")
        rebuild.add_argument("--until", type=_date, help="Last day (default: today)")
        rebuild.add_argument(
            "--rollups-only", action="store_true", help="Skip signals and forecasts."
        )
        sub.add_parser("refresh", help="Refresh today's and yesterday's rollups.")

    def handle(self, *args, action, **options):

        if action == "refresh":
            rollups.rollup_refresh_today()
            self.stdout.write("Refreshed today's and yesterday's rollups.")
            return
        since, until = options.get("since"), options.get("until")
        if since and until and since > until:
            raise CommandError("--since is after --until")
        days = rollups.rollup_rebuild(since=since, until=until, stdout=self.stdout)
        self.stdout.write(f"Rebuilt {days} day(s) of rollups.")
        if not options.get("rollups_only"):
            opened = signals_detect()
            self.stdout.write(f"Surveillance: {len(opened)} new signal(s).")
            forecasts_compute()
            self.stdout.write("Forecasts recomputed.")

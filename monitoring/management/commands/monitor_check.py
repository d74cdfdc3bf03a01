"""``manage.py monitor_check``: run the health checks and alert (for cron, when the broker
or every worker is down and the beat job cannot run)."""

from django.core.management.base import BaseCommand

from monitoring.selectors import health_findings
from monitoring.services import health_check_run


class Command(BaseCommand):
    help = "Check database, broker, workers, backup age and disk; open/resolve incidents."

    def handle(self, *args, **opts):
        findings = health_findings()
        outcome = health_check_run(findings)
        for kind, problem in findings.items():
            self.stdout.write(
                f"{kind:<11} {'PROBLEM: ' + problem if problem else 'ok'}"
                + (f"  ({outcome[kind]})" if kind in outcome else "")
            )
        if any(findings.values()):
            raise SystemExit(1)

"""``manage.py monitor_check``: run the health checks and alert, outside Celery.

For cron or the compose ``monitor`` service, every minute: it works when the broker or every
worker is down (when the beat job ``check_health`` cannot run). Emails go straight to the
email backend. Exits 1 while there is a problem.
"""

from django.core.management.base import BaseCommand

from monitoring.selectors import health_findings
from monitoring.services.incidents import health_check_run


class Command(BaseCommand):
    help = (
        "Check database, broker, workers, backup age and disk; open/resolve incidents and "
        "email the admins; fail backups whose job was lost. Exits 1 while there is a problem."
    )

    def handle(self, *args, **opts):
        findings = health_findings()
        outcome = health_check_run(findings)
        for kind, problem in findings.items():
            self.stdout.write(
                f"{kind:<11} {'PROBLEM: ' + problem if problem else 'ok'}"
                + (f"  ({outcome[kind]})" if kind in outcome else "")
            )
        for kind in outcome.keys() - findings.keys():
            self.stdout.write(f"{kind:<11} {outcome[kind]}")
        if any(findings.values()):
            raise SystemExit(1)

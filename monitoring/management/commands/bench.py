"""``manage.py bench``: generate data at a chosen scale, then time named pages and services.

Runs against its own database (``USCPIS_DB_NAME=uscpis_bench``, set by ``make bench``) so
the demo data is never touched. Prints p50/p95 and query counts per case and writes
``var/bench/latest.json``. Exits non-zero when a case with a target misses it.
"""

import os
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from accounts.seed import DEMO_PASSWORD
from uscpis import benchhttp
from uscpis.bench import run_case, write_results
from uscpis.embedded_db import ensure_database_exists
from uscpis.registry import app_modules

SCALES = {
    "patients": 100_000,
    "visits_per_patient": 0,
    "appointments": 1_000_000,
    "items": 5_000,
    "movements": 2_000_000,
    "invoices": 200_000,  # billing: 3 lines each, ~250,000 payments
    "visits": 200_000,  # analytics: completed bench appointments given a visit + diagnosis
    "audit_events": 10_000_000,
}


class Command(BaseCommand):
    help = (
        "Benchmarks: generate data at scale, time pages/services, print p50/p95 and query counts."
    )

    def add_arguments(self, parser):
        for key, default in SCALES.items():
            parser.add_argument(f"--{key.replace('_', '-')}", type=int, default=default, dest=key)
        parser.add_argument("--requests", type=int, default=50, help="timed runs per case")
        parser.add_argument("--only", default="", help="run only cases whose name contains this")
        parser.add_argument("--skip-generate", action="store_true")
        parser.add_argument(
            "--output", default=str(Path(settings.VAR_DIR) / "bench" / "latest.json")
        )
        parser.add_argument(
            "--force", action="store_true", help="allow a database not named *_bench"
        )
        parser.add_argument(
            "--report-only", action="store_true", help="do not fail on missed targets"
        )
        http = parser.add_argument_group("HTTP mode (gunicorn + wrk, uscpis/benchhttp.py)")
        http.add_argument(
            "--http", action="store_true", help="measure over real HTTP instead of in-process"
        )
        http.add_argument("--duration", default="15s", help="wrk -d per page")
        http.add_argument(
            "--hello-window",
            default="5s",
            help="wrk -d of the hello run after each page (0: only first and last)",
        )
        http.add_argument("--connections", type=int, default=8, help="wrk -c")
        http.add_argument("--threads", type=int, default=2, help="wrk -t")
        http.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
        http.add_argument(
            "--password", default="", help="the seeded users' password (default: the demo one)"
        )
        http.add_argument(
            "--http-output", default=str(Path(settings.VAR_DIR) / "bench" / "http-latest.json")
        )

    def handle(self, *args, **opts):
        name = connection.settings_dict["NAME"]
        if not name.endswith("_bench") and not opts["force"]:
            raise CommandError(
                f"Refusing to benchmark database {name!r}: run `make bench` (uses uscpis_bench)."
            )
        scale = {key: opts[key] for key in SCALES}

        ensure_database_exists(connection.settings_dict)
        call_command("migrate", "--noinput", verbosity=0)
        modules = app_modules("bench")
        if not opts["skip_generate"]:
            call_command("seed_demo", stdout=self.stdout)
            for module in modules:
                self.stdout.write(f"[bench] generating data for {module.__name__.split('.')[0]}...")
                generate = getattr(module, "generate", None)
                if generate is not None:
                    generate(scale, self.stdout)
            # Bulk loads leave the visibility map and statistics stale: without a VACUUM the
            # planner prices index-only scans as heap fetches.
            # (Inside a transaction, e.g. a test, VACUUM is refused: ANALYZE only.)
            command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
            self.stdout.write(f"[bench] {command}...")
            with connection.cursor() as cursor:
                cursor.execute(command)
        if opts["http"]:
            self._http(modules, opts)
            return
        conditions = {"cpus": os.cpu_count(), "load_before": round(os.getloadavg()[0], 2)}
        self.stdout.write(
            f"[bench] {conditions['cpus']} CPUs, load average {conditions['load_before']:.2f}"
        )
        if conditions["load_before"] >= 0.5 * (conditions["cpus"] or 1):
            self.stdout.write(
                "[bench] warning: the machine is busy; timings (p95 most) include waiting for CPU"
            )
        results, failed = [], []
        for module in modules:
            for case in getattr(module, "CASES", []):
                if opts["only"] and opts["only"] not in case.name:
                    continue
                result = run_case(case, opts["requests"])
                results.append(result)
                verdict = {True: "ok", False: "MISSED", None: ""}[result.passed]
                target = f"{result.target_ms:.0f} ms" if result.target_ms else "-"
                self.stdout.write(
                    f"{result.name:<48} p50 {result.p50_ms:8.2f} ms  p95 {result.p95_ms:8.2f} ms  "
                    f"queries {result.queries:3d}  target {target:>7} {verdict}"
                )
                if result.passed is False:
                    failed.append(result.name)
        conditions["load_after"] = round(os.getloadavg()[0], 2)
        path = write_results(results, scale, Path(opts["output"]), conditions)
        self.stdout.write(f"[bench] results written to {path}")
        if failed and not opts["report_only"]:
            raise CommandError(f"Targets missed: {', '.join(failed)}")

    def _http(self, modules, opts):

        pages = benchhttp.collect_pages(modules)
        payload = benchhttp.run(
            pages,
            opts={
                key: opts[key]
                for key in ("duration", "hello_window", "connections", "threads", "workers", "only")
            },
            stdout=self.stdout,
            output=Path(opts["http_output"]),
            password=opts["password"] or DEMO_PASSWORD,
        )
        if payload["over_target"] and not opts["report_only"]:
            raise CommandError(f"Over target: {', '.join(payload['over_target'])}")

"""``make run``: the whole system for development in one command.

Starts (or reuses) the database, applies migrations, loads the demo data, then runs the web
server, a Celery worker and Celery beat side by side, printing one demo login per role.
Ctrl-C stops all of them (and the embedded PostgreSQL, when this started it).
Works on embedded defaults, and with DATABASE_URL / REDIS_URL set.

The web process is gunicorn, as in production (compose file, Procfile), not ``runserver``:
a few sync workers each hold one database connection, so a burst of requests waits in the
listen backlog instead of opening a connection per thread ("too many clients") or being
reset. ``--reload`` restarts the workers when code changes (``USCPIS_RUN_NO_RELOAD=1`` turns
that off). Every child is told by the kernel to stop if this supervisor dies
(``PR_SET_PDEATHSIG``), so even a killed ``make run`` leaves no process behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

WEB_WORKERS = int(os.environ.get("WEB_CONCURRENCY", "3"))


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: deliver SIGTERM to this child when the supervisor exits, however it exits."""
    try:
        # imported when called: this module loads before Django's settings and app registry
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def web_command(port: str, *, reload: bool) -> list[str]:
    """gunicorn as in production, bound to loopback, with auto-reload for development."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "uscpis.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(WEB_WORKERS),
        "--backlog",
        "2048",
        "--timeout",
        "120",
        "--graceful-timeout",
        "5",
        "--access-logfile",
        "-",
    ]
    if reload:
        command.append("--reload")
    return command


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "uscpis.settings")
    os.environ.setdefault("DEBUG", "true")
    port = os.environ.get("PORT", "8000")
    os.environ.setdefault("SITE_URL", f"http://127.0.0.1:{port}")

    # imported when called: this module loads before Django's settings and app registry
    import django

    # imported when called: this module loads before Django's settings and app registry
    from django.conf import settings

    # imported when called: this module loads before Django's settings and app registry
    from django.core.management import call_command

    django.setup()  # starts the embedded PostgreSQL when DATABASE_URL is not set
    db = settings.DATABASES["default"]
    where = (
        "embedded PostgreSQL in var/pgdata"
        if settings.EMBEDDED_DATABASE
        else f"{db['HOST']}/{db['NAME']}"
    )
    print(f"[run] database: {where}", flush=True)
    if not settings.EMBEDDED_DATABASE:
        # imported when called: this module loads before Django's settings and app registry
        from uscpis.embedded_db import ensure_database_exists

        if ensure_database_exists(db):
            print(f"[run] created database {db['NAME']}", flush=True)
    print(
        f"[run] broker: {'Redis' if settings.REDIS_URL else 'filesystem (var/broker)'}", flush=True
    )
    call_command("migrate", "--noinput", verbosity=0)
    call_command("seed_demo")

    py = sys.executable
    commands = {
        "web": web_command(port, reload=not os.environ.get("USCPIS_RUN_NO_RELOAD")),
        "worker": [
            py,
            "-m",
            "celery",
            "-A",
            "uscpis",
            "worker",
            "-l",
            "INFO",
            "--concurrency",
            "2",
        ],
        "beat": [py, "-m", "celery", "-A", "uscpis", "beat", "-l", "INFO"],
    }
    procs = {
        name: subprocess.Popen(cmd, preexec_fn=_die_with_parent)  # noqa: PLW1509
        for name, cmd in commands.items()
    }

    stopping = False

    def stop(*_args):
        nonlocal stopping
        if stopping:
            return
        stopping = True
        print("\n[run] stopping web, worker and beat...", flush=True)
        for proc in procs.values():
            if proc.poll() is None:
                # SIGINT, like Ctrl-C: every child shuts down cleanly (and unregisters
                # from the embedded PostgreSQL, which then stops).
                proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 15
        for proc in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    # imported when called: this module loads before Django's settings and app registry
    from accounts.seed import DEMO_PASSWORD, DEMO_USERS

    print(f"\n[run] USC-PIS is starting at http://127.0.0.1:{port}  (Ctrl-C stops everything)")
    print(f"[run] demo logins, password '{DEMO_PASSWORD}':")
    for email, _f, _l, role in DEMO_USERS:
        print(f"[run]   {role.label:<18} {email}")
    print(
        "[run] the administrator is asked to enrol an authenticator app at first sign-in.\n",
        flush=True,
    )

    exit_code = 0
    while not stopping:
        for name, proc in procs.items():
            code = proc.poll()
            if code is not None:
                print(f"[run] {name} exited with {code}; stopping the rest.", flush=True)
                exit_code = code or 1
                stop()
                break
        time.sleep(0.5)
    if settings.EMBEDDED_DATABASE:
        # imported when called: this module loads before Django's settings and app registry
        from uscpis.embedded_db import stop_if_started_here

        if stop_if_started_here():
            print("[run] embedded PostgreSQL stopped.", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())

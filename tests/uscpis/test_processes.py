"""Real processes: a Celery worker against the real broker, and `make run`'s stack."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.db import connection

from accounts.models import Notification
from accounts.roles import Role
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env.update(extra)
    return env


@pytest.mark.django_db(transaction=True)
def test_real_worker_sends_a_notification_email(tmp_path):
    from uscpis.celery import app

    queue = f"test-{uuid.uuid4().hex[:8]}"
    mail_dir = tmp_path / "mail"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "uscpis",
            "worker",
            "--pool",
            "solo",
            "-Q",
            queue,
            "-l",
            "INFO",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=_env(
            USCPIS_DB_NAME=connection.settings_dict["NAME"],
            EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
            EMAIL_FILE_PATH=str(mail_dir),
            CELERY_QUEUE=queue,
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    previous = app.conf.task_always_eager, app.conf.task_default_queue
    app.conf.task_always_eager, app.conf.task_default_queue = False, queue
    try:
        from accounts.services import notify

        user = UserFactory(role=Role.NURSE, email="worker.test@usc.edu.ph")
        notification = notify(
            user=user, title="Delivered by a real worker"
        )  # autocommit: enqueued now
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            notification.refresh_from_db()
            if notification.emailed_at is not None and any(mail_dir.glob("*.log")):
                break
            assert worker.poll() is None, worker.stdout.read()
            time.sleep(0.5)
        assert notification.emailed_at is not None, "the worker did not process the task in time"
        written = "".join(p.read_text() for p in mail_dir.glob("*.log"))
        assert "Delivered by a real worker" in written and "worker.test@usc.edu.ph" in written
        assert (
            Notification.objects.filter(pk=notification.pk, emailed_at__isnull=False).count() == 1
        )
    finally:
        app.conf.task_always_eager, app.conf.task_default_queue = previous
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback only)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _own_var_dir() -> Path:
    """A var folder outside pytest's shared temp root: the embedded server runs as another
    user (it needs to traverse the path) and must outlive other pytest runs' clean-ups."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix="uscpis-var-")) / "var"


def _assert_burst_holds(base: str, size: int = 50) -> None:
    """``size`` simultaneous requests (pages that use the database and the session): every
    one answered, no 5xx, no connection reset or refused."""
    import threading

    barrier = threading.Barrier(size)
    results: list = []

    def one(i: int) -> None:
        barrier.wait()
        path = ("/accounts/login/", "/readyz", f"/patients/verify/?code=BURST{i}")[i % 3]
        try:
            status, _ = _get(base + path, timeout=60)
            results.append(status)
        except OSError as exc:  # ConnectionResetError, refused, timeout
            results.append(repr(exc))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert len(results) == size
    failures = [r for r in results if not isinstance(r, int) or r >= 500]
    assert failures == [], failures


def test_make_run_stack_starts_on_embedded_defaults_and_stops_on_ctrl_c(tmp_path):
    """What `make run` does, with nothing configured: embedded PostgreSQL, filesystem broker."""
    port = _free_port()
    var_dir = _own_var_dir()
    env = _env(USCPIS_VAR_DIR=str(var_dir), PORT=str(port), USCPIS_RUN_NO_RELOAD="1")
    for name in ("DATABASE_URL", "REDIS_URL", "USCPIS_DB_NAME", "DJANGO_ENV", "CELERY_QUEUE"):
        env.pop(name, None)
    log = (tmp_path / "run.log").open("w")
    from uscpis.devstack import _die_with_parent

    # If this test process is killed, the stack goes with it (and takes its children along).
    stack = subprocess.Popen(
        [sys.executable, "-m", "uscpis.devstack"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        status = None
        while time.monotonic() < deadline:
            assert stack.poll() is None, (tmp_path / "run.log").read_text()[-4000:]
            try:
                status, body = _get(f"{base}/accounts/login/")
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(1)
        assert status == 200, (tmp_path / "run.log").read_text()[-4000:]
        assert "Sign in" in body
        status, body = _get(f"{base}/readyz", timeout=10)
        ready = json.loads(body)
        assert status == 200 and ready["status"] == "ok", ready
        assert all(check["ok"] for check in ready["checks"].values())
        _assert_burst_holds(base)
        output = (tmp_path / "run.log").read_text()
        assert "gunicorn" in output.lower()  # served like production, not by runserver
        assert "admin@usc.edu.ph" in output and "student@usc.edu.ph" in output
        assert (var_dir / "pgdata" / "PG_VERSION").exists()
    finally:
        os.killpg(stack.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
        try:
            stack.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
            raise
    # Everything stopped, including the embedded PostgreSQL it started. On a busy machine the
    # last of them can take a few seconds to finish exiting, so poll rather than sleep once.
    deadline = time.monotonic() + 30
    while True:
        leftover = subprocess.run(
            ["pgrep", "-f", str(var_dir)], capture_output=True, text=True
        ).stdout.split()
        if not leftover or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    details = subprocess.run(
        ["ps", "-o", "pid,ppid,stat,etime,args", "-p", ",".join(leftover) or "0"],
        capture_output=True,
        text=True,
    ).stdout
    assert leftover == [], (
        f"processes still running after 30 s:\n{details}\n"
        + (tmp_path / "run.log").read_text()[-3000:]
    )
    import shutil

    shutil.rmtree(var_dir.parent, ignore_errors=True)

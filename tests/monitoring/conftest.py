import pytest


@pytest.fixture(autouse=True)
def backup_dir(settings, tmp_path):
    """Backups go to a per-test folder, never var/backups; no off-site copy unless a test
    configures one."""
    settings.BACKUP_DIR = str(tmp_path / "backups")
    settings.BACKUP_OFFSITE = "none"
    return tmp_path / "backups"


@pytest.fixture
def no_worker_heartbeat():
    from django.core.cache import cache

    from monitoring.tasks import HEARTBEAT_KEY

    cache.delete(HEARTBEAT_KEY)
    yield
    cache.delete(HEARTBEAT_KEY)


@pytest.fixture
def broker_down():
    """Point Celery at a Redis port nobody listens on.

    The app keeps its connection and producer pools once made; they are dropped so that
    ``delay()`` really goes to the dead port (and dropped again after, for the real one).
    """
    from uscpis.celery import app

    def drop_pools():
        app._pool = None
        app.amqp._producer_pool = None

    previous = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    drop_pools()
    yield
    app.conf.broker_url = previous
    drop_pools()


@pytest.fixture(autouse=True)
def _no_restore_lock():
    """Restore jobs live in the cache, which outlives a test: start and end without a lock."""
    from django.core.cache import cache

    from monitoring.backups.jobs import RESTORE_LOCK_KEY

    cache.delete(RESTORE_LOCK_KEY)
    yield
    cache.delete(RESTORE_LOCK_KEY)


@pytest.fixture
def queued_restores(monkeypatch):
    """Stand in for the broker: record the jobs queued for the worker, run none."""
    from monitoring import tasks

    queued: list[str] = []
    monkeypatch.setattr(
        tasks.run_restore, "apply_async", lambda *a, kwargs, **kw: queued.append(kwargs["job_id"])
    )
    return queued


def record_jobs(monkeypatch, task) -> list[dict]:
    """Stand in for the broker for ``task``: the outbox relay publishes with
    ``apply_async``; record each job's arguments (without the outbox id), run none."""
    queued: list[dict] = []

    def publish(*args, kwargs, **options):
        queued.append({k: v for k, v in kwargs.items() if k != "outbox_id"})

    monkeypatch.setattr(task, "apply_async", publish)
    return queued

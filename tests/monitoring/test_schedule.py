"""The beat schedule runs monitoring's periodic jobs, and names only tasks that exist."""

from __future__ import annotations

import importlib
import inspect

from celery import Task
from celery.schedules import crontab

from uscpis.celery import app
from uscpis.schedule import BEAT_SCHEDULE

# Tasks that take the id of what they work on are queued by a service, never by beat.
ON_DEMAND = {
    "monitoring.tasks.run_backup",
    "monitoring.tasks.verify_backup",
    "monitoring.tasks.run_restore",
}


def _tasks_of(module_name: str) -> dict[str, Task]:
    module = importlib.import_module(module_name)
    return {
        obj.name: obj
        for _, obj in inspect.getmembers(module)
        if isinstance(obj, Task) and obj.name.startswith(module_name + ".")
    }


def test_every_periodic_monitoring_task_is_scheduled():
    tasks = _tasks_of("monitoring.tasks")
    periodic = set(tasks) - ON_DEMAND
    assert periodic == {
        "monitoring.tasks.nightly_backup",
        "monitoring.tasks.weekly_verify",
        "monitoring.tasks.check_health",
        "monitoring.tasks.heartbeat",
    }
    for name in periodic:  # beat calls them without arguments
        params = inspect.signature(tasks[name].run).parameters.values()
        assert all(p.default is not p.empty for p in params), name
    scheduled = {entry["task"] for entry in BEAT_SCHEDULE.values()}
    assert periodic <= scheduled, periodic - scheduled
    assert not ON_DEMAND & scheduled


def test_every_schedule_entry_names_a_registered_task():
    app.loader.import_default_modules()  # what a worker does at start-up
    for key, entry in BEAT_SCHEDULE.items():
        module_name, _, attr = entry["task"].rpartition(".")
        task = getattr(importlib.import_module(module_name), attr, None)
        assert isinstance(task, Task) and task.name == entry["task"], key
        assert entry["task"] in app.tasks, key


def test_monitoring_times_in_clinic_time():
    """Times are UTC; the clinic is in Asia/Manila (UTC+8)."""
    by_task = {entry["task"]: entry for entry in BEAT_SCHEDULE.values()}
    nightly = by_task["monitoring.tasks.nightly_backup"]["schedule"]
    assert isinstance(nightly, crontab) and nightly.hour == {18} and nightly.minute == {0}
    weekly = by_task["monitoring.tasks.weekly_verify"]["schedule"]
    assert len(weekly.day_of_week) == 1 and (weekly.hour, weekly.minute) != (
        nightly.hour,
        nightly.minute,
    )
    for name in ("monitoring.tasks.check_health", "monitoring.tasks.heartbeat"):
        every = by_task[name]["schedule"]
        assert len(every.minute) == 60 and len(every.hour) == 24, name

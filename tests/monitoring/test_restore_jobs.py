"""Restores requested from the web run in the worker; the page polls the job in the cache."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from accounts.audit import audit_chain_verify
from accounts.models import AuditEvent, Notification, User
from accounts.roles import Role
from monitoring import tasks
from monitoring.backups import create, jobs, layout, locks, restore_jobs
from monitoring.models import Backup, BackupKind, BackupStatus, RestoreJobStatus
from tests.factories import UserFactory
from tests.monitoring.conftest import record_jobs
from tests.monitoring.factories import BackupFactory
from tests.monitoring.test_backups import (
    NOT_REWOUND,
    _corrupt_dump,
    _folder,
    _media_files,
    _state,
)

HX = {"HTTP_HX_REQUEST": "true"}


def restore_url(backup) -> str:
    return reverse("monitoring:backup_restore", args=[backup.pk])


def job_url(job_id: str) -> str:
    return reverse("monitoring:restore_job", args=[job_id])


@pytest.fixture
def confirm(django_capture_on_commit_callbacks):
    """Post the confirmation phrase; what the request queues after commit is sent."""

    def post(client, backup, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                restore_url(backup), {"confirmation": f"RESTORE {backup.pk}"}, **extra
            )

    return post


def _restore_events(kind: str):
    return AuditEvent.objects.filter(object_type="monitoring.backup", detail__backup=kind)


# --- Queueing -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_confirming_queues_the_restore_after_commit_and_shows_the_progress_panel(
    client_for, admin_user, django_capture_on_commit_callbacks, queued_restores
):
    backup = BackupFactory()
    client = client_for(admin_user)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(restore_url(backup), {"confirmation": f"RESTORE {backup.pk}"}, **HX)

    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body and 'id="restore-panel"' in body
    assert 'data-status="queued"' in body and "Waiting for a worker" in body
    job_id = cache.get(jobs.RESTORE_LOCK_KEY)
    assert job_id and len(job_id) >= 32
    assert response["HX-Push-Url"] == job_url(job_id)
    assert f'hx-get="{job_url(job_id)}"' in body and 'hx-trigger="every 1s"' in body
    # Nothing ran in the request: the worker gets the job once the request commits.
    assert len(callbacks) == 1 and queued_restores == []
    callbacks[0]()
    assert queued_restores == [job_id]
    backup.refresh_from_db()
    assert backup.last_restored_at is None and Backup.objects.count() == 1
    state = jobs.restore_job_state(job_id)
    assert state["status"] == RestoreJobStatus.QUEUED and state["backup_id"] == backup.pk
    assert state["requested_by_id"] == admin_user.pk
    event = _restore_events("restore requested").get()
    assert event.actor == admin_user and event.object_id == str(backup.pk)
    assert job_id not in str(event.detail)  # the audit trail does not hand out the job id


@pytest.mark.django_db
def test_plain_post_redirects_to_the_job_page(client_for, admin_user, queued_restores, confirm):
    backup = BackupFactory()
    client = client_for(admin_user)
    response = confirm(client, backup)
    assert response.status_code == 302
    assert response["Location"] == job_url(queued_restores[0])
    page = client.get(response["Location"])
    body = page.content.decode()
    assert page.status_code == 200 and "<html" in body
    assert f"Restore backup #{backup.pk}" in body and 'id="restore-panel"' in body
    assert "Waiting for a worker" in body


@pytest.mark.django_db
def test_wrong_phrase_queues_nothing(client_for, admin_user, queued_restores):
    backup = BackupFactory()
    response = client_for(admin_user).post(
        restore_url(backup), {"confirmation": f"restore {backup.pk}"}, **HX
    )
    assert response.status_code == 422 and "does not match" in response.content.decode()
    assert 'id="restore-form"' in response.content.decode()
    assert queued_restores == [] and cache.get(jobs.RESTORE_LOCK_KEY) is None


# --- The worker's side: a real round trip --------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_task_restores_and_the_page_shows_the_report(
    client_for, admin_user, queued_restores, confirm
):
    client = client_for(admin_user)  # enrols the two-factor device before the backup
    nurses = UserFactory.create_batch(2, role=Role.NURSE)
    for nurse in nurses:
        Notification.objects.create(user=nurse, title="Shift change", body="Ward 2")
    default_storage.save("documents/xray.txt", ContentFile(b"x-ray report"))
    backup = create.backup_create(actor=admin_user, with_media=True)
    counts_then, checksums_then = _state()
    audit_then = AuditEvent.objects.count()
    media_then = _media_files()

    User.objects.filter(pk=nurses[0].pk).update(first_name="Changed")
    Notification.objects.filter(user=nurses[1]).delete()
    UserFactory(role=Role.DOCTOR, email="late.doctor@usc.edu.ph")
    default_storage.save("documents/new.txt", ContentFile(b"added later"))

    response = confirm(client, backup, **HX)
    assert response.status_code == 200 and 'data-status="queued"' in response.content.decode()
    [job_id] = queued_restores
    assert User.objects.filter(email="late.doctor@usc.edu.ph").exists()  # not yet

    tasks.run_restore(job_id=job_id)  # what the worker runs

    counts_now, checksums_now = _state()
    for table in counts_then:
        if table not in NOT_REWOUND:
            assert checksums_now[table] == checksums_then[table], table
    assert _media_files() == media_then
    state = jobs.restore_job_state(job_id)
    assert state["status"] == RestoreJobStatus.DONE and state["percent"] == 100
    assert state["error"] == "" and state["started_at"] and state["finished_at"]
    report = state["report"]
    safety = Backup.objects.get(kind=BackupKind.SAFETY)
    assert report["backup_id"] == backup.pk and report["safety_backup_id"] == safety.pk
    assert report["media"] == {"added": 0, "removed": 1, "changed": 0}
    assert "accounts_notification" in {t["table"] for t in report["tables_changed"]}
    assert cache.get(jobs.RESTORE_LOCK_KEY) is None  # the next restore may start

    # The audit trail was not rewound: the "restore requested" event is still there, then
    # the safety backup's, then the outcome with the request's details.
    assert audit_then >= 1
    after_backup = AuditEvent.objects.order_by("id")[audit_then:]
    assert [e.detail.get("backup") for e in after_backup] == [
        "restore requested",
        "requested",
        "restored",
    ]
    event = _restore_events("restored").get()
    assert event.actor == admin_user
    assert event.detail["via"] == "web" and event.detail["safety_backup"] == safety.pk
    assert event.detail["requested_from"] == "127.0.0.1" and event.detail["requested_at"]
    assert audit_chain_verify().ok

    # The admin is still signed in and the polled panel now shows the report.
    polled = client.get(job_url(job_id), **HX)
    body = polled.content.decode()
    assert polled.status_code == 200 and 'id="restore-report"' in body
    assert 'data-status="done"' in body and "hx-trigger" not in body
    assert f"Safety backup #{safety.pk}" in body and "accounts_notification" in body
    assert "1 removed" in body

    # A second delivery of the same job does nothing.
    tasks.run_restore(job_id=job_id)
    assert Backup.objects.filter(kind=BackupKind.SAFETY).count() == 1
    assert jobs.restore_job_state(job_id)["finished_at"] == state["finished_at"]


@pytest.mark.django_db(transaction=True)
def test_a_damaged_backup_fails_and_the_page_shows_the_error(
    client_for, admin_user, queued_restores, confirm
):
    client = client_for(admin_user)
    backup = create.backup_create(actor=admin_user)
    dump = _folder(backup) / layout.DB_FILE
    dump.write_bytes(dump.read_bytes()[:100])
    UserFactory(email="after.backup@usc.edu.ph")

    confirm(client, backup, **HX)
    [job_id] = queued_restores
    tasks.run_restore(job_id=job_id)

    state = jobs.restore_job_state(job_id)
    assert state["status"] == RestoreJobStatus.FAILED and state["report"] is None
    assert "Refusing to restore a damaged backup" in state["error"]
    assert User.objects.filter(email="after.backup@usc.edu.ph").exists()
    assert not Backup.objects.filter(kind=BackupKind.SAFETY).exists()
    assert cache.get(jobs.RESTORE_LOCK_KEY) is None
    failed = _restore_events("restore failed").get()
    assert failed.actor == admin_user and "SHA-256" in failed.detail["error"]
    assert _restore_events("restore requested").count() == 1  # nothing was rewound

    body = client.get(job_url(job_id), **HX).content.decode()
    assert 'id="restore-error"' in body and "Refusing to restore a damaged backup" in body
    assert 'data-status="failed"' in body and "hx-trigger" not in body


@pytest.mark.django_db(transaction=True)
def test_failed_pg_restore_shows_the_error_and_changes_nothing(
    client_for, admin_user, queued_restores, confirm
):
    client = client_for(admin_user)
    backup = create.backup_create(actor=admin_user)
    _corrupt_dump(backup)
    UserFactory(email="after.backup@usc.edu.ph")

    confirm(client, backup, **HX)
    [job_id] = queued_restores
    tasks.run_restore(job_id=job_id)

    state = jobs.restore_job_state(job_id)
    assert state["status"] == RestoreJobStatus.FAILED and "pg_restore failed" in state["error"]
    assert User.objects.filter(email="after.backup@usc.edu.ph").exists()
    assert Backup.objects.get(kind=BackupKind.SAFETY).status == BackupStatus.SUCCEEDED
    body = client.get(job_url(job_id), **HX).content.decode()
    assert "pg_restore failed" in body and "changes nothing" in body


# --- Progress and interruption ----------------------------------------------------------------


@pytest.mark.django_db
def test_polling_shows_progress_while_the_worker_holds_the_restore_lock(
    client_for, admin_user, queued_restores, confirm
):
    backup = BackupFactory()
    client = client_for(admin_user)
    confirm(client, backup, **HX)
    [job_id] = queued_restores
    with locks.restore_guard():  # as the worker does while it restores
        restore_jobs._job_progress(job_id)(57, "Replacing the database: pg_restore: 3 of 40 tables")
        polled = client.get(job_url(job_id), **HX)
    body = polled.content.decode()
    assert polled.status_code == 200 and "<html" not in body
    assert 'data-status="running"' in body and '<progress max="100" value="57"' in body
    assert "pg_restore: 3 of 40 tables" in body
    assert 'hx-trigger="every 1s"' in body and '"timeout": 20000' in body
    # The full page (a reload) shows the same panel.
    page = client.get(job_url(job_id))
    assert "<html" in page.content.decode() and 'id="restore-panel"' in page.content.decode()


@pytest.mark.django_db
def test_a_job_whose_worker_died_shows_as_interrupted_and_frees_the_lock(
    client_for, admin_user, queued_restores, confirm
):
    backup = BackupFactory()
    client = client_for(admin_user)
    confirm(client, backup, **HX)
    [job_id] = queued_restores
    restore_jobs._job_progress(job_id)(57, "Replacing the database")  # ...then the worker died
    body = client.get(job_url(job_id), **HX).content.decode()
    assert 'data-status="interrupted"' in body and "The worker stopped" in body
    assert "hx-trigger" not in body  # polling stops
    # A new restore may be requested: the dead job's lock does not count.
    assert jobs.restore_busy_reason() == ""
    assert confirm(client, backup, **HX).status_code == 200
    assert len(queued_restores) == 2


# --- One restore at a time ------------------------------------------------------------------


@pytest.mark.django_db
def test_second_restore_is_refused_while_one_is_queued(
    client_for, admin_user, make_user, queued_restores, confirm
):
    backup = BackupFactory()
    confirm(client_for(admin_user), backup, **HX)
    other_admin = make_user(Role.ADMIN, email="second.admin@usc.edu.ph")
    response = confirm(client_for(other_admin), backup, **HX)
    body = response.content.decode()
    assert response.status_code == 409 and 'id="restore-error"' in body
    assert "Only one restore can run at a time" in body and str(admin_user) in body
    assert queued_restores[0] not in body  # the other admin's job id is not disclosed
    assert len(queued_restores) == 1
    # Backups wait too: a dump during the restore would block it.
    started = client_for(admin_user).post(reverse("monitoring:backup_start"), **HX)
    assert started.status_code == 409 and "restore is queued or running" in started.content.decode()


@pytest.mark.django_db(transaction=True)
def test_two_admins_clicking_at_once_get_exactly_one_restore(admin_user, queued_restores):
    backup = create.backup_create(actor=admin_user)
    other_admin = UserFactory(role=Role.ADMIN, email="second.admin@usc.edu.ph")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def click(actor):
        from django.db import connection

        try:
            barrier.wait()
            restore_jobs.backup_restore_request(actor=actor, backup=backup)
            outcomes.append("queued")
        except restore_jobs.RestoreBusy:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=click, args=(a,)) for a in (admin_user, other_admin)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["queued", "refused"]
    assert len(queued_restores) == 1
    assert cache.get(jobs.RESTORE_LOCK_KEY) == queued_restores[0]


@pytest.mark.django_db
def test_restore_from_the_command_line_blocks_the_web(
    client_for, admin_user, queued_restores, confirm
):
    backup = BackupFactory()
    with locks.restore_guard():  # ``manage.py backup restore`` holds it while it runs
        response = confirm(client_for(admin_user), backup, **HX)
    assert response.status_code == 409 and "command line" in response.content.decode()
    assert queued_restores == []


@pytest.mark.django_db
def test_worker_does_not_start_while_another_restore_runs(
    client_for, admin_user, queued_restores, confirm
):
    backup = BackupFactory()
    confirm(client_for(admin_user), backup, **HX)
    [job_id] = queued_restores
    done = threading.Event()
    release = threading.Event()

    def command_line_restore():  # another process holding the restore lock
        with locks.restore_guard():
            done.set()
            release.wait(10)

    holder = threading.Thread(target=command_line_restore)
    holder.start()
    done.wait(10)
    try:
        tasks.run_restore(job_id=job_id)
    finally:
        release.set()
        holder.join()
    state = jobs.restore_job_state(job_id)
    assert state["status"] == RestoreJobStatus.FAILED
    assert "Another restore is running" in state["error"]
    assert cache.get(jobs.RESTORE_LOCK_KEY) is None


@pytest.mark.django_db
def test_an_unreachable_broker_leaves_the_job_queued_until_the_relay_hands_it_over(
    client_for, admin_user, monkeypatch, confirm
):
    """Through the outbox: the request answers 2xx and the job waits (still holding the
    queue, so no backup or second restore slips in); the relay publishes it once."""
    from kombu.exceptions import OperationalError

    from accounts import outbox
    from accounts.models import OutboxMessage

    def down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379")

    monkeypatch.setattr(tasks.run_restore, "apply_async", down)
    backup = BackupFactory()
    client = client_for(admin_user)
    response = confirm(client, backup, **HX)
    assert response.status_code == 200
    job_id = cache.get(jobs.RESTORE_LOCK_KEY)
    assert job_id  # still the queued job's
    body = client.get(response["HX-Push-Url"], **HX).content.decode()
    assert 'data-status="queued"' in body and 'hx-trigger="every 1s"' in body
    assert "Only one restore" in jobs.restore_busy_reason()
    message = OutboxMessage.objects.get(task=jobs.RUN_RESTORE_TASK)
    assert message.sent_at is None and "OperationalError" in message.last_error

    queued = record_jobs(monkeypatch, tasks.run_restore)  # the broker is back
    OutboxMessage.objects.update(available_at=timezone.now())
    assert outbox.relay() == 1 and outbox.relay() == 0
    assert queued == [{"job_id": job_id}]


@pytest.mark.django_db
def test_a_restore_the_broker_held_back_past_the_limit_is_not_run(
    client_for, admin_user, queued_restores, confirm
):
    """A restore rewinds the data: one that could only reach a worker hours after it was
    asked for is failed ("not started"), never run over the work entered since."""
    backup = BackupFactory()
    client = client_for(admin_user)
    response = confirm(client, backup, **HX)
    [job_id] = queued_restores
    state = jobs.restore_job_state(job_id)
    late = timezone.now() - jobs.RESTORE_START_LIMIT - timedelta(minutes=1)
    state["requested_at"] = late.isoformat()
    cache.set(jobs.RESTORE_JOB_KEY.format(job_id), state, 600)
    body = client.get(response["HX-Push-Url"], **HX).content.decode()
    assert 'data-status="interrupted"' in body and "Nothing was changed" in body
    assert "hx-trigger" not in body  # the page stops polling

    tasks.run_restore(job_id=job_id)  # the worker finally gets it

    state = jobs.restore_job_state(job_id)
    assert state["status"] == RestoreJobStatus.FAILED and state["message"] == "Not started"
    backup.refresh_from_db()
    assert backup.last_restored_at is None and Backup.objects.count() == 1  # no safety backup
    assert cache.get(jobs.RESTORE_LOCK_KEY) is None


# --- Who may follow a job -------------------------------------------------------------------


@pytest.mark.django_db
def test_job_page_needs_the_restore_permission_and_two_factor(
    client_for, admin_user, user_for_role, queued_restores, confirm
):
    backup = BackupFactory()
    confirm(client_for(admin_user), backup, **HX)
    [job_id] = queued_restores
    for role in Role:
        if role != Role.ADMIN:
            client = client_for(user_for_role(role))
            assert client.get(job_url(job_id), **HX).status_code == 403, role
    anonymous = Client().get(job_url(job_id))
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    unverified = Client()
    unverified.force_login(admin_user)  # signed in, two-factor code not entered
    response = unverified.get(job_url(job_id))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/2fa/")
    assert "restore-panel" not in response.content.decode()
    # Even past the two-factor gate, the view itself refuses.
    from monitoring.views import restore_job

    request = RequestFactory().get("/")
    request.user = admin_user
    admin_user.is_verified = lambda: False
    request.htmx = False
    with pytest.raises(PermissionDenied):
        restore_job(request, job_id=job_id)


@pytest.mark.django_db
def test_unknown_or_expired_job_is_404(client_for, admin_user, queued_restores, confirm):
    client = client_for(admin_user)
    assert client.get(job_url("no-such-job-" + "x" * 20), **HX).status_code == 404
    backup = BackupFactory()
    confirm(client, backup, **HX)
    [job_id] = queued_restores
    assert client.get(job_url(job_id), **HX).status_code == 200
    cache.delete(jobs.RESTORE_JOB_KEY.format(job_id))  # expired
    assert client.get(job_url(job_id), **HX).status_code == 404


@pytest.mark.django_db
def test_polling_is_cheap(
    client_for, admin_user, queued_restores, django_assert_max_num_queries, confirm
):
    backup = BackupFactory()
    client = client_for(admin_user)
    confirm(client, backup, **HX)
    [job_id] = queued_restores
    with django_assert_max_num_queries(8):
        assert client.get(job_url(job_id), **HX).status_code == 200


@pytest.mark.django_db
def test_job_page_escapes_the_error(client_for, admin_user, queued_restores, confirm):
    backup = BackupFactory()
    client = client_for(admin_user)
    confirm(client, backup, **HX)
    [job_id] = queued_restores
    restore_jobs._finish_job(
        job_id, status="failed", message="Failed", error="<script>x()</script>"
    )
    body = client.get(job_url(job_id), **HX).content.decode()
    assert "<script>x()" not in body and "&lt;script&gt;" in body

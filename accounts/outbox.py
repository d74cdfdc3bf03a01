"""The transactional outbox: how every app hands follow-up work to Celery.

``enqueue("appointments.tasks.send_appointment_email", appointment_id=1, kind="booked")``
writes an ``OutboxMessage`` row in the caller's transaction: the work exists exactly when
the change that caused it commits. After the commit a best-effort kick publishes that row
at once (it never raises: a broker outage only leaves the row waiting); the beat job
``accounts.tasks.relay_outbox`` publishes whatever is left, every minute, with backoff.

Delivery is at least once: a relay that publishes and then dies before marking the row
sent publishes it again on the next run. Every task the outbox carries is idempotent: it
claims a unique "sent" record before acting (the notification's ``emailed_at``, a
reminder's sent row), or, when its work has no such record, ``enqueue(..., claim=True)``
passes ``outbox_id`` and the task calls ``claim(outbox_id)`` first, so the second delivery
does nothing.
"""

from __future__ import annotations

import importlib
import json
import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import OutboxMessage

logger = logging.getLogger(__name__)

BATCH = 200
MAX_BACKOFF = timedelta(minutes=30)


def enqueue(task: str, *, claim: bool = False, **kwargs) -> OutboxMessage:
    """Record ``task(**kwargs)`` to run after the current transaction commits; with
    ``claim`` the task also receives ``outbox_id`` to pass to ``claim()``."""
    message = OutboxMessage.objects.create(task=task, kwargs=kwargs)
    pk = message.pk
    if claim:
        message.kwargs = {**kwargs, "outbox_id": pk}
        message.save(update_fields=["kwargs"])
    transaction.on_commit(lambda: kick(pk), robust=True)
    return message


def enqueue_many(task: str, kwargs_list: list[dict]) -> int:
    """``enqueue`` for a fan-out (a beat job queuing one task per patient): the rows are
    written in one transaction with one insert, and one relay run publishes them after the
    commit (the beat relay the rest, when the broker is down). Work already waiting in the
    outbox with the same arguments is not added again (the beat job runs again during an
    outage). Returns how many were added."""
    with transaction.atomic():
        waiting = {
            _key(kwargs)
            for kwargs in OutboxMessage.objects.filter(task=task, sent_at__isnull=True).values_list(
                "kwargs", flat=True
            )
        }
        new = []
        for kwargs in kwargs_list:
            if _key(kwargs) not in waiting:
                waiting.add(_key(kwargs))
                new.append(OutboxMessage(task=task, kwargs=kwargs))
        if new:
            OutboxMessage.objects.bulk_create(new, batch_size=1000)
            transaction.on_commit(_kick_all, robust=True)
    return len(new)


def _key(kwargs) -> str:
    return json.dumps(kwargs, sort_keys=True, default=str)


def _kick_all() -> None:
    try:
        while relay() == BATCH:
            pass
    except Exception:  # the beat relay will try again
        logger.warning("outbox: immediate relay failed; the beat relay retries", exc_info=True)


def kick(pk: int) -> None:
    """Publish one message now if it is still waiting. Never raises."""
    try:
        relay(only=pk)
    except Exception:  # the beat relay will try again
        logger.warning(
            "outbox: immediate relay of #%s failed; the beat relay retries", pk, exc_info=True
        )


def relay(*, only: int | None = None, limit: int = BATCH) -> int:
    """Publish waiting messages whose time has come; returns how many were published.

    Rows are claimed with ``SELECT ... FOR UPDATE SKIP LOCKED``, so two relays (the beat
    job and a kick) never publish the same row at the same time. A failed publish is
    retried later with exponential backoff (1, 2, 4 ... minutes, at most 30).
    """
    published = 0
    now = timezone.now()
    qs = OutboxMessage.objects.filter(sent_at__isnull=True)
    qs = qs.filter(pk=only) if only is not None else qs.filter(available_at__lte=now)
    # Eager mode (tests): the task runs in this process, so it runs once the claim has
    # committed, as a worker's would (a restore, say, must not wait on the claim's locks).
    inline: list[OutboxMessage] | None = [] if _eager() else None
    with transaction.atomic():
        for message in qs.select_for_update(skip_locked=True).order_by("id")[:limit]:
            try:
                if inline is None:
                    _publish(message)
            except Exception as exc:
                _failed(message, exc)
                break  # the broker is most likely down: the rest would fail the same way
            message.sent_at = timezone.now()
            message.attempts += 1
            message.save(update_fields=["sent_at", "attempts"])
            published += 1
            if inline is not None:
                inline.append(message)
    for message in inline or []:
        try:
            _publish(message)
        except Exception as exc:
            message.sent_at, message.attempts = None, message.attempts - 1
            message.save(update_fields=["sent_at"])
            _failed(message, exc)
            published -= 1
    return published


def _failed(message: OutboxMessage, exc: Exception) -> None:
    message.attempts += 1
    message.available_at = timezone.now() + min(
        timedelta(minutes=2 ** min(message.attempts - 1, 10)), MAX_BACKOFF
    )
    message.last_error = f"{exc.__class__.__name__}: {exc}"[:1000]
    message.save(update_fields=["attempts", "available_at", "last_error"])
    logger.warning("outbox: %s not published (%s); will retry", message, exc)


def _eager() -> bool:
    from uscpis.celery import app  # the Celery app loads settings: imported when used

    return bool(app.conf.task_always_eager)


def _publish(message: OutboxMessage) -> None:
    from uscpis.celery import app  # the Celery app loads settings: imported when used

    task = app.tasks.get(message.task)
    if task is None:  # tasks modules register on import; the web process imports lazily
        try:
            importlib.import_module(message.task.rsplit(".", 1)[0])
        except ImportError:
            pass
        task = app.tasks.get(message.task)
    if task is not None:  # registered here: apply_async (honours eager mode in tests)
        task.apply_async(kwargs=message.kwargs, retry=False)
    else:
        app.send_task(message.task, kwargs=message.kwargs, retry=False)


def claim(outbox_id: int | None) -> bool:
    """True exactly once per message: the task that gets True does the work. ``None`` (a
    task called directly, not through the outbox) always gets True."""
    if outbox_id is None:
        return True
    return bool(
        OutboxMessage.objects.filter(pk=outbox_id, done_at__isnull=True).update(
            done_at=timezone.now()
        )
    )


def release(outbox_id: int | None) -> None:
    """Undo ``claim`` when the work failed, so the task's retry can do it."""
    if outbox_id is not None:
        OutboxMessage.objects.filter(pk=outbox_id).update(done_at=None)


def waiting_for(task: str, key: str, *, sent_since=None) -> set:
    """The ``kwargs[key]`` values of ``task``'s messages not yet published (and, with
    ``sent_since``, those published since then): the work a broker outage is holding back,
    which a "no worker picked it up" reaper must not give up on."""
    qs = OutboxMessage.objects.filter(task=task)
    held = Q(sent_at__isnull=True)
    if sent_since is not None:
        held |= Q(sent_at__gte=sent_since)
    return {
        kwargs.get(key)
        for kwargs in qs.filter(held).values_list("kwargs", flat=True)
        if isinstance(kwargs, dict) and kwargs.get(key) is not None
    }


def pending_count() -> int:
    return OutboxMessage.objects.filter(sent_at__isnull=True).count()


def purge_sent(*, older_than: timedelta = timedelta(days=7)) -> int:
    """Delete messages published more than ``older_than`` ago; returns how many."""
    cutoff = timezone.now() - older_than
    deleted, _ = OutboxMessage.objects.filter(sent_at__lt=cutoff).delete()
    return deleted

"""The Celery application: workers run reminders, low-stock alerts and backups.

Configuration comes from Django settings (``CELERY_*``); the beat schedule lives in
``uscpis/schedule.py`` and django-celery-beat keeps when each entry last ran.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "uscpis.settings")

# The one retry policy, for tasks that reach outside (email, a vendor's PDF, a waitlist offer):
# any exception retries with exponential backoff from 30 s, five times at most, and the
# message is acknowledged only once the task has finished, so a worker lost mid-send hands it
# to another. Such tasks are idempotent (a "sent" record is claimed before sending), so a
# retry never sends twice. Use: ``@shared_task(**RETRY_POLICY)``.
RETRY_POLICY = {
    "autoretry_for": (Exception,),
    "retry_backoff": 30,
    "retry_kwargs": {"max_retries": 5},
    "acks_late": True,
}

app = Celery("uscpis")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

"""The Celery application: workers run reminders, low-stock alerts and backups.

Configuration comes from Django settings (``CELERY_*``); the beat schedule lives in
``uscpis/schedule.py`` and django-celery-beat keeps when each entry last ran.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "uscpis.settings")

app = Celery("uscpis")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

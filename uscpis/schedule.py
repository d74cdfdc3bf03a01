"""The one beat schedule of USC-PIS.

Each domain adds its periodic jobs here (and nowhere else). django-celery-beat copies these
entries into its tables at start-up, which is also where the monitor page reads when each
job last ran. Times are in UTC (``CELERY_TIMEZONE``).
"""

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict] = {
    "accounts-clear-expired-sessions": {
        "task": "accounts.tasks.clear_expired_sessions",
        "schedule": crontab(hour=19, minute=30),  # 03:30 Asia/Manila
    },
}

__all__ = ["BEAT_SCHEDULE", "crontab"]

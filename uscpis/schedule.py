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
    "accounts-relay-outbox": {
        # Follow-up work recorded by the outbox while the broker was down (accounts/outbox.py).
        "task": "accounts.tasks.relay_outbox",
        "schedule": crontab(minute="*"),
    },
    "accounts-seal-audit-trail": {
        "task": "accounts.tasks.seal_audit_trail",  # chains the newest audit events
        "schedule": 10.0,  # seconds
        "options": {"expire_seconds": 9},
    },
    "accounts-prune-api-records": {
        "task": "accounts.tasks.prune_api_records",  # expired API tokens, day-old Idempotency-Keys
        "schedule": crontab(hour=19, minute=40),  # 03:40 Asia/Manila
    },
    "appointments-send-due-reminders": {
        "task": "appointments.tasks.send_due_reminders",
        "schedule": crontab(minute="*/5"),
    },
    "appointments-mark-no-shows": {
        "task": "appointments.tasks.mark_no_shows",
        "schedule": crontab(minute="*/10"),
    },
    "appointments-expire-waitlist-offers": {
        "task": "appointments.tasks.expire_waitlist_offers",
        "schedule": crontab(minute="*/5"),
    },
    "inventory-daily-alerts": {
        "task": "inventory.tasks.run_inventory_alerts",
        "schedule": crontab(
            hour=22, minute=0
        ),  # 06:00 Asia/Manila: quarantine, expiry, maintenance, low stock
    },
    "inventory-low-stock-alerts": {
        "task": "inventory.tasks.run_low_stock_alerts",
        "schedule": crontab(minute=15, hour="0-10"),  # hourly, 08:15-18:15 Asia/Manila
    },
    "inventory-draft-reorders": {
        "task": "inventory.tasks.draft_reorders",
        "schedule": crontab(hour=22, minute=30),  # 06:30 Asia/Manila, after the alerts
    },
    "billing-monthly-statements": {
        "task": "billing.tasks.send_monthly_statements",  # last month's, once per patient
        # Hourly on the 1st-3rd: later runs send nothing new but take over a claim whose
        # worker died mid-send (billing/services/statements.py, STALE_CLAIM).
        "schedule": crontab(day_of_month="1-3", minute=30),
    },
    "analytics-refresh-today": {
        "task": "analytics.tasks.refresh_today",  # rollups of today + yesterday, then EARS
        "schedule": crontab(minute="*/5"),
        "options": {"expire_seconds": 290},
    },
    "analytics-refresh-recent": {
        "task": "analytics.tasks.refresh_recent",  # the last 35 days' rollups
        "schedule": crontab(hour=17, minute=10),  # 01:10 Asia/Manila
    },
    "analytics-compute-forecasts": {
        "task": "analytics.tasks.compute_forecasts",
        "schedule": crontab(hour=17, minute=40),  # 01:40 Asia/Manila, after the rollups
    },
    "analytics-weekly-report": {
        "task": "analytics.tasks.send_weekly_report",  # claimed per week: sent once
        "schedule": crontab(day_of_week="sun", hour=23, minute=0),  # Mon 07:00 Asia/Manila
    },
    "monitoring-nightly-backup": {
        "task": "monitoring.tasks.nightly_backup",  # then retention (prune), in the same task
        "schedule": crontab(hour=18, minute=0),  # 02:00 Asia/Manila
    },
    "monitoring-weekly-verify": {
        "task": "monitoring.tasks.weekly_verify",  # the newest never-verified backup
        "schedule": crontab(day_of_week="sat", hour=19, minute=30),  # Sun 03:30 Asia/Manila
    },
    "monitoring-check-health": {
        "task": "monitoring.tasks.check_health",
        "schedule": crontab(minute="*"),
        "options": {"expire_seconds": 55},  # django-celery-beat: a late check is dropped
    },
    "monitoring-heartbeat": {
        "task": "monitoring.tasks.heartbeat",  # stale after 3 minutes (selectors.HEARTBEAT_FRESH)
        "schedule": crontab(minute="*"),
        "options": {"expire_seconds": 55},
    },
}

__all__ = ["BEAT_SCHEDULE", "crontab"]

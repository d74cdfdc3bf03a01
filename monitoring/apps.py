from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"

    def ready(self) -> None:
        # app registry: models and signal receivers load only once apps are ready
        from celery.signals import task_failure

        task_failure.connect(
            _record_task_failure, weak=False, dispatch_uid="monitoring-task-failure"
        )


def _record_task_failure(
    sender=None, task_id=None, exception=None, traceback=None, einfo=None, **_kw
):
    """Keep a row for every task that raised, for the monitor page (never raises itself)."""
    try:
        # app registry: models and signal receivers load only once apps are ready
        from monitoring.services.alerts import task_failure_record

        task_failure_record(
            task_name=getattr(sender, "name", str(sender)),
            task_id=task_id or "",
            exception=f"{exception.__class__.__name__}: {exception}",
            traceback=str(einfo) if einfo is not None else "",
        )
    except Exception:  # the database may be the thing that is down
        # app registry: models and signal receivers load only once apps are ready
        import logging

        logging.getLogger(__name__).exception("could not record a failed task")

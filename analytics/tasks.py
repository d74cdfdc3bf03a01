"""Analytics' beat jobs: thin wrappers around the services (each is idempotent)."""

from celery import shared_task

from uscpis.celery import RETRY_POLICY


@shared_task(acks_late=True)
def refresh_today() -> None:
    """Today's and yesterday's rollups, then the surveillance check (every few minutes)."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from analytics.services.rollups import rollup_refresh_today

    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from analytics.services.surveillance import signals_detect

    rollup_refresh_today()
    signals_detect()


@shared_task(acks_late=True)
def refresh_recent() -> int:
    """Nightly: the last five weeks' rollups (late diagnoses, moved appointments)."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from analytics.services.rollups import rollup_refresh_recent

    return rollup_refresh_recent()


@shared_task(acks_late=True)
def compute_forecasts() -> None:
    """Nightly: visit-load and stock-out forecasts, stored for the pages."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from analytics.services.forecasts import forecasts_compute

    forecasts_compute()


@shared_task(**RETRY_POLICY)
def send_weekly_report() -> bool:
    """Monday 07:00 clinic time: the weekly report to administrators, once per week."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from analytics.services.reports import weekly_report_send

    return weekly_report_send()

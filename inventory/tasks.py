"""Inventory's background jobs: thin wrappers that load by id and call a service."""

from celery import shared_task

from uscpis.celery import RETRY_POLICY


@shared_task(**RETRY_POLICY)
def email_purchase_order(*, order_id: int) -> bool:
    """Email a sent purchase order's PDF to the vendor (claimed first: sent once)."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from inventory.services.purchasing import purchase_order_email

    return purchase_order_email(order_id=order_id)


@shared_task
def run_inventory_alerts() -> dict:
    """Daily: quarantine expired lots; low-stock, expiry and maintenance alert episodes."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from inventory.alerts import alerts_run

    run = alerts_run()
    return {"quarantined": run.quarantined, "opened": len(run.opened), "closed": run.closed}


@shared_task
def run_low_stock_alerts() -> int:
    """Hourly during clinic hours: low-stock episodes only (cheap)."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from inventory.alerts import stock_alerts_run

    return len(stock_alerts_run().opened)


@shared_task
def draft_reorders() -> int:
    """Daily: add low-stock items to their preferred vendors' draft orders for review."""
    # cycle: imported in the body (tasks-load-services-lazily contract, .importlinter)
    from inventory.services.purchasing import purchase_orders_draft_for_low_stock

    return len(purchase_orders_draft_for_low_stock(actor=None))

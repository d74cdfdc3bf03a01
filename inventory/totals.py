"""Per-item stock totals (``Item.stock_on_hand``, ``stock_available``, ``stock_on_order``).

They are derived from the lots and the open purchase-order lines and are recomputed, never
incremented: a service that changes a lot's quantity or status, or an order's open lines,
calls :func:`touch` inside its transaction. :func:`touch` locks the items (in id order)
and recomputes them with a fresh statement, so under READ COMMITTED the last transaction to
take an item's lock sees every committed change plus its own: no update is lost.

Services that change several items in one transaction wrap the work in :func:`batch`, which
defers the recompute to the end and locks the items in id order once (lots are always
locked before items, so two such transactions cannot deadlock on each other).
``manage.py inventory check`` compares the stored totals with a fresh computation.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import connection

from inventory.models import OPEN_PO_STATUSES, LotStatus

_state = threading.local()

# Recompute the totals for the items in %(ids)s (an int array), or all items with ALL_ITEMS.
_RECOMPUTE = """
UPDATE inventory_item AS i
SET stock_on_hand = COALESCE(l.on_hand, 0),
    stock_available = COALESCE(l.available, 0),
    stock_on_order = COALESCE(o.on_order, 0)
FROM inventory_item AS x
LEFT JOIN (
    SELECT item_id, SUM(quantity) AS on_hand,
           SUM(quantity) FILTER (WHERE status = %(available)s) AS available
    FROM inventory_stocklot {lot_where} GROUP BY item_id
) AS l ON l.item_id = x.id
LEFT JOIN (
    SELECT pl.item_id, SUM(GREATEST(pl.quantity_ordered - pl.quantity_received, 0)) AS on_order
    FROM inventory_purchaseorderline pl
    JOIN inventory_purchaseorder po ON po.id = pl.order_id
    WHERE po.status = ANY(%(open)s) {line_where}
    GROUP BY pl.item_id
) AS o ON o.item_id = x.id
WHERE i.id = x.id {item_where}
  AND (i.stock_on_hand, i.stock_available, i.stock_on_order)
      IS DISTINCT FROM (COALESCE(l.on_hand, 0), COALESCE(l.available, 0), COALESCE(o.on_order, 0))
"""

_SOME = _RECOMPUTE.format(
    lot_where="WHERE item_id = ANY(%(ids)s)",
    line_where="AND pl.item_id = ANY(%(ids)s)",
    item_where="AND x.id = ANY(%(ids)s)",
)
_ALL = _RECOMPUTE.format(lot_where="", line_where="", item_where="")

MISMATCH_SQL = """
SELECT x.id, x.stock_on_hand, COALESCE(l.on_hand, 0), x.stock_available, COALESCE(l.available, 0),
       x.stock_on_order, COALESCE(o.on_order, 0)
FROM inventory_item AS x
LEFT JOIN (
    SELECT item_id, SUM(quantity) AS on_hand,
           SUM(quantity) FILTER (WHERE status = %(available)s) AS available
    FROM inventory_stocklot GROUP BY item_id
) AS l ON l.item_id = x.id
LEFT JOIN (
    SELECT pl.item_id, SUM(GREATEST(pl.quantity_ordered - pl.quantity_received, 0)) AS on_order
    FROM inventory_purchaseorderline pl
    JOIN inventory_purchaseorder po ON po.id = pl.order_id
    WHERE po.status = ANY(%(open)s)
    GROUP BY pl.item_id
) AS o ON o.item_id = x.id
WHERE (x.stock_on_hand, x.stock_available, x.stock_on_order)
      IS DISTINCT FROM (COALESCE(l.on_hand, 0), COALESCE(l.available, 0), COALESCE(o.on_order, 0))
ORDER BY x.id
"""


def _params(**extra) -> dict:
    return {"available": LotStatus.AVAILABLE, "open": [str(s) for s in OPEN_PO_STATUSES], **extra}


def recompute(item_ids: Iterable[int]) -> None:
    """Lock the items (id order) and recompute their totals. Call inside a transaction."""
    ids = sorted({int(i) for i in item_ids if i is not None})
    if not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM inventory_item WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [ids]
        )
        cursor.execute(_SOME, _params(ids=ids))


def recompute_all() -> int:
    """Recompute every item (repair / bulk loads); returns how many rows changed."""
    with connection.cursor() as cursor:
        cursor.execute(_ALL, _params())
        return cursor.rowcount


def mismatches() -> list[tuple]:
    """(item id, stored on hand, lots' sum, stored available, lots' available sum,
    stored on order, open orders' outstanding) for every item whose totals are off."""
    with connection.cursor() as cursor:
        cursor.execute(MISMATCH_SQL, _params())
        return cursor.fetchall()


def touch(item_ids: Iterable[int]) -> None:
    """The lots or open order lines of these items changed in the current transaction."""
    pending = getattr(_state, "pending", None)
    if pending is not None:
        pending.update(i for i in item_ids if i is not None)
    else:
        recompute(item_ids)


@contextmanager
def batch() -> Iterator[None]:
    """Defer :func:`touch` recomputes to the end of the block (nested blocks join the
    outermost). Use inside the transaction, around work that touches several items."""
    if getattr(_state, "pending", None) is not None:
        yield
        return
    _state.pending = set()
    try:
        yield
        ids = _state.pending
        _state.pending = None
        recompute(ids)
    finally:
        _state.pending = None

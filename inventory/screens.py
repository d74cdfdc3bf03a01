"""Reads for the stock overview and an item's page (header, lots, ledger) in hand-written
SQL (``inventory.fastread``): the same rows, objects and annotations as the ORM queries in
``inventory.selectors`` they stand in for (``tests/inventory/test_fastread.py`` compares
them with ORM reads), at a fraction of the CPU; and the API's unfiltered stock list
(:class:`ApiItemRows`). The CSV exports and the API's filtered lists keep the ORM
querysets."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

from django.core.paginator import Page, Paginator
from django.db import connection
from django.http import Http404
from django.utils import timezone

from inventory import selectors
from inventory.fastread import RawPaginator, RawRows, build, columns, fetch, fetch_many, width
from inventory.models import (
    Category,
    Item,
    Location,
    LotStatus,
    StockLot,
    StockMovement,
    Vendor,
    item_display_name,
)

# Usable stock of item ``i`` (selectors.usable_lots: available, not expired): its stored
# available stock (``inventory.totals``: every available lot) less what of it has expired,
# which the morning job normally leaves none of. The subquery probes the item's expired
# available lots in the (item, status, expiry) index and finds none: cheaper than summing
# every lot of the item (the usable lots themselves are never read).
EXPIRED = """SELECT SUM(u.quantity) FROM inventory_stocklot u
    WHERE u.item_id = i.id AND u.status = 'available' AND u.quantity > 0
      AND u.expiry_date < %(today)s"""
USABLE = f"(i.stock_available - COALESCE(({EXPIRED}), 0))"
# Every lot holding available stock past its expiry (partial index inventory_lot_usable_exp_idx).
EXPIRED_LOTS = """SELECT u.item_id, u.quantity FROM inventory_stocklot u
    WHERE u.status = 'available' AND u.quantity > 0 AND u.expiry_date < %(today)s"""
assert LotStatus.AVAILABLE == "available"


def expired_by_item(rows) -> dict[int, Decimal]:
    """Item id -> available stock past its expiry, from :data:`EXPIRED_LOTS`' rows."""
    expired: dict[int, Decimal] = {}
    for item_id, quantity in rows:
        expired[item_id] = expired.get(item_id, 0) + quantity
    return expired


def _with_stock(item: Item, usable) -> Item:
    """The annotations of ``selectors.items_with_stock``."""
    item.on_hand = item.stock_on_hand
    item.usable = usable
    item.on_order = item.stock_on_order
    return item


# --- Stock overview ---------------------------------------------------------------------------


def _overview_where(q: str, kind: str, category, location) -> tuple[str, dict]:
    """``selectors.stock_overview``'s conditions other than ``status`` (the category and
    location as objects or primary keys)."""
    where, params = ["i.is_active"], {}
    if q:
        where.append("i.search_text LIKE %(q)s")  # the trigram index serves the infix match
        params["q"] = f"%{connection.ops.prep_for_like_query(q.lower().strip())}%"
    if kind:
        where.append("i.kind = %(kind)s")
        params["kind"] = kind
    if category:
        where.append("i.category_id = %(category)s")
        params["category"] = getattr(category, "pk", category)
    if location:
        where.append(
            "i.id IN (SELECT s.item_id FROM inventory_stocklot s"
            " WHERE s.location_id = %(location)s AND s.quantity > 0)"
        )
        params["location"] = getattr(location, "pk", location)
    return " AND ".join(where), params


def _attach_categories(items: list[Item], categories) -> None:
    """Each item's category from ``categories`` (the filter form's list, already read),
    reading only those missing from it."""
    by_id = {c.pk: c for c in categories or ()}
    missing = {i.category_id for i in items if i.category_id} - by_id.keys()
    if missing:
        by_id.update(Category.objects.in_bulk(missing))
    for item in items:
        if item.category_id:
            item.category = by_id[item.category_id]


@lru_cache(maxsize=1)
def _filter_lists_sql() -> str:
    cat_cols, loc_cols = columns(Category, "c")[0], columns(Location, "l")[0]
    pad = ", ".join(["NULL"] * (width(Location) - width(Category)))
    return (
        f"SELECT 0 AS list, {cat_cols}, {pad} FROM inventory_category c"  # noqa: S608 - constant SQL
        f" UNION ALL SELECT 1, {loc_cols} FROM inventory_location l WHERE l.is_active"
        " ORDER BY 1, 3"
    )


def lists_from_rows(rows) -> tuple[list[Category], list[Location]]:
    """The categories and locations in :func:`filter_list_rows`' rows."""
    n = width(Category)
    categories = [build(Category, row[1 : 1 + n]) for row in rows if row[0] == 0]
    return categories, [build(Location, row[1:]) for row in rows if row[0] == 1]


def filter_list_rows() -> tuple[tuple, ...]:
    """:func:`filter_lists`' rows as read (hashable: ``inventory.filters.filter_bar`` keeps
    the filter bar drawn from them)."""
    return tuple(fetch(_filter_lists_sql(), {}))


def filter_lists() -> tuple[list[Category], list[Location]]:
    """The overview filter's option lists in one query: every category and the active
    locations, each by name (their models' ordering)."""
    return lists_from_rows(fetch(_filter_lists_sql(), {}))


def category_names(rows) -> dict[int, str]:
    """Category id -> name from :func:`filter_list_rows`' rows (every category is listed)."""
    return {row[1]: row[2] for row in rows if row[0] == 0}


def stock_overview_page(
    number,
    *,
    per_page: int,
    categories=(),
    q: str = "",
    kind: str = "",
    category=None,
    location=None,
    status: str = "",
) -> Page:
    """One page of ``selectors.stock_overview(...)`` (the same items, order, ``on_hand``,
    ``usable``, ``on_order`` and category). The ``status`` filters (low, out, expiring) keep
    the ORM query, whose expired-lot handling they need."""
    if status:
        qs = selectors.stock_overview(
            q=q, kind=kind, category=category, location=location, status=status
        )
        return Paginator(qs, per_page).get_page(number)
    where, params = _overview_where(q, kind, category, location)
    cols, _names, _conv = columns(Item, "i")
    n = width(Item)

    def make(rows: list[tuple]) -> list[Item]:
        items = [_with_stock(build(Item, row[:n]), row[n]) for row in rows]
        _attach_categories(items, categories)
        return items

    rows = RawRows(
        f"SELECT COUNT(*) FROM inventory_item i WHERE {where}",  # noqa: S608 - constant SQL
        f"SELECT {cols}, {USABLE} FROM inventory_item i WHERE {where}"  # noqa: S608 - constant SQL
        " ORDER BY i.name, i.id LIMIT %(limit)s OFFSET %(offset)s",
        {**params, "today": timezone.localdate()},
        make,
    )
    return RawPaginator(rows, per_page).get_page(number)


class StockRow(NamedTuple):
    """What one row of the stock overview shows of an item (``stock_rows.stock_row`` draws
    it): read straight from the item's columns, without an ``Item`` per row."""

    pk: int
    display_name: str
    sku: str
    generic_name: str
    name: str
    kind: str
    category: str  # the category's name; "" when there is none
    unit: str
    on_hand: Decimal
    usable: Decimal
    on_order: Decimal
    reorder_point: Decimal

    @classmethod
    def of(cls, item: Item) -> StockRow:
        """The row of an item annotated as ``selectors.items_with_stock`` annotates, with its
        category loaded."""
        return cls(
            item.pk,
            item.display_name,
            item.sku,
            item.generic_name,
            item.name,
            item.kind,
            item.category.name if item.category_id else "",
            item.unit,
            item.on_hand,
            item.usable,
            item.on_order,
            item.reorder_point,
        )


ROW_COLUMNS = (
    "i.id, i.name, i.strength, i.form, i.sku, i.generic_name, i.kind, i.category_id, i.unit,"
    " i.stock_on_hand, i.stock_available, i.stock_on_order, i.reorder_point"
)


def _stock_rows(where: str, params: dict, names: dict[int, str], known: dict) -> RawRows:
    """The overview's items matching ``where`` as :class:`StockRow`, by name, for
    :class:`RawPaginator`; category names from ``names`` (read when missing), usable stock
    the stored available stock less ``known["expired"]`` (:func:`expired_by_item`, read
    when not given), as :data:`USABLE` computes it."""
    today = timezone.localdate()

    def make(rows: list[tuple]) -> list[StockRow]:
        missing = {row[7] for row in rows if row[7] is not None} - names.keys()
        if missing:  # a category made after ``names`` was read
            names.update(Category.objects.filter(pk__in=missing).values_list("pk", "name"))
        if "expired" not in known:
            known["expired"] = expired_by_item(fetch(EXPIRED_LOTS, {"today": today}))
        expired = known["expired"]
        return [
            StockRow(
                pk,
                item_display_name(name, strength, form),
                sku,
                generic,
                name,
                kind,
                "" if category is None else names[category],
                unit,
                on_hand,
                available - expired[pk] if pk in expired else available,
                on_order,
                reorder,
            )
            for (
                pk,
                name,
                strength,
                form,
                sku,
                generic,
                kind,
                category,
                unit,
                on_hand,
                available,
                on_order,
                reorder,
            ) in rows
        ]

    return RawRows(
        f"SELECT COUNT(*) FROM inventory_item i WHERE {where}",  # noqa: S608 - constant SQL
        f"SELECT {ROW_COLUMNS} FROM inventory_item i WHERE {where}"  # noqa: S608 - constant SQL
        " ORDER BY i.name, i.id LIMIT %(limit)s OFFSET %(offset)s",
        {**params, "today": today},
        make,
    )


def stock_rows_page(
    number,
    *,
    per_page: int,
    names: dict[int, str],
    q: str = "",
    kind: str = "",
    category=None,
    location=None,
    status: str = "",
    expired: dict | None = None,
) -> Page:
    """:func:`stock_overview_page` as :class:`StockRow` (the same items, order and figures);
    category names from ``names`` (:func:`category_names`), ``expired``:
    :func:`expired_by_item` when read already. The ``status`` filters keep the ORM query."""
    if status:
        qs = selectors.stock_overview(
            q=q, kind=kind, category=category, location=location, status=status
        )
        page = Paginator(qs, per_page).get_page(number)
        page.object_list = [StockRow.of(item) for item in page.object_list]
        return page
    where, params = _overview_where(q, kind, category, location)
    known = {} if expired is None else {"expired": expired}
    return RawPaginator(_stock_rows(where, params, names, known), per_page).get_page(number)


def stock_rows_page_with_lists(
    number, *, per_page: int, guess: dict
) -> tuple[tuple[tuple, ...], dict | None, Page | None]:
    """:func:`filter_list_rows`, :func:`expired_by_item` and, sent with them in the same
    round trip, :func:`stock_rows_page` for the filters ``guess`` (with a ``status``: that
    page keeps the ORM query, and is not read here: the lists only, then None, None)."""
    lists_sql = _filter_lists_sql()
    if guess.get("status"):
        return filter_list_rows(), None, None
    names: dict[int, str] = {}
    where, params = _overview_where(
        guess.get("q", ""), guess.get("kind", ""), guess.get("category"), guess.get("location")
    )
    known: dict = {}
    rows = _stock_rows(where, params, names, known)
    paginator = RawPaginator(rows, per_page)
    start = paginator.first_row(paginator.number_asked(number))
    page_sql, page_params = rows.statements(start, start + per_page)
    lists, expired, counted, page_rows = fetch_many(
        [lists_sql, EXPIRED_LOTS, *page_sql], page_params
    )
    lists = tuple(lists)
    names.update(category_names(lists))
    known["expired"] = expired_by_item(expired)
    rows.prime(start, start + per_page, counted, page_rows)
    return lists, known["expired"], paginator.get_page(number)


# --- An item's page ---------------------------------------------------------------------------


def _pk(pk) -> int:
    try:
        return int(pk)
    except (TypeError, ValueError):
        raise Http404("No such item") from None


class LedgerRow(NamedTuple):
    """What one row of an item's ledger shows of a movement (``stock_rows.ledger_row``
    draws it; the view reads ``pk``, ``kind`` and ``patient_id``): read straight from the
    movement's columns, its lot's batch and location and the names of the people on it,
    without a ``StockMovement`` (and its lot, actor, patient, order line) per row."""

    pk: int
    created_at: datetime
    kind: str
    reason_code: str
    quantity: Decimal
    batch_number: str
    location: str  # the lot's location, as written (its name)
    patient_id: int | None
    patient_name: str  # the patient's full name and number ("" when none)
    patient_number: str
    visit_id: int | None
    destination: str
    purchase_order_line_id: int | None
    order_number: str  # the purchase order's number ("" when none)
    note: str
    actor_id: int | None
    actor_name: str  # the actor's full name ("" when none)

    @classmethod
    def of(cls, m: StockMovement) -> LedgerRow:
        """The row of a movement with its lot (and location), actor, patient and order line
        loaded (as ``selectors.item_ledger`` loads them)."""
        patient = m.patient if m.patient_id else None
        return cls(
            m.pk,
            m.created_at,
            m.kind,
            m.reason_code,
            m.quantity,
            m.lot.batch_number,
            str(m.lot.location),
            m.patient_id,
            patient.full_name if patient else "",
            patient.id_number if patient else "",
            m.visit_id,
            m.destination,
            m.purchase_order_line_id,
            m.purchase_order_line.order.number if m.purchase_order_line_id else "",
            m.note,
            m.actor_id,
            m.actor.full_name if m.actor_id and m.actor else "",
        )


LEDGER_COLUMNS = (
    "m.id, m.created_at, m.kind, m.reason_code, m.quantity, m.lot_id, m.patient_id,"
    " m.visit_id, m.destination, m.purchase_order_line_id, m.note, m.actor_id"
)


def _names_of_people(rows: list[tuple]) -> tuple[dict, dict, dict]:
    """Actor names, patients (name, number) and order numbers of ledger ``rows``: each read
    only when a row has one (actors in one plain query, patients and order lines by the
    managers the ORM's prefetch uses)."""
    field = StockMovement._meta.get_field
    actor_ids = sorted({r[11] for r in rows if r[11]})
    patient_ids = {r[6] for r in rows if r[6]}
    line_ids = {r[9] for r in rows if r[9]}
    actors, patients, orders = {}, {}, {}
    if actor_ids:
        user_model = field("actor").related_model
        users = fetch(
            f"SELECT {columns(user_model, 'a')[0]} FROM {user_model._meta.db_table} a"  # noqa: S608 - constant SQL
            " WHERE a.id = ANY(%(ids)s)",
            {"ids": actor_ids},
        )
        actors = {u.pk: u.full_name for u in (build(user_model, r) for r in users)}
    if patient_ids:
        found = field("patient").related_model._base_manager.in_bulk(patient_ids)
        patients = {pk: (p.full_name, p.id_number) for pk, p in found.items()}
    if line_ids:
        lines = field("purchase_order_line").related_model._base_manager.select_related("order")
        orders = {pk: line.order.number for pk, line in lines.in_bulk(line_ids).items()}
    return actors, patients, orders


def _ledger_row_source(item_pk: int, lots_by_id: dict, cap: int) -> RawRows:
    """An item's ledger, newest first, as :class:`LedgerRow` for :class:`RawPaginator`; each
    movement's lot from ``lots_by_id`` (filled by the time rows are made)."""

    def make(rows: list[tuple]) -> list[LedgerRow]:
        missing = {r[5] for r in rows} - lots_by_id.keys()
        if missing:  # defensive: a movement's lot always belongs to its item
            lots_by_id.update(StockLot.objects.select_related("location").in_bulk(missing))
        actors, patients, orders = _names_of_people(rows)
        out = []
        for pk, at, kind, reason, qty, lot_id, patient, visit, dest, line, note, actor in rows:
            lot = lots_by_id[lot_id]
            name, number = patients.get(patient, ("", "")) if patient else ("", "")
            out.append(
                LedgerRow(
                    pk,
                    at,
                    kind,
                    reason,
                    qty,
                    lot.batch_number,
                    str(lot.location),
                    patient,
                    name,
                    number,
                    visit,
                    dest,
                    line,
                    orders.get(line, "") if line else "",
                    note,
                    actor,
                    actors.get(actor, "") if actor else "",
                )
            )
        return out

    return RawRows(
        "SELECT COUNT(*) FROM (SELECT 1 FROM inventory_stockmovement m"
        " WHERE m.item_id = %(item)s LIMIT %(cap)s) capped",
        f"SELECT {LEDGER_COLUMNS} FROM inventory_stockmovement m"  # noqa: S608 - constant SQL
        " WHERE m.item_id = %(item)s ORDER BY m.created_at DESC, m.id DESC"
        " LIMIT %(limit)s OFFSET %(offset)s",
        {"item": item_pk},
        make,
        cap=cap,
    )


@lru_cache(maxsize=1)
def _item_page_sql() -> list[str]:
    """The item (with its usable stock), its category, its preferred vendor, every location
    and the item's lots: five plain statements, which PostgreSQL plans in less time than
    one four-table join of the item with its category, vendor and default location (and
    one of the lots with their locations); the locations are a short list, and serve the
    default location and each lot's."""

    def related(model, alias: str, fk: str) -> str:
        column = Item._meta.get_field(fk).column
        return (
            f"SELECT {columns(model, alias)[0]} FROM {model._meta.db_table} {alias}"  # noqa: S608 - constant SQL
            f' WHERE {alias}."id" = (SELECT x."{column}" FROM inventory_item x WHERE x.id = %(pk)s)'
        )

    return [
        f"SELECT {columns(Item, 'i')[0]}, {USABLE} FROM inventory_item i WHERE i.id = %(pk)s",  # noqa: S608 - constant SQL
        related(Category, "c", "category"),
        related(Vendor, "v", "preferred_vendor"),
        f"SELECT {columns(Location, 'loc')[0]} FROM inventory_location loc",  # noqa: S608 - constant SQL
        f"SELECT {columns(StockLot, 'l')[0]} FROM inventory_stocklot l"  # noqa: S608 - constant SQL
        " WHERE l.item_id = %(pk)s ORDER BY l.expiry_date ASC NULLS LAST, l.id ASC",
    ]


def _item_and_lots(item_rows, category_rows, vendor_rows, location_rows, lot_rows):
    """The item and its lots from :func:`_item_page_sql`'s answers (the item with its stock
    annotations, category, vendor and default location; its lots, each with its location
    and the item). A related row that changed between the statements is left to
    load when used, as the ORM would."""
    n = width(Item)
    item = _with_stock(build(Item, item_rows[0][:n]), item_rows[0][n])
    for fk, rows, model in (
        ("category", category_rows, Category),
        ("preferred_vendor", vendor_rows, Vendor),
    ):
        wanted = getattr(item, f"{fk}_id")
        if wanted is not None and rows and rows[0][0] == wanted:
            setattr(item, fk, build(model, rows[0]))
    locations = {row[0]: row for row in location_rows}
    if item.default_location_id in locations:
        item.default_location = build(Location, locations[item.default_location_id])
    lots = []
    for row in lot_rows:
        lot = build(StockLot, row)
        if lot.location_id in locations:
            lot.location = build(Location, locations[lot.location_id])
        lot.item = item
        lots.append(lot)
    return item, lots


def item_rows_page(
    pk, number, *, per_page: int, cap: int, today: date | None = None
) -> tuple[Item, list[StockLot], Page]:
    """An item's page: the item (``selectors.get_item``: its stock figures, category,
    preferred vendor and default location), its lots (``selectors.item_lots``: first expiry
    first, each with its location and the item) and one page of its ledger
    (``selectors.item_ledger``: newest first) as :class:`LedgerRow`, in one round trip (one
    more each for the page's actors, patients and order lines, when it has any; one when
    the page number was past the end). 404 when there is no such item. The ledger's count
    stops at ``cap`` rows, so an item with a very long history costs no more than one with
    ``cap`` movements (the full history is in the ledger CSV); pages walk the (item,
    created_at, id) index. ``tests/inventory/test_fastread.py`` checks it against the ORM."""
    pk = _pk(pk)
    lots_by_id: dict = {}
    ledger = _ledger_row_source(pk, lots_by_id, cap)
    paginator = RawPaginator(ledger, per_page)
    start = paginator.first_row(paginator.number_asked(number))
    ledger_sql, params = ledger.statements(start, start + per_page)
    params |= {"pk": pk, "today": today or timezone.localdate()}
    *answers, counted, rows = fetch_many([*_item_page_sql(), *ledger_sql], params)
    if not answers[0]:
        raise Http404("No such item")
    item, lots = _item_and_lots(*answers)
    lots_by_id.update((lot.pk, lot) for lot in lots)
    ledger.prime(start, start + per_page, counted, rows)
    return item, lots, paginator.get_page(number)


# --- The API's stock list ---------------------------------------------------------------------

# ``ItemSerializer``'s fields in its order. The quantities come as text written by
# PostgreSQL, which writes numeric(14, 3) as DRF's DecimalField(14, 3) writes a Decimal
# (every decimal place, no exponent: "0.000", "-2.500"), without a Decimal made for each.
API_ITEM_COLUMNS = (
    "i.id, i.sku, i.name, i.kind, i.generic_name, i.strength, i.form, c.name, i.unit,"
    " i.allows_fractions, i.reorder_point::text, i.reorder_quantity::text,"
    f" i.stock_on_hand::text, ({USABLE})::numeric(14, 3)::text, i.stock_on_order::text"
)


class ApiItemRows:
    """``selectors.stock_overview()`` (no filter) for DRF's cursor paginator ordered by id:
    it answers the three queryset calls the paginator makes (``order_by("-id")`` or
    ``("id")``, ``filter(id__lt=...)`` or ``id__gt``, one slice) with one plain query, each
    row handed to ``make`` with the item's fields in ``API_ITEM_COLUMNS``' order (the
    category by name, ``usable`` as ``items_with_stock`` computes it).
    ``tests/api/test_api_stock_list.py`` walks every page both ways against the ORM."""

    def __init__(self, make: Callable[[tuple], object], today: date | None = None):
        self.make = make
        self.today = today or timezone.localdate()
        self.descending = True
        self.bound: tuple[str, int] | None = None

    def order_by(self, *ordering) -> ApiItemRows:
        if tuple(ordering) not in (("id",), ("-id",)):
            raise ValueError(f"ApiItemRows orders by id only, not {ordering!r}")
        other = copy.copy(self)
        other.descending = ordering[0] == "-id"
        return other

    def filter(self, **lookup) -> ApiItemRows:
        ((name, value),) = lookup.items()
        if name not in ("id__lt", "id__gt"):
            raise ValueError(f"ApiItemRows filters by id only, not {name!r}")
        # As the ORM's filter(id__lt=...) would, a value that is no number is a ValueError.
        other = copy.copy(self)
        other.bound = ("<" if name == "id__lt" else ">", int(value))
        return other

    def __getitem__(self, key) -> list:
        if not isinstance(key, slice) or key.step is not None or key.stop is None:
            raise TypeError("ApiItemRows supports bounded plain slices only")
        start = key.start or 0
        after = f" AND i.id {self.bound[0]} %(bound)s" if self.bound else ""
        rows = fetch(
            f"SELECT {API_ITEM_COLUMNS} FROM inventory_item i"  # noqa: S608 - constant SQL
            " LEFT JOIN inventory_category c ON c.id = i.category_id"
            f" WHERE i.is_active{after} ORDER BY i.id {'DESC' if self.descending else 'ASC'}"
            " LIMIT %(limit)s OFFSET %(offset)s",
            {
                "today": self.today,
                "bound": self.bound[1] if self.bound else None,
                "limit": max(0, key.stop - start),
                "offset": start,
            },
        )
        return [self.make(row) for row in rows]

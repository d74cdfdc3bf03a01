"""Reads for billing pages, reports and statements (each does its own joins; no N+1)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db import connection, transaction
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.http import Http404
from django.utils import timezone

from accounts.audit import audit_phi_denied, audit_phi_read_of_statement, audit_phi_served
from accounts.models import AuditAction
from accounts.roles import user_has_perm
from billing.models import (
    OPEN_STATUSES,
    POSTED_STATUSES,
    ZERO,
    Allocation,
    ApprovalStatus,
    CashierDay,
    CashierDayStatus,
    Charge,
    ChargeStatus,
    Claim,
    ClaimStatus,
    Coverage,
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    KonsultaCapitation,
    KonsultaRegistration,
    OpenBalancePatient,
    PayerKind,
    Payment,
    Refund,
    ServiceGroup,
    WriteOff,
)
from billing.reads import (
    invoice_with_parties,
    invoice_with_parties_from,
    invoice_with_parties_statement,
)
from inventory.fastread import RawPaginator
from patients.models import Diagnosis, Patient, format_philhealth_pin
from uscpis.compiled import fetch_together, instances_from_db
from uscpis.prepared import named_statement

MONEY_FIELD = DecimalField(max_digits=14, decimal_places=2)
# The stored balance (a generated column: 0 on drafts and voids, otherwise patient share +
# moved back − credits − write-off − allocations).
BALANCE = F("open_balance")


def _sum(qs, expr) -> Decimal:
    return qs.aggregate(s=Coalesce(Sum(expr), Value(ZERO), output_field=MONEY_FIELD))["s"]


# --- Objects -----------------------------------------------------------------------------


# Access helpers, shaped like ``patients.selectors.get_patient_for_user``: ``purpose`` is
# required (AuditAction.READ or EXPORT, or None for a write whose service audits it) and
# the helper records the read, so no billing page can show a patient's bill unaudited.
# Billing staff (``billing.view``) see every patient's documents; anyone else only their
# own (``own=True``: the portal pages, whatever the role). "Not yours" is a 404, like "not
# found", and is audited as denied.


def _owned_or_denied(user, obj, *, own: bool, object_type: str, message: str) -> None:
    if not own and user_has_perm(user, "billing.view"):
        return
    if getattr(user, "is_authenticated", False) and obj.patient.user_id == user.pk:
        return
    audit_phi_denied(user, object_type=object_type, object_id=obj.pk, patient_id=obj.patient_id)
    raise Http404(message)


def get_invoice_for_user(
    user, pk: int, *, purpose: AuditAction | None, detail: dict | None = None, own: bool = False
) -> Invoice:
    """An invoice ``user`` may see; a patient's own only once issued (their drafts are a
    404 too, though not a denied probe)."""
    try:
        # select_related("patient", "issued_by", "voided_by", "coverage__payer").get(pk=pk)
        invoice = invoice_with_parties(pk)
    except (Invoice.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("No such invoice") from None
    return _invoice_served(user, invoice, purpose=purpose, detail=detail, own=own)


def _invoice_served(
    user, invoice: Invoice, *, purpose: AuditAction | None, detail: dict | None, own: bool
) -> Invoice:
    _owned_or_denied(
        user, invoice, own=own, object_type="billing.invoice", message="No such invoice"
    )
    staff = not own and user_has_perm(user, "billing.view")
    if not staff and invoice.status not in [*POSTED_STATUSES, InvoiceStatus.VOID]:
        raise Http404("No such invoice")
    audit_phi_served(user, purpose, obj=invoice, patient_id=invoice.patient_id, detail=detail)
    return invoice


_PATIENT_OF_INVOICE = f"SELECT patient_id FROM {Invoice._meta.db_table} WHERE id = %s"  # noqa: S608


def get_invoice_with_reads_for_user(
    user, pk: int, *, purpose: AuditAction | None, extra: Sequence[tuple[str, Sequence]]
) -> tuple[Invoice, list[list[tuple]]]:
    """``get_invoice_for_user(user, pk, purpose=purpose)`` and the rows of each ``extra``
    statement (reads of the invoice that need only ``pk``, positional parameters), in one
    round trip. For billing staff reading (who see every invoice) the read event goes in
    it too, written only if the invoice exists and naming its patient; otherwise the
    access check and the event follow the reads, as ``get_invoice_for_user`` (nothing of
    the reads is served to whom the invoice is not)."""
    statement = invoice_with_parties_statement(pk) if type(pk) is int else None
    if statement is None:
        invoice = get_invoice_for_user(user, pk, purpose=purpose)
        return invoice, fetch_together(extra) if extra else []
    event = None
    if purpose == AuditAction.READ and user_has_perm(user, "billing.view"):
        event = audit_phi_read_of_statement(
            actor=user if getattr(user, "is_authenticated", False) else None,
            patient_of=(_PATIENT_OF_INVOICE, [pk]),
            object_type=Invoice._meta.label_lower,  # as obj=invoice names it
            object_id=pk,
        )
    reads = [statement, *extra]
    # In a caller's transaction a failed statement marks it for rollback (as audit_record).
    guard = transaction.atomic(savepoint=False) if connection.in_atomic_block else nullcontext()
    with guard:
        results = fetch_together([*reads, *(event.statements if event else ())])
    try:
        invoice = invoice_with_parties_from(results[0], pk)
    except Invoice.DoesNotExist:
        raise Http404("No such invoice") from None
    rows = results[1 : len(reads)]
    if event is None:
        return _invoice_served(user, invoice, purpose=purpose, detail=None, own=False), rows
    if event.recorded(results[-1]) != invoice.patient_id:
        # Deleted, or moved to another patient, between the two statements: what was
        # read is not served.
        raise Http404("No such invoice")
    return invoice, rows


def get_payment_for_user(
    user, pk: int, *, purpose: AuditAction | None, detail: dict | None = None, own: bool = False
) -> Payment:
    try:
        payment = Payment.objects.select_related("patient", "received_by", "cashier_day").get(pk=pk)
    except (Payment.DoesNotExist, ValueError, TypeError):
        raise Http404("No such payment") from None
    _owned_or_denied(
        user, payment, own=own, object_type="billing.payment", message="No such payment"
    )
    audit_phi_served(user, purpose, obj=payment, patient_id=payment.patient_id, detail=detail)
    return payment


def rows_served(user, rows, *, object_type: str, detail: dict) -> None:
    """A page of billing rows (the API lists) was served: one READ event listing the
    patients, naming the patient when the page is all one patient's."""
    ids = sorted({row.patient_id for row in rows if row.patient_id})
    if not ids:
        return
    audit_phi_served(
        user,
        AuditAction.READ,
        object_type=object_type,
        patient_id=ids[0] if len(ids) == 1 else None,
        detail={**detail, "patients": ids[:100]},
    )


def get_claim_for_user(
    user, pk: int, *, purpose: AuditAction | None, detail: dict | None = None
) -> Claim:
    """A claim (billing staff only: the portal lists a patient's claims on their bills)."""
    try:
        claim = Claim.objects.select_related("payer", "coverage", "patient").get(pk=pk)
    except (Claim.DoesNotExist, ValueError, TypeError):
        raise Http404("No such claim") from None
    _owned_or_denied(user, claim, own=False, object_type="billing.claim", message="No such claim")
    audit_phi_served(user, purpose, obj=claim, patient_id=claim.patient_id, detail=detail)
    return claim


def invoice_lines(invoice: Invoice) -> list[InvoiceLine]:
    voided = invoice.status == InvoiceStatus.VOID
    return list(
        invoice.lines.filter(voided=voided).select_related("service", "provider", "coverage__payer")
    )


# --- Balances ------------------------------------------------------------------------------


@dataclass
class Balance:
    owed: Decimal = ZERO  # open invoices' balance
    credit: Decimal = ZERO  # unallocated payments
    open_invoices: int = 0

    @property
    def net(self) -> Decimal:
        return self.owed - self.credit


def patient_balance(patient_id: int) -> Balance:
    """What the patient owes (issued − credits − allocations) and the credit they hold."""
    row = Invoice.objects.filter(patient_id=patient_id, status__in=OPEN_STATUSES).aggregate(
        owed=Coalesce(Sum(BALANCE), Value(ZERO), output_field=MONEY_FIELD), n=Count("id")
    )
    credit = _sum(Payment.objects.filter(patient_id=patient_id), "unallocated")
    return Balance(owed=row["owed"], credit=credit, open_invoices=row["n"])


def patient_owed(patient_id: int) -> Decimal:
    """``patient_balance(patient_id).owed`` alone, for the chart's balance button: the
    patient's open balance as the invoice triggers keep it (``OpenBalancePatient``, billing
    0005; no row: nothing open), read by primary key with one hand-written statement, which
    PostgreSQL plans in a fraction of what the same sum over ``billing_invoice`` (and its
    many indexes) costs to plan on every chart."""
    with connection.cursor() as cursor:
        cursor.execute(*patient_owed_statement(patient_id))
        return patient_owed_from_row(cursor.fetchone())


def patient_owed_statement(patient_id: int) -> tuple[str, list]:
    """``patient_owed``'s statement, for a caller sending it with other reads in one round
    trip; ``patient_owed_from_row`` turns its one row into the amount."""
    return _OWED_SQL, [patient_id]


def patient_owed_from_row(row) -> Decimal:
    owed = row[0]
    return ZERO if owed is None else owed + ZERO  # + ZERO: centavos, as the Python sum gave


_OWED_SQL = (
    f"SELECT SUM(balance) FROM {OpenBalancePatient._meta.db_table} "  # noqa: S608 - our table
    "WHERE patient_id = %s"
)


# --- Lists ---------------------------------------------------------------------------------


def invoice_list(
    *, status: str = "", q: str = "", date_from=None, date_to=None, patient_id: int | None = None
) -> QuerySet[Invoice]:
    qs = Invoice.objects.select_related("patient").order_by("-visit_day", "-id")
    if status == "open":
        qs = qs.filter(status__in=OPEN_STATUSES)
    elif status:
        qs = qs.filter(status=status)
    if patient_id:
        qs = qs.filter(patient_id=patient_id)
    if q:
        term = q.strip()
        qs = qs.filter(
            Q(number__iexact=term)
            | Q(patient__id_number__iexact=term)
            | Q(patient__search_text__contains=term.lower())
        )
    if date_from:
        qs = qs.filter(visit_day__gte=date_from)
    if date_to:
        qs = qs.filter(visit_day__lte=date_to)
    return qs


# What a row of the invoice list shows (billing_lists.invoice_list_rows): the page loads these
# columns only, not the patient's whole record.
# An invoice's number, day, status and the figures its balance is computed from: what every
# invoice row shows (the list's rows here, the account tab's in billing.screens).
INVOICE_FIGURE_FIELDS = (
    "number",
    "visit_day",
    "status",
    "net_total",
    "patient_total",
    "moved_to_patient",
    "credited",
    "written_off",
    "amount_paid",
)
INVOICE_ROW_FIELDS = (
    *INVOICE_FIGURE_FIELDS,
    "patient__first_name",
    "patient__middle_name",
    "patient__last_name",
    "patient__id_number",
)


def _field_order(model, names) -> tuple[str, ...]:
    return tuple(f.attname for f in model._meta.concrete_fields if f.attname in names)


# The open list's row: the invoice's columns (the ids, then INVOICE_ROW_FIELDS') and the
# patient's, each in its model's field order, the order ``from_db`` takes them in.
_OPEN_ROW_INVOICE = _field_order(
    Invoice,
    ("id", "patient_id", *(f for f in INVOICE_ROW_FIELDS if not f.startswith("patient__"))),
)
_OPEN_ROW_PATIENT = _field_order(
    Patient,
    ("id", *(f.removeprefix("patient__") for f in INVOICE_ROW_FIELDS if f.startswith("patient__"))),
)
_OPEN_ROWS_SELECT = (
    f"SELECT {', '.join('i.' + a for a in _OPEN_ROW_INVOICE)}, "  # noqa: S608 - our names
    f"{', '.join('p.' + a for a in _OPEN_ROW_PATIENT)} "
    "FROM billing_invoice i JOIN patients_patient p ON p.id = i.patient_id "
    "WHERE i.status IN ('issued', 'partially_paid')"
)
_OPEN_ROWS_DAYS = (
    " AND i.visit_day >= coalesce(%(date_from)s, '-infinity'::date)"
    " AND i.visit_day <= coalesce(%(date_to)s, 'infinity'::date)"
)
_OPEN_ROWS_ORDER = " ORDER BY i.visit_day DESC, i.id DESC LIMIT {limit} OFFSET {offset}"
_OPEN_ROWS_SQL = (
    _OPEN_ROWS_SELECT
    + _OPEN_ROWS_DAYS
    + _OPEN_ROWS_ORDER.format(limit="%(limit)s", offset="%(offset)s")
)
# The first pages prepared once per connection with their bounds written in (and without
# the visit-day conditions when the list is not filtered by day), so that PostgreSQL keeps
# one plan for them: with the bounds or the days as parameters it plans the statement
# again each time (its plan for unknown bounds reads far more rows than a page).
_OPEN_PREPARED_PAGES = 5


@lru_cache(maxsize=32)
def _open_rows_sql(limit: int, offset: int, days: bool) -> str:
    order = _OPEN_ROWS_ORDER.format(limit=int(limit), offset=int(offset))
    return _OPEN_ROWS_SELECT + (_OPEN_ROWS_DAYS if days else "") + order


def _open_rows_statement(params: dict) -> tuple[str, list]:
    """``_OPEN_ROWS_SQL`` with ``params``, as the statement to send (prepared)."""
    limit, offset = params["limit"], params["offset"]
    if offset >= _OPEN_PREPARED_PAGES * limit:
        return named_statement(_OPEN_ROWS_SQL, params)
    days = params["date_from"] is not None or params["date_to"] is not None
    return named_statement(_open_rows_sql(limit, offset, days), params)


_OPEN_TOTALS_SQL = (
    "SELECT coalesce(sum(invoices), 0), coalesce(sum(net_total), 0),"
    " coalesce(sum(patient_total), 0), coalesce(sum(balance), 0)"
    " FROM billing_openbalanceday"
    " WHERE visit_day >= coalesce(%(date_from)s, '-infinity'::date)"
    " AND visit_day <= coalesce(%(date_to)s, 'infinity'::date)"
)
assert tuple(OPEN_STATUSES) == ("issued", "partially_paid")


class OpenInvoiceRows:
    """The open list (visit days in a range at most) as the paginator slices it: each slice
    is one plain query for that page's invoices with their patients' names, the same rows
    in the same order as ``invoice_list(status="open", ...).only(*INVOICE_ROW_FIELDS)``
    without compiling that query on every request. :meth:`prime` hands it rows already
    fetched (``open_invoice_page``: with the totals, in one round trip)."""

    def __init__(self, *, date_from=None, date_to=None):
        self.date_from, self.date_to = date_from, date_to
        self._primed: tuple[int, list[tuple]] | None = None

    def params(self, start: int, limit: int) -> dict:
        return {
            "date_from": self.date_from,
            "date_to": self.date_to,
            "limit": max(limit, 0),
            "offset": start,
        }

    def prime(self, start: int, rows: list[tuple]) -> None:
        """``rows``: what ``_OPEN_ROWS_SQL`` answered from ``start`` (as many as it asked
        for); a slice from ``start`` that ends within them is taken from them."""
        self._primed = (start, rows)

    def __getitem__(self, bounds: slice) -> list[Invoice]:
        start, stop = bounds.start or 0, bounds.stop
        if stop <= start:
            return []
        primed, self._primed = self._primed, None
        if primed is not None and primed[0] == start and stop - start <= len(primed[1]):
            rows = primed[1][: stop - start]
        else:
            with connection.cursor() as cursor:
                cursor.execute(_OPEN_ROWS_SQL, self.params(start, stop - start))
                rows = cursor.fetchall()
        return self.make(rows)

    @staticmethod
    def make(rows) -> list[Invoice]:
        n = len(_OPEN_ROW_INVOICE)
        invoices = instances_from_db(Invoice, "default", _OPEN_ROW_INVOICE, [r[:n] for r in rows])
        patients = instances_from_db(Patient, "default", _OPEN_ROW_PATIENT, [r[n:] for r in rows])
        cache = Invoice.patient.field.set_cached_value
        for invoice, patient in zip(invoices, patients, strict=True):
            cache(invoice, patient)
        return invoices


def _open_list(filters: dict) -> bool:
    """The open list filtered by visit days at most (its fast paths)."""
    return filters.get("status") == "open" and not set(filters) - {"status", "date_from", "date_to"}


def invoice_list_page(number, per_page: int, **filters) -> tuple[ListTotals, Page]:
    """The invoice list's totals and its page ``number`` (``Paginator.get_page``'s answer
    for any number) for ``filters`` as given to ``invoice_list``: the open list's in one
    round trip (the per-day totals and the page's rows; a number past the end costs a
    second query), any other filter's through ``invoice_list_totals`` and the ORM."""
    if not _open_list(filters):
        qs = invoice_list(**filters)
        totals = invoice_list_totals(qs, **filters)
        paginator = Paginator(invoice_list_rows(qs, **filters), per_page)
        paginator.count = totals.count  # a cached_property: set, it is never queried
        return totals, paginator.get_page(number)
    rows = OpenInvoiceRows(date_from=filters.get("date_from"), date_to=filters.get("date_to"))
    bottom = (max(RawPaginator.number_asked(number), 1) - 1) * per_page
    params = rows.params(bottom, per_page)
    totals_rows, page_rows = fetch_together(
        [named_statement(_OPEN_TOTALS_SQL, params), _open_rows_statement(params)]
    )
    rows.prime(bottom, page_rows)
    totals = ListTotals(*totals_rows[0])
    paginator = Paginator(rows, per_page)
    paginator.count = totals.count
    return totals, paginator.get_page(number)


def invoice_list_rows(qs: QuerySet[Invoice], **filters):
    """What the invoice list pages through: the open list (visit days in a range at most,
    as ``invoice_list_totals`` decides) through ``OpenInvoiceRows``, any other filter
    through ``qs`` loading the shown columns only."""
    if _open_list(filters):
        return OpenInvoiceRows(date_from=filters.get("date_from"), date_to=filters.get("date_to"))
    return qs.only(*INVOICE_ROW_FIELDS)


@dataclass
class ListTotals:
    count: int = 0
    net: Decimal = ZERO
    patient: Decimal = ZERO
    balance: Decimal = ZERO


def invoice_list_totals(qs: QuerySet[Invoice], **filters) -> ListTotals:
    """Count and sums of a filtered invoice list in one aggregate (the paginator takes its
    count from here instead of a second ``COUNT(*)``). The open list filtered by visit days
    at most (``filters`` as given to ``invoice_list``) sums the per-day open-balance rows
    instead of its invoices."""
    if _open_list(filters):
        return open_invoice_totals(
            date_from=filters.get("date_from"), date_to=filters.get("date_to")
        )
    row = qs.order_by().aggregate(
        count=Count("id"),
        net=Coalesce(Sum("net_total"), Value(ZERO), output_field=MONEY_FIELD),
        patient=Coalesce(Sum("patient_total"), Value(ZERO), output_field=MONEY_FIELD),
        balance=Coalesce(Sum("open_balance"), Value(ZERO), output_field=MONEY_FIELD),
    )
    return ListTotals(**row)


def open_invoice_totals(*, date_from=None, date_to=None) -> ListTotals:
    """``invoice_list_totals`` of the open invoices (visit day in the range) from the
    trigger-kept ``OpenBalanceDay`` rows: at most a row per visit day, one plain query."""
    with connection.cursor() as cursor:
        cursor.execute(_OPEN_TOTALS_SQL, {"date_from": date_from, "date_to": date_to})
        count, net, patient, balance = cursor.fetchone()
    return ListTotals(count=count, net=net, patient=patient, balance=balance)


def unbilled_charges(status: str = ChargeStatus.UNBILLED) -> QuerySet[Charge]:
    return (
        Charge.objects.filter(status=status)
        .select_related("patient", "service")
        .order_by("-occurred_on", "-id")
    )


def reversed_on_issued() -> QuerySet[Charge]:
    """Reversed charges still on an issued invoice: each needs a credit note."""
    return (
        Charge.objects.filter(
            status=ChargeStatus.REVERSED,
            invoice_lines__voided=False,
            invoice_lines__invoice__status__in=OPEN_STATUSES,
        )
        .select_related("patient")
        .annotate(
            invoice_id=F("invoice_lines__invoice_id"),
            invoice_number=F("invoice_lines__invoice__number"),
        )
        .order_by("-reversed_at")
    )


def claim_list(*, status: str = "", payer_id: int | None = None) -> QuerySet[Claim]:
    qs = Claim.objects.select_related("payer", "patient").order_by("-created_at", "-id")
    if status == "action":
        qs = qs.filter(status__in=[ClaimStatus.DRAFT, ClaimStatus.DENIED])
    elif status:
        qs = qs.filter(status=status)
    if payer_id:
        qs = qs.filter(payer_id=payer_id)
    return qs


def pending_approvals():
    return (
        list(
            WriteOff.objects.filter(status=ApprovalStatus.REQUESTED).select_related(
                "invoice__patient", "requested_by"
            )
        ),
        list(
            Refund.objects.filter(status=ApprovalStatus.REQUESTED).select_related(
                "payment__patient", "requested_by"
            )
        ),
    )


# --- Home and dashboard --------------------------------------------------------------------


def home_counts() -> dict:
    today = timezone.localdate()
    start = timezone.make_aware(timezone.datetime.combine(today, timezone.datetime.min.time()))
    invoice_row = Invoice.objects.aggregate(
        drafts=Count("id", filter=Q(status=InvoiceStatus.DRAFT)),
        open=Count("id", filter=Q(status__in=OPEN_STATUSES)),
        open_amount=Coalesce(
            Sum(BALANCE, filter=Q(status__in=OPEN_STATUSES)), Value(ZERO), output_field=MONEY_FIELD
        ),
    )
    return {
        "unbilled": Charge.objects.filter(status=ChargeStatus.UNBILLED).count(),
        "drafts": invoice_row["drafts"],
        "open_invoices": invoice_row["open"],
        "open_amount": invoice_row["open_amount"],
        "collected_today": _sum(Payment.objects.filter(received_at__gte=start), "amount"),
        "claims_action": Claim.objects.filter(
            status__in=[ClaimStatus.DRAFT, ClaimStatus.DENIED]
        ).count(),
        "approvals": WriteOff.objects.filter(status=ApprovalStatus.REQUESTED).count()
        + Refund.objects.filter(status=ApprovalStatus.REQUESTED).count(),
    }


def open_cashier_day(user) -> CashierDay | None:
    return CashierDay.objects.filter(cashier=user, status=CashierDayStatus.OPEN).first()


# --- Reports -------------------------------------------------------------------------------


@dataclass
class Report:
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    money_columns: set[int] = field(default_factory=set)
    chart: list[tuple[str, Decimal]] = field(default_factory=list)
    totals: list | None = None  # a footer row (grand totals), when the report has one
    page: Page | None = None  # set when the rows are one page of many


def _posted_lines(date_from: date, date_to: date):
    return InvoiceLine.objects.filter(
        voided=False,
        invoice__status__in=POSTED_STATUSES,
        invoice__visit_day__gte=date_from,
        invoice__visit_day__lte=date_to,
    )


def _revenue(date_from, date_to, key: str, label: str, title: str) -> Report:
    rows = (
        _posted_lines(date_from, date_to)
        .values(key)
        .annotate(
            n=Count("id"),
            gross=Sum("gross"),
            discounts=Sum(F("discount") + F("vat_exemption")),
            net=Sum("net"),
            payer=Sum("payer_share"),
            patient=Sum("patient_share"),
        )
        .order_by("-net")
    )
    report = Report(
        title,
        [label, "Lines", "Gross", "Discounts", "Net", "Payers", "Patients"],
        money_columns={2, 3, 4, 5, 6},
    )
    for r in rows:
        report.rows.append(
            [r[key] or "—", r["n"], r["gross"], r["discounts"], r["net"], r["payer"], r["patient"]]
        )
    return report


def report_revenue_by_service(date_from, date_to) -> Report:
    return _revenue(date_from, date_to, "service__name", "Service", "Revenue by service")


def report_revenue_by_provider(date_from, date_to) -> Report:
    report = _revenue(date_from, date_to, "provider__email", "Provider", "Revenue by provider")
    return report


def report_revenue_by_payer(date_from, date_to) -> Report:
    rows = (
        _posted_lines(date_from, date_to)
        .filter(payer_share__gt=0)
        .values("coverage__payer__name")
        .annotate(n=Count("id"), amount=Sum("payer_share"))
        .order_by("-amount")
    )
    patient = _sum(_posted_lines(date_from, date_to), "patient_share")
    report = Report("Revenue by payer", ["Payer", "Lines", "Amount"], money_columns={2})
    report.rows = [[r["coverage__payer__name"], r["n"], r["amount"]] for r in rows]
    report.rows.append(["Patients (self-pay)", "", patient])
    return report


def report_revenue_by_day(date_from, date_to) -> Report:
    rows = (
        _posted_lines(date_from, date_to)
        .values("invoice__visit_day")
        .annotate(n=Count("invoice", distinct=True), net=Sum("net"))
        .order_by("invoice__visit_day")
    )
    report = Report("Revenue by day", ["Day", "Invoices", "Net revenue"], money_columns={2})
    for r in rows:
        report.rows.append([r["invoice__visit_day"], r["n"], r["net"]])
        report.chart.append((r["invoice__visit_day"].strftime("%d %b"), r["net"]))
    return report


def _payments_between(date_from, date_to):
    tz = timezone.get_current_timezone()
    start = timezone.datetime.combine(date_from, timezone.datetime.min.time(), tzinfo=tz)
    end = timezone.datetime.combine(
        date_to + timedelta(days=1), timezone.datetime.min.time(), tzinfo=tz
    )
    return Payment.objects.filter(received_at__gte=start, received_at__lt=end)


def report_collections_by_method(date_from, date_to) -> Report:
    rows = (
        _payments_between(date_from, date_to)
        .values("method")
        .annotate(n=Count("id"), amount=Sum("amount"), refunded=Sum("refunded"))
        .order_by("method")
    )
    labels = dict(Payment._meta.get_field("method").choices)
    report = Report(
        "Collections by method",
        ["Method", "Payments", "Collected", "Refunded"],
        money_columns={2, 3},
    )
    report.rows = [
        [labels.get(r["method"], r["method"]), r["n"], r["amount"], r["refunded"]] for r in rows
    ]
    return report


def report_collections_by_cashier(date_from, date_to) -> Report:
    rows = (
        _payments_between(date_from, date_to)
        .annotate(day=TruncDate("received_at"))
        .values("received_by__email", "day")
        .annotate(n=Count("id"), amount=Sum("amount"))
        .order_by("day", "received_by__email")
    )
    report = Report(
        "Collections by cashier", ["Day", "Cashier", "Payments", "Collected"], money_columns={3}
    )
    report.rows = [[r["day"], r["received_by__email"], r["n"], r["amount"]] for r in rows]
    return report


AGE_BUCKETS = [("0–30", 0, 30), ("31–60", 31, 60), ("61–90", 61, 90), ("90+", 91, None)]


def _bucket_sums(prefix_filter_today: date):
    sums = {}
    for label, low, high in AGE_BUCKETS:
        cond = Q(visit_day__lte=prefix_filter_today - timedelta(days=low))
        if high is not None:
            cond &= Q(visit_day__gte=prefix_filter_today - timedelta(days=high))
        sums[label] = Coalesce(Sum(BALANCE, filter=cond), Value(ZERO), output_field=MONEY_FIELD)
    return sums


AR_PAGE_SIZE = 50

_AR_BY_PATIENT_SQL = """
    WITH per(patient_id, b0, b1, b2, b3, total) AS (
        SELECT patient_id,
               coalesce(sum(open_balance) FILTER (WHERE visit_day BETWEEN %(d30)s AND %(today)s), 0),
               coalesce(sum(open_balance) FILTER (WHERE visit_day BETWEEN %(d60)s AND %(d31)s), 0),
               coalesce(sum(open_balance) FILTER (WHERE visit_day BETWEEN %(d90)s AND %(d61)s), 0),
               coalesce(sum(open_balance) FILTER (WHERE visit_day <= %(d91)s), 0),
               sum(open_balance)
        FROM billing_invoice
        WHERE status IN ('issued', 'partially_paid')
        GROUP BY patient_id
    )
    SELECT patient_id, b0, b1, b2, b3, total,
           count(*) OVER (), sum(b0) OVER (), sum(b1) OVER (), sum(b2) OVER (),
           sum(b3) OVER (), sum(total) OVER ()
    FROM per
    ORDER BY total DESC, patient_id
    LIMIT %(limit)s OFFSET %(offset)s
"""


def _ar_rows(today: date, limit: int | None, offset: int) -> list[tuple]:
    """Every row computed from the open invoices: (patient, four buckets, total, then the
    patient count and the grand totals on each row)."""
    with connection.cursor() as cursor:
        cursor.execute(_AR_BY_PATIENT_SQL, _ar_params(today, limit=limit, offset=offset))
        return cursor.fetchall()


# The screen's page: the summary's patients in report order (``OpenBalancePatient``, kept by
# triggers), each bucketed from their own open invoices (the open-ageing index). The page
# asked for, past the end the last one (as the number of patients in the footer's
# ``OpenBalanceTotal`` row gives it), is worked out here, so the footer's statement is sent
# in the same round trip; each row ends with the number of the page it is on.
# The page size is written in (a whole number): with it as a parameter, PostgreSQL would
# plan the prepared statement again on every request.
_AR_PAGE_SQL = """
    WITH shown(number) AS (
        SELECT least(%(number)s::bigint, greatest(1, (coalesce(
            (SELECT patients FROM billing_openbalancetotal WHERE id = 1), 0)
            + {limit} - 1) / {limit}))
    ), page AS (
        SELECT patient_id, balance FROM billing_openbalancepatient
        ORDER BY balance DESC, patient_id
        LIMIT {limit} OFFSET (SELECT (number - 1) * {limit} FROM shown)
    )
    SELECT page.patient_id,
           coalesce(sum(i.open_balance) FILTER (WHERE i.visit_day BETWEEN %(d30)s AND %(today)s), 0),
           coalesce(sum(i.open_balance) FILTER (WHERE i.visit_day BETWEEN %(d60)s AND %(d31)s), 0),
           coalesce(sum(i.open_balance) FILTER (WHERE i.visit_day BETWEEN %(d90)s AND %(d61)s), 0),
           coalesce(sum(i.open_balance) FILTER (WHERE i.visit_day <= %(d91)s), 0),
           sum(i.open_balance),
           min(p.last_name) || ', ' || min(p.first_name), min(p.id_number),
           (SELECT number FROM shown)
    FROM page
    JOIN billing_invoice i
      ON i.patient_id = page.patient_id AND i.status IN ('issued', 'partially_paid')
    JOIN patients_patient p ON p.id = page.patient_id
    GROUP BY page.patient_id, page.balance
    ORDER BY page.balance DESC, page.patient_id
"""

# The footer: the same buckets over every open invoice, from the per-day sums (a row per
# visit day), and the number of patients.
_AR_TOTALS_SQL = """
    SELECT coalesce((SELECT patients FROM billing_openbalancetotal WHERE id = 1), 0),
           coalesce(sum(balance) FILTER (WHERE visit_day BETWEEN %(d30)s AND %(today)s), 0),
           coalesce(sum(balance) FILTER (WHERE visit_day BETWEEN %(d60)s AND %(d31)s), 0),
           coalesce(sum(balance) FILTER (WHERE visit_day BETWEEN %(d90)s AND %(d61)s), 0),
           coalesce(sum(balance) FILTER (WHERE visit_day <= %(d91)s), 0),
           coalesce(sum(balance), 0)
    FROM billing_openbalanceday
"""


def _ar_params(today: date, **extra) -> dict:
    params = {"today": today, **extra}
    for days in (30, 31, 60, 61, 90, 91):
        params[f"d{days}"] = today - timedelta(days=days)
    return params


_AR_MAX_PAGE = 2**31 - 1  # past any last page (the patients are counted in an integer)


def _ar_page(today: date, number: int, per_page: int) -> tuple[int, list[tuple], tuple]:
    """(page number shown, its rows: patient, buckets and total as ``_ar_rows`` gives them,
    then "last, first", ID number and the page number; the totals row): two statements in
    one round trip whatever the number of open invoices."""
    params = _ar_params(today, number=min(number, _AR_MAX_PAGE))
    page_sql = _AR_PAGE_SQL.replace("{limit}", str(int(per_page)))
    totals_rows, rows = fetch_together(
        [named_statement(_AR_TOTALS_SQL, params), named_statement(page_sql, params)]
    )
    totals = totals_rows[0]
    if rows:
        return rows[0][8], rows, totals
    return min(number, max(1, -(-totals[0] // per_page))), rows, totals


def report_ar_by_patient(
    today: date | None = None, *, page: int | str | None = None, per_page: int | None = None
) -> Report:
    """Accounts receivable ageing by patient (open invoices, by days since the visit), largest
    balance first.

    On screen (``page`` given): the page's patients from the trigger-kept per-patient
    summary, bucketed from their own open invoices, and the grand totals from the per-day
    sums, so the cost does not grow with the open invoices (``_ar_page``). The CSV
    (``page=None``) computes every row from the invoices in one ``GROUP BY`` (``_ar_rows``,
    also the reference the tests hold the page to), then the patients' names.
    """
    today = today or timezone.localdate()
    per_page = per_page or AR_PAGE_SIZE
    report = Report(
        "Accounts receivable ageing by patient",
        ["Patient", "ID number", *[b[0] for b in AGE_BUCKETS], "Total"],
        money_columns={2, 3, 4, 5, 6},
    )
    if page is None:
        rows = _ar_rows(today, None, 0)
        totals = (rows[0][6], *rows[0][7:12]) if rows else None
        names = {
            pk: (f"{last}, {first}", id_number)
            for pk, last, first, id_number in Patient.objects.filter(
                pk__in=[r[0] for r in rows]
            ).values_list("pk", "last_name", "first_name", "id_number")
        }
    else:
        number, rows, totals = _ar_page(today, _page_number(page), per_page)
        report.page = Paginator(range(totals[0]), per_page).get_page(number)
        report.page.object_list = report.rows
        names = {r[0]: (r[6], r[7]) for r in rows}  # the page's query joins the names
    for r in rows:
        name, id_number = names.get(r[0], ("?", ""))
        report.rows.append([name, id_number, *r[1:6]])
    if rows:
        report.totals = ["All patients", f"{totals[0]} patients", *totals[1:6]]
    return report


def _page_number(page) -> int:
    try:
        return max(1, int(page))
    except (TypeError, ValueError):
        return 1


def report_ar_by_payer(today: date | None = None) -> Report:
    """Claims ageing by payer: outstanding payer amounts by days since submission, with the
    denial rate."""
    today = today or timezone.localdate()
    outstanding = ExpressionWrapper(
        F("total") - F("paid") - F("adjusted") - F("moved_to_patient"), output_field=MONEY_FIELD
    )
    buckets = {}
    for label, low, high in AGE_BUCKETS:
        cond = Q(created_at__date__lte=today - timedelta(days=low))
        if high is not None:
            cond &= Q(created_at__date__gte=today - timedelta(days=high))
        buckets[label] = Coalesce(
            Sum(outstanding, filter=cond & ~Q(status=ClaimStatus.PAID)),
            Value(ZERO),
            output_field=MONEY_FIELD,
        )
    rows = (
        Claim.objects.values("payer__name")
        .annotate(
            **buckets,
            total=Coalesce(
                Sum(outstanding, filter=~Q(status=ClaimStatus.PAID)),
                Value(ZERO),
                output_field=MONEY_FIELD,
            ),
            claims=Count("id"),
            denied=Count("id", filter=Q(status=ClaimStatus.DENIED)),
        )
        .order_by("payer__name")
    )
    report = Report(
        "Receivables from payers (claims ageing)",
        ["Payer", *[b[0] for b in AGE_BUCKETS], "Outstanding", "Claims", "Denial rate"],
        money_columns={1, 2, 3, 4, 5},
    )
    claims = denied = 0
    sums = [ZERO] * (len(AGE_BUCKETS) + 1)
    for r in rows:
        rate = f"{100 * r['denied'] / r['claims']:.0f} %" if r["claims"] else "—"
        amounts = [*[r[b[0]] for b in AGE_BUCKETS], r["total"]]
        report.rows.append([r["payer__name"], *amounts, r["claims"], rate])
        sums = [a + b for a, b in zip(sums, amounts, strict=True)]
        claims, denied = claims + r["claims"], denied + r["denied"]
    if report.rows:
        rate = f"{100 * denied / claims:.0f} %" if claims else "—"
        report.totals = ["All payers", *sums, claims, rate]
    return report


def report_outstanding_claims() -> Report:
    rows = (
        Claim.objects.exclude(status=ClaimStatus.PAID)
        .select_related("payer", "patient")
        .order_by("created_at")[:500]
    )
    report = Report(
        "Outstanding claims",
        ["Claim", "Payer", "Patient", "Status", "Created", "Outstanding"],
        money_columns={5},
    )
    report.rows = [
        [
            c.number,
            c.payer.name,
            c.patient.full_name,
            c.get_status_display(),
            timezone.localdate(c.created_at),
            c.outstanding,
        ]
        for c in rows
    ]
    return report


def report_discounts(date_from, date_to) -> Report:
    """Statutory (senior/PWD) and other discounts: the tax-deduction documentation."""
    rows = (
        _posted_lines(date_from, date_to)
        .filter(Q(discount__gt=0) | Q(vat_exemption__gt=0))
        .select_related("invoice__patient", "service")
        .order_by("invoice__visit_day", "id")[:2000]
    )
    report = Report(
        "Discounts given",
        [
            "Day",
            "Invoice",
            "Patient",
            "Kind",
            "ID number",
            "Service",
            "Gross",
            "VAT exemption",
            "Discount",
        ],
        money_columns={6, 7, 8},
    )
    for line in rows:
        inv = line.invoice
        report.rows.append(
            [
                inv.visit_day,
                inv.number,
                inv.patient.full_name,
                inv.get_statutory_discount_display() if inv.statutory_discount else "Other",
                inv.statutory_id_number,
                line.service.name,
                line.gross,
                line.vat_exemption,
                line.discount,
            ]
        )
    return report


def report_sales_book(date_from, date_to) -> Report:
    """The sales book: every invoice number issued in the period, voids included (BIR)."""
    tz = timezone.get_current_timezone()
    start = timezone.datetime.combine(date_from, timezone.datetime.min.time(), tzinfo=tz)
    end = timezone.datetime.combine(
        date_to + timedelta(days=1), timezone.datetime.min.time(), tzinfo=tz
    )
    rows = (
        Invoice.objects.filter(issued_at__gte=start, issued_at__lt=end)
        .select_related("patient")
        .order_by("number")[:5000]
    )
    report = Report(
        "Sales book",
        ["Invoice", "Issued", "Customer", "Status", "Gross", "Discounts", "VAT", "Net"],
        money_columns={4, 5, 6, 7},
    )
    report.rows = [
        [
            i.number,
            timezone.localdate(i.issued_at),
            i.patient.full_name,
            i.get_status_display(),
            i.gross_total,
            i.discount_total,
            i.vat_total,
            i.net_total,
        ]
        for i in rows
    ]
    return report


REPORTS = {
    "revenue_service": ("Revenue by service", report_revenue_by_service, True),
    "revenue_provider": ("Revenue by provider", report_revenue_by_provider, True),
    "revenue_payer": ("Revenue by payer", report_revenue_by_payer, True),
    "revenue_day": ("Revenue by day", report_revenue_by_day, True),
    "collections_method": ("Collections by method", report_collections_by_method, True),
    "collections_cashier": ("Collections by cashier", report_collections_by_cashier, True),
    "ar_patient": ("AR ageing by patient", report_ar_by_patient, False),
    "ar_payer": ("AR ageing by payer", report_ar_by_payer, False),
    "claims_outstanding": ("Outstanding claims", report_outstanding_claims, False),
    "discounts": ("Discounts", report_discounts, True),
    "sales_book": ("Sales book", report_sales_book, True),
}
# Reports shown a page at a time (their builder takes ``page``; ``None`` = every row).
PAGED_REPORTS = frozenset({"ar_patient"})


# --- PhilHealth Konsulta -------------------------------------------------------------------


@dataclass
class KonsultaSummary:
    year: int
    members: int = 0
    expected: Decimal = ZERO  # capitation due: the registered members' rates
    received: Decimal = ZERO
    consultations: int = 0  # covered services given to members at ₱0, by group below
    by_group: list[tuple[str, int]] = field(default_factory=list)

    @property
    def outstanding(self) -> Decimal:
        return self.expected - self.received


def konsulta_summary(year: int) -> KonsultaSummary:
    """Registered members and capitation expected vs received for ``year``, and the covered
    services given (lines priced ₱0 under the capitation, on invoices that are not void).
    Three aggregate queries."""
    reg = KonsultaRegistration.objects.filter(year=year).aggregate(
        n=Count("id"), due=Coalesce(Sum("capitation_rate"), Value(ZERO), output_field=MONEY_FIELD)
    )
    received = _sum(KonsultaCapitation.objects.filter(year=year), "amount")
    groups = (
        InvoiceLine.objects.filter(
            covered_by_capitation=True, voided=False, invoice__visit_day__year=year
        )
        .exclude(invoice__status=InvoiceStatus.VOID)
        .values("service__group")
        .annotate(n=Count("id"))
        .order_by("service__group")
    )
    labels = dict(ServiceGroup.choices)
    by_group = [(labels.get(g["service__group"], g["service__group"]), g["n"]) for g in groups]
    return KonsultaSummary(
        year=year,
        members=reg["n"],
        expected=reg["due"],
        received=received,
        consultations=sum(n for _, n in by_group),
        by_group=by_group,
    )


def konsulta_registrations(year: int) -> QuerySet[KonsultaRegistration]:
    return (
        KonsultaRegistration.objects.filter(year=year)
        .select_related("patient", "coverage", "registered_by")
        .order_by("patient__last_name", "patient__first_name", "pk")
    )


def konsulta_capitations(year: int) -> list[KonsultaCapitation]:
    return list(KonsultaCapitation.objects.filter(year=year).select_related("posted_by"))


def konsulta_covered_lines(year: int, limit: int = 20) -> list[InvoiceLine]:
    """The latest services given to Konsulta members at ₱0 under the capitation."""
    return list(
        InvoiceLine.objects.filter(
            covered_by_capitation=True, voided=False, invoice__visit_day__year=year
        )
        .exclude(invoice__status=InvoiceStatus.VOID)
        .select_related("invoice__patient", "service")
        .order_by("-invoice__visit_day", "-pk")[:limit]
    )


# --- Statements ----------------------------------------------------------------------------


@dataclass
class Statement:
    patient: object
    date_from: date
    date_to: date
    opening: Decimal
    entries: list[tuple[date, str, str, Decimal]]  # day, document, description, +owed / −paid
    closing: Decimal
    credit: Decimal


def _owed_before(patient_id: int, day: date) -> Decimal:
    tz = timezone.get_current_timezone()
    start = timezone.datetime.combine(day, timezone.datetime.min.time(), tzinfo=tz)
    owed = _sum(
        Invoice.objects.filter(
            patient_id=patient_id, status__in=POSTED_STATUSES, issued_at__lt=start
        ),
        F("patient_total") + F("moved_to_patient"),
    )
    credits = _sum(
        CreditNote.objects.filter(invoice__patient_id=patient_id, created_at__lt=start), "amount"
    )
    wo = _sum(
        WriteOff.objects.filter(
            invoice__patient_id=patient_id, status=ApprovalStatus.APPROVED, decided_at__lt=start
        ),
        "amount",
    )
    paid = _sum(
        Allocation.objects.filter(invoice__patient_id=patient_id, created_at__lt=start), "amount"
    )
    return owed - credits - wo - paid


def statement(patient, date_from: date, date_to: date) -> Statement:
    """Opening balance, invoices, payments, credits in the period, closing balance. (Share
    moved back from a payer is dated with its invoice.)"""
    tz = timezone.get_current_timezone()
    start = timezone.datetime.combine(date_from, timezone.datetime.min.time(), tzinfo=tz)
    end = timezone.datetime.combine(
        date_to + timedelta(days=1), timezone.datetime.min.time(), tzinfo=tz
    )
    pid = patient.pk
    entries = []
    for inv in Invoice.objects.filter(
        patient_id=pid, status__in=POSTED_STATUSES, issued_at__gte=start, issued_at__lt=end
    ):
        entries.append(
            (
                timezone.localdate(inv.issued_at),
                inv.number,
                "Invoice",
                inv.patient_total + inv.moved_to_patient,
            )
        )
    for a in Allocation.objects.filter(
        invoice__patient_id=pid, created_at__gte=start, created_at__lt=end
    ).select_related("payment", "invoice"):
        entries.append(
            (
                timezone.localdate(a.created_at),
                a.payment.receipt_number,
                f"Payment ({a.payment.get_method_display()}) on {a.invoice.number}",
                -a.amount,
            )
        )
    for cn in CreditNote.objects.filter(
        invoice__patient_id=pid, created_at__gte=start, created_at__lt=end
    ).select_related("invoice"):
        entries.append(
            (
                timezone.localdate(cn.created_at),
                cn.number,
                f"Credit note on {cn.invoice.number}: {cn.reason}",
                -cn.amount,
            )
        )
    for wo in WriteOff.objects.filter(
        invoice__patient_id=pid,
        status=ApprovalStatus.APPROVED,
        decided_at__gte=start,
        decided_at__lt=end,
    ).select_related("invoice"):
        entries.append(
            (timezone.localdate(wo.decided_at), wo.invoice.number, "Written off", -wo.amount)
        )
    entries.sort(key=lambda e: (e[0], e[1]))
    opening = _owed_before(pid, date_from)
    closing = opening + sum((e[3] for e in entries), ZERO)
    credit = _sum(Payment.objects.filter(patient_id=pid), "unallocated")
    return Statement(patient, date_from, date_to, opening, entries, closing, credit)


def coverages_for(patient_id: int) -> list[Coverage]:
    return list(Coverage.objects.filter(patient_id=patient_id).select_related("payer"))


def claim_member_id(claim: Claim) -> str:
    """The member ID a claim form shows: the coverage's, or, for a PhilHealth claim whose
    coverage has none, the PhilHealth PIN on the patient's record (``nn-nnnnnnnnn-n``)."""
    member_id = (claim.coverage.member_id or "").strip()
    if not member_id and claim.payer.kind == PayerKind.PHILHEALTH:
        member_id = format_philhealth_pin(claim.patient.philhealth_pin)
    return member_id


def claim_rows(claims) -> list[dict]:
    """What a claim form needs per claim: member PIN, patient, service dates, ICD-10 codes
    (the diagnoses of the patient's visits on those days: nothing else clinical), services
    and amounts. Three queries whatever the number of claims."""

    claims = list(claims)
    lines = (
        InvoiceLine.objects.filter(claim_line__claim__in=claims)
        .select_related("invoice", "claim_line__service")
        .order_by("pk")
    )
    by_claim: dict[int, list[InvoiceLine]] = {}
    for line in lines:
        by_claim.setdefault(line.claim_line.claim_id, []).append(line)
    days = {(c.patient_id, x.invoice.visit_day) for c in claims for x in by_claim.get(c.pk, [])}
    codes: dict[tuple[int, date], set[str]] = {}
    if days:
        for pid, started, code in Diagnosis.objects.filter(
            visit__patient_id__in={p for p, _ in days},
            visit__started_at__date__gte=min(d for _, d in days) - timedelta(days=1),
            visit__started_at__date__lte=max(d for _, d in days) + timedelta(days=1),
        ).values_list("visit__patient_id", "visit__started_at", "icd10_id"):
            codes.setdefault((pid, timezone.localdate(started)), set()).add(code)
    rows = []
    for c in claims:
        own = by_claim.get(c.pk, [])
        service_days = sorted({x.invoice.visit_day for x in own})
        corrected = {x.claim_line.icd10_id for x in own if x.claim_line.icd10_id}
        # A corrected line's ICD-10 code is what the payer is told; otherwise the visits'.
        icd = sorted(
            corrected or set().union(*[codes.get((c.patient_id, d), set()) for d in service_days])
        )
        rows.append(
            {
                "claim": c.number,
                "status": c.get_status_display(),
                "payer": c.payer.name,
                "member_id": claim_member_id(c),
                "loa": c.loa_number,
                "patient": f"{c.patient.last_name}, {c.patient.first_name}",
                "patient_id_number": c.patient.id_number,
                "birth_date": c.patient.birth_date.isoformat(),
                "service_date": ", ".join(d.isoformat() for d in service_days),
                "icd10": " ".join(icd),
                "services": "; ".join(
                    x.claim_line.service.name if x.claim_line.service_id else x.description
                    for x in own
                ),
                "invoices": " ".join(sorted({x.invoice.number for x in own})),
                "amount": c.total,
                "paid": c.paid,
            }
        )
    return rows

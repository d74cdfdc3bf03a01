"""The billing clerk's home: what is waiting (unbilled charges, drafts, claims, approvals)."""

from __future__ import annotations

from django.views.decorators.http import require_GET

from accounts.permissions import require_perm
from billing import selectors
from billing.models import InvoiceStatus
from uscpis.http import Request, render_page


@require_GET
@require_perm("billing.view")
def home(request: Request):
    counts = selectors.home_counts()
    drafts = list(selectors.invoice_list(status=InvoiceStatus.DRAFT)[:10])
    reversed_charges = list(selectors.reversed_on_issued()[:10])
    writeoffs, refunds = selectors.pending_approvals()
    # Drafts, reversed charges and approvals name patients: one read event for the page.
    selectors.rows_served(
        request.user,
        [
            *drafts,
            *reversed_charges,
            *(w.invoice for w in writeoffs),
            *(r.payment for r in refunds),
        ],
        object_type="billing.invoice",
        detail={"view": "billing_home"},
    )
    return render_page(
        request,
        "billing/home.html",
        {
            "counts": counts,
            "drafts": drafts,
            "reversed_charges": reversed_charges,
            "writeoffs": writeoffs,
            "refunds": refunds,
            "cashier_day": selectors.open_cashier_day(request.user),
        },
    )

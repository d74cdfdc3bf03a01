"""Monthly statements by email: once per patient per month, exactly once across retries.

The claim (a ``StatementSend`` row, unique per patient and month) is inserted first; a send
that fails deletes nothing financial, only releases its own claim so the retry sends it. A
claim whose worker died mid-send (``sent_at`` empty, ``claimed_at`` older than
``STALE_CLAIM``) is taken over by the next run, the same way appointment reminders recover
(appointments/services/reminders.py); the beat runs hourly on the first days of the month so
there is a next run.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction
from billing.models import OPEN_STATUSES, Invoice, StatementSend
from billing.pdf import statement_pdf
from billing.selectors import patient_balance, statement
from patients.models import Patient

STALE_CLAIM = timedelta(minutes=15)  # a statement claimed this long ago and unsent is retried


def previous_month(today: date | None = None) -> date:
    today = today or timezone.localdate()
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def patients_due_statement(month: date, *, now: datetime | None = None) -> list[int]:
    """Patients with a balance and an email address whose statement for ``month`` is neither
    sent nor being sent (a claim older than ``STALE_CLAIM`` without ``sent_at`` is due again)."""
    now = now or timezone.now()
    ids = (
        Invoice.objects.filter(status__in=OPEN_STATUSES)
        .exclude(Q(patient__email="") & Q(patient__user__isnull=True))
        .values_list("patient_id", flat=True)
        .distinct()
    )
    handled = StatementSend.objects.filter(month=month).filter(
        Q(sent_at__isnull=False) | Q(claimed_at__gte=now - STALE_CLAIM)
    )
    sent = set(handled.values_list("patient_id", flat=True))
    return [pid for pid in ids if pid not in sent]


def _claim_statement(patient_id: int, month: date, now: datetime) -> bool:
    try:
        with transaction.atomic():
            StatementSend.objects.create(patient_id=patient_id, month=month, claimed_at=now)
        return True
    except IntegrityError:
        # Already claimed. Take over only a claim whose worker died before sending: the
        # conditional UPDATE lets exactly one of several concurrent runs win it.
        return bool(
            StatementSend.objects.filter(
                patient_id=patient_id,
                month=month,
                sent_at__isnull=True,
                claimed_at__lt=now - STALE_CLAIM,
            ).update(claimed_at=now)
        )


def statement_send(*, patient_id: int, month: date, now: datetime | None = None) -> bool:
    """Email the statement of ``month`` to the patient; ``False`` when already sent (or being
    sent by another worker). Raises on a mail-backend error after releasing the claim. A claim
    left unsent for ``STALE_CLAIM`` (its worker died) is taken over and sent."""
    # looked up when called, so a substitute (tests, tooling) is honoured
    from uscpis.mail import send_templated_email

    now = now or timezone.now()
    if not _claim_statement(patient_id, month, now):
        return False
    ours = StatementSend.objects.filter(patient_id=patient_id, month=month, claimed_at=now)
    patient = Patient.objects.select_related("user").get(pk=patient_id)
    to = patient.email or (patient.user.email if patient.user_id else "")
    end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    st = statement(patient, month, end)
    try:
        send_templated_email(
            to=[to],
            subject=f"Statement of account, {month:%B %Y}",
            template="billing_statement",
            context={"patient": patient, "statement": st, "balance": patient_balance(patient_id)},
            attachments=[(f"statement-{month:%Y-%m}.pdf", statement_pdf(st), "application/pdf")],
        )
    except Exception:
        ours.filter(sent_at__isnull=True).delete()
        raise
    ours.update(sent_at=timezone.now())
    audit_record(
        action=AuditAction.EXPORT,
        object_type="billing.statement",
        patient_id=patient_id,
        actor_email="system:billing-statements",
        detail={"emailed": month.isoformat()},
    )
    return True

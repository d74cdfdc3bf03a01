"""Monthly statements by email: once per patient per month, exactly once across retries.

The claim (a ``StatementSend`` row, unique per patient and month) is inserted first; a send
that fails deletes nothing financial, only releases its own claim so the retry sends it.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import audit_record
from billing.models import OPEN_STATUSES, Invoice, StatementSend


def previous_month(today: date | None = None) -> date:
    today = today or timezone.localdate()
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def patients_due_statement(month: date) -> list[int]:
    """Patients with a balance and an email address who have no statement for ``month``."""
    ids = (
        Invoice.objects.filter(status__in=OPEN_STATUSES)
        .exclude(Q(patient__email="") & Q(patient__user__isnull=True))
        .values_list("patient_id", flat=True)
        .distinct()
    )
    sent = set(StatementSend.objects.filter(month=month, sent_at__isnull=False)
               .values_list("patient_id", flat=True))
    return [pid for pid in ids if pid not in sent]


def statement_send(*, patient_id: int, month: date) -> bool:
    """Email the statement of ``month`` to the patient; ``False`` when already sent (or being
    sent by another worker). Raises on a mail-backend error after releasing the claim."""
    from billing.pdf import statement_pdf
    from billing.selectors import patient_balance, statement
    from patients.models import Patient
    from uscpis.mail import send_templated_email

    try:
        with transaction.atomic():
            claim = StatementSend.objects.create(patient_id=patient_id, month=month)
    except IntegrityError:
        return False
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
        StatementSend.objects.filter(pk=claim.pk, sent_at__isnull=True).delete()
        raise
    StatementSend.objects.filter(pk=claim.pk).update(sent_at=timezone.now())
    audit_record(action="export", object_type="billing.statement", patient_id=patient_id,
                 actor_email="system:billing-statements",
                 detail={"emailed": month.isoformat()})
    return True

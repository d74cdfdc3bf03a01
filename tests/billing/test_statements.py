"""Monthly statements: emailed to patients with a balance, once per patient per month even
when the beat runs twice or a send is retried; a failed send is retried, not lost."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone

from billing import tasks
from billing.models import StatementSend
from billing.selectors import statement
from billing.services.statements import previous_month, statement_send
from tests.billing.conftest import issued_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _outbox_relays_after_the_beat_job(monkeypatch, django_capture_on_commit_callbacks):
    """The beat job writes outbox rows; here its commit's relay runs at once (the test's
    transaction never commits), as it does in production when the broker is up."""
    real = tasks.send_monthly_statements

    def run(*args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return real(*args, **kwargs)

    monkeypatch.setattr(tasks, "send_monthly_statements", run)


def test_beat_sends_one_statement_per_patient_per_month(
    student, billing_user, django_capture_on_commit_callbacks
):
    issued_invoice(student, billing_user)
    assert tasks.send_monthly_statements() == 1
    assert tasks.send_monthly_statements() == 0  # second beat run: nothing new
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [student.email] and "Statement of account" in message.subject
    assert message.attachments[0][0].endswith(".pdf")
    assert statement_send(patient_id=student.pk, month=previous_month()) is False  # a retry
    assert len(mail.outbox) == 1 and StatementSend.objects.get().sent_at is not None


def test_a_failed_send_releases_its_claim_so_the_retry_sends(student, billing_user):
    issued_invoice(student, billing_user)
    month = previous_month()
    failing = mock.patch(
        "uscpis.mail.EmailMultiAlternatives.send", side_effect=OSError("SMTP down")
    )
    with failing, pytest.raises(OSError):
        statement_send(patient_id=student.pk, month=month)
    assert not StatementSend.objects.exists()
    assert statement_send(patient_id=student.pk, month=month) is True
    assert len(mail.outbox) == 1


def test_statement_opening_entries_closing(student, billing_user, cashier_day):
    from decimal import Decimal

    from billing.services import payments

    issued_invoice(student, billing_user)
    payments.payment_record(
        actor=billing_user,
        patient=student,
        amount=Decimal("100"),
        method="cash",
        idempotency_key="s1",
    )
    today = timezone.localdate()
    st = statement(student, today - timedelta(days=1), today)
    assert st.opening == 0 and st.closing == Decimal("150.00")
    assert [e[3] for e in st.entries] == [Decimal("250.00"), Decimal("-100.00")]
    later = statement(student, today + timedelta(days=1), today + timedelta(days=2))
    assert later.opening == Decimal("150.00") and later.entries == []


def test_a_claim_left_by_a_dead_worker_is_taken_over_by_the_next_run(student, billing_user):
    """A worker that died between claiming and sending leaves an unsent claim: once it is older
    than STALE_CLAIM the next run takes it over and sends; a fresh one is left alone."""
    from billing.services import statements

    issued_invoice(student, billing_user)
    month = previous_month()
    now = timezone.now()
    StatementSend.objects.create(patient_id=student.pk, month=month, claimed_at=now)  # died
    # Still fresh: maybe mid-send elsewhere, so not due and not sent again.
    assert statements.patients_due_statement(month, now=now) == []
    assert statement_send(patient_id=student.pk, month=month, now=now) is False
    later = now + statements.STALE_CLAIM + timedelta(minutes=1)
    assert statements.patients_due_statement(month, now=later) == [student.pk]
    assert statement_send(patient_id=student.pk, month=month, now=later) is True
    assert len(mail.outbox) == 1
    claim = StatementSend.objects.get()
    assert claim.sent_at is not None and claim.claimed_at == later
    # Sent now: exactly once, however late the next runs come.
    much_later = later + timedelta(hours=5)
    assert statements.patients_due_statement(month, now=much_later) == []
    assert statement_send(patient_id=student.pk, month=month, now=much_later) is False
    assert tasks.send_monthly_statements() == 0
    assert len(mail.outbox) == 1

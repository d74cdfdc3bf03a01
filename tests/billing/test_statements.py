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


def test_beat_sends_one_statement_per_patient_per_month(student, billing_user, django_capture_on_commit_callbacks):
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
    failing = mock.patch("uscpis.mail.EmailMultiAlternatives.send", side_effect=OSError("SMTP down"))
    with failing, pytest.raises(OSError):
        statement_send(patient_id=student.pk, month=month)
    assert not StatementSend.objects.exists()
    assert statement_send(patient_id=student.pk, month=month) is True
    assert len(mail.outbox) == 1


def test_statement_opening_entries_closing(student, billing_user, cashier_day):
    from decimal import Decimal

    from billing.services import payments

    issued_invoice(student, billing_user)
    payments.payment_record(actor=billing_user, patient=student, amount=Decimal("100"),
                            method="cash", idempotency_key="s1")
    today = timezone.localdate()
    st = statement(student, today - timedelta(days=1), today)
    assert st.opening == 0 and st.closing == Decimal("150.00")
    assert [e[3] for e in st.entries] == [Decimal("250.00"), Decimal("-100.00")]
    later = statement(student, today + timedelta(days=1), today + timedelta(days=2))
    assert later.opening == Decimal("150.00") and later.entries == []

"""``manage.py billing check`` passes on consistent books and exits 1 with a report on a
breach (a tampered total, a numbering gap)."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.models import Invoice, NumberSeries
from tests.billing.conftest import issued_invoice

pytestmark = pytest.mark.django_db


def _check() -> str:
    out = io.StringIO()
    call_command("billing", "check", stdout=out)
    return out.getvalue()


def test_passes_then_reports_a_tampered_total_and_a_gap(student, billing_user):
    issued_invoice(student, billing_user)
    assert "billing check passed" in _check()
    Invoice.objects.update(net_total=999, gross_total=999, patient_total=999)
    with pytest.raises(CommandError) as exc:
        call_command("billing", "check", stdout=(out := io.StringIO()))
    assert exc.value.returncode == 1
    assert "FAIL Invoice totals equal the sum of their lines" in out.getvalue()
    Invoice.objects.update(net_total=250, gross_total=250, patient_total=250)
    NumberSeries.objects.filter(series="INV").update(last_value=5)
    with pytest.raises(CommandError):
        call_command("billing", "check", stdout=(out := io.StringIO()))
    assert "a gap" in out.getvalue()

"""Charge capture from the clinic's events: exactly once, in the event's transaction, and
reconciled by ``manage.py billing capture --since``."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from appointments import signals as appointment_signals
from appointments.services import lifecycle as appointment_services
from billing import receivers
from billing.models import Charge, ChargeStatus, Invoice, InvoiceLine
from inventory import signals as inventory_signals
from inventory.services import dispensing as inventory_services
from patients.models import ToothRecord, Visit
from patients.services import certificates as certificate_services
from patients.services import visits as visit_services
from tests.appointments.factories import AppointmentFactory, ProviderFactory
from tests.inventory.factories import ItemFactory, LocationFactory, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def appointment(catalogue, student, doctor_user):
    return AppointmentFactory(
        patient=student,
        provider=ProviderFactory(user=doctor_user),
        start=timezone.now() - timedelta(minutes=30),
        status="checked_in",
    )


def test_completing_an_appointment_charges_its_consultation_once(appointment, doctor_user):
    appointment_services.appointment_transition(
        actor=doctor_user, appointment=appointment, to_status="completed"
    )
    charge = Charge.objects.get(source_key=f"appointment:{appointment.pk}")
    assert charge.service.code == "CONSULT" and charge.status == ChargeStatus.BILLED
    assert charge.invoice_lines.get().invoice.status == "draft"
    # A second announcement of the same event finds the charge.
    appointment.refresh_from_db()
    appointment_signals.appointment_completed.send(sender=None, appointment=appointment)
    assert Charge.objects.count() == 1 and InvoiceLine.objects.count() == 1


def test_the_charge_rolls_back_with_its_event(appointment, doctor_user):
    with pytest.raises(RuntimeError), transaction.atomic():
        appointment_services.appointment_transition(
            actor=doctor_user, appointment=appointment, to_status="completed"
        )
        raise RuntimeError("the clinic's transaction failed")
    assert not Charge.objects.exists() and not Invoice.objects.exists()


def test_signed_dental_visit_charges_each_performed_procedure(catalogue, student, dentist_user):
    visit = Visit.objects.create(
        patient=student, kind="dental", provider=dentist_user, appointment_ref="appointment:1"
    )
    ToothRecord.objects.create(
        visit=visit, tooth=11, condition="caries", procedure="filling", procedure_status="performed"
    )
    ToothRecord.objects.create(
        visit=visit,
        tooth=36,
        condition="caries",
        procedure="extraction",
        procedure_status="planned",
    )
    ToothRecord.objects.create(
        visit=visit,
        tooth=21,
        condition="healthy",
        procedure="prophylaxis",
        procedure_status="performed",
    )
    visit_services.visit_sign(actor=dentist_user, visit=visit)
    codes = sorted(Charge.objects.values_list("service__code", flat=True))
    assert codes == ["D-FILL", "D-PROPHY"]  # the planned extraction is not billed
    invoice = Invoice.objects.get()
    assert invoice.net_total == Decimal("1300.00")


def test_approved_certificate_is_charged(catalogue, student, doctor_user):
    from tests.patients.factories import CertificateFactory

    cert = CertificateFactory(patient=student, requested_by=doctor_user)
    today = timezone.localdate()
    certificate_services.certificate_decide(
        actor=doctor_user,
        certificate=cert,
        approve=True,
        fitness="fit",
        valid_from=today,
        valid_until=today,
    )
    assert Charge.objects.get().service.code == "CERT"


def test_dispensing_to_a_patient_is_charged_at_cost_plus_markup_and_reversal_undoes_it(
    catalogue, student, nurse_user
):
    item = ItemFactory(name="Amoxicillin", strength="500 mg", default_location=LocationFactory())
    receive(item, quantity=50, cost="4.00")
    result = inventory_services.stock_dispense(
        actor=nurse_user, item=item, quantity=10, patient=student
    )
    inventory_services.stock_dispense(actor=nurse_user, item=item, quantity=5, destination="Ward A")
    charge = Charge.objects.get()  # the ward use is not billed
    line = charge.invoice_lines.get()
    assert line.quantity == 10 and line.unit_price == Decimal("4.60")  # cost + 15 %
    inventory_signals.dispensing_reversed.send(
        sender=None, movement=result.movements[0], reason="Patient returned the capsules"
    )
    charge.refresh_from_db()
    assert charge.status == ChargeStatus.REVERSED
    assert Invoice.objects.get().net_total == 0


@override_settings(BILLING_NO_SHOW_FEE_ENABLED=True)
def test_no_show_fee_when_enabled(catalogue, student, doctor_user):
    appt = AppointmentFactory(
        patient=student,
        provider=ProviderFactory(user=doctor_user),
        start=timezone.now() - timedelta(hours=2),
    )
    appointment_services.appointments_mark_no_shows()
    assert Charge.objects.get().service.code == "NOSHOW"
    assert Charge.objects.get().source_key == f"no_show:{appt.pk}"


def test_no_show_is_free_by_default(catalogue, student, doctor_user):
    AppointmentFactory(
        patient=student,
        provider=ProviderFactory(user=doctor_user),
        start=timezone.now() - timedelta(hours=2),
    )
    appointment_services.appointments_mark_no_shows()
    assert not Charge.objects.exists()


def test_capture_since_reconciles_missed_events_and_is_idempotent(
    appointment, doctor_user, monkeypatch
):
    from django.dispatch import Signal

    monkeypatch.setattr(Signal, "send", lambda self, sender, **kw: [])  # billing was down
    appointment_services.appointment_transition(
        actor=doctor_user, appointment=appointment, to_status="completed"
    )
    monkeypatch.undo()
    assert not Charge.objects.exists()
    since = (timezone.localdate() - timedelta(days=2)).isoformat()
    out = io.StringIO()
    call_command("billing", "capture", "--since", since, stdout=out)
    assert "1 appointments" in out.getvalue()
    assert Charge.objects.filter(source_key=f"appointment:{appointment.pk}").count() == 1
    out = io.StringIO()
    call_command("billing", "capture", "--since", since, stdout=out)
    assert "total 0 new charges" in out.getvalue()


def test_receivers_are_connected_once():
    assert receivers.on_appointment_completed in [
        r[1]() for r in appointment_signals.appointment_completed.receivers
    ]


def test_cancelling_a_dispensing_returns_the_stock_and_reverses_its_charge(
    catalogue, student, nurse_user
):
    from django.core.exceptions import ValidationError

    item = ItemFactory(name="Cetirizine", default_location=LocationFactory())
    lot = receive(item, quantity=20, cost="3.00")
    result = inventory_services.stock_dispense(
        actor=nurse_user, item=item, quantity=6, patient=student
    )
    charge = Charge.objects.get()
    inventory_services.stock_dispense_cancel(
        actor=nurse_user, movement=result.movements[0], reason="Dispensed to the wrong patient"
    )
    lot.refresh_from_db()
    charge.refresh_from_db()
    assert lot.quantity == 20 and charge.status == ChargeStatus.REVERSED
    with pytest.raises(ValidationError):
        inventory_services.stock_dispense_cancel(
            actor=nurse_user, movement=result.movements[0], reason="again"
        )

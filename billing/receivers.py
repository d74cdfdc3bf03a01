"""Billing listens to the clinic's events (signals defined upstream) and captures charges in
the same transaction. Receivers only call services."""

from __future__ import annotations

from appointments import signals as appointment_signals
from billing.services import charges
from inventory import signals as inventory_signals
from patients import signals as patient_signals


def on_visit_signed(sender, visit, **kwargs) -> None:
    charges.capture(charges.specs_for_visit(visit))


def on_certificate_approved(sender, certificate, **kwargs) -> None:
    charges.capture(charges.specs_for_certificate(certificate))


def on_appointment_completed(sender, appointment, **kwargs) -> None:
    charges.capture(charges.specs_for_appointment(appointment))


def on_appointment_no_show(sender, appointment, **kwargs) -> None:
    charges.capture(charges.specs_for_no_show(appointment))


def on_stock_dispensed(sender, movements, **kwargs) -> None:
    charges.capture(charges.specs_for_dispense(movements))


def on_dispensing_reversed(sender, movement, reason: str = "", **kwargs) -> None:
    charges.charge_reverse(
        actor=None, source_key=f"dispense:{movement.pk}", reason=reason or "Dispensing cancelled"
    )


def connect() -> None:

    pairs = [
        (patient_signals.visit_signed, on_visit_signed),
        (patient_signals.certificate_approved, on_certificate_approved),
        (appointment_signals.appointment_completed, on_appointment_completed),
        (appointment_signals.appointment_no_show, on_appointment_no_show),
        (inventory_signals.stock_dispensed, on_stock_dispensed),
        (inventory_signals.dispensing_reversed, on_dispensing_reversed),
    ]
    for signal, receiver in pairs:
        signal.connect(receiver, dispatch_uid=f"billing.{receiver.__name__}")

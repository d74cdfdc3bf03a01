"""Events the inventory app announces to downstream apps (billing), which may listen without
being imported here. Sent inside the service's transaction, after the change."""

from django.dispatch import Signal

# Stock was dispensed to a patient: kwargs ``movements`` (the dispense ledger rows).
stock_dispensed = Signal()
# A dispensing was cancelled or its stock returned: kwargs ``movement`` (the original
# dispense row) and ``reason``.
dispensing_reversed = Signal()

"""Events the scheduling app announces to downstream apps (billing), which may listen without
being imported here. Sent inside the service's transaction, after the change."""

from django.dispatch import Signal

# An appointment was marked completed: kwargs ``appointment``.
appointment_completed = Signal()
# An appointment was marked no-show (by staff or the grace-period job): kwargs ``appointment``.
appointment_no_show = Signal()

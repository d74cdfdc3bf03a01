"""Events the records app announces to downstream apps (billing), which may listen without
being imported here. Sent inside the service's transaction, after the change."""

from django.dispatch import Signal

# A visit was signed (locked): kwargs ``visit``.
visit_signed = Signal()
# A medical certificate was approved: kwargs ``certificate``.
certificate_approved = Signal()

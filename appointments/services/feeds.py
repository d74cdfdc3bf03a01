"""Calendar feed tokens for providers and patients."""

from __future__ import annotations

from django.db import transaction

from accounts.audit import audit_record
from accounts.models import AuditAction, User
from appointments.models import (
    PatientCalendarFeed,
    ProviderProfile,
    new_token,
)


@transaction.atomic
def provider_feed_regenerate(
    *, actor: User | None, provider: ProviderProfile, revoke: bool = False
) -> ProviderProfile:
    """Issue a new secret feed token (the old URL stops working), or revoke the feed."""
    provider.feed_token = None if revoke else new_token()
    provider.save(update_fields=["feed_token"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=provider,
        detail={"feed": "revoked" if revoke else "regenerated"},
    )
    return provider


@transaction.atomic
def patient_feed_regenerate(
    *, actor: User | None, patient, revoke: bool = False
) -> PatientCalendarFeed | None:
    PatientCalendarFeed.objects.filter(patient=patient).delete()
    feed = None if revoke else PatientCalendarFeed.objects.create(patient=patient)
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        object_type="appointments.patientcalendarfeed",
        object_id=patient.pk,
        patient_id=patient.pk,
        detail={"feed": "revoked" if revoke else "regenerated"},
    )
    return feed

"""Provider schedules: provider profiles, weekly availability blocks, exceptions (leave,
extra hours) and appointment types. Each change runs in a transaction and is audited on the
provider (or the type), as the schedule pages always were."""

from __future__ import annotations

from django.db import transaction

from accounts.audit import audit_record
from accounts.models import User
from appointments.models import (
    AppointmentType,
    AvailabilityException,
    ProviderProfile,
    WeeklyAvailability,
)
from appointments.selectors import providers_without_profile


def _schedule_changed(*, actor: User, provider: ProviderProfile, change: str, request) -> None:
    audit_record(
        actor=actor, action="update", obj=provider, request=request, detail={"schedule": change}
    )


@transaction.atomic
def provider_profiles_create_missing(*, actor: User, request=None) -> list[ProviderProfile]:
    """Give every active provider-role user without one a provider profile; returns the new
    profiles. Running it twice creates nothing the second time."""
    created = []
    for user in providers_without_profile().select_for_update(of=("self",)):
        profile = ProviderProfile.objects.create(user=user)
        audit_record(actor=actor, action="create", obj=profile, request=request)
        created.append(profile)
    return created


@transaction.atomic
def weekly_block_add(
    *, actor: User, provider: ProviderProfile, block: WeeklyAvailability, request=None
) -> WeeklyAvailability:
    """Add a validated (unsaved) weekly availability block to the provider's schedule."""
    block.provider = provider
    block.save()
    _schedule_changed(actor=actor, provider=provider, change="block", request=request)
    return block


@transaction.atomic
def weekly_block_delete(
    *, actor: User, provider: ProviderProfile, block_id: int, request=None
) -> None:
    """Remove one of the provider's weekly blocks (another provider's id removes nothing)."""
    WeeklyAvailability.objects.filter(provider=provider, pk=block_id).delete()
    _schedule_changed(actor=actor, provider=provider, change="delete_block", request=request)


@transaction.atomic
def availability_exception_add(
    *, actor: User, provider: ProviderProfile, exception: AvailabilityException, request=None
) -> AvailabilityException:
    """Add a validated (unsaved) exception (time off or extra hours) to the schedule."""
    exception.provider = provider
    exception.created_by = actor
    exception.save()
    _schedule_changed(actor=actor, provider=provider, change="exception", request=request)
    return exception


@transaction.atomic
def availability_exception_delete(
    *, actor: User, provider: ProviderProfile, exception_id: int, request=None
) -> None:
    """Remove one of the provider's exceptions (another provider's id removes nothing)."""
    AvailabilityException.objects.filter(provider=provider, pk=exception_id).delete()
    _schedule_changed(actor=actor, provider=provider, change="delete_exception", request=request)


@transaction.atomic
def appointment_type_save(
    *, actor: User, appointment_type: AppointmentType, request=None
) -> AppointmentType:
    """Create or update an appointment type validated by its form."""
    creating = appointment_type.pk is None
    appointment_type.save()
    audit_record(
        actor=actor,
        action="create" if creating else "update",
        obj=appointment_type,
        request=request,
    )
    return appointment_type

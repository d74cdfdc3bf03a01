from django.contrib import admin

from appointments.models import (
    Appointment,
    AppointmentEvent,
    AppointmentType,
    AvailabilityException,
    ProviderProfile,
    WaitlistEntry,
    WaitlistOffer,
    WeeklyAvailability,
)


class WeeklyInline(admin.TabularInline):
    model = WeeklyAvailability
    extra = 0


@admin.register(ProviderProfile)
class ProviderProfileAdmin(admin.ModelAdmin):
    list_display = ["__str__", "room", "location", "is_active"]
    inlines = [WeeklyInline]
    exclude = ["feed_token"]


@admin.register(AppointmentType)
class AppointmentTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "duration_minutes", "buffer_minutes", "self_bookable", "is_active"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(AvailabilityException)
class AvailabilityExceptionAdmin(admin.ModelAdmin):
    list_display = ["kind", "provider", "starts_at", "ends_at", "note"]
    list_filter = ["kind"]


class EventInline(admin.TabularInline):
    model = AppointmentEvent
    extra = 0
    can_delete = False
    readonly_fields = ["at", "actor", "from_status", "to_status", "note"]
    exclude = ["detail"]


@admin.register(Appointment)
class AppointmentAdmin(admin.ModelAdmin):
    """Read-only: changes go through the services (history, audit, emails)."""

    list_display = ["start", "patient", "provider", "appointment_type", "status"]
    list_filter = ["status", "appointment_type"]
    date_hierarchy = "start"
    raw_id_fields = ["patient", "provider", "visit"]
    inlines = [EventInline]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


admin.site.register(WaitlistEntry)
admin.site.register(WaitlistOffer)

from django.contrib import admin

from monitoring.models import Backup, Incident, TaskFailure


@admin.register(Backup)
class BackupAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "status",
        "created_at",
        "size_bytes",
        "verification_status",
        "remote_location",
    )
    list_filter = ("status", "kind", "verification_status")
    readonly_fields = [f.name for f in Backup._meta.fields]


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ("kind", "opened_at", "resolved_at", "alerted_at")
    list_filter = ("kind",)


@admin.register(TaskFailure)
class TaskFailureAdmin(admin.ModelAdmin):
    list_display = ("task_name", "created_at", "exception")
    search_fields = ("task_name",)

from django.urls import path

from monitoring import views

app_name = "monitoring"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("monitoring/", views.monitor, name="monitor"),
    path("monitoring/panels/<slug:name>", views.panel, name="panel"),
    path("monitoring/integrations/test-email", views.test_email, name="test_email"),
    path("monitoring/backups/start", views.backup_start, name="backup_start"),
    path("monitoring/backups/<int:pk>/verify", views.backup_verify, name="backup_verify"),
    path(
        "monitoring/backups/<int:pk>/download/<slug:part>",
        views.backup_download,
        name="backup_download",
    ),
    path("monitoring/backups/<int:pk>/restore", views.backup_restore, name="backup_restore"),
    path("monitoring/restores/<slug:job_id>", views.restore_job, name="restore_job"),
]

"""ID numbers unique regardless of letter case, and sign-ups kept pending until the email is
confirmed (``PendingSignup``).

Before the unique index is built, existing ID numbers that differ only in case are looked
for: the migration stops and names them, to be corrected by hand, rather than failing on
the index. Sign-ups made before this migration and never confirmed (an inactive patient
account that never signed in, has a password and no "email verified" audit event) become
pending sign-ups, and the record that was linked to them at sign-up is unlinked again: it is
linked when the email is confirmed, or staff link it.
"""

import django.db.models.deletion
import django.db.models.functions.text
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def refuse_case_duplicates(apps, schema_editor):
    from django.db.models import Count
    from django.db.models.functions import Upper

    Patient = apps.get_model("patients", "Patient")
    clashes = list(
        Patient.objects.annotate(key=Upper("id_number"))
        .values("key")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("key", flat=True)
        .order_by("key")[:20]
    )
    if clashes:
        raise RuntimeError(
            "These ID numbers belong to more than one patient, differing only in letter case: "
            + ", ".join(clashes)
            + ". Correct or merge those records, then run the migration again."
        )


def legacy_pending_signups(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    Patient = apps.get_model("patients", "Patient")
    PendingSignup = apps.get_model("patients", "PendingSignup")
    AuditEvent = apps.get_model("accounts", "AuditEvent")
    verified = set(
        AuditEvent.objects.filter(
            object_type="accounts.user", detail__email_verified=True
        ).values_list("object_id", flat=True)
    )
    candidates = (
        User.objects.filter(role="patient", is_active=False, last_login__isnull=True)
        .exclude(password="")
        .exclude(password__startswith="!")  # no usable password: invited, never signed up
        .filter(pending_signup__isnull=True)
        .order_by("pk")
    )
    for user in candidates:
        if str(user.pk) in verified:
            continue  # confirmed, then deactivated: not a pending sign-up
        fields = {"first_name": user.first_name[:100], "last_name": user.last_name[:100]}
        record = Patient.objects.filter(user_id=user.pk).first()
        if record is not None:
            fields = {
                f: getattr(record, f)
                for f in ("id_number", "first_name", "last_name", "sex", "birth_date")
            }
            fields["patient_type"] = record.patient_type
            record.user = None
            record.save(update_fields=["user", "updated_at"])
        PendingSignup.objects.create(user_id=user.pk, **fields)


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0005_recompute_search_text"),
        ("accounts", "0002_audit_append_only"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(refuse_case_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Upper("id_number"),
                name="patients_patient_id_number_ci_unique",
                violation_error_message="A patient with this ID number is already registered.",
            ),
        ),
        migrations.CreateModel(
            name="PendingSignup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("id_number", models.CharField(blank=True, max_length=32)),
                ("first_name", models.CharField(blank=True, max_length=100)),
                ("last_name", models.CharField(blank=True, max_length=100)),
                (
                    "sex",
                    models.CharField(
                        blank=True,
                        choices=[("F", "Female"), ("M", "Male"), ("X", "Intersex / other")],
                        max_length=1,
                    ),
                ),
                ("birth_date", models.DateField(blank=True, null=True)),
                (
                    "patient_type",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("student", "Student"),
                            ("employee", "Employee"),
                            ("dependent", "Dependent"),
                            ("other", "Other"),
                        ],
                        max_length=16,
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="pending_signup",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
        migrations.RunPython(legacy_pending_signups, migrations.RunPython.noop),
    ]

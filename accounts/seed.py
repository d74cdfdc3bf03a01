"""Demo users: one per role, with a documented password (see README)."""

from accounts.models import User
from accounts.roles import Role

DEMO_PASSWORD = "clinic-demo-2026"

DEMO_USERS = [
    ("admin@usc.edu.ph", "Ana", "Reyes", Role.ADMIN),
    ("doctor@usc.edu.ph", "Jose", "Santos", Role.DOCTOR),
    ("dentist@usc.edu.ph", "Maria", "Cruz", Role.DENTIST),
    ("nurse@usc.edu.ph", "Liza", "Bautista", Role.NURSE),
    ("frontdesk@usc.edu.ph", "Carlo", "Garcia", Role.FRONT_DESK),
    ("inventory@usc.edu.ph", "Rhea", "Mendoza", Role.INVENTORY_MANAGER),
    ("billing@usc.edu.ph", "Paolo", "Villanueva", Role.BILLING_CLERK),
    ("student@usc.edu.ph", "Bea", "Ramos", Role.PATIENT),
]


def run(*, stdout) -> None:
    for email, first, last, role in DEMO_USERS:
        user, created = User.objects.get_or_create(
            email=email,
            defaults={
                "first_name": first,
                "last_name": last,
                "role": role,
                "is_staff": role == Role.ADMIN,
                "is_superuser": role == Role.ADMIN,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
            stdout.write(f"  created {role} {email}")

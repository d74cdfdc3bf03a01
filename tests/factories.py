"""Shared factories (accounts). Each domain keeps its own in ``tests/<domain>/factories.py``."""

import factory

from accounts.models import User
from accounts.roles import Role

TEST_PASSWORD = "a-long-test-password-2026"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@usc.edu.ph")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    role = Role.PATIENT
    is_staff = factory.LazyAttribute(lambda o: o.role == Role.ADMIN)

    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or TEST_PASSWORD)
        if create:
            self.save(update_fields=["password"])

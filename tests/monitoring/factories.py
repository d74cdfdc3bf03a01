import factory
from django.utils import timezone

from monitoring.models import Backup, BackupStatus


class BackupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Backup

    status = BackupStatus.SUCCEEDED
    checksum = factory.Sequence(lambda n: f"{n:064x}")
    created_at = factory.LazyFunction(timezone.now)
    finished_at = factory.LazyAttribute(lambda o: o.created_at)
    size_bytes = 1024

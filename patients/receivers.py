"""What invalidates the chart's cached timeline pages (``patients.timeline_cache``): every
saved or deleted row a timeline row is made from; and the searches known to match more than
a list's cap (``patients.search_cache``): every saved or deleted patient. Model signals, so every writer is covered
(services, the admin, the API, data fixes), each replacement deferred to the writing
transaction's commit. ``QuerySet.update`` and ``bulk_create`` send no signal: the services
that use them on these rows replace the tokens themselves."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save, pre_save

from accounts.models import User
from patients import search_cache, timeline_cache
from patients.models import Diagnosis, Icd10Code, Patient, Prescription, Visit, VitalSigns

# Saves that change nothing a timeline shows (signing in, a password, notification choices).
_USER_FIELDS_NOT_SHOWN = frozenset({"last_login", "password", "email_notifications"})


def _visit_saved(sender, instance: Visit, **kwargs) -> None:
    timeline_cache.patients_changed(instance.patient_id)


def _visit_saving(sender, instance: Visit, raw: bool = False, **kwargs) -> None:
    """A visit moved to another patient (only a data fix does that) leaves a timeline too."""
    if instance.pk is None or raw:
        return
    before = Visit.objects.filter(pk=instance.pk).values_list("patient_id", flat=True).first()
    if before is not None and before != instance.patient_id:
        timeline_cache.patients_changed(before)


def _visit_row_saved(sender, instance, **kwargs) -> None:
    """A diagnosis, vital signs or prescription: its visit's patient."""
    visit = Visit.objects.filter(pk=instance.visit_id).values_list("patient_id", flat=True)
    timeline_cache.patients_changed(visit.first())


def _shown_everywhere(sender, instance, created: bool = False, update_fields=None, **kwargs):
    if sender is User and (
        created or (update_fields and set(update_fields) <= _USER_FIELDS_NOT_SHOWN)
    ):
        return  # a new user has no visits yet
    timeline_cache.every_chart_changed()  # a provider's name, an ICD-10 title


def _patient_saved(sender, instance: Patient, **kwargs) -> None:
    search_cache.patients_changed()


def connect() -> None:
    """Called once from ``PatientsConfig.ready``."""
    pre_save.connect(_visit_saving, sender=Visit, dispatch_uid="tl-visit-moved")
    for signal in (post_save, post_delete):
        signal.connect(_visit_saved, sender=Visit, dispatch_uid="tl-visit")
        for model in (Diagnosis, VitalSigns, Prescription):
            signal.connect(_visit_row_saved, sender=model, dispatch_uid=f"tl-{model.__name__}")
        for model in (User, Icd10Code):
            signal.connect(_shown_everywhere, sender=model, dispatch_uid=f"tl-{model.__name__}")
        signal.connect(_patient_saved, sender=Patient, dispatch_uid="search-cap-patient")

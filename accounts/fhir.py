"""FHIR Practitioner: the clinic's doctors, dentists and nurses (no health data)."""

from __future__ import annotations

from django.db.models import Q
from django.http import Http404

from accounts.models import User
from accounts.roles import PROVIDER_ROLES
from uscpis.api.fhir import FhirResource, SearchParam, int_id

ROLE_CODES = {
    "doctor": ("309343006", "Physician"),
    "dentist": ("106289002", "Dentist"),
    "nurse": ("106292003", "Professional nurse"),
}


def practitioner_resource(user: User) -> dict:
    code, display = ROLE_CODES.get(user.role, ("", user.get_role_display()))
    res = {
        "resourceType": "Practitioner",
        "id": str(user.pk),
        "active": user.is_active,
        "name": [
            {
                "text": user.full_name,
                "family": user.last_name,
                "given": [user.first_name] if user.first_name else [],
            }
        ],
        "qualification": [
            {
                "code": {
                    "coding": [
                        {"system": "http://snomed.info/sct", "code": code, "display": display}
                    ],
                    "text": display,
                }
            }
        ],
    }
    if not res["name"][0]["given"]:
        del res["name"][0]["given"]
    return res


def _practitioners(user):
    return User.objects.filter(role__in=[r.value for r in PROVIDER_ROLES])


def _read(user, rid: str) -> User:

    try:
        return _practitioners(user).get(pk=int_id(rid))
    except User.DoesNotExist:
        raise Http404("No such practitioner") from None


def _name(qs, value, request):
    for word in value.split()[:4]:
        qs = qs.filter(Q(first_name__icontains=word) | Q(last_name__icontains=word))
    return qs


PRACTITIONER = FhirResource(
    type="Practitioner",
    permission="accounts.signed_in",
    queryset=_practitioners,
    read=_read,
    to_fhir=lambda u: [practitioner_resource(u)],
    patient_data=False,
    params=[SearchParam("name", "string", "Any part of the first or last name", _name)],
)

RESOURCES = [PRACTITIONER]

"""FHIR R4 resources of the patients domain: Patient, Encounter, Observation (vital signs,
LOINC), Condition (ICD-10), AllergyIntolerance, MedicationRequest, Immunization, and
``Patient/{id}/$everything`` (the existing FHIR export).

Visibility is the domain's own: ``Patient.objects.visible_to`` for demographics; clinical
rows for clinical staff, and a patient's own signed records for the patient (as in the
portal). Clinical resources are built by the same functions as the record export, so an
export and the API say the same thing.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import extend_schema

from accounts.models import AuditAction
from accounts.roles import user_has_perm
from patients import selectors
from patients.exports import fhir_resources as fhir_export
from patients.exports.fhir import record_resources
from patients.exports.fhir_resources import (
    INSTITUTIONAL_ID_SYSTEM,
    PHILHEALTH_ID_SYSTEM,
    patient_contact_fields,
    patient_identifiers,
)
from patients.models import (
    Allergy,
    Diagnosis,
    Immunization,
    Patient,
    Prescription,
    Visit,
    VisitStatus,
    VitalSigns,
)
from patients.services.registry import philhealth_pin_clean
from uscpis.api.fhir import (
    BulkJSONRenderer,
    FhirBulkJSONRenderer,
    FhirResource,
    FhirView,
    SearchError,
    SearchParam,
    base_url,
    date_q,
    fhir_response,
    int_id,
    reference_id,
)

DEMOGRAPHICS = ("patients.view_demographics", "patients.portal")
CLINICAL = ("patients.view_clinical", "patients.portal")
GENDER = {"F": "female", "M": "male", "X": "other"}


def _scoped(qs, user, patient_field: str = "patient"):
    """Rows of clinical data ``user`` may read: all for clinical staff, a patient's own for
    the patient (``_portal_signed`` adds: of signed visits only), none for anyone else."""
    if user_has_perm(user, "patients.view_clinical"):
        return qs
    if user_has_perm(user, "patients.portal"):
        return qs.filter(**{f"{patient_field}__user": user})
    return qs.none()


def _patient_param(field: str) -> SearchParam:
    def apply(qs, value, request):
        pid = reference_id(value, "Patient")
        if not pid.isdigit():
            return qs.none()
        return qs.filter(**{field: int(pid)})

    return SearchParam("patient", "reference", "The patient (Patient/<id> or <id>)", apply)


# --- Patient ------------------------------------------------------------------------------


# The columns ``patient_resource`` reads: a Patient search loads only these (not the search
# text, timestamps or school fields), ``tests/api/test_fhir.py`` checks it reads nothing more.
PATIENT_RESOURCE_FIELDS = (
    "id",
    "id_number",
    "philhealth_pin",
    "first_name",
    "middle_name",
    "last_name",
    "sex",
    "birth_date",
    "phone",
    "email",
    "address",
    "emergency_contact_name",
    "emergency_contact_relation",
    "emergency_contact_phone",
)


def patient_resource(patient: Patient) -> dict:
    res = {
        "resourceType": "Patient",
        "id": str(patient.pk),
        "identifier": patient_identifiers(patient),
        "active": True,
        "name": [
            {
                "use": "official",
                "text": patient.full_name,
                "family": patient.last_name,
                "given": [n for n in (patient.first_name, patient.middle_name) if n],
            }
        ],
        "gender": GENDER.get(patient.sex, "unknown"),
        "birthDate": patient.birth_date.isoformat(),
        **patient_contact_fields(patient),
    }
    if patient.emergency_contact_name:
        contact = {"name": {"text": patient.emergency_contact_name}}
        if patient.emergency_contact_relation:
            contact["relationship"] = [{"text": patient.emergency_contact_relation}]
        if patient.emergency_contact_phone:
            contact["telecom"] = [{"system": "phone", "value": patient.emergency_contact_phone}]
        res["contact"] = [contact]
    return res


def _pin_or_none(code: str) -> str | None:
    try:
        return philhealth_pin_clean(code)
    except ValidationError:
        return None


def _identifier_filter(qs, value, request):
    """``[system|]value``: the institutional ID (any letter case) or the PhilHealth PIN
    (with or without its dashes); without a system, either."""
    system, sep, code = value.partition("|")
    if not sep:
        system, code = "", value
    code = code.strip()
    if system and system not in (INSTITUTIONAL_ID_SYSTEM, PHILHEALTH_ID_SYSTEM):
        return qs.none()
    pin = _pin_or_none(code)
    if system == PHILHEALTH_ID_SYSTEM:
        return qs.filter(philhealth_pin=pin) if pin else qs.none()
    if system == INSTITUTIONAL_ID_SYSTEM or not pin:
        return qs.filter(id_number__iexact=code)
    return qs.filter(Q(id_number__iexact=code) | Q(philhealth_pin=pin))


def _name_filter(qs, value, request):
    return selectors.patient_search(q=value[:200], qs=qs).order_by()


def _read_patient(user, rid: str) -> Patient:
    return selectors.get_patient_for_user(user, int_id(rid), purpose=None)


class EverythingView(FhirView):
    """``Patient/{id}/$everything``: the patient's record as a searchset Bundle, the same
    content as the record export (signed visits), audited as an export."""

    required_permission = ("patients.export_record", "patients.portal")
    # Thousands of resources: the lean encoder (the body is plain JSON types only).
    renderer_classes = [FhirBulkJSONRenderer, BulkJSONRenderer]

    @extend_schema(exclude=True)
    def get(self, request, resource_id: str):

        unknown = set(request.query_params) - {"_format"}
        if unknown:
            raise SearchError(
                f"Unsupported parameter(s) for $everything: {', '.join(sorted(unknown))}."
            )
        user = request.user
        patient = selectors.get_patient_for_user(
            user,
            int_id(resource_id),
            purpose=AuditAction.EXPORT,
            detail={"format": "fhir", "via": "fhir", "operation": "$everything"},
            allow=lambda p: user_has_perm(user, "patients.export_record") or p.user_id == user.pk,
        )
        base = base_url()
        entries = [
            {
                "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
                "resource": resource,
                "search": {"mode": "include"},
            }
            for resource in record_resources(
                patient, patient_resource=patient_resource(patient), practitioner_reference=True
            )
        ]
        entries[0]["search"]["mode"] = "match"  # the Patient
        return fhir_response(
            {
                "resourceType": "Bundle",
                "id": f"patient-{patient.pk}-record",
                "type": "searchset",
                "timestamp": fhir_export._iso(timezone.now()),
                "total": len(entries),
                "link": [
                    {"relation": "self", "url": f"{base_url()}/Patient/{patient.pk}/$everything"}
                ],
                "entry": entries,
            }
        )


PATIENT = FhirResource(
    type="Patient",
    permission=DEMOGRAPHICS,
    queryset=lambda user: Patient.objects.visible_to(user).only(*PATIENT_RESOURCE_FIELDS),
    read=_read_patient,
    to_fhir=lambda p: [patient_resource(p)],
    patient_id=lambda p: p.pk,
    params=[
        SearchParam(
            "identifier",
            "token",
            "Institutional ID number or PhilHealth PIN ([system|]value)",
            _identifier_filter,
        ),
        SearchParam(
            "name", "string", "Any part of the name (case and accent insensitive)", _name_filter
        ),
        SearchParam(
            "birthdate",
            "date",
            "Birth date ([eq|gt|lt|ge|le]YYYY[-MM[-DD]])",
            lambda qs, v, r: qs.filter(date_q("birth_date", v, is_date=True)),
        ),
    ],
    operations={"$everything": EverythingView},
)


# --- Encounter ----------------------------------------------------------------------------

ENCOUNTER_STATUS = {VisitStatus.SIGNED: "finished", VisitStatus.DRAFT: "in-progress"}


def encounter_resource(v: Visit) -> dict:
    return fhir_export.encounter_fhir(
        v.pk,
        f"Patient/{v.patient_id}",
        status=ENCOUNTER_STATUS.get(v.status, "unknown"),
        kind=v.kind,
        start=fhir_export._iso(v.started_at),
        end=fhir_export._iso(v.signed_at) if v.signed_at else None,
        provider_id=v.provider_id,
        provider_name=v.provider.full_name if v.provider_id else "",
        chief_complaint=v.chief_complaint,
    )


def _encounter_status(qs, value, request):
    wanted = {s.strip() for s in value.split(",")}
    unknown = wanted - set(ENCOUNTER_STATUS.values())
    if unknown:
        raise SearchError(
            f"Unsupported Encounter status {', '.join(sorted(unknown))} (finished, in-progress)."
        )
    return qs.filter(status__in=[k for k, v in ENCOUNTER_STATUS.items() if v in wanted])


ENCOUNTER = FhirResource(
    type="Encounter",
    permission=CLINICAL,
    queryset=lambda user: _scoped(Visit.objects.select_related("provider"), user).filter(
        _portal_signed(user)
    ),
    read=lambda user, rid: _read_row(ENCOUNTER, user, int_id(rid, "enc-")),
    to_fhir=lambda v: [encounter_resource(v)],
    patient_id=lambda v: v.patient_id,
    params=[
        _patient_param("patient_id"),
        SearchParam(
            "date",
            "date",
            "When the visit started",
            lambda qs, v, r: qs.filter(date_q("started_at", v)),
        ),
        SearchParam(
            "status", "token", "finished (signed) or in-progress (draft)", _encounter_status
        ),
    ],
)


def _portal_signed(user, visit_field: str = "") -> Q:
    """Patients see signed visits only (and what they contain)."""
    if user_has_perm(user, "patients.view_clinical"):
        return Q()
    return Q(**{f"{visit_field}status": VisitStatus.SIGNED})


def _read_row(resource: FhirResource, user, pk: int):
    try:
        return resource.queryset(user).get(pk=pk)
    except resource.queryset(user).model.DoesNotExist:
        raise Http404("No such resource") from None


# --- Observation (vital signs) --------------------------------------------------------------


def observation_resources(vs: VitalSigns) -> list[dict]:
    return fhir_export._fhir_vitals(vs, f"Patient/{vs.visit.patient_id}", f"enc-{vs.visit_id}")


def _read_observation(user, rid: str) -> VitalSigns:
    parts = rid.split("-")
    if len(parts) < 3 or parts[0] != "obs" or not parts[1].isdigit():
        raise Http404("No such resource")
    return _read_row(OBSERVATION, user, int(parts[1]))


OBSERVATION = FhirResource(
    type="Observation",
    permission=CLINICAL,
    queryset=lambda user: _scoped(
        VitalSigns.objects.select_related("visit"), user, "visit__patient"
    ).filter(_portal_signed(user, "visit__")),
    read=_read_observation,
    to_fhir=observation_resources,
    patient_id=lambda vs: vs.visit.patient_id,
    params=[
        _patient_param("visit__patient_id"),
        SearchParam(
            "date",
            "date",
            "When the vital signs were taken",
            lambda qs, v, r: qs.filter(date_q("recorded_at", v)),
        ),
    ],
)


# --- Condition ------------------------------------------------------------------------------


def condition_resource(d: Diagnosis) -> dict:
    return fhir_export._fhir_condition(
        d, f"Patient/{d.visit.patient_id}", f"enc-{d.visit_id}", d.visit
    )


CONDITION = FhirResource(
    type="Condition",
    permission=CLINICAL,
    queryset=lambda user: _scoped(
        Diagnosis.objects.select_related("icd10", "visit"), user, "visit__patient"
    ).filter(_portal_signed(user, "visit__")),
    read=lambda user, rid: _read_row(CONDITION, user, int_id(rid, "cond-")),
    to_fhir=lambda d: [condition_resource(d)],
    patient_id=lambda d: d.visit.patient_id,
    params=[
        _patient_param("visit__patient_id"),
        SearchParam(
            "code",
            "token",
            "ICD-10 code ([http://hl7.org/fhir/sid/icd-10|]J06.9)",
            lambda qs, v, r: qs.filter(icd10_id__iexact=v.partition("|")[2] or v),
        ),
    ],
)


# --- AllergyIntolerance -------------------------------------------------------------------


def allergy_resource(a: Allergy) -> dict:
    return fhir_export.allergy_fhir(
        a.pk,
        a.patient_id,
        substance=a.substance,
        reaction=a.reaction,
        severity=a.severity,
        is_active=a.is_active,
        noted_on=a.noted_on,
    )


ALLERGY = FhirResource(
    type="AllergyIntolerance",
    permission=CLINICAL,
    queryset=lambda user: _scoped(Allergy.objects.all(), user),
    read=lambda user, rid: _read_row(ALLERGY, user, int_id(rid, "allergy-")),
    to_fhir=lambda a: [allergy_resource(a)],
    patient_id=lambda a: a.patient_id,
    params=[_patient_param("patient_id")],
)


# --- MedicationRequest --------------------------------------------------------------------

MEDICATION_REQUEST = FhirResource(
    type="MedicationRequest",
    permission=CLINICAL,
    queryset=lambda user: _scoped(
        Prescription.objects.select_related("visit__provider"), user, "visit__patient"
    ).filter(_portal_signed(user, "visit__")),
    read=lambda user, rid: _read_row(MEDICATION_REQUEST, user, int_id(rid, "rx-")),
    to_fhir=lambda rx: [
        fhir_export._fhir_medication_request(
            rx, f"Patient/{rx.visit.patient_id}", f"enc-{rx.visit_id}", rx.visit
        )
    ],
    patient_id=lambda rx: rx.visit.patient_id,
    params=[
        _patient_param("visit__patient_id"),
        SearchParam(
            "authoredon",
            "date",
            "When it was prescribed",
            lambda qs, v, r: qs.filter(date_q("created_at", v)),
        ),
    ],
)


# --- Immunization -------------------------------------------------------------------------


def immunization_resource(i: Immunization) -> dict:
    return fhir_export.immunization_fhir(
        i.pk,
        i.patient_id,
        vaccine=i.vaccine,
        given_on=i.given_on,
        dose_number=i.dose_number,
        lot_number=i.lot_number,
    )


IMMUNIZATION = FhirResource(
    type="Immunization",
    permission=CLINICAL,
    queryset=lambda user: _scoped(Immunization.objects.all(), user),
    read=lambda user, rid: _read_row(IMMUNIZATION, user, int_id(rid, "imm-")),
    to_fhir=lambda i: [immunization_resource(i)],
    patient_id=lambda i: i.patient_id,
    params=[
        _patient_param("patient_id"),
        SearchParam(
            "date",
            "date",
            "When it was given",
            lambda qs, v, r: qs.filter(date_q("given_on", v, is_date=True)),
        ),
    ],
)

RESOURCES = [PATIENT, ENCOUNTER, OBSERVATION, CONDITION, ALLERGY, MEDICATION_REQUEST, IMMUNIZATION]

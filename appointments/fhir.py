"""FHIR resources of scheduling: Appointment (a patient's own, or all for schedule staff),
Schedule (one per provider) and Slot (free slots, computed by the same ``free_slots`` as the
booking pages)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.http import Http404
from django.utils import timezone
from django.utils.http import urlencode
from drf_spectacular.utils import extend_schema

from accounts.roles import user_has_perm
from appointments import selectors
from appointments.models import Appointment, AppointmentStatus, AppointmentType, ProviderProfile
from appointments.slots import free_slots
from uscpis.api.fhir import (
    FhirResource,
    FhirView,
    SearchError,
    SearchParam,
    base_url,
    check_params,
    date_q,
    fhir_response,
    int_id,
    parse_date_param,
    reference_id,
    searchset,
)

STATUS = {
    AppointmentStatus.BOOKED: "booked",
    AppointmentStatus.CONFIRMED: "booked",
    AppointmentStatus.CHECKED_IN: "checked-in",
    AppointmentStatus.IN_CONSULTATION: "arrived",
    AppointmentStatus.COMPLETED: "fulfilled",
    AppointmentStatus.CANCELLED: "cancelled",
    AppointmentStatus.NO_SHOW: "noshow",
}
READERS = ("appointments.view_schedule", "appointments.book_self")
BOOKERS = ("appointments.book_self", "appointments.book_for_patient")
MAX_SLOT_DAYS = 14


def _iso(value: datetime) -> str:
    return timezone.localtime(value).isoformat()


def appointment_resource(a: Appointment) -> dict:
    res = {
        "resourceType": "Appointment",
        "id": str(a.pk),
        "status": STATUS[a.status],
        "serviceType": [{"text": a.appointment_type.name}],
        "appointmentType": {"text": a.appointment_type.name},
        "start": _iso(a.start),
        "end": _iso(a.end),
        "minutesDuration": max(1, int((a.end - a.start).total_seconds() // 60)),
        "created": _iso(a.created_at),
        "participant": [
            {
                "actor": {"reference": f"Patient/{a.patient_id}", "display": a.patient.full_name},
                "status": "accepted",
            },
            {
                "actor": {
                    "reference": f"Practitioner/{a.provider.user_id}",
                    "display": a.provider.display_name,
                },
                "status": "accepted",
            },
        ],
    }
    if a.reason:
        res["reasonCode"] = [{"text": a.reason}]
    if a.status == AppointmentStatus.CANCELLED and a.cancel_reason:
        res["cancelationReason"] = {"text": a.cancel_reason}
    return res


def _appointments(user):
    qs = Appointment.objects.with_related()
    if user_has_perm(user, "appointments.view_schedule"):
        return qs
    patient = selectors.patient_for_user(user)
    return qs.filter(patient=patient) if patient is not None else qs.none()


def _read_appointment(user, rid: str) -> Appointment:
    try:
        return _appointments(user).get(pk=int_id(rid))
    except Appointment.DoesNotExist:
        raise Http404("No such appointment") from None


def _status(qs, value, request):
    wanted = {s.strip() for s in value.split(",")}
    unknown = wanted - set(STATUS.values())
    if unknown:
        raise SearchError(f"Unsupported Appointment status {', '.join(sorted(unknown))}.")
    return qs.filter(status__in=[k for k, v in STATUS.items() if v in wanted])


def _patient(qs, value, request):
    pid = reference_id(value, "Patient")
    return qs.filter(patient_id=int(pid)) if pid.isdigit() else qs.none()


def _by_user(qs, value, field: str):
    uid = reference_id(value, "Practitioner")
    return qs.filter(**{field: int(uid)}) if uid.isdigit() else qs.none()


def _practitioner(qs, value, request):
    return _by_user(qs, value, "provider__user_id")


APPOINTMENT = FhirResource(
    type="Appointment",
    permission=READERS,
    queryset=_appointments,
    read=_read_appointment,
    to_fhir=lambda a: [appointment_resource(a)],
    patient_id=lambda a: a.patient_id,
    params=[
        SearchParam("patient", "reference", "The patient (Patient/<id>)", _patient),
        SearchParam("practitioner", "reference", "The provider (Practitioner/<id>)", _practitioner),
        SearchParam(
            "date",
            "date",
            "Start date ([eq|gt|lt|ge|le]YYYY[-MM[-DD]])",
            lambda qs, v, r: qs.filter(date_q("start", v)),
        ),
        SearchParam(
            "status", "token", "booked, checked-in, arrived, fulfilled, cancelled, noshow", _status
        ),
    ],
)


# --- Schedule -------------------------------------------------------------------------------


def schedule_resource(p: ProviderProfile) -> dict:
    res = {
        "resourceType": "Schedule",
        "id": str(p.pk),
        "active": p.is_active,
        "actor": [{"reference": f"Practitioner/{p.user_id}", "display": p.display_name}],
        "comment": ", ".join(x for x in (p.room, p.location) if x) or "Clinic",
    }
    types = [{"text": t.name} for t in p.appointment_types.all()]
    if types:
        res["serviceType"] = types
    return res


def _schedules(user):
    return ProviderProfile.objects.select_related("user").prefetch_related("appointment_types")


def _read_schedule(user, rid: str) -> ProviderProfile:
    try:
        return _schedules(user).get(pk=int_id(rid))
    except ProviderProfile.DoesNotExist:
        raise Http404("No such schedule") from None


SCHEDULE = FhirResource(
    type="Schedule",
    permission="accounts.signed_in",
    queryset=_schedules,
    read=_read_schedule,
    to_fhir=lambda p: [schedule_resource(p)],
    patient_data=False,
    params=[
        SearchParam(
            "actor",
            "reference",
            "The provider (Practitioner/<id>)",
            lambda qs, v, r: _by_user(qs, v, "user_id"),
        )
    ],
)


# --- Slot (computed free slots) --------------------------------------------------------------

SLOT_PARAMS = {"service-type", "schedule", "start", "status", "_count", "_format"}


def slot_id(provider_id: int, type_id: int, start: datetime) -> str:
    return f"{provider_id}-{type_id}-{start.astimezone(UTC):%Y%m%d%H%M}"


def slot_resource(slot, appointment_type: AppointmentType) -> dict:
    return {
        "resourceType": "Slot",
        "id": slot_id(slot.provider_id, appointment_type.pk, slot.start),
        "serviceType": [
            {
                "coding": [
                    {"system": f"{base_url()}/appointment-type", "code": str(appointment_type.pk)}
                ],
                "text": appointment_type.name,
            }
        ],
        "schedule": {"reference": f"Schedule/{slot.provider_id}", "display": slot.provider_name},
        "status": "free",
        "start": _iso(slot.start),
        "end": _iso(slot.end),
    }


def _type_param(value: str) -> AppointmentType:
    code = value.partition("|")[2] or value
    if not code.isdigit():
        raise SearchError(
            "service-type is an appointment type id (see the Schedule's serviceType or /api/v1/appointment-types/)."
        )
    t = AppointmentType.objects.filter(pk=int(code), is_active=True).first()
    if t is None:
        raise SearchError(f"No active appointment type {code}.")
    return t


def _slots_for(request, appointment_type, provider, day_from, day_to):
    staff = user_has_perm(request.user, "appointments.book_for_patient")
    patient = None if staff else selectors.patient_for_user(request.user)
    return free_slots(
        appointment_type=appointment_type,
        provider=provider,
        date_from=day_from,
        date_to=day_to,
        patient_id=getattr(patient, "pk", None),
        enforce_lead_time=not staff,
    )


class SlotSearchView(FhirView):
    """``Slot?service-type=<type id>[&schedule=Schedule/<id>][&start=ge2026-12-01&start=le2026-12-07]``:
    free slots (status is always ``free``), at most 14 days per page."""

    @extend_schema(exclude=True)
    def get(self, request):
        check_params(request, SLOT_PARAMS)
        if "service-type" not in request.query_params:
            raise SearchError("Slot search needs service-type (an appointment type id).")
        appointment_type = _type_param(request.query_params["service-type"])
        provider = None
        if "schedule" in request.query_params:
            sid = reference_id(request.query_params["schedule"], "Schedule")
            provider = ProviderProfile.objects.filter(
                pk=int(sid) if sid.isdigit() else 0, is_active=True
            ).first()
            if provider is None:
                return searchset(request, "Slot", [])
        if request.query_params.get("status", "free") != "free":
            return searchset(request, "Slot", [])
        day_from = timezone.localdate()
        day_to = day_from + timedelta(days=6)
        for value in request.query_params.getlist("start"):
            prefix, start, end = parse_date_param(value)
            if prefix in ("ge", "gt", "eq"):
                day_from = (end if prefix == "gt" else start).date()
            if prefix in ("le", "lt", "eq"):
                day_to = (start if prefix == "lt" else end).date() - timedelta(days=1)
        if day_to < day_from:
            return searchset(request, "Slot", [])
        if (day_to - day_from).days >= MAX_SLOT_DAYS:
            day_to = day_from + timedelta(days=MAX_SLOT_DAYS - 1)
        count_raw = request.query_params.get("_count", "100")
        if not count_raw.isdigit() or not 0 < int(count_raw) <= 500:
            raise SearchError("_count must be between 1 and 500.")
        slots = _slots_for(request, appointment_type, provider, day_from, day_to)[: int(count_raw)]
        next_day = day_to + timedelta(days=1)
        horizon = timezone.localdate() + timedelta(days=appointment_type.horizon_days)
        params = {k: v for k, v in request.query_params.items() if k != "start"}
        next_url = None
        if next_day <= horizon:
            query = urlencode(
                [
                    *params.items(),
                    ("start", f"ge{next_day}"),
                    ("start", f"le{next_day + (day_to - day_from)}"),
                ]
            )
            next_url = f"{base_url()}/Slot?{query}"
        return searchset(
            request, "Slot", [slot_resource(s, appointment_type) for s in slots], next_url
        )


class SlotReadView(FhirView):
    """A slot by id, while it is still free (404 once taken)."""

    @extend_schema(exclude=True)
    def get(self, request, resource_id: str):
        parts = resource_id.split("-")
        if len(parts) != 3 or not all(p.isdigit() for p in parts) or len(parts[2]) != 12:
            raise Http404("No such slot")
        try:
            start = datetime.strptime(parts[2], "%Y%m%d%H%M").replace(tzinfo=UTC)
        except ValueError:
            raise Http404("No such slot") from None
        provider = (
            ProviderProfile.objects.filter(pk=int(parts[0]), is_active=True)
            .select_related("user")
            .first()
        )
        appointment_type = AppointmentType.objects.filter(pk=int(parts[1]), is_active=True).first()
        if provider is None or appointment_type is None:
            raise Http404("No such slot")
        day = timezone.localtime(start).date()
        for slot in _slots_for(request, appointment_type, provider, day, day):
            if slot.start == start:
                return fhir_response(slot_resource(slot, appointment_type))
        raise Http404("That slot is not free.")


SLOT = FhirResource(
    type="Slot",
    permission=BOOKERS,
    params=[
        SearchParam("service-type", "token", "Appointment type id (required)", None),
        SearchParam("schedule", "reference", "Schedule/<id> (a provider)", None),
        SearchParam(
            "start", "date", "Slot start range (ge/le dates; at most 14 days per page)", None
        ),
        SearchParam("status", "token", "free (the only status served)", None),
    ],
    search_view=SlotSearchView,
    read_view=SlotReadView,
    patient_data=False,
)

RESOURCES = [APPOINTMENT, SCHEDULE, SLOT]

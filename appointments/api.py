"""REST resources for scheduling: appointment types, providers, free slots, appointments
(book, reschedule, cancel, check in) and the waitlist. The same services as the HTML views
apply the same rules and errors (a time taken by someone else, the exclusion constraint
included, is a 409 with the nearest free alternatives); patients see only their own
appointments (anything else is a 404)."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta

from django.db.models import Q
from django.http import Http404
from django.urls import path
from django.utils import timezone
from django.utils.http import urlencode
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import AuditAction
from accounts.roles import user_has_perm
from appointments import picker, schedule_cache, selectors
from appointments.models import (
    Appointment,
    AppointmentStatus,
    AppointmentType,
    BookingSource,
    ProviderProfile,
    WaitlistEntry,
)
from appointments.services import booking, lifecycle, waitlist
from appointments.slots import local_day_bounds
from patients.selectors import get_patient_for_user
from uscpis.api.idempotency import idempotency_parameter, idempotent
from uscpis.api.serializers import ModelSerializer

BOOKERS = ("appointments.book_self", "appointments.book_for_patient")
READERS = ("appointments.book_self", "appointments.view_schedule")
MAX_SLOT_DAYS = 14


def _is_staff_reader(user) -> bool:
    return user_has_perm(user, "appointments.view_schedule")


def _own_patient(user):
    patient = selectors.patient_for_user(user)
    if patient is None:
        raise Http404("Your account is not linked to a patient record yet.")
    return patient


# --- Serializers --------------------------------------------------------------------------


class AppointmentTypeSerializer(ModelSerializer):
    class Meta:
        model = AppointmentType
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "duration_minutes",
            "visit_kind",
            "self_bookable",
            "lead_time_minutes",
            "horizon_days",
        ]


class ProviderSerializer(ModelSerializer):
    name = serializers.CharField(source="display_name")
    role = serializers.CharField()
    appointment_types = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = ProviderProfile
        fields = ["id", "name", "role", "room", "location", "appointment_types"]


class SlotSerializer(serializers.Serializer):
    provider = serializers.IntegerField(source="provider_id")
    provider_name = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()

    def to_representation(self, slot):
        """What the declared fields give (DRF's ISO 8601 in the current time zone), built
        directly: a week holds hundreds of slots and the generic path runs four fields'
        machinery for each (tests/api/test_api_smoke.py compares the two)."""
        return self.represent(slot, timezone.get_current_timezone())

    @staticmethod
    def represent(slot, tz) -> dict:
        return {
            "provider": int(slot.provider_id),
            "provider_name": str(slot.provider_name),
            "start": _iso_datetime(slot.start, tz),
            "end": _iso_datetime(slot.end, tz),
        }


def _iso_datetime(value, tz) -> str:
    text = value.astimezone(tz).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class SlotPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = SlotSerializer(many=True)


class AppointmentSerializer(ModelSerializer):
    patient_name = serializers.CharField(source="patient.full_name", read_only=True)
    provider_name = serializers.CharField(source="provider.display_name", read_only=True)
    appointment_type_name = serializers.CharField(source="appointment_type.name", read_only=True)

    class Meta:
        model = Appointment
        fields = [
            "id",
            "patient",
            "patient_name",
            "provider",
            "provider_name",
            "appointment_type",
            "appointment_type_name",
            "start",
            "end",
            "status",
            "source",
            "reason",
            "cancel_reason",
            "checked_in_at",
            "completed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class BookSerializer(serializers.Serializer):
    patient = serializers.IntegerField(
        required=False, help_text="Staff only; patients always book for themselves."
    )
    appointment_type = serializers.PrimaryKeyRelatedField(
        queryset=AppointmentType.objects.filter(is_active=True)
    )
    provider = serializers.PrimaryKeyRelatedField(
        queryset=ProviderProfile.objects.filter(is_active=True)
    )
    start = serializers.DateTimeField()
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class RescheduleSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    provider = serializers.PrimaryKeyRelatedField(
        queryset=ProviderProfile.objects.filter(is_active=True), required=False
    )


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class WaitlistSerializer(ModelSerializer):
    class Meta:
        model = WaitlistEntry
        fields = [
            "id",
            "patient",
            "appointment_type",
            "provider",
            "date_from",
            "date_to",
            "status",
            "created_at",
        ]
        read_only_fields = ["id", "status", "created_at"]
        extra_kwargs = {"patient": {"required": False}}


# --- Views --------------------------------------------------------------------------------


@extend_schema_view(list=extend_schema(summary="Appointment types offered"))
class AppointmentTypeViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = AppointmentTypeSerializer
    queryset = AppointmentType.objects.filter(is_active=True)
    required_permission = "accounts.signed_in"
    ordering_fields = ["name"]


@extend_schema_view(list=extend_schema(summary="Active providers"))
class ProviderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ProviderSerializer
    required_permission = "accounts.signed_in"
    ordering_fields = []

    def get_queryset(self):
        return selectors.active_providers().prefetch_related("appointment_types")


class FreeSlotsView(APIView):
    """Free slots of a type, soonest first, a window of at most 14 days per page (``next``
    moves the window on). Patients get the slots they may book themselves (lead time, their
    own appointments left out); staff see every free slot within the horizon."""

    required_permission = BOOKERS

    @extend_schema(
        summary="Free slots",
        parameters=[
            OpenApiParameter("appointment_type", int, required=True),
            OpenApiParameter("provider", int),
            OpenApiParameter("date_from", date, description="Local date (default today)."),
            OpenApiParameter(
                "date_to", date, description="Local date, at most 14 days after date_from."
            ),
        ],
        responses=SlotPageSerializer,
    )
    def get(self, request):
        p = _slot_params(request.query_params)
        staff = user_has_perm(request.user, "appointments.book_for_patient")
        patient = None if staff else _own_patient(request.user)
        day_from = p.get("date_from") or timezone.localdate()
        day_to = p.get("date_to") or day_from + timedelta(days=6)
        if day_to < day_from or (day_to - day_from).days >= MAX_SLOT_DAYS:
            raise serializers.ValidationError(
                {
                    "date_to": [
                        f"date_to must be on or after date_from and at most {MAX_SLOT_DAYS - 1} days later."
                    ]
                }
            )
        tz = timezone.get_current_timezone()
        found = picker.shared_free_slots(
            name=f"api-slots:{tz.key}",
            appointment_type=p["appointment_type"],
            provider=p.get("provider"),
            date_from=day_from,
            date_to=day_to,
            patient_id=getattr(patient, "pk", None),
            staff=staff,
            draw=lambda slots, lapses: {
                "results": [SlotSerializer.represent(slot, tz) for slot in slots],
                "lapses": lapses,
            },
        )
        span = (day_to - day_from).days + 1
        horizon = timezone.localdate() + timedelta(days=p["appointment_type"].horizon_days)

        def link(start: date) -> str:
            query = {
                **request.query_params.dict(),
                "date_from": start.isoformat(),
                "date_to": (start + timedelta(days=span - 1)).isoformat(),
            }
            return request.build_absolute_uri(f"{request.path}?{urlencode(query)}")

        nxt = day_to + timedelta(days=1)
        prev = day_from - timedelta(days=span)
        return Response(
            {
                "next": link(nxt) if nxt <= horizon else None,
                "previous": link(prev) if day_from > timezone.localdate() else None,
                "results": found["results"],
            }
        )


class _ChoiceKeyField(serializers.PrimaryKeyRelatedField):
    """A ``PrimaryKeyRelatedField`` over the queryset's rows as ``picker.choices()`` holds
    them (shared, invalidated with the tables): same answers and errors, no query."""

    def __init__(self, *, pick: str, **kwargs):
        self.pick = pick
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            if isinstance(data, bool):
                raise TypeError
            pk = int(str(data))
        except (TypeError, ValueError):
            self.fail("incorrect_type", data_type=type(data).__name__)
        root = self.root  # one read for all the fields of a request
        if getattr(root, "_choices", None) is None:
            root._choices = picker.choices()
        found = getattr(root._choices, self.pick)(pk)
        if found is None:
            self.fail("does_not_exist", pk_value=data)
        return found


def _slot_params(query) -> dict:
    """``_SlotParams``' validated data for ``query``; a valid answer is shared under the
    whole-schedule token (the type and provider rows it holds) per the values it reads."""

    def build() -> dict:
        params = _SlotParams(data=query)
        params.is_valid(raise_exception=True)  # errors are answered, never stored
        return dict(params.validated_data)

    values = [query.get(name) for name in _SlotParams.FIELDS]
    digest = hashlib.sha256(json.dumps(values).encode()).hexdigest()[:32]
    return schedule_cache.cached(f"api-slot-params:{digest}", [], build)


class _SlotParams(serializers.Serializer):
    FIELDS = ("appointment_type", "provider", "date_from", "date_to")

    appointment_type = _ChoiceKeyField(
        pick="type", queryset=AppointmentType.objects.filter(is_active=True)
    )
    provider = _ChoiceKeyField(
        pick="provider", queryset=ProviderProfile.objects.filter(is_active=True), required=False
    )
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)


class AppointmentFilter(filters.FilterSet):
    date = filters.DateFilter(method="on_date", help_text="Local date of the start.")
    date_from = filters.DateFilter(field_name="start", lookup_expr="date__gte")
    date_to = filters.DateFilter(field_name="start", lookup_expr="date__lte")
    status = filters.ChoiceFilter(choices=AppointmentStatus.choices)
    provider = filters.NumberFilter(field_name="provider_id")
    patient = filters.NumberFilter(field_name="patient_id")

    class Meta:
        model = Appointment
        fields = ["date", "date_from", "date_to", "status", "provider", "patient"]

    def on_date(self, queryset, name, value):
        start, end = local_day_bounds(value)
        return queryset.filter(start__gte=start, start__lt=end)


@extend_schema_view(
    list=extend_schema(summary="Appointments (patients: their own)"),
    retrieve=extend_schema(summary="Read an appointment"),
    create=extend_schema(
        summary="Book",
        request=BookSerializer,
        responses={201: AppointmentSerializer},
        parameters=[idempotency_parameter()],
    ),
)
class AppointmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = AppointmentSerializer
    filterset_class = AppointmentFilter
    ordering_fields = ["start", "created_at"]
    ordering = ["start", "id"]
    required_permissions = {
        "list": READERS,
        "retrieve": READERS,
        "create": BOOKERS,
        "reschedule": BOOKERS,
        "cancel": BOOKERS,
        "check_in": "appointments.manage_queue",
    }

    def get_queryset(self):
        qs = Appointment.objects.with_related()
        user = self.request.user
        if _is_staff_reader(user):
            return qs
        patient = selectors.patient_for_user(user)
        return qs.filter(patient=patient) if patient is not None else qs.none()

    def get_object(self, purpose: AuditAction | None = None) -> Appointment:
        """The appointment (schedule staff: any; a patient: their own), audited as
        ``purpose`` (the writes pass None: their services audit them)."""
        return selectors.get_appointment_for_user(
            self.request.user, self.kwargs["pk"], purpose=purpose, detail={"via": "api"}
        )

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset().order_by()))
        selectors.appointments_served(
            request.user, page or [], detail={"via": "api", "view": "list"}
        )
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        appointment = self.get_object(AuditAction.READ)
        return Response(self.get_serializer(appointment).data)

    @idempotent
    def create(self, request, *args, **kwargs):
        ser = BookSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = ser.validated_data
        staff = user_has_perm(request.user, "appointments.book_for_patient")
        if staff:
            if not data.get("patient"):
                raise serializers.ValidationError({"patient": ["Choose the patient."]})

            try:
                patient = get_patient_for_user(request.user, data["patient"], purpose=None)
            except Http404:
                raise serializers.ValidationError({"patient": ["No such patient."]}) from None
        else:
            patient = _own_patient(request.user)
        appointment = booking.appointment_book(
            actor=request.user,
            patient=patient,
            appointment_type=data["appointment_type"],
            provider=data["provider"],
            start=data["start"],
            reason=data.get("reason", ""),
            source=BookingSource.STAFF if staff else BookingSource.ONLINE,
            offered_slots_only=not staff,
        )
        return Response(self.get_serializer(appointment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Reschedule", request=RescheduleSerializer, responses=AppointmentSerializer
    )
    @action(detail=True, methods=["post"])
    def reschedule(self, request, pk=None):
        appointment = self.get_object()
        ser = RescheduleSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        staff = user_has_perm(request.user, "appointments.book_for_patient")
        appointment = booking.appointment_reschedule(
            actor=request.user,
            appointment=appointment,
            start=ser.validated_data["start"],
            provider=ser.validated_data.get("provider"),
            offered_slots_only=not staff,
        )
        return Response(self.get_serializer(appointment).data)

    @extend_schema(summary="Cancel", request=CancelSerializer, responses=AppointmentSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        appointment = self.get_object()
        ser = CancelSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        appointment = booking.appointment_cancel(
            actor=request.user,
            appointment=appointment,
            reason=ser.validated_data["reason"],
        )
        return Response(self.get_serializer(appointment).data)

    @extend_schema(summary="Check the patient in", request=None, responses=AppointmentSerializer)
    @action(detail=True, methods=["post"], url_path="check-in")
    def check_in(self, request, pk=None):
        appointment = self.get_object()
        appointment = lifecycle.appointment_transition(
            actor=request.user,
            appointment=appointment,
            to_status=AppointmentStatus.CHECKED_IN,
        )
        return Response(self.get_serializer(appointment).data)


@extend_schema_view(
    list=extend_schema(summary="Waitlist entries (patients: their own)"),
    create=extend_schema(summary="Join the waitlist"),
)
class WaitlistViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    serializer_class = WaitlistSerializer
    ordering_fields = ["created_at"]
    required_permissions = {"list": READERS, "create": BOOKERS}

    def get_queryset(self):
        qs = WaitlistEntry.objects.all()
        if _is_staff_reader(self.request.user):
            return qs
        patient = selectors.patient_for_user(self.request.user)
        return qs.filter(Q(patient=patient)) if patient is not None else qs.none()

    def create(self, request, *args, **kwargs):
        ser = self.get_serializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = ser.validated_data
        if user_has_perm(request.user, "appointments.book_for_patient"):
            patient = data.get("patient")
            if patient is None:
                raise serializers.ValidationError({"patient": ["Choose the patient."]})
        else:
            patient = _own_patient(request.user)
        entry = waitlist.waitlist_join(
            actor=request.user,
            patient=patient,
            appointment_type=data["appointment_type"],
            date_from=data["date_from"],
            date_to=data["date_to"],
            provider=data.get("provider"),
        )
        return Response(self.get_serializer(entry).data, status=status.HTTP_201_CREATED)


def register(router) -> None:
    router.register("appointment-types", AppointmentTypeViewSet, basename="appointment-type")
    router.register("providers", ProviderViewSet, basename="provider")
    router.register("appointments", AppointmentViewSet, basename="appointment")
    router.register("waitlist", WaitlistViewSet, basename="waitlist")


urlpatterns = [path("slots/", FreeSlotsView.as_view(), name="free-slots")]

"""REST resources for patients and their records, on the same services and selectors as the
HTML views: ``Patient.objects.visible_to`` and the ``get_*_for_user`` helpers decide what a
caller sees (a patient sees only their own record: anything else is the same 404), the
services validate and audit every write, and every read of patient data is audited."""

from __future__ import annotations

from django.http import FileResponse, Http404
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import AuditAction
from accounts.roles import PUBLIC, user_has_perm
from patients import selectors
from patients.models import (
    Allergy,
    CertificateStatus,
    Diagnosis,
    Immunization,
    MedicalCertificate,
    Medication,
    Patient,
    PatientDocument,
    PatientType,
    Prescription,
    Visit,
    VisitKind,
    VitalSigns,
)
from patients.services import certificates, registry, visits
from uscpis.api.serializers import ModelSerializer
from uscpis.pagination import rows_found_by_keys

READ_DEMOGRAPHICS = ("patients.view_demographics", "patients.portal")
READ_CLINICAL = ("patients.view_clinical", "patients.portal")


def _via_api(view: str = "") -> dict:
    return {"via": "api", "view": view} if view else {"via": "api"}


# --- Serializers --------------------------------------------------------------------------


class PatientSerializer(ModelSerializer):
    email = serializers.CharField(read_only=True, help_text="An email address, or empty.")
    philhealth_pin = serializers.CharField(
        source="philhealth_pin_display",
        read_only=True,
        help_text="PhilHealth PIN as printed on the ID (12-345678901-2), or empty.",
    )

    class Meta:
        model = Patient
        fields = ["id", *registry.PATIENT_FIELDS, "created_at", "updated_at"]
        read_only_fields = fields


class PatientWriteSerializer(ModelSerializer):
    confirm_duplicate = serializers.BooleanField(
        required=False,
        default=False,
        write_only=True,
        help_text="Register anyway when a patient with the same name and birth date exists (409 otherwise).",
    )

    philhealth_pin = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=16,
        help_text="PhilHealth PIN: 12 digits, with or without dashes (12-345678901-2); "
        "empty or null removes it. Unique: another patient's PIN is a 400.",
    )

    class Meta:
        model = Patient
        fields = [*registry.PATIENT_FIELDS, "confirm_duplicate"]
        extra_kwargs = {"id_number": {"validators": []}}
        # The services check both unique fields (ID number, PhilHealth PIN) with
        # field errors; the database constraints back them.
        validators: list = []

    def validate_id_number(self, value):
        return registry.id_number_clean(value)

    def validate_philhealth_pin(self, value):
        return registry.philhealth_pin_clean(value)


class AllergySerializer(ModelSerializer):
    class Meta:
        model = Allergy
        fields = ["id", "substance", "reaction", "severity", "noted_on", "is_active"]


class MedicationSerializer(ModelSerializer):
    class Meta:
        model = Medication
        fields = ["id", "name", "dose", "frequency", "started_on", "is_active", "notes"]


class ImmunizationSerializer(ModelSerializer):
    class Meta:
        model = Immunization
        fields = ["id", "vaccine", "dose_number", "given_on", "lot_number", "notes"]


class VitalSignsSerializer(ModelSerializer):
    class Meta:
        model = VitalSigns
        fields = [
            "id",
            "recorded_at",
            "temperature_c",
            "systolic",
            "diastolic",
            "pulse",
            "respiratory_rate",
            "spo2",
            "height_cm",
            "weight_kg",
            "bmi",
        ]


class DiagnosisSerializer(ModelSerializer):
    code = serializers.CharField(source="icd10_id")
    title = serializers.CharField(source="icd10.title")

    class Meta:
        model = Diagnosis
        fields = ["id", "code", "title", "is_primary", "note"]


class PrescriptionSerializer(ModelSerializer):
    class Meta:
        model = Prescription
        fields = [
            "id",
            "drug_name",
            "dose",
            "route",
            "frequency",
            "duration",
            "quantity",
            "instructions",
            "created_at",
        ]


class VisitSummarySerializer(ModelSerializer):
    provider = serializers.CharField(source="provider.full_name")

    class Meta:
        model = Visit
        fields = [
            "id",
            "patient",
            "kind",
            "status",
            "provider",
            "started_at",
            "signed_at",
            "chief_complaint",
        ]


class VisitSerializer(VisitSummarySerializer):
    vitals = VitalSignsSerializer(many=True, read_only=True)
    diagnoses = DiagnosisSerializer(many=True, read_only=True)
    prescriptions = PrescriptionSerializer(many=True, read_only=True)

    class Meta(VisitSummarySerializer.Meta):
        fields = [
            *VisitSummarySerializer.Meta.fields,
            "subjective",
            "objective",
            "assessment",
            "plan",
            "follow_up",
            "follow_up_on",
            "vitals",
            "diagnoses",
            "prescriptions",
        ]


class VisitStartSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=VisitKind.choices)


class DocumentSerializer(ModelSerializer):
    class Meta:
        model = PatientDocument
        fields = [
            "id",
            "patient",
            "kind",
            "title",
            "original_name",
            "content_type",
            "size",
            "uploaded_at",
            "visit",
        ]


class CertificateSerializer(ModelSerializer):
    class Meta:
        model = MedicalCertificate
        fields = [
            "id",
            "patient",
            "purpose",
            "status",
            "fitness",
            "valid_from",
            "valid_until",
            "verification_code",
            "created_at",
            "decided_at",
        ]


class CertificateRequestSerializer(serializers.Serializer):
    purpose = serializers.CharField(max_length=200)


class CertificateVerificationSerializer(serializers.Serializer):
    code = serializers.CharField()
    valid = serializers.BooleanField()
    status = serializers.CharField(allow_blank=True)
    patient_name = serializers.CharField(allow_blank=True)
    valid_from = serializers.DateField(allow_null=True)
    valid_until = serializers.DateField(allow_null=True)


# --- Views --------------------------------------------------------------------------------


def _nested_list(view, request, queryset, serializer_class):
    """One page of a patient's records (the patient was fetched with ``purpose=READ``)."""
    page = view.paginate_queryset(queryset)
    return view.get_paginated_response(serializer_class(page, many=True).data)


@extend_schema_view(
    list=extend_schema(
        summary="Search patients",
        parameters=[
            OpenApiParameter(
                "q", str, description="Name parts, an ID number (whole or part) or an email."
            ),
            OpenApiParameter("patient_type", str, enum=PatientType.values),
            OpenApiParameter("college", str),
            OpenApiParameter("year_level", int),
        ],
    ),
    retrieve=extend_schema(summary="Read a patient's demographics"),
    create=extend_schema(
        summary="Register a patient",
        request=PatientWriteSerializer,
        responses={201: PatientSerializer},
    ),
    partial_update=extend_schema(
        summary="Change demographics", request=PatientWriteSerializer, responses=PatientSerializer
    ),
)
class PatientViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = PatientSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]
    ordering_fields = ["last_name", "birth_date", "created_at"]
    ordering = ["last_name", "first_name", "id"]
    required_permissions = {
        "list": READ_DEMOGRAPHICS,
        "retrieve": READ_DEMOGRAPHICS,
        "create": "patients.register",
        "partial_update": "patients.register",
        "allergies": READ_CLINICAL,
        "medications": READ_CLINICAL,
        "immunizations": READ_CLINICAL,
        "visits": READ_CLINICAL,
        "start_visit": ("patients.write_medical_visit", "patients.write_dental_visit"),
        "documents": READ_CLINICAL,
        "certificates": READ_CLINICAL,
        "request_certificate": ("patients.view_clinical", "patients.portal"),
    }

    def get_queryset(self):
        return Patient.objects.visible_to(self.request.user)

    def get_object(self, purpose: AuditAction | None = None, view: str = "") -> Patient:
        """The patient, audited as ``purpose`` (writes pass None: their service audits)."""
        return selectors.get_patient_for_user(
            self.request.user, self.kwargs["pk"], purpose=purpose, detail=_via_api(view)
        )

    def list(self, request, *args, **kwargs):
        p = request.query_params
        year = p.get("year_level") or None
        if year is not None and not year.isdigit():
            raise serializers.ValidationError({"year_level": ["Enter a whole number."]})
        if p.get("patient_type") and p["patient_type"] not in PatientType.values:
            raise serializers.ValidationError(
                {"patient_type": [f"One of {', '.join(PatientType.values)}."]}
            )
        qs = selectors.patient_search(
            q=p.get("q", "")[:200],
            college=p.get("college", "")[:120],
            year_level=int(year) if year else None,
            patient_type=p.get("patient_type", ""),
            qs=self.get_queryset(),
        ).order_by()
        qs = self.filter_queryset(qs)
        # The page is found reading only the sort keys (the default name order is then
        # an index-only walk of the name-order index, which carries what a search tests),
        # and its rows are read by primary key in the same statement.
        ordering = self.paginator.get_ordering(request, qs, self)
        keys = ["id", *(o.lstrip("-") for o in ordering)]
        # The page's read event is written by the page's own statement (one round trip).
        size, reverse = self.paginator.served_shape(request)
        audit = selectors.PatientsServedWithPage(
            request.user, detail=_via_api("search"), size=size, reverse=reverse
        )
        page = self.paginate_queryset(rows_found_by_keys(qs, keys, write=audit.write)) or []
        audit.served(page)
        return self.get_paginated_response(self.get_serializer_class().represent_many(page))

    def retrieve(self, request, *args, **kwargs):
        patient = self.get_object(AuditAction.READ, "demographics")
        return Response(PatientSerializer.represent_many([patient])[0])

    def create(self, request, *args, **kwargs):
        ser = PatientWriteSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = dict(ser.validated_data)
        confirm = data.pop("confirm_duplicate", False)
        patient = registry.patient_register(
            actor=request.user, data=data, confirm_duplicate=confirm
        )
        return Response(PatientSerializer(patient).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        patient = self.get_object()
        ser = PatientWriteSerializer(patient, data=request.data, partial=True)
        ser.is_valid(raise_exception=True)
        data = dict(ser.validated_data)
        confirm = data.pop("confirm_duplicate", False)
        patient = registry.patient_update(
            actor=request.user,
            patient=patient,
            data=data,
            confirm_duplicate=confirm,
        )
        return Response(PatientSerializer(patient).data)

    def _clinical_patient(self, purpose: AuditAction | None, view: str = "") -> Patient:
        """The patient, for clinical staff or the patient themself (others: 404)."""
        return selectors.get_patient_for_user(
            self.request.user,
            self.kwargs["pk"],
            purpose=purpose,
            detail=_via_api(view),
            clinical=True,
        )

    @extend_schema(summary="A patient's allergies", responses=AllergySerializer(many=True))
    @action(
        detail=True,
        methods=["get"],
        serializer_class=AllergySerializer,
        ordering_fields=[],
        ordering=["-id"],
    )
    def allergies(self, request, pk=None):
        patient = self._clinical_patient(AuditAction.READ, "allergies")
        return _nested_list(
            self,
            request,
            patient.allergies.order_by("-id"),
            AllergySerializer,
        )

    @extend_schema(summary="A patient's medications", responses=MedicationSerializer(many=True))
    @action(
        detail=True,
        methods=["get"],
        serializer_class=MedicationSerializer,
        ordering_fields=[],
        ordering=["-id"],
    )
    def medications(self, request, pk=None):
        patient = self._clinical_patient(AuditAction.READ, "medications")
        return _nested_list(
            self,
            request,
            patient.medications.order_by("-id"),
            MedicationSerializer,
        )

    @extend_schema(summary="A patient's immunizations", responses=ImmunizationSerializer(many=True))
    @action(
        detail=True,
        methods=["get"],
        serializer_class=ImmunizationSerializer,
        ordering_fields=[],
        ordering=["-id"],
    )
    def immunizations(self, request, pk=None):
        patient = self._clinical_patient(AuditAction.READ, "immunizations")
        return _nested_list(
            self,
            request,
            patient.immunizations.order_by("-id"),
            ImmunizationSerializer,
        )

    @extend_schema(
        summary="A patient's visits (patients: their signed visits)",
        responses=VisitSummarySerializer(many=True),
    )
    @action(
        detail=True,
        methods=["get"],
        serializer_class=VisitSummarySerializer,
        ordering_fields=["started_at"],
        ordering=["-started_at", "-id"],
    )
    def visits(self, request, pk=None):
        patient = self._clinical_patient(AuditAction.READ, "visits")
        signed_only = not user_has_perm(request.user, "patients.view_clinical")
        qs = self.filter_queryset(
            selectors.visit_timeline(patient, signed_only=signed_only).order_by()
        )
        return _nested_list(self, request, qs, VisitSummarySerializer)

    @extend_schema(
        summary="Open a draft visit", request=VisitStartSerializer, responses={201: VisitSerializer}
    )
    @visits.mapping.post
    def start_visit(self, request, pk=None):
        patient = self.get_object()
        ser = VisitStartSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        visit = visits.visit_start(
            actor=request.user, patient=patient, kind=ser.validated_data["kind"]
        )
        return Response(
            VisitSerializer(
                selectors.get_visit_for_user(request.user, visit.pk, purpose=None)
            ).data,
            status=201,
        )

    @extend_schema(
        summary="A patient's documents (metadata)", responses=DocumentSerializer(many=True)
    )
    @action(
        detail=True,
        methods=["get"],
        serializer_class=DocumentSerializer,
        ordering_fields=[],
        ordering=["-id"],
    )
    def documents(self, request, pk=None):
        patient = self._clinical_patient(AuditAction.READ, "documents")
        return _nested_list(
            self,
            request,
            patient.documents.order_by("-id"),
            DocumentSerializer,
        )

    @extend_schema(
        summary="A patient's medical certificates", responses=CertificateSerializer(many=True)
    )
    @action(
        detail=True,
        methods=["get"],
        serializer_class=CertificateSerializer,
        ordering_fields=[],
        ordering=["-id"],
    )
    def certificates(self, request, pk=None):
        patient = self._clinical_patient(AuditAction.READ, "certificates")
        return _nested_list(
            self,
            request,
            patient.certificates.order_by("-id"),
            CertificateSerializer,
        )

    @extend_schema(
        summary="Request a medical certificate",
        request=CertificateRequestSerializer,
        responses={201: CertificateSerializer},
    )
    @certificates.mapping.post
    def request_certificate(self, request, pk=None):
        patient = self._clinical_patient(None)
        ser = CertificateRequestSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        cert = certificates.certificate_request(
            actor=request.user,
            patient=patient,
            purpose=ser.validated_data["purpose"],
        )
        return Response(CertificateSerializer(cert).data, status=201)


@extend_schema_view(
    retrieve=extend_schema(summary="Read a visit with its vitals, diagnoses and prescriptions")
)
class VisitViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = VisitSerializer
    required_permissions = {"retrieve": READ_CLINICAL}
    queryset = Visit.objects.none()

    def retrieve(self, request, *args, **kwargs):
        visit = selectors.get_visit_for_user(
            request.user, kwargs["pk"], purpose=AuditAction.READ, detail=_via_api()
        )
        visit = (
            Visit.objects.select_related("provider")
            .prefetch_related("vitals", "prescriptions", "diagnoses__icd10")
            .get(pk=visit.pk)
        )
        return Response(VisitSerializer(visit).data)


@extend_schema_view(retrieve=extend_schema(summary="A document's metadata"))
class DocumentViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = DocumentSerializer
    required_permissions = {"retrieve": READ_CLINICAL, "download": READ_CLINICAL}
    queryset = PatientDocument.objects.none()

    def retrieve(self, request, *args, **kwargs):
        doc = selectors.get_document_for_user(
            request.user, kwargs["pk"], purpose=AuditAction.READ, detail={"via": "api"}
        )
        return Response(DocumentSerializer(doc).data)

    @extend_schema(
        summary="Download the file",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        doc = selectors.get_document_for_user(
            request.user, pk, purpose=AuditAction.EXPORT, detail=_via_api()
        )
        try:
            handle = doc.file.open("rb")
        except (FileNotFoundError, OSError):
            raise Http404("The file is missing from storage") from None
        ext = doc.file.name.rsplit(".", 1)[-1]
        return FileResponse(
            handle,
            as_attachment=True,
            filename=f"{doc.kind}-{doc.pk}.{ext}",
            content_type=doc.content_type,
        )


@extend_schema_view(retrieve=extend_schema(summary="A certificate's status"))
class CertificateViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = CertificateSerializer
    required_permissions = {"retrieve": READ_CLINICAL}
    queryset = MedicalCertificate.objects.none()

    def retrieve(self, request, *args, **kwargs):
        cert = selectors.get_certificate_for_user(
            request.user, kwargs["pk"], purpose=AuditAction.READ, detail={"via": "api"}
        )
        return Response(CertificateSerializer(cert).data)


class CertificateVerifyView(APIView):
    """Anyone holding a certificate can check it (name, dates, status; no health details),
    as on the public verification page; stricter anonymous rate limits apply."""

    required_permission = PUBLIC
    authentication_classes: list = []

    @extend_schema(
        summary="Verify a medical certificate by its code",
        responses=CertificateVerificationSerializer,
        auth=[],
    )
    def get(self, request, code: str):
        code = code.strip().upper()[:32]
        cert = selectors.certificate_for_verification(request.user, code, detail=_via_api())
        if cert is None:
            raise Http404("No certificate has this code.")
        return Response(
            CertificateVerificationSerializer(
                {
                    "code": code,
                    "valid": cert.status == CertificateStatus.APPROVED,
                    "status": cert.status,
                    "patient_name": cert.patient.full_name,
                    "valid_from": cert.valid_from,
                    "valid_until": cert.valid_until,
                }
            ).data
        )


urlpatterns = [
    path(
        "certificates/verify/<str:code>/",
        CertificateVerifyView.as_view(),
        name="certificate-verify",
    ),
]

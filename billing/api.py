"""REST resources for billing: invoices with their lines, payments (recorded on the
cashier's open day, ``Idempotency-Key`` required: a retry never takes money twice), claims
and a patient's balance. The same selectors and services as the billing pages; patients
see their own issued invoices, payments and balance (anything else is a 404)."""

from __future__ import annotations

from django.http import Http404
from django.urls import path
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import AuditAction
from accounts.roles import user_has_perm
from billing import selectors
from billing.models import (
    POSTED_STATUSES,
    Claim,
    ClaimStatus,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    PaymentMethod,
)
from billing.services import payments
from patients.selectors import get_patient_for_user
from uscpis.api.errors import problem
from uscpis.api.idempotency import HEADER, idempotency_parameter, idempotent
from uscpis.api.serializers import ModelSerializer

VIEWERS = ("billing.view", "billing.portal")
MONEY = {"max_digits": 14, "decimal_places": 2}


def _audit(request, rows, object_type: str, **detail) -> None:
    selectors.rows_served(
        request.user, rows, object_type=object_type, detail={"via": "api", **detail}
    )


class InvoiceLineSerializer(ModelSerializer):
    class Meta:
        model = InvoiceLine
        fields = [
            "id",
            "description",
            "quantity",
            "unit_price",
            "gross",
            "discount",
            "net",
            "vat",
            "payer_share",
            "patient_share",
        ]


class InvoiceSerializer(ModelSerializer):
    patient_name = serializers.CharField(source="patient.full_name", read_only=True)
    balance = serializers.SerializerMethodField()

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "patient",
            "patient_name",
            "visit_day",
            "status",
            "issued_at",
            "gross_total",
            "discount_total",
            "vat_total",
            "net_total",
            "payer_total",
            "patient_total",
            "amount_paid",
            "credited",
            "written_off",
            "balance",
        ]

    def get_balance(self, obj) -> str:
        owed = (
            obj.patient_total
            + obj.moved_to_patient
            - obj.credited
            - obj.written_off
            - obj.amount_paid
        )
        return (
            f"{max(owed, 0):.2f}"
            if obj.status in (InvoiceStatus.ISSUED, InvoiceStatus.PARTIALLY_PAID)
            else "0.00"
        )


class InvoiceDetailSerializer(InvoiceSerializer):
    lines = serializers.SerializerMethodField()

    class Meta(InvoiceSerializer.Meta):
        fields = [*InvoiceSerializer.Meta.fields, "lines"]

    @extend_schema_field(InvoiceLineSerializer(many=True))
    def get_lines(self, obj) -> list[dict]:
        return InvoiceLineSerializer(selectors.invoice_lines(obj), many=True).data


class PaymentSerializer(ModelSerializer):
    class Meta:
        model = Payment
        fields = [
            "id",
            "patient",
            "method",
            "reference",
            "amount",
            "unallocated",
            "refunded",
            "receipt_number",
            "received_at",
        ]


class PaymentCreateSerializer(serializers.Serializer):
    patient = serializers.IntegerField()
    amount = serializers.DecimalField(**MONEY)
    method = serializers.ChoiceField(choices=PaymentMethod.choices)
    reference = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    invoices = serializers.ListField(
        child=serializers.IntegerField(), required=False, max_length=50
    )


class ClaimSerializer(ModelSerializer):
    payer = serializers.CharField(source="payer.name")

    class Meta:
        model = Claim
        fields = [
            "id",
            "number",
            "payer",
            "patient",
            "status",
            "total",
            "paid",
            "adjusted",
            "moved_to_patient",
            "denial_code",
            "submitted_at",
            "created_at",
        ]


class BalanceSerializer(serializers.Serializer):
    patient = serializers.IntegerField()
    owed = serializers.DecimalField(**MONEY)
    credit = serializers.DecimalField(**MONEY)
    net = serializers.DecimalField(**MONEY)
    open_invoices = serializers.IntegerField()


class InvoiceFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=InvoiceStatus.choices)
    patient = filters.NumberFilter(field_name="patient_id")
    date_from = filters.DateFilter(field_name="visit_day", lookup_expr="gte")
    date_to = filters.DateFilter(field_name="visit_day", lookup_expr="lte")

    class Meta:
        model = Invoice
        fields = ["status", "patient", "date_from", "date_to"]


@extend_schema_view(
    list=extend_schema(summary="Invoices (patients: their own issued invoices)"),
    retrieve=extend_schema(summary="An invoice with its lines"),
)
class InvoiceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    filterset_class = InvoiceFilter
    ordering_fields = ["visit_day", "issued_at"]
    required_permissions = {"list": VIEWERS, "retrieve": VIEWERS}

    def get_serializer_class(self):
        return InvoiceDetailSerializer if self.action == "retrieve" else InvoiceSerializer

    queryset = Invoice.objects.none()  # for the schema; the real one is get_queryset

    def get_queryset(self):
        qs = Invoice.objects.select_related("patient")
        if getattr(self, "swagger_fake_view", False):
            return qs.none()
        if user_has_perm(self.request.user, "billing.view"):
            return qs
        return qs.filter(
            patient__user=self.request.user, status__in=[*POSTED_STATUSES, InvoiceStatus.VOID]
        )

    def get_object(self, purpose: AuditAction | None = None):
        """Billing staff: any invoice; a patient: their own issued ones (else 404)."""
        return selectors.get_invoice_for_user(
            self.request.user, self.kwargs["pk"], purpose=purpose, detail={"via": "api"}
        )

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset().order_by()))
        _audit(request, page or [], "billing.invoice", view="list")
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        invoice = self.get_object(AuditAction.READ)
        return Response(self.get_serializer(invoice).data)


class PaymentFilter(filters.FilterSet):
    patient = filters.NumberFilter(field_name="patient_id")

    class Meta:
        model = Payment
        fields = ["patient"]


@extend_schema_view(
    list=extend_schema(summary="Payments (patients: their own)"),
    create=extend_schema(
        summary="Record a payment (Idempotency-Key required)",
        request=PaymentCreateSerializer,
        responses={201: PaymentSerializer},
        parameters=[idempotency_parameter()],
    ),
)
class PaymentViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = PaymentSerializer
    filterset_class = PaymentFilter
    ordering_fields = ["received_at"]
    required_permissions = {"list": VIEWERS, "create": "billing.manage"}

    def get_queryset(self):
        qs = Payment.objects.all()
        if getattr(self, "swagger_fake_view", False):
            return qs.none()
        if user_has_perm(self.request.user, "billing.view"):
            return qs
        return qs.filter(patient__user=self.request.user)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset().order_by()))
        _audit(request, page or [], "billing.payment", view="list")
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def create(self, request, *args, **kwargs):
        if not request.headers.get(HEADER):
            return problem(
                400,
                f"Payments need an {HEADER} header, so a retry never takes money twice.",
                code="validation",
                request=request,
            )
        return self._create(request)

    @idempotent
    def _create(self, request):
        ser = PaymentCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        try:
            patient = get_patient_for_user(request.user, d["patient"], purpose=None)
        except Http404:
            raise serializers.ValidationError({"patient": ["No such patient."]}) from None
        payment, _ = payments.payment_record(
            actor=request.user,
            patient=patient,
            amount=d["amount"],
            method=d["method"],
            reference=d.get("reference", ""),
            invoice_ids=d.get("invoices") or None,
            idempotency_key=f"api:{request.user.pk}:{request.headers[HEADER]}"[:64],
        )
        return Response(PaymentSerializer(payment).data, status=status.HTTP_201_CREATED)


class ClaimFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=ClaimStatus.choices)
    patient = filters.NumberFilter(field_name="patient_id")

    class Meta:
        model = Claim
        fields = ["status", "patient"]


@extend_schema_view(
    list=extend_schema(summary="Claims to payers"), retrieve=extend_schema(summary="A claim")
)
class ClaimViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ClaimSerializer
    filterset_class = ClaimFilter
    ordering_fields = ["created_at", "submitted_at"]
    required_permission = "billing.view"

    def get_queryset(self):
        return Claim.objects.select_related("payer")

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset().order_by()))
        _audit(request, page or [], "billing.claim", view="list")
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        claim = selectors.get_claim_for_user(
            request.user, kwargs["pk"], purpose=AuditAction.READ, detail={"via": "api"}
        )
        return Response(self.get_serializer(claim).data)


class BalanceView(APIView):
    """What a patient owes and the credit they hold (patients: their own)."""

    required_permission = ("billing.view", "billing.view_balance", "billing.portal")

    @extend_schema(summary="A patient's billing balance", responses=BalanceSerializer)
    def get(self, request, patient_pk: int):
        user = request.user
        patient = get_patient_for_user(
            user,
            patient_pk,
            purpose=AuditAction.READ,
            object_type="billing.account",
            detail={"view": "balance", "via": "api"},
            allow=lambda p: (
                user_has_perm(user, "billing.view")
                or user_has_perm(user, "billing.view_balance")
                or p.user_id == user.pk
            ),
        )
        balance = selectors.patient_balance(patient.pk)
        return Response(
            BalanceSerializer(
                {
                    "patient": patient.pk,
                    "owed": balance.owed,
                    "credit": balance.credit,
                    "net": balance.net,
                    "open_invoices": balance.open_invoices,
                }
            ).data
        )


def register(router) -> None:
    router.register("billing/invoices", InvoiceViewSet, basename="invoice")
    router.register("billing/payments", PaymentViewSet, basename="payment")
    router.register("billing/claims", ClaimViewSet, basename="claim")


urlpatterns = [
    path("billing/balance/<int:patient_pk>/", BalanceView.as_view(), name="billing-balance")
]

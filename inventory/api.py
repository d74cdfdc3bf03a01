"""REST resources for inventory: the stock list, lots and the ledger (read), dispensing and
receiving (the same services as the HTML forms: first-expiry-first-out, expired and
quarantined lots never used, not enough stock is a 400 and nothing changes), purchase orders
(read). Dispensing accepts an ``Idempotency-Key``."""

from __future__ import annotations

from django.http import Http404
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.roles import user_has_perm
from inventory import screens, selectors
from inventory.models import (
    Item,
    ItemKind,
    Location,
    POStatus,
    PurchaseOrder,
    PurchaseOrderLine,
    StockLot,
    StockMovement,
)
from inventory.services import dispensing, stock
from patients.models import Prescription
from patients.selectors import get_patient_for_user, get_visit_for_user
from uscpis.api.idempotency import idempotency_parameter, idempotent
from uscpis.api.serializers import ModelSerializer


class ItemSerializer(ModelSerializer):
    category = serializers.CharField(source="category.name", default=None, allow_null=True)
    on_hand = serializers.DecimalField(max_digits=14, decimal_places=3, read_only=True)
    usable = serializers.DecimalField(max_digits=14, decimal_places=3, read_only=True)
    on_order = serializers.DecimalField(max_digits=14, decimal_places=3, read_only=True)

    class Meta:
        model = Item
        fields = [
            "id",
            "sku",
            "name",
            "kind",
            "generic_name",
            "strength",
            "form",
            "category",
            "unit",
            "allows_fractions",
            "reorder_point",
            "reorder_quantity",
            "on_hand",
            "usable",
            "on_order",
        ]


def item_row_representation(row: tuple) -> dict:
    """What ``ItemSerializer`` gives for the item in ``row`` (``screens.ApiItemRows``: its
    fields in order, the quantities already written as DRF writes them)."""
    return dict(zip(ItemSerializer.Meta.fields, row, strict=True))


# The stock list's query parameters that leave it unfiltered and ordered by id.
PLAIN_LIST_PARAMS = frozenset({"cursor", "page_size"})


class LotSerializer(ModelSerializer):
    location = serializers.CharField(source="location.code")

    class Meta:
        model = StockLot
        fields = [
            "id",
            "item",
            "location",
            "batch_number",
            "expiry_date",
            "quantity",
            "unit_cost",
            "status",
            "received_at",
        ]


class MovementSerializer(ModelSerializer):
    class Meta:
        model = StockMovement
        fields = [
            "id",
            "item",
            "lot",
            "kind",
            "reason_code",
            "quantity",
            "unit_cost",
            "created_at",
            "patient",
            "visit",
            "prescription",
            "destination",
            "purchase_order_line",
            "note",
        ]


class DispenseSerializer(serializers.Serializer):
    quantity = serializers.DecimalField(max_digits=12, decimal_places=3)
    patient = serializers.IntegerField(required=False, allow_null=True)
    prescription = serializers.IntegerField(required=False, allow_null=True)
    destination = serializers.CharField(
        max_length=120, required=False, allow_blank=True, default=""
    )
    location = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Location.objects.filter(is_active=True),
        required=False,
        allow_null=True,
    )
    course_days = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=365
    )
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class DispenseResultSerializer(serializers.Serializer):
    item = serializers.IntegerField()
    quantity = serializers.DecimalField(max_digits=12, decimal_places=3)
    movements = MovementSerializer(many=True)
    warnings = serializers.ListField(child=serializers.CharField())


class ReceiveSerializer(serializers.Serializer):
    location = serializers.SlugRelatedField(
        slug_field="code", queryset=Location.objects.filter(is_active=True)
    )
    batch_number = serializers.CharField(max_length=60)
    expiry_date = serializers.DateField(required=False, allow_null=True)
    quantity = serializers.DecimalField(max_digits=12, decimal_places=3)
    unit_cost = serializers.DecimalField(max_digits=12, decimal_places=2)
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class PurchaseOrderLineSerializer(ModelSerializer):
    class Meta:
        model = PurchaseOrderLine
        fields = ["id", "item", "quantity_ordered", "quantity_received", "unit_cost"]


class PurchaseOrderSerializer(ModelSerializer):
    vendor = serializers.CharField(source="vendor.name")
    total = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)
    lines = PurchaseOrderLineSerializer(many=True, read_only=True)

    class Meta:
        model = PurchaseOrder
        fields = [
            "id",
            "number",
            "vendor",
            "status",
            "created_at",
            "sent_at",
            "expected_on",
            "closed_at",
            "total",
            "lines",
        ]


class ItemFilter(filters.FilterSet):
    q = filters.CharFilter(
        method="search", help_text="Part of the name, generic name, code or strength."
    )
    kind = filters.ChoiceFilter(choices=ItemKind.choices)
    status = filters.ChoiceFilter(
        choices=[("low", "Low"), ("out", "Out"), ("expiring", "Expiring")], method="by_status"
    )

    class Meta:
        model = Item
        fields = ["q", "kind", "status"]

    def search(self, queryset, name, value):
        return queryset.filter(search_text__contains=value.lower().strip()[:100])

    def by_status(self, queryset, name, value):
        return queryset & selectors.stock_overview(status=value)


@extend_schema_view(
    list=extend_schema(summary="Stock list (usable, on hand, on order)"),
    retrieve=extend_schema(summary="An item with its stock"),
)
class ItemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ItemSerializer
    filterset_class = ItemFilter
    ordering_fields = ["name", "sku"]
    required_permissions = {
        "list": "inventory.view_stock",
        "retrieve": "inventory.view_stock",
        "lots": "inventory.view_stock",
        "movements": "inventory.view_stock",
        "dispense": "inventory.dispense",
        "receive": "inventory.manage_stock",
    }

    def get_queryset(self):
        return selectors.stock_overview().order_by()

    def list(self, request, *args, **kwargs):
        if request.query_params.keys() <= PLAIN_LIST_PARAMS:
            # All active stock page by page (what integrations poll): the same rows and
            # cursors from one plain query, no ORM query or serializer built.
            page = self.paginate_queryset(screens.ApiItemRows(item_row_representation))
            return self.get_paginated_response(page)
        return super().list(request, *args, **kwargs)

    def get_object(self) -> Item:
        return selectors.get_item(self.kwargs["pk"])

    @extend_schema(summary="An item's lots", responses=LotSerializer(many=True))
    @action(
        detail=True,
        methods=["get"],
        serializer_class=LotSerializer,
        filterset_class=None,
        ordering_fields=["expiry_date"],
    )
    def lots(self, request, pk=None):
        item = self.get_object()
        page = self.paginate_queryset(self.filter_queryset(selectors.item_lots(item).order_by()))
        return self.get_paginated_response(LotSerializer(page, many=True).data)

    @extend_schema(summary="An item's ledger", responses=MovementSerializer(many=True))
    @action(
        detail=True,
        methods=["get"],
        serializer_class=MovementSerializer,
        filterset_class=None,
        ordering_fields=["created_at"],
    )
    def movements(self, request, pk=None):
        item = self.get_object()
        page = self.paginate_queryset(self.filter_queryset(selectors.item_ledger(item).order_by()))
        return self.get_paginated_response(MovementSerializer(page, many=True).data)

    @extend_schema(
        summary="Dispense (first expiry first out)",
        request=DispenseSerializer,
        responses={201: DispenseResultSerializer},
        parameters=[idempotency_parameter()],
    )
    @action(detail=True, methods=["post"], filterset_class=None)
    @idempotent
    def dispense(self, request, pk=None):
        item = self.get_object()
        ser = DispenseSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        patient = prescription = None
        if d.get("prescription"):
            prescription = _prescription_for(request.user, d["prescription"])
        if d.get("patient"):
            try:
                patient = get_patient_for_user(request.user, d["patient"], purpose=None)
            except Http404:
                raise serializers.ValidationError({"patient": ["No such patient."]}) from None
        result = dispensing.stock_dispense(
            actor=request.user,
            item=item,
            quantity=d["quantity"],
            patient=patient,
            prescription=prescription,
            destination=d.get("destination", ""),
            location=d.get("location"),
            course_days=d.get("course_days"),
            note=d.get("note", ""),
        )
        body = {
            "item": item.pk,
            "quantity": result.total,
            "movements": result.movements,
            "warnings": result.warnings,
        }
        return Response(DispenseResultSerializer(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Receive a batch", request=ReceiveSerializer, responses={201: MovementSerializer}
    )
    @action(detail=True, methods=["post"], filterset_class=None)
    def receive(self, request, pk=None):
        item = self.get_object()
        ser = ReceiveSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        movement = stock.stock_receive(
            actor=request.user,
            item=item,
            location=d["location"],
            batch_number=d["batch_number"],
            expiry_date=d.get("expiry_date"),
            quantity=d["quantity"],
            unit_cost=d["unit_cost"],
            note=d.get("note", ""),
        )
        return Response(MovementSerializer(movement).data, status=status.HTTP_201_CREATED)


def _prescription_for(user, pk: int):

    if not user_has_perm(user, "patients.view_clinical"):
        raise serializers.ValidationError(
            {"prescription": ["Your role cannot dispense against prescriptions."]}
        )
    rx = Prescription.objects.filter(pk=pk).select_related("visit").first()
    if rx is None:
        raise serializers.ValidationError({"prescription": ["No such prescription."]})
    get_visit_for_user(user, rx.visit_id, purpose=None)
    return rx


class PurchaseOrderFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=POStatus.choices)

    class Meta:
        model = PurchaseOrder
        fields = ["status"]


@extend_schema_view(
    list=extend_schema(summary="Purchase orders"),
    retrieve=extend_schema(summary="A purchase order"),
)
class PurchaseOrderViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = PurchaseOrderSerializer
    filterset_class = PurchaseOrderFilter
    ordering_fields = ["created_at"]
    required_permission = "inventory.manage_orders"

    def get_queryset(self):
        return selectors.purchase_orders().prefetch_related("lines").order_by()


def register(router) -> None:
    router.register("inventory/items", ItemViewSet, basename="item")
    router.register("inventory/purchase-orders", PurchaseOrderViewSet, basename="purchase-order")

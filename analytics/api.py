"""Clinic KPIs for integrations: the overview dashboard's headline figures."""

from __future__ import annotations

from datetime import timedelta

from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.audit import audit_phi_list
from accounts.models import AuditAction
from analytics.selectors.common import Filters
from analytics.selectors.dashboards import overview


class KpiSerializer(serializers.Serializer):
    label = serializers.CharField()
    value = serializers.CharField()
    detail = serializers.CharField(allow_blank=True)
    tone = serializers.CharField()


class KpiPageSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    results = KpiSerializer(many=True)


class _Params(serializers.Serializer):
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)

    def validate(self, attrs):
        today = timezone.localdate()
        attrs.setdefault("date_to", today)
        attrs.setdefault("date_from", attrs["date_to"] - timedelta(days=83))
        if attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError(
                {"date_from": ["date_from must be on or before date_to."]}
            )
        if (attrs["date_to"] - attrs["date_from"]).days > 3 * 366 or attrs["date_from"].year < 1900:
            raise serializers.ValidationError({"date_from": ["At most three years at a time."]})
        return attrs


class KpiView(APIView):
    required_permission = "analytics.view"

    @extend_schema(
        summary="Clinic KPIs (visits, waiting, no-show rate, utilisation, certificates, stock)",
        parameters=[OpenApiParameter("date_from", str), OpenApiParameter("date_to", str)],
        responses=KpiPageSerializer,
    )
    def get(self, request):
        params = _Params(data=request.query_params)
        params.is_valid(raise_exception=True)
        f = Filters(params.validated_data["date_from"], params.validated_data["date_to"])
        kpis = overview(f)
        audit_phi_list(
            actor=request.user,
            action=AuditAction.READ,
            object_type="analytics.overview",
            detail={"via": "api"},
        )
        return Response(
            KpiPageSerializer(
                {
                    "date_from": f.date_from,
                    "date_to": f.date_to,
                    "results": [
                        {
                            "label": k.label,
                            "value": str(k.value),
                            "detail": k.detail,
                            "tone": k.tone,
                        }
                        for k in kpis
                    ],
                }
            ).data
        )


urlpatterns = [path("analytics/kpis/", KpiView.as_view(), name="analytics-kpis")]

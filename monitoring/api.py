"""System health for administrators (the same checks as ``/readyz``, with details)."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring import health


class CheckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    detail = serializers.CharField()


class HealthSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    database = CheckSerializer()
    cache = CheckSerializer()
    broker = CheckSerializer()


class HealthView(APIView):
    required_permission = "monitoring.view"

    @extend_schema(summary="Health of the database, cache and broker", responses=HealthSerializer)
    def get(self, request):
        checks = {
            "database": health.check_database(),
            "cache": health.check_cache(),
            "broker": health.check_broker(timeout=1.0),
        }
        body = {name: {"ok": ok, "detail": detail} for name, (ok, detail) in checks.items()}
        body["ok"] = all(ok for ok, _ in checks.values())
        return Response(HealthSerializer(body).data, status=200 if body["ok"] else 503)


urlpatterns = [path("monitoring/health/", HealthView.as_view(), name="health")]

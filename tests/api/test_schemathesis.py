"""Contract test: schemathesis (4.x) generates requests from the OpenAPI schema for every
operation, with a token for each role, and checks every response: never a 5xx, status code,
content type, headers and body as documented. A bounded number of examples per operation
keeps it a unit-suite test; path ids are pinned to real objects half the time so successful
responses get checked too."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.roles import Role
from uscpis.wsgi import application

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 4


@pytest.fixture
def schema(settings):
    """The schema, loaded through the WSGI app in this process (the test's transaction is
    visible to it). Like Django's test client, requests must not close the connection."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    settings.ALLOWED_HOSTS = ["*"]
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _real_ids(world) -> dict[str, int]:
    cert = world.patient.certificates.first()
    return {
        "/api/v1/patients/": world.patient.pk,
        "/api/v1/visits/": world.visit.pk,
        "/api/v1/certificates/": cert.pk,
        "/api/v1/appointments/": world.appointment.pk,
        "/api/v1/appointment-types/": world.consult.pk,
        "/api/v1/providers/": world.doctor.pk,
        "/api/v1/inventory/items/": world.item.pk,
    }


def _operations(schema):
    ops = []
    for result in schema.get_all_operations():
        ops.append(result.ok())
    assert len(ops) >= 30
    return ops


def _run(
    operation,
    token: str,
    *,
    path_parameters=None,
    mode=schemathesis.GenerationMode.POSITIVE,
    checks=CHECKS,
):
    failures = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def run(case):
        response = case.call(headers={"Authorization": f"Token {token}"})
        try:
            case.validate_response(response, checks=checks)
        except Exception as exc:  # collect, so one run reports every operation that fails
            failures.append(
                f"{operation.label} [{case.method} {case.formatted_path}]: {exc}"[:1500]
            )

    try:
        run()
    except Unsatisfiable:
        # Nothing to make invalid (an operation without parameters or body).
        assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label
    return failures


@pytest.mark.parametrize(
    "role", [Role.ADMIN, Role.DOCTOR, Role.FRONT_DESK, Role.INVENTORY_MANAGER, Role.PATIENT]
)
def test_schema_conformance_for_every_operation(role, schema, world, api_client, user_for_role):
    client = api_client(user_for_role(role))
    token = client.token_secret
    ids = _real_ids(world)
    failures = []
    for operation in _operations(schema):
        failures += _run(operation, token)
        if "{id}" in operation.path:
            prefix = operation.path.split("{id}")[0]
            if prefix in ids:
                failures += _run(operation, token, path_parameters={"id": ids[prefix]})
    assert not failures, "\n\n".join(failures)


def test_no_5xx_on_invalid_input(schema, world, api_client, doctor_user):
    token = api_client(doctor_user).token_secret
    failures = []
    for operation in _operations(schema):
        failures += _run(
            operation, token, mode=schemathesis.GenerationMode.NEGATIVE, checks=[not_a_server_error]
        )
    assert not failures, "\n\n".join(failures)

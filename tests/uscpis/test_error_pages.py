"""Friendly error pages."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from uscpis import errors


def test_500_page_renders_without_database_or_context_processors():
    request = RequestFactory().get("/boom")
    request.request_id = "abc123"
    response = errors.server_error(request)
    body = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in body and "abc123" in body


@pytest.mark.django_db
def test_400_page():
    request = RequestFactory().get("/")
    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()
    response = errors.bad_request(request)
    assert response.status_code == 400 and "Bad request" in response.content.decode()

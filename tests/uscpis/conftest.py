"""Fixtures shared by the project-package tests."""

from __future__ import annotations

import pytest
from django.db import connections


@pytest.fixture
def other():
    """A second connection to the test database, as a worker's would be between requests."""
    wrapper = connections.create_connection("default")
    wrapper.ensure_connection()
    yield wrapper
    wrapper.close()

"""Shared plumbing of the REST API (``/api/v1/``) and the FHIR R4 interface (``/fhir/R4/``).

Authentication (knox tokens), the bridge to the role matrix, problem+json errors, cursor
pagination, strict ordering, throttles, ``Idempotency-Key`` handling and the URL conf that
collects each domain app's ``api.py``. No domain logic here: the resources live in the apps
and call the same services and selectors as the HTML views.
"""

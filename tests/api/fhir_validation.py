"""Validate FHIR JSON with fhir.resources' R4B models (the package's default import is R5)."""

from __future__ import annotations

from fhir.resources.R4B import get_fhir_model_class


def validate(resource: dict):
    """Parse ``resource`` with the R4B model of its type; raises on any invalid element.
    Bundles validate their entries' resources too (nested models)."""
    model = get_fhir_model_class(resource["resourceType"])
    return model.model_validate(resource)

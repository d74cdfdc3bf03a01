"""Patient record exports (PDF, CSV, FHIR R4 Bundle) and the medical certificate PDF.

Pure functions of the records: views do the permission check and the audit event."""

"""Writes of patient records, by sub-domain. Each service runs in a transaction, validates, and
leaves an audit event; failures raise ``ValidationError`` and leave nothing half-saved."""

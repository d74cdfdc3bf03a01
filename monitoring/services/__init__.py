"""Monitoring writes: alerts to administrators, incidents and health checks. Backups and
restores live in ``monitoring.backups``."""

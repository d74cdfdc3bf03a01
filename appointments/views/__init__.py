"""Appointment views, split by audience; ``urls.py`` imports the modules."""

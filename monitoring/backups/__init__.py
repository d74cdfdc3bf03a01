"""Backups and restores of the database and uploaded files: create, verify, restore, prune,
the off-site copy, and the locks and manifest they share."""

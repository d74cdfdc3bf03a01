"""Writes for appointments, by sub-domain. Each runs in a transaction, validates, records
history and audit.

Double booking is refused by the database (exclusion constraints); ``appointment_book`` and
``appointment_reschedule`` turn that refusal into ``SlotTaken`` ("that slot was just taken")
with the next free slots, so a race never surfaces as a server error."""

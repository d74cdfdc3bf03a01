from tests.appointments.conftest import clinic  # noqa: F401  (the appointments fixtures)

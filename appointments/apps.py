from django.apps import AppConfig


class AppointmentsConfig(AppConfig):
    name = "appointments"

    def ready(self) -> None:
        from appointments import receivers  # models are loaded only once the registry is ready

        receivers.connect()

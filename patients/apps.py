from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "patients"

    def ready(self) -> None:
        from patients import receivers  # models are loaded only once the registry is ready

        receivers.connect()

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self) -> None:
        # app registry: models and signal receivers load only once apps are ready
        from billing.receivers import connect

        connect()

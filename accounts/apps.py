from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts, roles and audit"

    def ready(self) -> None:
        from accounts import signals  # noqa: F401  (login/logout/failed-login audit)

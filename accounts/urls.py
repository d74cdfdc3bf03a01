from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", views.login, name="login"),
    path("accounts/logout/", views.logout, name="logout"),
    path("accounts/password/change/", views.password_change, name="password_change"),
    path("accounts/password/change/done/", views.password_change_done, name="password_change_done"),
    path("accounts/password/reset/", views.password_reset, name="password_reset"),
    path("accounts/password/reset/sent/", views.password_reset_done, name="password_reset_done"),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        views.password_reset_confirm,
        name="password_reset_confirm",
    ),
    path(
        "accounts/password/reset/complete/",
        views.password_reset_complete,
        name="password_reset_complete",
    ),
    path("accounts/2fa/", views.two_factor_setup, name="two_factor_setup"),
    path("accounts/2fa/verify/", views.two_factor_verify, name="two_factor_verify"),
    path(
        "accounts/2fa/recovery-codes/",
        views.two_factor_recovery_codes,
        name="two_factor_recovery_codes",
    ),
    path("accounts/2fa/disable/", views.two_factor_disable, name="two_factor_disable"),
    path("accounts/preferences/", views.preferences, name="preferences"),
    path("accounts/users/", views.user_list, name="user_list"),
    path("accounts/users/invite/", views.user_invite, name="user_invite"),
    path("accounts/users/<int:pk>/", views.user_edit, name="user_edit"),
    path(
        "accounts/users/<int:pk>/resend-invitation/",
        views.user_invite_resend,
        name="user_invite_resend",
    ),
    path("accounts/audit/", views.audit_list, name="audit_list"),
    path("accounts/api-tokens/", views.api_tokens, name="api_tokens"),
    path("accounts/api-tokens/all/", views.api_token_admin, name="api_token_admin"),
    path("accounts/api-tokens/<uuid:uid>/revoke/", views.api_token_revoke, name="api_token_revoke"),
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/bell/", views.notification_bell, name="notification_bell"),
    path("notifications/read/", views.notification_read, name="notification_read_all"),
    path("notifications/<int:pk>/read/", views.notification_read, name="notification_read"),
]

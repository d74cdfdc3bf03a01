from django.urls import path

from analytics.views import dashboards, surveillance

app_name = "analytics"

urlpatterns = [
    path("", dashboards.overview, name="overview"),
    path("visits/", dashboards.visits, name="visits"),
    path("diagnoses/", dashboards.diagnoses, name="diagnoses"),
    path(
        "diagnoses/<str:code>/patients/", dashboards.diagnosis_patients, name="diagnosis_patients"
    ),
    path("productivity/", dashboards.productivity, name="productivity"),
    path("inventory/", dashboards.inventory, name="inventory"),
    path("financial/", dashboards.financial, name="financial"),
    path("quality/", dashboards.quality, name="quality"),
    path("quality/<slug:check>/", dashboards.quality_rows, name="quality_rows"),
    path("surveillance/", surveillance.surveillance, name="surveillance"),
    path("surveillance/syndromes/", surveillance.syndromes, name="syndromes"),
    path("surveillance/syndromes/new/", surveillance.syndrome_edit, name="syndrome_new"),
    path("surveillance/syndromes/<int:pk>/edit/", surveillance.syndrome_edit, name="syndrome_edit"),
    path("forecasts/", surveillance.forecasts, name="forecasts"),
    path("forecasts/stock/", surveillance.stock_forecast, name="stock_forecast"),
]

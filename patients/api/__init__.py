"""The patients domain's doors into the API: REST resources (``rest.py``) on the shared
router. FHIR resources are in ``patients/fhir.py``."""

from patients.api import rest


def register(router) -> None:
    router.register("patients", rest.PatientViewSet, basename="patient")
    router.register("visits", rest.VisitViewSet, basename="visit")
    router.register("documents", rest.DocumentViewSet, basename="document")
    router.register("certificates", rest.CertificateViewSet, basename="certificate")


urlpatterns = rest.urlpatterns

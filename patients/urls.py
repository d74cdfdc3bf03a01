from django.urls import path, re_path

from patients.models import VERIFICATION_CODE_PATTERN
from patients.views import portal, portal_accounts, records, registry, visits

app_name = "patients"

urlpatterns = [
    # Staff: registry and chart
    path("", registry.patient_list, name="list"),
    path("register/", registry.patient_register, name="register"),
    path("<int:pk>/", registry.chart, name="chart"),
    path("<int:pk>/tab/<slug:tab>/", registry.chart, name="chart_tab"),
    path("<int:pk>/edit/", registry.patient_edit, name="edit"),
    path("<int:pk>/account/", registry.patient_account_create, name="account_create"),
    path("<int:pk>/account/unlink/", portal_accounts.account_unlink, name="account_unlink"),
    path("portal-accounts/", portal_accounts.portal_accounts, name="portal_accounts"),
    path("portal-accounts/<int:user_pk>/link/", portal_accounts.account_link, name="account_link"),
    path("<int:pk>/allergies/", registry.allergy_add, name="allergy_add"),
    path(
        "<int:pk>/allergies/<int:allergy_pk>/deactivate/",
        registry.allergy_deactivate,
        name="allergy_deactivate",
    ),
    path("<int:pk>/medications/", registry.medication_add, name="medication_add"),
    path(
        "<int:pk>/medications/<int:medication_pk>/stop/",
        registry.medication_stop,
        name="medication_stop",
    ),
    path("<int:pk>/history/", registry.history_add, name="history_add"),
    path("<int:pk>/immunizations/", registry.immunization_add, name="immunization_add"),
    # Visits
    path("<int:pk>/visits/new/", visits.visit_new, name="visit_new"),
    path("visits/<int:pk>/", visits.visit_detail, name="visit"),
    path("visits/<int:pk>/notes/", visits.visit_notes, name="visit_notes"),
    path("visits/<int:pk>/vitals/", visits.visit_vitals, name="visit_vitals"),
    path("visits/<int:pk>/diagnoses/", visits.visit_diagnosis_add, name="visit_diagnosis_add"),
    path(
        "visits/<int:pk>/diagnoses/<int:diagnosis_pk>/remove/",
        visits.visit_diagnosis_remove,
        name="visit_diagnosis_remove",
    ),
    path(
        "visits/<int:pk>/prescriptions/",
        visits.visit_prescription_add,
        name="visit_prescription_add",
    ),
    path(
        "visits/<int:pk>/prescriptions/<int:prescription_pk>/remove/",
        visits.visit_prescription_remove,
        name="visit_prescription_remove",
    ),
    path("visits/<int:pk>/teeth/<int:tooth>/", visits.visit_tooth, name="visit_tooth"),
    path("visits/<int:pk>/sign/", visits.visit_sign, name="visit_sign"),
    path("visits/<int:pk>/addenda/", visits.visit_addendum, name="visit_addendum"),
    path("icd10/", visits.icd10_search, name="icd10_search"),
    # Documents, certificates, exports
    path("<int:pk>/documents/upload/", records.document_upload, name="document_upload"),
    path("documents/<int:pk>/download/", records.document_download, name="document_download"),
    path("<int:pk>/certificates/new/", records.certificate_new, name="certificate_new"),
    path("certificates/", records.certificate_queue, name="certificate_queue"),
    path("certificates/<int:pk>/decide/", records.certificate_decide, name="certificate_decide"),
    path("certificates/<int:pk>/revoke/", records.certificate_revoke, name="certificate_revoke"),
    path("certificates/<int:pk>/pdf/", records.certificate_pdf, name="certificate_pdf"),
    path("verify/", records.verify_certificate, name="verify"),
    re_path(
        rf"^verify/(?P<code>{VERIFICATION_CODE_PATTERN})/$",
        records.verify_certificate,
        name="verify_certificate",
    ),
    path("<int:pk>/export/<slug:fmt>/", records.patient_export, name="export"),
    # Patient portal
    path("my/", portal.portal_home, name="portal"),
    path("my/profile/", portal.portal_profile, name="portal_profile"),
    path("my/visits/", portal.portal_visits, name="portal_visits"),
    path("my/visits/<int:pk>/", portal.portal_visit, name="portal_visit"),
    path("my/certificates/", portal.portal_certificates, name="portal_certificates"),
    path(
        "my/certificates/<int:pk>/pdf/",
        portal.portal_certificate_pdf,
        name="portal_certificate_pdf",
    ),
    path("my/documents/", portal.portal_documents, name="portal_documents"),
    path(
        "my/documents/<int:pk>/download/",
        portal.portal_document_download,
        name="portal_document_download",
    ),
    path("my/access-log/", portal.portal_access_log, name="portal_access_log"),
    path("my/export/<slug:fmt>/", portal.portal_export, name="portal_export"),
    # Self-registration
    path("signup/", portal.signup, name="signup"),
    re_path(
        r"^signup/verify/(?P<token>[A-Za-z0-9_:-]{1,400})/$",
        portal.verify_email,
        name="verify_email",
    ),
]

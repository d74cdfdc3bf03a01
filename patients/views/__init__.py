"""Patient views, split by area: registry and chart, visits, documents, certificates and
exports, the patient portal and self-registration."""

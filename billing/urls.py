from django.urls import path

from billing.views import charges, claims, config, home, invoices, patients, payments, portal, reports

app_name = "billing"

urlpatterns = [
    path("", home.home, name="home"),
    path("charges/", charges.charge_list, name="charges"),
    path("charges/<int:pk>/<str:action>/", charges.charge_action, name="charge_action"),
    path("invoices/", invoices.invoice_list, name="invoices"),
    path("invoices/void-register/", invoices.void_register, name="void_register"),
    path("invoices/<int:pk>/", invoices.invoice_detail, name="invoice"),
    path("invoices/<int:pk>/pdf/", invoices.invoice_pdf_view, name="invoice_pdf"),
    path("invoices/<int:pk>/lines/", invoices.invoice_add_line, name="invoice_add_line"),
    path("invoices/<int:pk>/lines/<int:line_pk>/<str:action>/", invoices.invoice_line_action,
         name="invoice_line_action"),
    path("invoices/<int:pk>/terms/", invoices.invoice_terms, name="invoice_terms"),
    path("invoices/<int:pk>/do/<str:action>/", invoices.invoice_action, name="invoice_action"),
    path("patients/<int:patient_pk>/", patients.patient_account, name="patient"),
    path("patients/<int:patient_pk>/balance/", patients.patient_balance, name="patient_balance"),
    path("patients/<int:patient_pk>/coverage/", patients.coverage_new, name="coverage_new"),
    path("patients/<int:patient_pk>/statement.pdf", patients.statement_view, name="statement"),
    path("patients/<int:patient_pk>/pay/", payments.payment_new, name="payment_new"),
    path("payments/<int:pk>/", payments.payment_detail, name="payment"),
    path("payments/<int:pk>/receipt.pdf", payments.receipt_pdf_view, name="receipt_pdf"),
    path("payments/<int:pk>/refund/", payments.refund_request, name="refund_request"),
    path("cashier/", payments.cashier, name="cashier"),
    path("cashier/<int:pk>/", payments.cashier_day, name="cashier_day"),
    path("approvals/", payments.approvals, name="approvals"),
    path("approvals/<str:kind>/<int:pk>/", payments.approval_decide, name="approval_decide"),
    path("claims/", claims.claim_list, name="claims"),
    path("claims/export/", claims.claim_export, name="claim_export"),
    path("claims/remittance/", claims.remittance_new, name="remittance_new"),
    path("claims/<int:pk>/", claims.claim_detail, name="claim"),
    path("claims/<int:pk>/action/", claims.claim_action, name="claim_action"),
    path("reports/", reports.reports, name="reports"),
    path("prices/", config.price_lists, name="price_lists"),
    path("prices/<int:pk>/", config.price_edit, name="price_edit"),
    path("my/", portal.my_bills, name="my_bills"),
    path("my/invoices/<int:pk>.pdf", portal.my_invoice_pdf, name="my_invoice_pdf"),
    path("my/receipts/<int:pk>.pdf", portal.my_receipt_pdf, name="my_receipt_pdf"),
    path("my/statement.pdf", portal.my_statement_pdf, name="my_statement_pdf"),
]

"""PhilHealth Konsulta: one registration per member per year (service and constraint), the
capitation rate from the configuration, members' covered services at ₱0 and never claimed,
capitation received posted once per reference, the page's figures, permissions and audit."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from billing import selectors
from billing.models import Coverage, KonsultaRegistration, Payer
from billing.services import claims, konsulta
from tests.billing.conftest import charge, hmo_coverage, issued_invoice

pytestmark = pytest.mark.django_db

YEAR = timezone.localdate().year


def _register(patient, actor, *, year=YEAR, pin="123456789012", on=None):
    return konsulta.konsulta_register(
        actor=actor,
        patient=patient,
        pin=pin,
        year=year,
        registered_on=on or date(year, 1, 2),
    )


def test_registration_makes_a_year_coverage_with_the_configured_rate(
    student, billing_user, settings
):
    settings.BILLING_KONSULTA_CAPITATION = Decimal("500.00")
    reg = _register(student, billing_user, pin="12 345678901 2")
    cov = reg.coverage
    assert cov.payer.code == "philhealth-konsulta" and cov.member_id == "12-345678901-2"
    assert (cov.valid_from, cov.valid_until) == (date(YEAR, 1, 2), date(YEAR, 12, 31))
    assert cov.percent == 0 and reg.capitation_rate == Decimal("500.00")
    assert AuditEvent.objects.filter(
        object_type="billing.konsultaregistration", object_id=str(reg.pk), action="create"
    ).exists()
    settings.BILLING_KONSULTA_CAPITATION = Decimal("750.00")  # a later change keeps the past
    reg.refresh_from_db()
    assert reg.capitation_rate == Decimal("500.00")


def test_one_registration_per_member_per_year(student, billing_user):
    reg = _register(student, billing_user)
    with pytest.raises(ValidationError) as exc:
        _register(student, billing_user)
    assert "already registered" in str(exc.value)
    assert KonsultaRegistration.objects.count() == 1
    _register(student, billing_user, year=YEAR + 1, on=date(YEAR, 12, 1))  # next year: fine
    with pytest.raises(IntegrityError), transaction.atomic():  # the database refuses too
        KonsultaRegistration.objects.create(
            patient=student,
            coverage=Coverage.objects.create(
                patient=student, payer=reg.coverage.payer, member_id="x", valid_from=date.today()
            ),
            year=YEAR,
            registered_on=date(YEAR, 3, 1),
            capitation_rate=Decimal("750"),
            registered_by=billing_user,
        )


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"pin": "12-34"}, "pin"),
        ({"year": 2019}, "year"),
        ({"on": date(YEAR + 1, 1, 1)}, "registered_on"),
    ],
)
def test_registration_refuses_bad_input(student, billing_user, kwargs, field):
    with pytest.raises(ValidationError) as exc:
        _register(student, billing_user, **kwargs)
    assert field in exc.value.message_dict


def test_only_billing_roles_register(student, doctor_user):
    with pytest.raises(PermissionDenied):
        _register(student, doctor_user)


def test_members_covered_services_cost_nothing_and_are_not_claimed(student, employee, billing_user):
    today = timezone.localdate()
    _register(student, billing_user, on=date(today.year, 1, 1))
    line = charge(student, "LAB-CBC").invoice_lines.get()
    assert line.covered_by_capitation and line.patient_share == 0 and line.payer_share == 0
    cert = charge(student, "CERT").invoice_lines.get()  # certificates are not in the package
    assert not cert.covered_by_capitation and cert.patient_share > 0
    other = charge(employee, "LAB-CBC").invoice_lines.get()  # not a member: pays
    assert not other.covered_by_capitation and other.patient_share == Decimal("125.00")
    inv = line.invoice
    inv.refresh_from_db()
    assert inv.coverage_id is None  # the capitation coverage is no per-line payer
    with pytest.raises(ValidationError):
        claims.claim_create(actor=billing_user, invoice=issued_invoice(student, billing_user))


def test_registration_covers_from_its_date_and_not_other_years(student, billing_user):
    _register(student, billing_user, year=YEAR - 1, on=date(YEAR - 1, 6, 1))
    before = charge(student, "LAB-UA", day=date(YEAR - 1, 5, 31)).invoice_lines.get()
    during = charge(student, "LAB-UA", day=date(YEAR - 1, 6, 1)).invoice_lines.get()
    this_year = charge(student, "LAB-UA", day=date(YEAR, 1, 5)).invoice_lines.get()
    assert not before.covered_by_capitation
    assert during.covered_by_capitation
    assert not this_year.covered_by_capitation


def test_hmo_coverage_still_applies_to_a_member(employee, billing_user):
    hmo_coverage(employee, percent="80")
    _register(employee, billing_user, on=date(YEAR, 1, 1))
    inv = charge(employee, "CERT").invoice_lines.get().invoice
    inv.refresh_from_db()
    assert inv.coverage.payer.code == "maxicare"


def test_capitation_posted_once_and_summary(student, employee, billing_user):
    _register(student, billing_user, on=date(YEAR, 1, 1))
    _register(employee, billing_user, on=date(YEAR, 1, 1), pin="120000000013")
    konsulta.konsulta_capitation_post(
        actor=billing_user,
        year=YEAR,
        reference="KON-1",
        received_on=date(YEAR, 6, 30),
        amount="750",
        members=2,
    )
    with pytest.raises(ValidationError) as exc:
        konsulta.konsulta_capitation_post(
            actor=billing_user,
            year=YEAR,
            reference="KON-1",
            received_on=date(YEAR, 7, 1),
            amount="1",
        )
    assert "already posted" in str(exc.value)
    with pytest.raises(ValidationError):
        konsulta.konsulta_capitation_post(
            actor=billing_user, year=YEAR, reference="K2", received_on=date(YEAR, 7, 1), amount=0
        )
    charge(student, "LAB-CBC")
    charge(student, "LAB-UA")
    summary = selectors.konsulta_summary(YEAR)
    assert summary.members == 2
    assert summary.expected == Decimal("1500.00") and summary.received == Decimal("750.00")
    assert summary.outstanding == Decimal("750.00")
    assert summary.consultations == 2 and summary.by_group == [("Laboratory / diagnostics", 2)]


def test_konsulta_page_register_and_capitation_forms(student, billing_user, admin_user, client_for):
    c = client_for(billing_user)
    url = reverse("billing:konsulta")
    r = c.post(
        reverse("billing:konsulta_register"),
        {
            "id_number": student.id_number,
            "pin": "12-345678901-2",
            "year": YEAR,
            "registered_on": f"{YEAR}-01-05",
        },
    )
    assert r.status_code == 302 and r["Location"] == f"{url}?year={YEAR}"
    again = c.post(
        reverse("billing:konsulta_register"),
        {
            "id_number": student.id_number,
            "pin": "12-345678901-2",
            "year": YEAR,
            "registered_on": f"{YEAR}-01-05",
        },
    )
    assert again.status_code == 422 and "already registered" in again.content.decode()
    unknown = c.post(
        reverse("billing:konsulta_register"),
        {"id_number": "<b>nope</b>", "pin": "1", "year": YEAR, "registered_on": "x"},
    )
    assert (
        unknown.status_code == 422 and "No patient has this ID number" in unknown.content.decode()
    )
    assert "<b>nope</b>" not in unknown.content.decode()
    r = client_for(admin_user).post(
        reverse("billing:konsulta_capitation"),
        {"year": YEAR, "reference": "KON-9", "received_on": f"{YEAR}-06-30", "amount": "300"},
    )
    assert r.status_code == 302
    page = c.get(url, {"year": YEAR}).content.decode()
    assert student.full_name in page and "12-345678901-2" in page and "KON-9" in page
    assert "₱750.00" in page and "₱300.00" in page and "₱450.00" in page
    assert c.get(url, {"year": "abc"}).status_code == 200  # a bad year shows this year
    assert AuditEvent.objects.filter(object_type="billing.konsulta", actor=billing_user).exists()
    assert Payer.objects.filter(capitations__reference="KON-9").exists()


def test_konsulta_page_query_count(
    student, billing_user, client_for, django_assert_max_num_queries
):
    from tests.patients.factories import PatientFactory

    c = client_for(billing_user)
    _register(student, billing_user)
    c.get(reverse("billing:konsulta"))
    with django_assert_max_num_queries(16) as few:
        assert c.get(reverse("billing:konsulta")).status_code == 200
    for n in range(5):
        p = PatientFactory(patient_type="student")
        _register(p, billing_user, pin=f"1200000000{n:02d}")
        charge(p, "LAB-CBC")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert c.get(reverse("billing:konsulta")).status_code == 200


def test_registration_refuses_a_pin_other_than_the_one_on_the_record(student, billing_user):
    student.philhealth_pin = "121234567891"
    student.save(update_fields=["philhealth_pin"])
    with pytest.raises(ValidationError) as exc:
        _register(student, billing_user, pin="123456789012")
    assert "12-123456789-1" in str(exc.value)
    assert (
        not KonsultaRegistration.objects.exists()
        and not Coverage.objects.filter(patient=student, payer__code="philhealth-konsulta").exists()
    )
    reg = _register(student, billing_user, pin="12-123456789-1")  # the recorded PIN: fine
    assert reg.coverage.member_id == "12-123456789-1"

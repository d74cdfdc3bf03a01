"""PhilHealth Konsulta: the year's registered members, capitation expected vs received, the
covered services given at ₱0; registering a member and posting capitation received."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.audit import audit_phi_list
from accounts.permissions import require_perm
from billing import forms, selectors
from billing.services import konsulta as services
from billing.views._common import form_errors, page_of, query_without_page
from uscpis.http import Request, redirect_htmx_aware, render_page


def _page(request: Request, year: int, *, register_form=None, capitation_form=None, status=200):
    registrations = page_of(request, selectors.konsulta_registrations(year))
    covered = selectors.konsulta_covered_lines(year)
    audit_phi_list(
        actor=request.user,
        object_type="billing.konsulta",
        detail={
            "year": year,
            "patients": sorted(
                {r.patient_id for r in registrations} | {x.invoice.patient_id for x in covered}
            ),
        },
    )
    return render_page(
        request,
        "billing/konsulta.html",
        {
            "year": year,
            "year_form": forms.KonsultaYearForm(initial={"year": year}),
            "summary": selectors.konsulta_summary(year),
            "page": registrations,
            "capitations": selectors.konsulta_capitations(year),
            "covered": covered,
            "register_form": register_form or forms.KonsultaRegisterForm(initial={"year": year}),
            "capitation_form": capitation_form
            or forms.KonsultaCapitationForm(initial={"year": year}),
            "query": query_without_page(request),
        },
        partial="konsulta-members",
        status=status,
    )


def _url(year: int) -> str:
    return f"{reverse('billing:konsulta')}?year={year}"


@require_GET
@require_perm("billing.konsulta")
def konsulta(request: Request):
    return _page(request, forms.KonsultaYearForm(request.GET).year_or_current())


@require_POST
@require_perm("billing.konsulta")
def konsulta_register(request: Request):
    form = forms.KonsultaRegisterForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            services.konsulta_register(
                actor=request.user,
                patient=form.patient,
                pin=d["pin"],
                year=d["year"],
                registered_on=d["registered_on"],
            )
            messages.success(request, f"{form.patient.full_name} registered for {d['year']}.")
            return redirect_htmx_aware(request, _url(d["year"]))
        except ValidationError as exc:
            form_errors(form, exc)
    year = form.cleaned_data.get("year") if hasattr(form, "cleaned_data") else None
    return _page(
        request, year or forms.KonsultaYearForm().year_or_current(), register_form=form, status=422
    )


@require_POST
@require_perm("billing.konsulta")
def konsulta_capitation(request: Request):
    form = forms.KonsultaCapitationForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            services.konsulta_capitation_post(
                actor=request.user,
                year=d["year"],
                reference=d["reference"],
                received_on=d["received_on"],
                amount=d["amount"],
                members=d["members"],
            )
            messages.success(request, "Capitation posted.")
            return redirect_htmx_aware(request, _url(d["year"]))
        except ValidationError as exc:
            form_errors(form, exc)
    year = form.cleaned_data.get("year") if hasattr(form, "cleaned_data") else None
    return _page(
        request,
        year or forms.KonsultaYearForm().year_or_current(),
        capitation_form=form,
        status=422,
    )

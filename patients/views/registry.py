"""Staff: patient search, registration (with the duplicate step), demographics, the chart."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import AuditAction
from accounts.permissions import deny, require_perm
from accounts.roles import user_has_perm
from patients import forms, search_cache, selectors, timeline_cache
from patients.models import Allergy, Medication
from patients.services import patient_accounts, records, registry
from patients.templatetags.chart_rows import timeline_items
from patients.timeline import visit_timeline_rows
from patients.views.common import add_service_errors
from patients.views.visits import tooth_rows
from uscpis.forms import parse_id
from uscpis.http import Request, redirect_htmx_aware, render_page
from uscpis.pagination import CappedSortingPaginator
from uscpis.registry import chart_link_reads, chart_links

CHART_TABS = [
    ("overview", "Overview", "patients.view_demographics"),
    ("timeline", "Visits", "patients.view_clinical"),
    ("problems", "Problems & history", "patients.view_clinical"),
    ("medications", "Allergies & medications", "patients.view_clinical"),
    ("immunizations", "Immunizations", "patients.view_clinical"),
    ("dental", "Dental chart", "patients.view_clinical"),
    ("documents", "Documents", "patients.view_clinical"),
    ("certificates", "Certificates", "patients.view_clinical"),
]
TAB_PERMS = {name: perm for name, _, perm in CHART_TABS}


@require_GET
@require_perm("patients.view_demographics")
def patient_list(request: Request):
    form = forms.PatientSearchForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    filters = {k: v for k, v in data.items() if v not in (None, "")}
    patients = selectors.patient_search(**filters).only(*selectors.PATIENT_LIST_FIELDS)
    paginator = CappedSortingPaginator(patients, 25, when_few=selectors.patient_search_few_order)
    # One plan serves a name or ID search whatever the words (PostgreSQL keeps it), unless
    # the words are likely to find more than the cap: one statement planned for them then
    # counts and walks (see CappedSortingPaginator).
    plain = selectors.patient_search_plans_alike(**filters)
    many = selectors.patient_search_expects_more(filters.get("q", ""), than=paginator.cap)
    paginator.prepare = plain and not many
    # Words likely to find more than the cap ("mag"): once counted past it, they are known
    # to be (until a patient is saved or deleted), and the page is read without counting.
    past_cap = search_cache.PastCap(filters["q"], paginator.cap) if plain and many else None
    paginator.past_cap = past_cap is not None and past_cap.known
    # The rows show names and ID numbers: one read event for the page (naming the patient
    # when only one is shown; the search words are not kept, they may be a name), written
    # by the statement that reads the page.
    number = request.GET.get("page")
    detail = {"view": "patient_list", "page": paginator.wanted(number), "searched": bool(data)}
    audit = selectors.PatientsServedWithPage(
        request.user, detail=detail, size=paginator.per_page, reverse=False
    )
    paginator.write = audit.write
    page = paginator.get_page(number)
    if past_cap is not None and paginator.capped:
        past_cap.found()
    audit.detail["page"] = page.number  # as recorded, unless another page was served
    audit.served(page)
    return render_page(
        request, "patients/patient_list.html", {"form": form, "page": page}, partial="patient-table"
    )


@require_http_methods(["GET", "POST"])
@require_perm("patients.register")
def patient_register(request: Request):
    form = forms.PatientForm(request.POST or None)
    duplicates = []
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "confirm_duplicate"}
        try:
            patient = registry.patient_register(
                actor=request.user,
                data=data,
                confirm_duplicate=form.cleaned_data["confirm_duplicate"],
            )
        except ValidationError as exc:
            if getattr(exc, "code", None) == "possible_duplicate":
                duplicates = selectors.patient_possible_duplicates(
                    id_number=data["id_number"],
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    birth_date=data["birth_date"],
                )
            else:
                add_service_errors(form, exc)
        else:
            messages.success(request, f"{patient.full_name} is registered.")
            return redirect_htmx_aware(request, reverse("patients:chart", args=[patient.pk]))
    status = 422 if form.errors or duplicates else 200
    return render_page(
        request,
        "patients/patient_form.html",
        {"form": form, "duplicates": duplicates},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@require_perm("patients.register")
def patient_edit(request: Request, pk: int):
    # GET shows the demographics (a read); a POST's change is audited by patient_update.
    reading = request.method == "GET"
    patient = selectors.get_patient_for_user(
        request.user, pk, purpose=AuditAction.READ if reading else None, detail={"view": "edit"}
    )
    form = forms.PatientForm(
        request.POST or None,
        instance=selectors.get_patient_for_user(request.user, pk, purpose=None),
    )
    duplicates = []
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "confirm_duplicate"}
        try:
            registry.patient_update(
                actor=request.user,
                patient=patient,
                data=data,
                confirm_duplicate=form.cleaned_data["confirm_duplicate"],
            )
        except ValidationError as exc:
            if getattr(exc, "code", None) == "possible_duplicate":
                duplicates = selectors.patient_possible_duplicates(
                    **{k: data[k] for k in registry.IDENTITY_FIELDS}, exclude_pk=patient.pk
                )
            else:
                add_service_errors(form, exc)
        else:
            messages.success(request, "Demographics saved.")
            return redirect_htmx_aware(request, reverse("patients:chart", args=[patient.pk]))
    return render_page(
        request,
        "patients/patient_form.html",
        {"form": form, "patient": patient, "duplicates": duplicates},
        status=422 if form.errors or duplicates else 200,
    )


@require_POST
@require_perm("patients.register")
def patient_account_create(request: Request, pk: int):
    """Staff create the patient's portal account; the patient gets an invitation email."""
    patient = selectors.get_patient_for_user(request.user, pk, purpose=None)
    try:
        patient = patient_accounts.patient_account_create(actor=request.user, patient=patient)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"Portal account created; an invitation was emailed to {patient.email}."
        )
    return redirect_htmx_aware(request, reverse("patients:chart", args=[patient.pk]))


def _tab_context(request: Request, patient, tab: str) -> dict:
    """What one chart tab shows (each tab reads only its own rows, paginated)."""
    ctx: dict = {"tab": tab}
    if tab == "overview":
        ctx["measurements"] = (
            selectors.latest_measurements(patient)
            if user_has_perm(request.user, "patients.view_clinical")
            else []
        )
    elif tab == "timeline":
        ctx.update(_timeline_page(patient, request.GET.get("page")))
    elif tab == "problems":
        ctx["problems"] = selectors.problem_list(patient)
        ctx["history"] = list(patient.history_entries.all())
        ctx["history_form"] = forms.HistoryForm()
    elif tab == "medications":
        ctx["allergy_list"] = list(
            patient.allergies.order_by("-is_active", selectors.allergy_severity_rank(), "substance")
        )
        ctx["medications"] = list(patient.medications.all())
        ctx["allergy_form"], ctx["medication_form"] = forms.AllergyForm(), forms.MedicationForm()
    elif tab == "immunizations":
        ctx["immunizations"] = list(patient.immunizations.all())
        ctx["immunization_form"] = forms.ImmunizationForm()
    elif tab == "dental":
        ctx["dental_teeth"] = selectors.dental_chart(patient)
        ctx["tooth_rows"] = tooth_rows(ctx["dental_teeth"], mark_carried=False)
    elif tab == "documents":
        ctx["page"] = Paginator(
            patient.documents.select_related("uploaded_by", "visit"), 20
        ).get_page(request.GET.get("page"))
    elif tab == "certificates":
        ctx["certificates"] = list(patient.certificates.select_related("decided_by")[:50])
        ctx["certificate_form"] = forms.CertificateRequestForm()
    return ctx


TIMELINE_PAGE = 20


def _timeline_page(patient, page_param) -> dict:
    """One batch of the visit timeline, newest first: the first 20 visits, then the next 20
    with "Show older visits" (appended in place with HTMX, or as ``?page=N`` without
    JavaScript) until the whole history has been shown. One row more than shown is read to
    know whether there is more, so no page needs to count all the patient's visits."""
    number = parse_id(page_param) or 1
    number = min(number, 1_000_000)
    start = (number - 1) * TIMELINE_PAGE

    def build() -> tuple[str, bool]:
        rows = visit_timeline_rows(patient.pk, offset=start, limit=TIMELINE_PAGE + 1)
        return str(timeline_items(rows[:TIMELINE_PAGE])), len(rows) > TIMELINE_PAGE

    # The page's rows are shared through the cache until one of them changes
    # (patients.timeline_cache); the read is audited by the view on every request.
    html, more = timeline_cache.cached_page(patient.pk, number, build)
    return {
        "timeline_html": mark_safe(html),  # noqa: S308 - built by timeline_items, escaped there
        "timeline_number": number,
        "timeline_next": number + 1 if more else None,
        "timeline_prev": number - 1 if number > 1 else None,
    }


def _render_chart(
    request: Request,
    patient,
    tab: str,
    *,
    extra: dict | None = None,
    status: int = 200,
    allergies: list | None = None,
    links: list | None = None,
):
    """The chart page (or its tab for HTMX). ``allergies`` and ``links``, when the caller has
    them (``chart``: read with the patient), are the active allergies and the other domains'
    buttons; otherwise they are read here."""
    clinical = user_has_perm(request.user, "patients.view_clinical")
    if allergies is None:
        allergies = selectors.active_allergies(patient) if clinical else []
    ctx = {
        "patient": patient,
        "clinical": clinical,
        "allergies": allergies,
        "tabs": [(n, label) for n, label, perm in CHART_TABS if user_has_perm(request.user, perm)],
        "chart_links": chart_links(request.user, patient) if links is None else links,
        **_tab_context(request, patient, tab),
        **(extra or {}),
    }
    partial = "chart-tab"
    if tab == "timeline" and request.GET.get("more"):
        partial = "timeline-more"  # HTMX "Show older visits": only the next rows
    return render_page(request, "patients/chart.html", ctx, partial=partial, status=status)


@require_GET
@require_perm("patients.view_demographics")
def chart(request: Request, pk: int, tab: str = ""):
    """The patient chart: header (allergies and alerts) and one tab; HTMX swaps the tab."""
    # The tab is checked first (it depends on the role alone), so a refused tab serves
    # nothing and records no read.
    tab = tab or (
        "timeline" if user_has_perm(request.user, "patients.view_clinical") else "overview"
    )
    if tab not in TAB_PERMS:
        raise Http404("No such tab")
    if not user_has_perm(request.user, TAB_PERMS[tab]):
        deny(request, TAB_PERMS[tab])
    # The patient (audited read), the allergy banner and the other domains' buttons' reads
    # go to the database together (one round trip for staff).
    clinical = user_has_perm(request.user, "patients.view_clinical")
    reads = chart_link_reads(request.user, pk)
    head = selectors.patient_for_chart(
        request.user,
        pk,
        detail={"view": "chart", "tab": tab},
        allergies=clinical,
        extra=reads.statements,
    )
    links = chart_links(request.user, head.patient, reads=reads, rows=head.extra_rows)
    return _render_chart(request, head.patient, tab, allergies=head.allergies, links=links)


def _chart_tab_redirect(request: Request, patient, tab: str):
    if request.htmx:
        return _render_chart(request, patient, tab)
    return redirect(reverse("patients:chart_tab", args=[patient.pk, tab]))


def _background_add(request: Request, pk: int, *, form_class, form_key: str, tab: str, service):
    patient = selectors.get_patient_for_user(request.user, pk, purpose=None)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            service(actor=request.user, patient=patient, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return _chart_tab_redirect(request, patient, tab)
    return _render_chart(request, patient, tab, extra={form_key: form}, status=422)


@require_POST
@require_perm("patients.write_clinical")
def allergy_add(request: Request, pk: int):
    return _background_add(
        request,
        pk,
        form_class=forms.AllergyForm,
        form_key="allergy_form",
        tab="medications",
        service=records.allergy_add,
    )


@require_POST
@require_perm("patients.write_clinical")
def allergy_deactivate(request: Request, pk: int, allergy_pk: int):
    patient = selectors.get_patient_for_user(request.user, pk, purpose=None)
    allergy = Allergy.objects.filter(patient=patient, pk=allergy_pk).first()
    if allergy is None:
        raise Http404("No such allergy")
    records.allergy_deactivate(actor=request.user, allergy=allergy)
    return _chart_tab_redirect(request, patient, "medications")


@require_POST
@require_perm("patients.write_clinical")
def medication_add(request: Request, pk: int):
    return _background_add(
        request,
        pk,
        form_class=forms.MedicationForm,
        form_key="medication_form",
        tab="medications",
        service=records.medication_add,
    )


@require_POST
@require_perm("patients.write_clinical")
def medication_stop(request: Request, pk: int, medication_pk: int):
    patient = selectors.get_patient_for_user(request.user, pk, purpose=None)
    medication = Medication.objects.filter(patient=patient, pk=medication_pk).first()
    if medication is None:
        raise Http404("No such medication")
    records.medication_stop(actor=request.user, medication=medication)
    return _chart_tab_redirect(request, patient, "medications")


@require_POST
@require_perm("patients.write_clinical")
def history_add(request: Request, pk: int):
    return _background_add(
        request,
        pk,
        form_class=forms.HistoryForm,
        form_key="history_form",
        tab="problems",
        service=records.history_add,
    )


@require_POST
@require_perm("patients.write_clinical")
def immunization_add(request: Request, pk: int):
    return _background_add(
        request,
        pk,
        form_class=forms.ImmunizationForm,
        form_key="immunization_form",
        tab="immunizations",
        service=records.immunization_add,
    )

"""Staff: medical and dental visits (notes, vitals, ICD-10 diagnoses, prescriptions, tooth
chart), signing and addenda. Each write re-renders the region it changed for HTMX."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import AuditAction
from accounts.permissions import deny, require_perm
from accounts.roles import user_has_perm
from patients import forms, selectors
from patients.models import ALL_TEETH, PERMANENT_TEETH, PRIMARY_TEETH, VisitKind
from patients.services import visits
from patients.views.common import add_service_errors
from uscpis.http import HttpResponseConflict, Request, redirect_htmx_aware, render_page
from uscpis.registry import prescription_links

# Rows of the FDI chart as the dentist faces the patient: upper right → upper left, then
# lower right → lower left.
UPPER_PERMANENT = [18, 17, 16, 15, 14, 13, 12, 11, 21, 22, 23, 24, 25, 26, 27, 28]
LOWER_PERMANENT = [48, 47, 46, 45, 44, 43, 42, 41, 31, 32, 33, 34, 35, 36, 37, 38]
UPPER_PRIMARY = [55, 54, 53, 52, 51, 61, 62, 63, 64, 65]
LOWER_PRIMARY = [85, 84, 83, 82, 81, 71, 72, 73, 74, 75]
assert sorted(UPPER_PERMANENT + LOWER_PERMANENT) == sorted(PERMANENT_TEETH)
assert sorted(UPPER_PRIMARY + LOWER_PRIMARY) == sorted(PRIMARY_TEETH)


def can_write(user, visit) -> bool:
    return user_has_perm(user, visits.KIND_PERMISSION[visit.kind]) and not visit.is_signed


def _pending_or_here(record) -> bool:
    """Whether a tooth record's procedure belongs on this chart: recorded at this visit, or
    carried over and still planned."""
    return not getattr(record, "carried_over", False) or record.procedure_status == "planned"


def tooth_rows(
    teeth: dict, selected: int | None = None, *, mark_carried: bool = True
) -> list[dict]:
    """Geometry for the SVG chart: each row's y, and per tooth x, number, condition, and
    whether its state is carried over from an earlier visit (``selectors.dental_chart``;
    ``mark_carried=False`` for the patient's current chart, where every state is)."""
    rows = []
    for y, numbers, size in (
        (20, UPPER_PERMANENT, 40),
        (90, LOWER_PERMANENT, 40),
        (180, UPPER_PRIMARY, 34),
        (240, LOWER_PRIMARY, 34),
    ):
        gap = 4
        total = len(numbers) * (size + gap)
        left = (16 * 44 - total) // 2 + 10
        row = []
        for i, n in enumerate(numbers):
            rec = teeth.get(n)
            carried = mark_carried and bool(rec and getattr(rec, "carried_over", False))
            # A procedure done at an earlier visit is history, not work for this one.
            procedure = rec.procedure if rec and _pending_or_here(rec) else ""
            x = left + i * (size + gap) + (8 if i >= len(numbers) // 2 else 0)
            row.append(
                {
                    "n": n,
                    "x": x,
                    "y": y,
                    "size": size,
                    "cx": x + size // 2,
                    "ty": y + size + 13,
                    "condition": rec.condition if rec else "",
                    "procedure": procedure,
                    "status": rec.procedure_status if procedure else "",
                    "carried": carried,
                    "selected": n == selected,
                }
            )
        rows.append(row)
    return rows


def _visit_context(request: Request, visit, **extra) -> dict:
    detail = selectors.visit_detail(visit)
    writable = can_write(request.user, visit)
    for rx in detail["prescriptions"]:
        rx.actions = prescription_links(request.user, rx)
    ctx = {
        "visit": visit,
        "patient": visit.patient,
        "clinical": True,
        "allergies": selectors.active_allergies(visit.patient),
        **detail,
        "can_write": writable,
        "can_sign": writable and user_has_perm(request.user, "patients.sign_visit"),
        "can_addend": visit.is_signed
        and user_has_perm(request.user, visits.KIND_PERMISSION[visit.kind]),
    }
    if writable:
        notes_class = (
            forms.VisitNotesForm if visit.kind == VisitKind.MEDICAL else forms.DentalNotesForm
        )
        ctx.update(
            notes_form=notes_class(instance=visit),
            vitals_form=forms.VitalsForm(),
            diagnosis_form=forms.DiagnosisForm(),
            prescription_form=forms.PrescriptionForm(),
        )
    if ctx["can_addend"]:
        ctx["addendum_form"] = forms.AddendumForm()
    if visit.kind == VisitKind.DENTAL:
        selected = extra.pop("selected_tooth", None)
        ctx["tooth_rows"] = tooth_rows(detail["teeth"], selected)
        ctx["selected_tooth"] = selected
        ctx["selected_record"] = detail["teeth"].get(selected) if selected else None
        if selected and writable and "tooth_form" not in extra:
            rec = detail["teeth"].get(selected)
            # A carried-over state starts the form, so confirming it records it here.
            keep_procedure = rec is not None and _pending_or_here(rec)
            initial = (
                {
                    "condition": rec.condition,
                    "surfaces": rec.surfaces,
                    "procedure": rec.procedure if keep_procedure else "",
                    "procedure_status": rec.procedure_status if keep_procedure else "",
                    "notes": rec.notes,
                }
                if rec
                else {}
            )
            ctx["tooth_form"] = forms.ToothForm(initial=initial)
    ctx.update(extra)
    return ctx


def _region(request: Request, visit, partial: str, status: int = 200, **extra):
    """After a write: the changed region for HTMX, else back to the visit page."""
    if request.htmx or status != 200:
        return render_page(
            request,
            "patients/visit.html",
            _visit_context(request, visit, **extra),
            partial=partial,
            status=status,
        )
    return redirect(reverse("patients:visit", args=[visit.pk]) + f"#{partial}")


@require_POST
@require_perm("patients.write_clinical")
def visit_new(request: Request, pk: int):
    patient = selectors.get_patient_for_user(request.user, pk, purpose=None)
    kind = request.POST.get("kind", "")
    if kind not in VisitKind.values:
        raise Http404("No such visit kind")
    visit = visits.visit_start(actor=request.user, patient=patient, kind=kind)
    return redirect_htmx_aware(request, reverse("patients:visit", args=[visit.pk]))


@require_GET
@require_perm("patients.view_clinical")
def visit_detail(request: Request, pk: int):
    visit = selectors.get_visit_for_user(request.user, pk, purpose=AuditAction.READ)
    tooth = request.GET.get("tooth", "")
    # isdigit() alone accepts "²", which int() refuses; tooth numbers are two ASCII digits.
    selected = int(tooth) if tooth.isascii() and tooth.isdigit() and len(tooth) <= 2 else None
    if selected not in ALL_TEETH:
        selected = None
    return render_page(
        request, "patients/visit.html", _visit_context(request, visit, selected_tooth=selected)
    )


def _writable_visit(request: Request, pk: int):
    visit = selectors.get_visit_for_user(request.user, pk, purpose=None)
    if not user_has_perm(request.user, visits.KIND_PERMISSION[visit.kind]):
        deny(request, visits.KIND_PERMISSION[visit.kind])
    return visit


def _signed_conflict(request: Request, visit):
    if request.htmx:
        return HttpResponseConflict(
            '<div class="alert alert-error" role="alert">This visit is signed and locked; add an addendum.</div>'
        )
    return redirect("patients:visit", pk=visit.pk)


@require_POST
@require_perm("patients.write_clinical")
def visit_notes(request: Request, pk: int):
    visit = _writable_visit(request, pk)
    if visit.is_signed:
        return _signed_conflict(request, visit)
    form_class = forms.VisitNotesForm if visit.kind == VisitKind.MEDICAL else forms.DentalNotesForm
    form = form_class(
        request.POST, instance=selectors.get_visit_for_user(request.user, pk, purpose=None)
    )
    if form.is_valid():
        try:
            visit = visits.visit_update_notes(
                actor=request.user, visit=visit, data=form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return _region(request, visit, "visit-notes", saved=True)
    return _region(request, visit, "visit-notes", status=422, notes_form=form)


def _draft_write(request: Request, pk: int, form_class, partial: str, form_key: str, call):
    """Bind ``form_class``, call the service on a draft visit, and answer with the region:
    409 on a signed visit, 422 with the form's errors when input or the service refuses."""
    visit = _writable_visit(request, pk)
    if visit.is_signed:
        return _signed_conflict(request, visit)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            call(visit, form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return _region(request, visit, partial)
    return _region(request, visit, partial, status=422, **{form_key: form})


@require_POST
@require_perm("patients.write_clinical")
def visit_vitals(request: Request, pk: int):
    return _draft_write(
        request,
        pk,
        forms.VitalsForm,
        "visit-vitals",
        "vitals_form",
        lambda visit, data: visits.vitals_record(actor=request.user, visit=visit, values=data),
    )


@require_POST
@require_perm("patients.write_clinical")
def visit_diagnosis_add(request: Request, pk: int):
    return _draft_write(
        request,
        pk,
        forms.DiagnosisForm,
        "visit-diagnoses",
        "diagnosis_form",
        lambda visit, data: visits.diagnosis_add(actor=request.user, visit=visit, **data),
    )


@require_POST
@require_perm("patients.write_clinical")
def visit_diagnosis_remove(request: Request, pk: int, diagnosis_pk: int):
    visit = _writable_visit(request, pk)
    diagnosis = visit.diagnoses.filter(pk=diagnosis_pk).first()
    if diagnosis is None:
        raise Http404("No such diagnosis")
    try:
        visits.diagnosis_remove(actor=request.user, diagnosis=diagnosis)
    except ValidationError:
        return _signed_conflict(request, visit)
    return _region(request, visit, "visit-diagnoses")


@require_POST
@require_perm("patients.write_clinical")
def visit_prescription_add(request: Request, pk: int):
    return _draft_write(
        request,
        pk,
        forms.PrescriptionForm,
        "visit-prescriptions",
        "prescription_form",
        lambda visit, data: visits.prescription_add(actor=request.user, visit=visit, data=data),
    )


@require_POST
@require_perm("patients.write_clinical")
def visit_prescription_remove(request: Request, pk: int, prescription_pk: int):
    visit = _writable_visit(request, pk)
    rx = visit.prescriptions.filter(pk=prescription_pk).first()
    if rx is None:
        raise Http404("No such prescription")
    try:
        visits.prescription_remove(actor=request.user, prescription=rx)
    except ValidationError:
        return _signed_conflict(request, visit)
    return _region(request, visit, "visit-prescriptions")


@require_http_methods(["GET", "POST"])
@require_perm("patients.write_clinical")
def visit_tooth(request: Request, pk: int, tooth: int):
    """GET: the tooth panel for one tooth; POST: save that tooth's condition/procedure."""
    if tooth not in ALL_TEETH:
        raise Http404("No such tooth")
    # A GET from HTMX shows the tooth panel (a read); a plain GET only redirects to the visit
    # page (which records its own read); a POST's change is audited by its service.
    shows_panel = request.method == "GET" and bool(request.htmx)
    visit = selectors.get_visit_for_user(
        request.user,
        pk,
        purpose=AuditAction.READ if shows_panel else None,
        detail={"view": "tooth", "tooth": tooth},
    )
    if visit.kind != VisitKind.DENTAL:
        raise Http404("No such tooth")
    if request.method == "GET":
        if not request.htmx:
            return redirect(
                reverse("patients:visit", args=[visit.pk]) + f"?tooth={tooth}#tooth-chart"
            )
        return render_page(
            request,
            "patients/visit.html",
            _visit_context(request, visit, selected_tooth=tooth),
            partial="tooth-chart",
        )
    visit = _writable_visit(request, pk)
    if visit.is_signed:
        return _signed_conflict(request, visit)
    form = forms.ToothForm(request.POST)
    if form.is_valid():
        try:
            visits.tooth_record_set(
                actor=request.user, visit=visit, tooth=tooth, **form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return _region(request, visit, "tooth-chart", selected_tooth=tooth)
    return _region(request, visit, "tooth-chart", status=422, selected_tooth=tooth, tooth_form=form)


@require_POST
@require_perm("patients.sign_visit")
def visit_sign(request: Request, pk: int):
    visit = _writable_visit(request, pk)
    try:
        visits.visit_sign(actor=request.user, visit=visit)
    except ValidationError as exc:
        if getattr(exc, "code", None) == "signed":
            return _signed_conflict(request, visit)
        return render_page(
            request,
            "patients/visit.html",
            _visit_context(request, visit, sign_error=exc.messages[0]),
            status=422,
        )
    return redirect_htmx_aware(request, reverse("patients:visit", args=[visit.pk]))


@require_POST
@require_perm("patients.write_clinical")
def visit_addendum(request: Request, pk: int):
    visit = _writable_visit(request, pk)
    form = forms.AddendumForm(request.POST)
    if form.is_valid():
        try:
            visits.addendum_add(actor=request.user, visit=visit, text=form.cleaned_data["text"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return _region(request, visit, "visit-addenda")
    return _region(request, visit, "visit-addenda", status=422, addendum_form=form)


@require_GET
@require_perm("patients.view_clinical")
def icd10_search(request: Request):
    """HTMX autocomplete: ICD-10 codes matching ``q`` (code prefix or words)."""
    codes = selectors.icd10_search(request.GET.get("q") or request.GET.get("code") or "")
    return render_page(request, "patients/_icd10_results.html", {"codes": codes})

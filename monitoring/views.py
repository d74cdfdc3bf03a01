import logging
import time

from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from django_otp import match_token

from accounts.audit import audit_record
from accounts.forms import CurrentCodeForm
from accounts.models import AuditAction
from accounts.permissions import deny, public, require_perm
from monitoring import health, selectors
from monitoring.backups import create, layout, restore_jobs, verify
from monitoring.forms import BackupStartForm, RestoreConfirmForm
from monitoring.models import BackupStatus
from monitoring.pg import BackupError
from monitoring.services import alerts
from uscpis.http import Request, render_page

logger = logging.getLogger(__name__)

PANELS = ("health", "database", "background", "integrations", "backups")


@never_cache
@require_GET
@public
def healthz(request):
    """Liveness: 200 while the process can answer."""
    return HttpResponse("ok", content_type="text/plain")


@never_cache
@require_GET
@public
def readyz(request):
    """Readiness: database, cache and broker; 503 if any of them fails."""
    checks = {
        "database": health.check_database(),
        "cache": health.check_cache(),
        "broker": health.check_broker(),
    }
    ok = all(result for result, _ in checks.values())
    for name, (result, detail) in checks.items():
        if not result:  # details (hosts, ports, users in exception text) only in the logs
            logger.warning("readyz: %s failed: %s", name, detail)
    body = {
        "status": "ok" if ok else "fail",
        "checks": {name: {"ok": result} for name, (result, _) in checks.items()},
    }
    return JsonResponse(body, status=200 if ok else 503)


# --- The monitor page: a shell whose panels load (and fail) one by one ----------------------


@never_cache
@require_GET
@require_perm("monitoring.view")
def monitor(request: Request):
    return render_page(request, "monitoring/monitor.html", {"loaded": {}})


def _panel_context(name: str) -> dict:
    if name == "backups":
        rows = selectors.backups_for_page()
        return {
            "backups": rows,
            "start_form": BackupStartForm(),
            "any_in_progress": any(b.in_progress for b in rows),
            "any_waiting_for_broker": any(getattr(b, "waiting_for_broker", False) for b in rows),
        }
    return {name: getattr(selectors, f"{name}_panel")()}


def _panel(request: Request, name: str, extra: dict | None = None, status: int = 200):
    """One panel: only its fragment for HTMX, else the page with just this panel filled."""
    context = {**_panel_context(name), "loaded": {name: True}, **(extra or {})}
    response = render_page(
        request, "monitoring/monitor.html", context, partial=f"panel-{name}", status=status
    )
    if status == 503:
        response["X-Swap-Fragment"] = "1"  # app.js swaps this 503 in: it explains itself
    return response


@never_cache
@require_GET
@require_perm("monitoring.view")
def panel(request: Request, name: str):
    if name not in PANELS:
        raise Http404
    return _panel(request, name)


@require_http_methods(["POST"])
@require_perm("monitoring.view")
def test_email(request: Request):
    try:
        alerts.integration_test_email_send(actor=request.user)
        note = ("good", f"Test email sent to {request.user.email}.")
    except Exception as exc:
        note = ("bad", f"Sending failed: {exc.__class__.__name__}: {exc}"[:300])
    return _panel(request, "integrations", {"email_note": note})


# --- Backups ---------------------------------------------------------------------------------


@require_http_methods(["POST"])
@require_perm("monitoring.manage_backups")
def backup_start(request: Request):
    form = BackupStartForm(request.POST)
    note, status = None, 409
    if form.is_valid():
        try:
            create.backup_request(actor=request.user, with_media=form.cleaned_data["with_media"])
            note, status = ("good", "Backup queued. Progress updates below."), 200
        except ValidationError as exc:
            note = ("bad", " ".join(exc.messages))
    return _panel(request, "backups", {"backup_note": note}, status=status)


@require_http_methods(["POST"])
@require_perm("monitoring.manage_backups")
def backup_verify(request: Request, pk: int):
    backup = selectors.get_backup(pk)
    try:
        verify.backup_verify_request(actor=request.user, backup=backup)
        note, status = ("good", f"Verification of backup #{pk} queued."), 200
    except ValidationError as exc:
        note, status = ("bad", " ".join(exc.messages)), 409
    return _panel(request, "backups", {"backup_note": note}, status=status)


DOWNLOADS = {
    "database": layout.DB_FILE,
    "media": layout.MEDIA_FILE,
    "manifest": layout.MANIFEST_FILE,
}


# A full dump is every patient's record: downloading it is a PHI export. It needs a code
# from the authenticator entered in the last few minutes, not only a verified session.
DOWNLOAD_CODE_FRESH_SECONDS = 300
DOWNLOAD_CODE_KEY = "backup_download_code_at"


@require_http_methods(["GET", "POST"])
@require_perm("monitoring.manage_backups")
def backup_download(request: Request, pk: int, part: str):

    backup = selectors.get_backup(pk)
    if part not in DOWNLOADS:
        raise Http404
    fresh = time.time() - request.session.get(DOWNLOAD_CODE_KEY, 0) < DOWNLOAD_CODE_FRESH_SECONDS
    form = CurrentCodeForm(request.POST or None)
    if part != "manifest" and not fresh:
        if request.method == "POST" and form.is_valid():
            if match_token(request.user, form.cleaned_data["code"]) is not None:
                request.session[DOWNLOAD_CODE_KEY] = int(time.time())
                return redirect(request.path)
            audit_record(
                action=AuditAction.DENIED,
                obj=backup,
                request=request,
                allowed=False,
                detail={"backup_file": part, "two_factor": "wrong code to download"},
            )
            form.add_error("code", "That code is not valid.")
        return render_page(
            request,
            "monitoring/backup_download.html",
            {"form": form, "backup": backup, "part": part},
            status=422 if form.errors else 200,
        )
    try:
        path = create.backup_folder(backup) / DOWNLOADS[part]
    except BackupError as exc:
        raise Http404(str(exc)) from exc
    if not path.exists():
        raise Http404
    audit_record(
        action=AuditAction.EXPORT, obj=backup, request=request, detail={"backup_file": part}
    )
    return FileResponse(
        open(path, "rb"), as_attachment=True, filename=f"uscpis-backup-{pk}-{path.name}"
    )  # noqa: SIM115 (closed by the response)


def _require_two_factor(request: Request) -> None:
    if not request.user.is_verified():
        deny(
            request,
            "monitoring.restore",
            "Restoring needs a session verified with two-factor authentication.",
        )


@require_http_methods(["GET", "POST"])
@require_perm("monitoring.restore")
def backup_restore(request: Request, pk: int):
    """Confirm with the typed phrase; the restore itself is queued for the worker."""
    _require_two_factor(request)
    backup = selectors.get_backup(pk)
    form = RestoreConfirmForm(request.POST or None, phrase=f"RESTORE {backup.pk}")
    context = {"backup": backup, "backup_id": backup.pk, "form": form, "error": ""}
    status = 200
    if backup.status != BackupStatus.SUCCEEDED:
        context.update(form=None, error=f"Backup #{pk} did not succeed, so it cannot be restored.")
        status = 409 if request.method == "POST" else 200
    elif request.method == "POST" and form.is_valid():
        try:
            job_id = restore_jobs.backup_restore_request(actor=request.user, backup=backup)
        except ValidationError as exc:
            context["error"] = " ".join(exc.messages)
            status = 409 if isinstance(exc, restore_jobs.RestoreBusy) else 422
        else:
            return _restore_job_response(request, job_id, created=True)
    elif request.method == "POST":
        status = 422
    return render_page(
        request, "monitoring/restore.html", context, partial="restore-panel", status=status
    )


def _restore_job_response(request: Request, job_id: str, *, created: bool = False):
    url = reverse("monitoring:restore_job", args=[job_id])
    if created and not request.htmx:
        return redirect(url)  # post/redirect/get: reloading shows progress, not a resubmit
    job = selectors.get_restore_job(job_id)
    context = {"job": job, "backup_id": job.backup_id}
    if not request.htmx:
        context["backup"] = selectors.find_backup(job.backup_id)  # for the page header
    response = render_page(request, "monitoring/restore.html", context, partial="restore-panel")
    if created:
        response["HX-Push-Url"] = url
    return response


@never_cache
@require_GET
@require_perm("monitoring.restore")
def restore_job(request: Request, job_id: str):
    """A queued restore's progress, then its report or error (polled by the panel)."""
    _require_two_factor(request)
    return _restore_job_response(request, job_id)

"""``manage.py audit seal|verify``: chain the newest events, and check the whole chain.

``seal`` links every event that can no longer be preceded by a late commit (see
``accounts.audit``); the beat task does the same every few seconds. ``verify`` seals first,
then walks every sealed event in id order, printing progress, and exits non-zero at the
first broken link. Events not sealed yet are reported (count and oldest), not failed.
"""

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.audit import AuditChainError, audit_chain_verify, audit_seal


class Command(BaseCommand):
    help = (
        "Audit trail tools. 'seal' chains the events written since the last seal; "
        "'verify' seals, then walks the hash chain and reports the first broken link."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["seal", "verify"])
        parser.add_argument(
            "--wait",
            type=float,
            default=30.0,
            help="Seconds to wait for open writers before sealing (default 30).",
        )
        parser.add_argument(
            "--no-seal", action="store_true", help="verify: check only what is sealed already."
        )

    def handle(self, *args, action, wait, no_seal, **options):
        started = time.monotonic()
        try:
            if action == "seal":
                self._seal(wait)
            else:
                if not no_seal:
                    try:
                        self._seal(wait)
                    except AuditChainError as exc:  # the walk says where
                        self.stdout.write(self.style.WARNING(f"Not sealed: {exc}"))
                self._verify(started)
        except AuditChainError as exc:
            raise CommandError(f"Audit chain BROKEN: {exc}") from exc

    def _seal(self, wait: float) -> None:
        def progress(sealed: int) -> None:
            if sealed % 100_000 == 0:
                self.stdout.write(f"  sealed {sealed:,} events...")

        report = audit_seal(wait_seconds=wait, batch_size=5000, progress=progress)
        if report.skipped:
            self.stdout.write(
                self.style.WARNING(f"Sealed {report.sealed:,}; stopped: {report.skipped}.")
            )
        else:
            self.stdout.write(
                f"Sealed {report.sealed:,} events; the chain ends at event {report.head_id}."
            )

    def _verify(self, started: float) -> None:
        last = [time.monotonic()]

        def progress(checked: int, head_id: int) -> None:
            now = time.monotonic()
            if now - last[0] >= 2:
                last[0] = now
                rate = checked / max(now - started, 1e-6)
                self.stdout.write(
                    f"  verified {checked:,} events (up to id {head_id:,}), {rate:,.0f}/s..."
                )

        report = audit_chain_verify(seal=False, progress=progress)
        elapsed = time.monotonic() - started
        if not report.ok:
            raise CommandError(
                f"Audit chain BROKEN at event {report.broken_at}: {report.reason}. "
                f"{report.checked} events before it are intact."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit chain intact: {report.checked} events verified in {elapsed:.1f} s "
                f"(chain ends at event {report.head_id})."
            )
        )
        if report.unsealed:
            oldest = timezone.localtime(report.oldest_unsealed_at)
            self.stdout.write(
                self.style.WARNING(
                    f"{report.unsealed} events not sealed yet (oldest: event "
                    f"{report.oldest_unsealed_id}, {oldest:%Y-%m-%d %H:%M:%S})."
                )
            )

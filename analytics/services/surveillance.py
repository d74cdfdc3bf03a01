"""Syndromic surveillance: syndrome definitions (administrator-edited), EARS signals.

A signal episode opens on the first day any EARS method flags a syndrome (and the day has
at least the syndrome's ``min_cases``), or on the Sunday of a morbidity week whose count
exceeds its seasonal baseline (historical limits, method ``HL``; the week has at least
``min_cases``), and stays open while flags of either kind recur within
``EPISODE_GAP_DAYS``: a daily and a weekly flag of the same outbreak are one episode. Each episode is one ``AberrationSignal`` row (unique per group and
start day) and is notified once: ``notified_at`` is claimed with a guarded UPDATE before the
doctors and administrators are told (in-app and by email through ``notify``).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction, User
from accounts.roles import Role
from accounts.services import notify
from analytics.epi import ears, epi_week, epi_week_start, weekly_flag
from analytics.models import AberrationSignal, SyndromeDaily, SyndromeGroup, VisitFact
from analytics.services.generation import rollup_generation_bump_on_commit

EPISODE_GAP_DAYS = 7
LOOKBACK_DAYS = 60
WEEKLY_LOOKBACK_WEEKS = 8
HISTORY_YEARS = 5
WEEKLY_METHOD = "HL"  # historical limits on weekly counts
NOTIFY_WITHIN_DAYS = 14  # older episodes found by a rebuild are recorded, not announced

DEFAULT_SYNDROMES = [
    ("ili", "Influenza-like illness", ["J09", "J10", "J11", "J06.9", "R50.9"], 4),
    ("dengue", "Dengue", ["A90", "A91", "A97"], 2),
    ("age", "Acute bloody diarrhoea / gastroenteritis", ["A03", "A06.0", "A08", "A09"], 3),
    ("typhoid", "Typhoid / paratyphoid", ["A01"], 2),
    ("conjunctivitis", "Conjunctivitis", ["H10"], 3),
    ("rash", "Chickenpox / measles rash", ["B01", "B05", "B06"], 2),
    ("mental-health", "Mental-health consultations", ["F"], 3),
]


def syndromes_ensure_defaults() -> int:
    """Create the default syndrome groups that are missing (idempotent)."""
    created = 0
    for slug, name, prefixes, min_cases in DEFAULT_SYNDROMES:
        _, new = SyndromeGroup.objects.get_or_create(
            slug=slug,
            defaults={"name": name, "icd10_prefixes": prefixes, "min_cases": min_cases},
        )
        created += new
    return created


def clean_prefixes(raw: str) -> list[str]:
    """``"J10, j11 ,A09"`` → ``["J10", "J11", "A09"]``; ValidationError on anything else."""

    prefixes = []
    for part in re.split(r"[,\s]+", raw.strip()):
        if not part:
            continue
        code = part.upper()
        if not re.fullmatch(r"[A-Z](\d{1,2}(\.\d{0,2})?)?", code):
            raise ValidationError(f"{part!r} is not an ICD-10 code or prefix (e.g. J10 or A09.0).")
        if code not in prefixes:
            prefixes.append(code)
    if not prefixes:
        raise ValidationError("Enter at least one ICD-10 code or prefix.")
    return prefixes


@transaction.atomic
def syndrome_save(*, actor: User | None, group: SyndromeGroup) -> SyndromeGroup:
    """Create or update a syndrome definition, audit it, and recount its history after
    commit (the daily counts of every day are rebuilt for this group)."""
    before = None
    if group.pk:
        old = SyndromeGroup.objects.select_for_update().get(pk=group.pk)
        before = {
            "name": old.name,
            "icd10_prefixes": old.icd10_prefixes,
            "is_active": old.is_active,
            "min_cases": old.min_cases,
        }
    group.updated_by = actor
    group.updated_at = timezone.now()
    group.full_clean()
    group.save()
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE if before else AuditAction.CREATE,
        obj=group,
        detail={
            "before": before,
            "after": {
                "name": group.name,
                "icd10_prefixes": group.icd10_prefixes,
                "is_active": group.is_active,
                "min_cases": group.min_cases,
            },
        },
    )
    group_id = group.pk
    transaction.on_commit(lambda: syndrome_recount(group_id=group_id))
    return group


RECOUNT_SQL = """
INSERT INTO analytics_syndromedaily (day, group_id, cases)
SELECT (v.started_at AT TIME ZONE %(tz)s)::date AS day, g.id, COUNT(DISTINCT v.id)
FROM analytics_syndromegroup g
JOIN patients_diagnosis d
  ON d.icd10_id LIKE ANY (SELECT prefix || '%%' FROM unnest(g.icd10_prefixes) AS prefix)
JOIN patients_visit v ON v.id = d.visit_id
WHERE g.id = %(group)s AND g.is_active
GROUP BY 1, g.id
"""


def syndrome_recount(*, group_id: int) -> None:
    """Recount one syndrome's daily cases over the whole history (after a definition edit)."""

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM analytics_syndromedaily WHERE group_id = %s", [group_id])
        cursor.execute(RECOUNT_SQL, {"tz": settings.TIME_ZONE, "group": group_id})
        rollup_generation_bump_on_commit()


def daily_series(group: SyndromeGroup, first: date, last: date) -> list[int]:
    """Cases per day from ``first`` to ``last`` inclusive (days without a row are 0)."""
    rows = dict(
        SyndromeDaily.objects.filter(group=group, day__gte=first, day__lte=last).values_list(
            "day", "cases"
        )
    )
    n = (last - first).days + 1
    return [rows.get(first + timedelta(days=i), 0) for i in range(n)]


def signals_detect(*, today: date | None = None, lookback_days: int = LOOKBACK_DAYS) -> list:
    """Run EARS over the last ``lookback_days`` of every active syndrome; record new
    episodes (or extend open ones) and notify each new recent episode once.
    Returns the signals opened by this run."""
    today = today or timezone.localdate()
    first = today - timedelta(days=lookback_days + 11)  # C3 needs 11 days of lead-in
    opened = []
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, 1)", [0x414E])
        for group in SyndromeGroup.objects.filter(is_active=True):
            counts = daily_series(group, first, today)
            for day_stat in ears(counts):
                day = first + timedelta(days=day_stat.index)
                if day < today - timedelta(days=lookback_days):
                    continue
                methods = day_stat.methods
                if not methods or day_stat.count < group.min_cases:
                    continue
                signal = _record(group, day, day_stat, methods)
                if signal is not None:
                    opened.append(signal)
            opened.extend(_weekly_signals(group, today))
        for signal in AberrationSignal.objects.filter(notified_at__isnull=True).select_related(
            "group"
        ):
            _announce(signal, today)
        rollup_generation_bump_on_commit()
    return opened


def weekly_history(group: SyndromeGroup, today: date) -> dict[tuple[int, int], int]:
    """Cases per (epi year, week) from the first full week of data (weeks before the
    clinic's data began are unknown, not zero, so they stay out of the baseline) to the
    current week, over at most ``HISTORY_YEARS`` + 1 years."""

    data_first = VisitFact.objects.order_by("day").values_list("day", flat=True).first() or today
    first = max(
        epi_week_start(today) - timedelta(days=7 * 53 * (HISTORY_YEARS + 1)),
        epi_week_start(data_first) + timedelta(days=7),
    )
    counts: dict[date, int] = {}
    for day, cases in SyndromeDaily.objects.filter(
        group=group, day__gte=first, day__lte=today
    ).values_list("day", "cases"):
        week = epi_week_start(day)
        counts[week] = counts.get(week, 0) + cases
    keyed = {}
    week = first
    while week <= today:
        keyed[epi_week(week + timedelta(days=3))] = counts.get(week, 0)
        week += timedelta(days=7)
    return keyed


def _weekly_signals(group: SyndromeGroup, today: date) -> list[AberrationSignal]:
    """Flag the last ``WEEKLY_LOOKBACK_WEEKS`` morbidity weeks (the current one included:
    its count only grows) whose count exceeds the seasonal baseline."""
    history = weekly_history(group, today)
    opened = []
    current = epi_week_start(today)
    for back in range(WEEKLY_LOOKBACK_WEEKS - 1, -1, -1):
        start = current - timedelta(days=7 * back)
        stat = weekly_flag(history, *epi_week(start + timedelta(days=3)))
        if not stat.flagged or stat.count < group.min_cases:
            continue
        signal = _record_week(group, start, min(start + timedelta(days=6), today), stat)
        if signal is not None:
            opened.append(signal)
    return opened


def _record_week(group, start: date, end: date, stat) -> AberrationSignal | None:
    """A flagged week joins any episode of the group that overlaps it (or ended within the
    gap before it); otherwise it opens one on the week's Sunday."""
    recent = (
        AberrationSignal.objects.filter(
            group=group,
            started_on__lte=end,
            last_on__gte=start - timedelta(days=EPISODE_GAP_DAYS),
        )
        .order_by("-started_on")
        .first()
    )
    if recent is not None:
        fields = []
        if WEEKLY_METHOD not in recent.methods:
            recent.methods = sorted({*recent.methods, WEEKLY_METHOD})
            fields.append("methods")
        if end > recent.last_on:
            recent.last_on = end
            fields.append("last_on")
        if fields:
            recent.save(update_fields=fields)
        return None
    signal, created = AberrationSignal.objects.get_or_create(
        group=group,
        started_on=start,
        defaults={
            "last_on": end,
            "methods": [WEEKLY_METHOD],
            "observed": stat.count,
            "threshold": round(stat.threshold, 2),
            "peak": stat.count,
        },
    )
    return signal if created else None


def _record(group, day: date, stat, methods: list[str]) -> AberrationSignal | None:
    recent = (
        AberrationSignal.objects.filter(
            group=group,
            started_on__lte=day,
            last_on__gte=day - timedelta(days=EPISODE_GAP_DAYS),
        )
        .order_by("-started_on")
        .first()
    )
    threshold = round(stat.threshold or 0.0, 2)
    if recent is not None:
        changed = False
        if day > recent.last_on:
            recent.last_on, changed = day, True
        if stat.count > recent.peak:
            recent.peak, changed = stat.count, True
        merged = sorted(set(recent.methods) | set(methods))
        if merged != recent.methods:
            recent.methods, changed = merged, True
        if changed:
            recent.save(update_fields=["last_on", "peak", "methods"])
        return None
    signal, created = AberrationSignal.objects.get_or_create(
        group=group,
        started_on=day,
        defaults={
            "last_on": day,
            "methods": methods,
            "observed": stat.count,
            "threshold": threshold,
            "peak": stat.count,
        },
    )
    return signal if created else None


def _announce(signal: AberrationSignal, today: date) -> bool:
    """Claim the signal's announcement; notify doctors and administrators if it is recent."""

    claimed = AberrationSignal.objects.filter(pk=signal.pk, notified_at__isnull=True).update(
        notified_at=timezone.now()
    )
    if not claimed or signal.last_on < today - timedelta(days=NOTIFY_WITHIN_DAYS):
        return False
    url = reverse("analytics:surveillance") + f"?group={signal.group.slug}"
    title = f"Possible outbreak: {signal.group.name}"
    if signal.methods == [WEEKLY_METHOD]:
        year, week = epi_week(signal.started_on + timedelta(days=3))
        body = (
            f"{signal.observed} case(s) in morbidity week {week} of {year} (from "
            f"{signal.started_on:%a %d %b %Y}), above the seasonal limit of "
            f"{signal.threshold:.1f} (same weeks of earlier years)."
        )
    else:
        body = (
            f"{signal.observed} case(s) on {signal.started_on:%a %d %b %Y}, above the expected "
            f"{signal.threshold:.1f} (EARS {', '.join(signal.methods)})."
        )
    for user in User.objects.filter(is_active=True, role__in=[Role.DOCTOR, Role.ADMIN]):
        notify(user=user, title=title, body=body, url=url, category="surveillance")
    return True

"""Epidemiological weeks, EARS C1/C2/C3 on synthetic series with a known signal day, and
signal episodes recorded and notified exactly once."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification
from accounts.roles import Role
from analytics.epi import C3_LIMIT, ears, epi_week, epi_week_start, weekly_baseline
from analytics.models import AberrationSignal, SyndromeDaily, SyndromeGroup
from analytics.services.surveillance import clean_prefixes, signals_detect


@pytest.mark.parametrize(
    "day, expected",
    [
        (date(2024, 1, 1), (2024, 1)),  # week 1 of 2024 starts Sunday 31 Dec 2023
        (date(2023, 12, 31), (2024, 1)),
        (date(2023, 12, 30), (2023, 52)),
        (date(2022, 1, 1), (2021, 52)),  # Saturday: 2022's week 1 starts 2 Jan
        (date(2022, 1, 2), (2022, 1)),
        (date(2021, 1, 2), (2020, 53)),  # 2020 had 53 MMWR weeks
        (date(2026, 12, 5), (2026, 48)),
    ],
)
def test_epi_weeks_follow_mmwr(day, expected):
    assert epi_week(day) == expected
    assert epi_week_start(day).weekday() == 6  # Sunday


def _series(n=60, spike_at=None, spike=0, seed=1):
    rng = random.Random(seed)
    counts = [rng.choice([1, 2, 2, 3]) for _ in range(n)]
    if spike_at is not None:
        counts[spike_at] += spike
    return counts


def test_ears_flags_the_spike_day_and_not_before():
    counts = _series(spike_at=40, spike=9)
    days = ears(counts)
    flagged = [d.index for d in days if d.methods]
    assert flagged and flagged[0] == 40
    assert {"C1", "C2"} <= set(days[40].methods)
    assert days[40].threshold < counts[40]


def test_ears_c3_accumulates_a_slow_rise():
    counts = [2] * 30 + [4, 5, 6, 7] + [2] * 10
    days = ears(counts)
    c3_days = [d.index for d in days if d.c3 is not None and d.c3 > C3_LIMIT]
    assert c3_days and 30 <= c3_days[0] <= 33


def test_ears_flat_series_never_flags():
    assert not any(d.methods for d in ears([2] * 50))
    assert not any(d.methods for d in ears([0] * 50))  # MIN_SIGMA: no division by zero


def test_weekly_baseline_needs_earlier_years():
    history = {(2025, w): 3 for w in range(1, 53)}
    assert weekly_baseline(history, 2025, 20) is None
    limit = weekly_baseline(history, 2026, 20)
    assert limit == pytest.approx(3.0 + 3 * 3**0.5)  # flat history: sd floored at √mean


def test_prefixes_are_validated():
    assert clean_prefixes("j10, J11 a09.0  J10") == ["J10", "J11", "A09.0"]
    for bad in ["", "10J", "J10%", "DROP TABLE"]:
        with pytest.raises(Exception):
            clean_prefixes(bad)


@pytest.fixture
def dengue(db):
    return SyndromeGroup.objects.get_or_create(
        slug="dengue", defaults={"name": "Dengue", "icd10_prefixes": ["A90"], "min_cases": 2}
    )[0]


def _load(group, counts, today):
    first = today - timedelta(days=len(counts) - 1)
    SyndromeDaily.objects.filter(group=group).delete()
    SyndromeDaily.objects.bulk_create(
        SyndromeDaily(group=group, day=first + timedelta(days=i), cases=n)
        for i, n in enumerate(counts)
        if n
    )
    return first


def test_signal_recorded_once_per_episode_and_notified_once(
    dengue, make_user, django_capture_on_commit_callbacks
):
    doctors = [make_user(Role.DOCTOR), make_user(Role.DOCTOR)]
    admin = make_user(Role.ADMIN)
    nurse = make_user(Role.NURSE)
    today = timezone.localdate()
    counts = _series(n=70, seed=3)
    counts[-6:-3] = [9, 11, 10]  # outbreak 6 days ago, lasting 3 days
    first = _load(dengue, counts, today)
    signal_day = first + timedelta(days=len(counts) - 6)
    with django_capture_on_commit_callbacks(execute=True):
        opened = signals_detect(today=today)
    assert [s.started_on for s in opened if s.group == dengue] == [signal_day]
    signal = AberrationSignal.objects.get(group=dengue)
    assert signal.notified_at is not None and signal.peak == 11
    assert signal.last_on >= signal_day + timedelta(days=1)
    notified = Notification.objects.filter(category="surveillance")
    assert sorted(n.user_id for n in notified) == sorted(u.pk for u in [*doctors, admin])
    assert not notified.filter(user=nurse).exists()
    assert all(reverse("analytics:surveillance") in n.url for n in notified)
    sent = len(mail.outbox)
    assert sent == 3
    # Re-running (the beat every few minutes) records and sends nothing new.
    with django_capture_on_commit_callbacks(execute=True):
        assert signals_detect(today=today) == []
        assert signals_detect(today=today + timedelta(days=1)) == []
    assert AberrationSignal.objects.filter(group=dengue).count() == 1
    assert Notification.objects.filter(category="surveillance").count() == 3
    assert len(mail.outbox) == sent


def test_quiet_series_raises_no_signal(dengue):
    _load(dengue, _series(n=70, seed=5), timezone.localdate())
    assert signals_detect() == []
    assert not AberrationSignal.objects.exists()


def test_old_episodes_found_by_a_rebuild_are_recorded_but_not_announced(dengue, make_user):
    make_user(Role.DOCTOR)
    today = timezone.localdate()
    counts = _series(n=70, seed=3)
    counts[-40] = 15
    _load(dengue, counts, today)
    signals_detect(today=today)
    assert AberrationSignal.objects.filter(group=dengue).count() == 1
    assert not Notification.objects.filter(category="surveillance").exists()


# --- Weekly counts against the seasonal baseline (historical limits) -------------------------


def _weekly_history(weeks_by_year: dict[int, list[int]]) -> dict:
    return {(y, w + 1): n for y, counts in weeks_by_year.items() for w, n in enumerate(counts)}


def test_weekly_flag_marks_the_known_signal_week_only():
    from analytics.epi import weekly_flag

    rng = random.Random(11)
    history = _weekly_history(
        {y: [rng.choice([5, 6, 7, 8]) for _ in range(52)] for y in (2022, 2023, 2024)}
    )
    this_year = [rng.choice([5, 6, 7, 8]) for _ in range(52)]
    this_year[29] = 19  # the signal: week 30
    history.update(_weekly_history({2025: this_year}))
    flagged = [w for w in range(1, 53) if weekly_flag(history, 2025, w).flagged]
    assert flagged == [30]
    stat = weekly_flag(history, 2025, 30)
    assert stat.count == 19 and 7 < stat.threshold < 19
    # Seasonal: a week that is high every year is not a signal.
    for y in (2022, 2023, 2024, 2025):
        history[(y, 40)] = 30
    assert not weekly_flag(history, 2025, 40).flagged


def _load_years(group, today, per_day, signal_week_start=None, per_day_signal=0):
    """Two earlier years and this year of daily counts; ``per_day_signal`` cases a day in
    the week starting ``signal_week_start``."""
    from analytics.models import VisitFact

    first = today - timedelta(days=3 * 365)
    # The history begins when the clinic's data does (VisitFact's first day).
    VisitFact.objects.create(
        day=first, visit_kind="medical", patient_type="student", unit="", sex="F", age_band="<18"
    )
    rng = random.Random(4)
    rows = []
    day = first
    while day <= today:
        n = per_day(rng)
        if signal_week_start and signal_week_start <= day < signal_week_start + timedelta(days=7):
            n = per_day_signal
        if n:
            rows.append(SyndromeDaily(group=group, day=day, cases=n))
        day += timedelta(days=1)
    SyndromeDaily.objects.filter(group=group).delete()
    SyndromeDaily.objects.bulk_create(rows)


def test_weekly_signal_recorded_once_when_daily_counts_never_flag(
    dengue, make_user, django_capture_on_commit_callbacks
):
    """Sparse days (0–1 cases, under the daily ``min_cases`` of 4) never raise an EARS
    signal, but a week of 3 a day is far above the same weeks of earlier years."""
    doctor = make_user(Role.DOCTOR)
    dengue.min_cases = 4
    dengue.save()
    today = timezone.localdate()
    signal_week = epi_week_start(today) - timedelta(days=14)
    _load_years(
        dengue,
        today,
        per_day=lambda rng: rng.choice([0, 0, 1]),
        signal_week_start=signal_week,
        per_day_signal=3,
    )
    with django_capture_on_commit_callbacks(execute=True):
        opened = signals_detect(today=today)
    assert [(s.started_on, s.methods) for s in opened] == [(signal_week, ["HL"])]
    signal = AberrationSignal.objects.get(group=dengue)
    assert signal.observed == 21 and signal.threshold < 21
    assert signal.last_on == signal_week + timedelta(days=6)
    note = Notification.objects.get(category="surveillance", user=doctor)
    assert "morbidity week" in note.body and "seasonal limit" in note.body
    sent = len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        assert signals_detect(today=today) == []
        assert signals_detect(today=today + timedelta(days=1)) == []
    assert AberrationSignal.objects.filter(group=dengue).count() == 1
    assert Notification.objects.filter(category="surveillance").count() == 1
    assert len(mail.outbox) == sent


def test_daily_and_weekly_flags_of_one_outbreak_are_one_episode(dengue, make_user):
    make_user(Role.DOCTOR)
    today = timezone.localdate()
    signal_week = epi_week_start(today) - timedelta(days=14)
    _load_years(
        dengue,
        today,
        per_day=lambda rng: 1,  # flat, so only the outbreak week stands out
        signal_week_start=signal_week,
        per_day_signal=9,
    )
    signals_detect(today=today)
    signal = AberrationSignal.objects.get(group=dengue)  # one row, both kinds of flag
    assert "HL" in signal.methods and ({"C1", "C2", "C3"} & set(signal.methods))
    assert signal.started_on == signal_week  # the daily jump starts on the week's Sunday
    assert Notification.objects.filter(category="surveillance").count() == 1


def test_quiet_years_raise_no_weekly_signal(dengue):
    today = timezone.localdate()
    _load_years(dengue, today, per_day=lambda rng: rng.choice([0, 1, 1, 2]))
    signals_detect(today=today)
    assert not AberrationSignal.objects.filter(methods__contains=["HL"]).exists()

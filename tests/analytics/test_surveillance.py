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
    assert limit == pytest.approx(3.0)


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

"""Discovery of what each domain app contributes (navigation, dashboard cards, demo data,
benchmark cases), so upstream apps never import downstream ones.

Each USC-PIS app may have ``nav.py`` (``NAV``), ``dashboard.py`` (``cards(user)``),
``chart.py`` (``links(user, patient) -> list[ChartLink]``: buttons on the patient chart;
optionally ``prescription_links(user, prescription)``: actions next to a visit's prescription;
and ``page_links(user, page)``: buttons another domain adds to a page, by its URL name),
``seed.py`` (``run(stdout=...)``) and ``bench.py`` (``generate(...)``, ``CASES``).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from pathlib import Path
from types import ModuleType

from django.apps import apps
from django.conf import settings
from django.core.cache import cache as django_cache

from uscpis.compiled import CompiledCount, fetch_together


def domain_apps() -> tuple[str, ...]:
    """The project's own apps (those living in this repository), in ``INSTALLED_APPS`` order,
    which lists upstream apps first. ``INSTALLED_APPS`` is the one place the list is written."""
    base = Path(settings.BASE_DIR).resolve()
    return tuple(
        config.name
        for config in apps.get_app_configs()
        if Path(config.path).resolve().parent == base
    )


@cache
def app_modules(module: str) -> tuple[ModuleType, ...]:
    """The ``<app>.<module>`` modules that exist, in dependency order."""
    found = []
    for app in domain_apps():
        name = f"{app}.{module}"
        try:
            found.append(import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return tuple(found)


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    perm: str
    section: str = ""


@dataclass
class Card:
    """One tile on the home dashboard."""

    title: str
    value: str | int
    detail: str = ""
    url: str = ""
    tone: str = "neutral"  # neutral | good | warn | bad


# Clinic-wide dashboard figures (the same for everyone allowed to see them: pending
# certificates, today's appointment counts, low stock...) are computed by the first home page
# that needs them and shared by every user's home page for this long. Dashboards are current
# to the minute (issue 15); a user's own figures (unread notifications, their drafts, their
# appointments) are never shared and are always counted live.
CLINIC_FIGURE_SECONDS = 30


def _figure_key(name: str) -> str:
    return f"dashboard:{getattr(settings, 'CLINIC_FIGURE_NAMESPACE', '')}:{name}"


# While ``dashboard_cards`` runs: the cache's answers for the figures read in one round trip
# (a name missing here is read on its own, as without it).
_fetched: ContextVar[dict | None] = ContextVar("clinic_figures_fetched", default=None)
_asked: ContextVar[list | None] = ContextVar("clinic_figures_asked", default=None)
_ASKED_BY_ROLE: dict[str, tuple[str, ...]] = {}  # per process: what a role's home page read


def clinic_figure(name: str, compute, *, seconds: int = CLINIC_FIGURE_SECONDS):
    """``compute()``, shared across users and workers through the cache for ``seconds``.

    ``name`` must hold everything the value depends on besides time (e.g. today's date), and
    the value must be the same for every user who is shown it. A cache that is down only
    means the figure is computed every time."""
    key = _figure_key(name)
    asked, fetched = _asked.get(), _fetched.get()
    if asked is not None:
        asked.append(name)
    try:
        found = fetched[key] if fetched is not None and key in fetched else django_cache.get(key)
    except Exception:  # Redis down: count live
        found = None
    if found is not None:
        return found[0]
    value = compute()
    if fetched is not None:
        fetched[key] = (value,)
    try:
        django_cache.set(key, (value,), seconds)
    except Exception:  # noqa: S110 - Redis down: nothing to share
        pass
    return value


class UserCount:
    """A figure of the user's own on the home dashboard (their unread notifications, their
    unsigned drafts...): ``build(*args(user)).count()``, counted live at every request, its
    SQL compiled once per process (``uscpis.compiled.CompiledCount``). ``args(user)`` gives
    the arguments (ids, strings, aware datetimes). On the home page, the counts the same
    role's home page asked for last time are all counted in one round trip first; a count
    not among them is counted on its own."""

    def __init__(self, name: str, model, build, args):
        self.name = name
        self.args = args
        self.compiled = CompiledCount(model, build)

    def __repr__(self) -> str:
        return f"UserCount({self.name!r})"

    def value(self, user) -> int:
        asked = _counts_asked.get()
        if asked is not None:
            asked.append(self)
        counted = _counted.get()
        if counted is not None and self in counted:
            return counted[self]
        return self.compiled.count(*self.args(user))


# While ``dashboard_cards`` runs: the user's counts read in one round trip, and those asked.
_counted: ContextVar[dict | None] = ContextVar("user_counts_counted", default=None)
_counts_asked: ContextVar[list | None] = ContextVar("user_counts_asked", default=None)
_COUNTS_BY_ROLE: dict[str, tuple[UserCount, ...]] = {}  # per process: a role's home page's


def _count_together(user, wanted: tuple[UserCount, ...]) -> dict[UserCount, int]:
    sent, statements = [], []
    for figure in wanted:
        statement = figure.compiled.statement(*figure.args(user))
        if statement is not None:
            sent.append(figure)
            statements.append(statement)
    if not statements:
        return {}
    return {
        figure: rows[0][0] for figure, rows in zip(sent, fetch_together(statements), strict=True)
    }


def dashboard_cards(user) -> list[Card]:
    """Every app's home dashboard cards for ``user`` (``<app>.dashboard.cards``).

    The shared figures the same role's home page read last time are read from the cache in
    one round trip first (each is still read at this request, so none is older than with
    one read per figure); a figure not among them is read on its own. The user's own
    counts (``UserCount``) are counted the same way: together, in one round trip."""
    role = getattr(user, "role", "")
    keys = [_figure_key(name) for name in _ASKED_BY_ROLE.get(role, ())]
    try:
        found = django_cache.get_many(keys) if keys else {}
    except Exception:  # Redis down: each figure is counted live
        found = {}
    fetched_token = _fetched.set({key: found.get(key) for key in keys})
    counted_token = _counted.set(_count_together(user, _COUNTS_BY_ROLE.get(role, ())))
    asked: list[str] = []
    asked_token = _asked.set(asked)
    counts_asked: list[UserCount] = []
    counts_asked_token = _counts_asked.set(counts_asked)
    try:
        cards: list[Card] = []
        for module in app_modules("dashboard"):
            cards.extend(module.cards(user))
    finally:
        _counts_asked.reset(counts_asked_token)
        _asked.reset(asked_token)
        _counted.reset(counted_token)
        _fetched.reset(fetched_token)
    _ASKED_BY_ROLE[role] = tuple(dict.fromkeys(asked))
    _COUNTS_BY_ROLE[role] = tuple(dict.fromkeys(counts_asked))
    return cards


@dataclass(frozen=True)
class ChartLink:
    """A button another domain adds to the patient chart (e.g. appointment history)."""

    label: str
    url: str


@dataclass(frozen=True)
class ChartLinkReads:
    """The reads the chart buttons need for one patient (each domain's ``link_reads(user,
    patient_id) -> list[(sql, params)]``), for the chart to send with its own in one round
    trip; ``chart_links(..., reads=..., rows=...)`` hands each domain its rows back."""

    per_module: tuple[tuple[tuple[str, list], ...], ...]

    @property
    def statements(self) -> list[tuple[str, list]]:
        return [stmt for stmts in self.per_module for stmt in stmts]


def chart_link_reads(user, patient_id: int) -> ChartLinkReads:
    reads = []
    for module in app_modules("chart"):
        hook = getattr(module, "link_reads", None)
        reads.append(tuple(hook(user, patient_id)) if hook is not None else ())
    return ChartLinkReads(tuple(reads))


def chart_links(
    user, patient, *, reads: ChartLinkReads | None = None, rows: list | None = None
) -> list[ChartLink]:
    """Every domain's buttons on ``patient``'s chart. With ``reads`` (``chart_link_reads``
    for this user and patient) and ``rows`` (their statements' rows, in order), a domain
    that asked for reads gets its rows (``links(user, patient, rows=...)``) instead of
    reading them itself."""
    links: list[ChartLink] = []
    position = 0
    for index, module in enumerate(app_modules("chart")):
        asked = reads.per_module[index] if reads is not None else ()
        if asked and rows is not None:
            mine = rows[position : position + len(asked)]
            position += len(asked)
            links.extend(module.links(user, patient, rows=mine))
        else:
            links.extend(module.links(user, patient))
    return links


def prescription_links(user, prescription) -> list[ChartLink]:
    """Actions other domains offer next to a prescription (e.g. inventory's "Dispense").
    Must not query: the visit page calls it once per prescription."""
    links: list[ChartLink] = []
    for module in app_modules("chart"):
        hook = getattr(module, "prescription_links", None)
        if hook is not None:
            links.extend(hook(user, prescription))
    return links


def page_links(user, page: str) -> list[ChartLink]:
    """Buttons other domains add to the page named ``page`` (e.g. analytics' stock-out
    forecast on ``inventory:low_stock``). Must not query."""
    links: list[ChartLink] = []
    for module in app_modules("chart"):
        hook = getattr(module, "page_links", None)
        if hook is not None:
            links.extend(hook(user, page))
    return links

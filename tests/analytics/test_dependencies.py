"""Analytics is read-only and downstream: no other app imports it (contributions go through
``uscpis.registry``, which discovers ``analytics.nav``/``dashboard``/``chart``/``seed``/``bench``
by name)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMPORT = re.compile(r"^\s*(from analytics[\s.]|import analytics\b)", re.MULTILINE)


def test_no_app_imports_analytics():
    offenders = []
    for app in (
        "accounts",
        "patients",
        "appointments",
        "inventory",
        "billing",
        "monitoring",
        "uscpis",
    ):
        for path in (ROOT / app).rglob("*.py"):
            if IMPORT.search(path.read_text(encoding="utf-8")):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_analytics_writes_only_its_own_tables():
    """Its SQL inserts into and deletes from analytics_* tables only."""
    pattern = re.compile(r"(INSERT INTO|DELETE FROM|UPDATE) +([a-z]+_[a-z_]+|\{table\})")
    for path in (ROOT / "analytics").rglob("*.py"):
        if path.name in ("seed.py", "bench.py") or "migrations" in path.parts:
            continue  # demo and bench data generators write source tables on purpose
        for _, table in pattern.findall(path.read_text(encoding="utf-8")):
            assert table.startswith("analytics_") or table == "{table}", (path.name, table)

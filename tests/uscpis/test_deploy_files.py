"""The compose file: PostgreSQL 18 like the embedded server, and the app reachable only
through the proxy whose single hop TRUSTED_PROXY_COUNT trusts."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_database_is_the_embedded_major_version():
    from uscpis.embedded_db import EMBEDDED_MAJOR

    assert _compose()["services"]["db"]["image"] == f"postgres:{EMBEDDED_MAJOR}"


def test_only_the_proxy_publishes_ports_and_the_proxy_count_is_explicit():
    services = _compose()["services"]
    published = {name for name, svc in services.items() if svc.get("ports")}
    assert published == {"proxy"}
    assert "web:8000" in (ROOT / "deploy" / "Caddyfile").read_text()
    for name in ("web", "worker", "beat", "migrate", "monitor"):
        assert str(services[name]["environment"]["TRUSTED_PROXY_COUNT"]) == "1"


def test_ci_installs_postgresql_18_when_debian_offers_it():
    script = (ROOT / ".ci" / "run").read_text()
    assert "apt-cache policy postgresql-18" in script

"""The OpenAPI schema, Swagger UI and ReDoc: served from local (sidecar) assets, no inline
script, and the strict CSP kept (ReDoc's page alone allows inline styles its renderer
injects)."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def _scripts(html: str) -> list[str]:
    return re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_use_local_assets_and_no_inline_script(client, url):
    r = client.get(url)
    assert r.status_code == 200
    html = r.content.decode()
    for attrs, body in _scripts(html):
        assert 'src="/' in attrs and not body.strip(), attrs
    assert "https://" not in html  # no CDN
    csp = r["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]*)", csp).group(1)
    assert "unsafe-inline" not in script_src and "http" not in script_src


def test_swagger_start_script_is_served_as_javascript(client):
    html = client.get("/api/docs/").content.decode()
    src = [a for a, _ in _scripts(html) if "script=" in a]
    assert src
    url = re.search(r'src="([^"]+)"', src[0]).group(1).replace("&amp;", "&")
    r = client.get(url)
    assert r.status_code == 200 and "javascript" in r["Content-Type"]
    assert b"SwaggerUIBundle" in r.content


def test_schema_is_openapi_and_documents_problem_responses(client):
    r = client.get("/api/schema/?format=json")
    assert r.status_code == 200
    schema = r.json()
    assert schema["openapi"].startswith("3.")
    op = schema["paths"]["/api/v1/patients/{id}/"]["get"]
    assert "application/problem+json" in op["responses"]["404"]["content"]
    assert {"tokenAuth": []} in op["security"]
    book = schema["paths"]["/api/v1/appointments/"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in book["parameters"])

"""Views bind forms, check permissions and call services; they never write to the database
themselves (STYLE.md "Views and HTMX"). This walks every view module's syntax tree and fails
on a model write: ``X.objects.create/update/...``, a queryset ``.delete()``, or ``.save()``
(``form.save(commit=False)`` only builds an unsaved instance for a service, so it passes; a
call whose line says ``# not a write: <why>`` passes too, e.g. Django's password-reset form,
whose ``save`` sends an email)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MANAGER_WRITES = {
    "create",
    "get_or_create",
    "update_or_create",
    "bulk_create",
    "bulk_update",
    "update",
}


def view_modules() -> list[Path]:
    found = []
    for app in sorted(p.parent for p in ROOT.glob("*/apps.py")):
        found += [app / "views.py"] if (app / "views.py").exists() else []
        found += sorted((app / "views").glob("*.py"))
    return found


def writes_in(path: Path) -> list[str]:
    problems = []
    lines = path.read_text().splitlines()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method, receiver = node.func.attr, ast.unparse(node.func.value)
        unsaved = any(
            k.arg == "commit" and isinstance(k.value, ast.Constant) and k.value.value is False
            for k in node.keywords
        )
        if "# not a write:" in lines[node.lineno - 1]:
            continue
        if (
            (method in MANAGER_WRITES and ".objects" in f".{receiver}")
            or (method == "delete" and ("objects" in receiver or receiver.endswith(")")))
            or (method == "save" and not unsaved)
        ):
            where = path.relative_to(ROOT)
            problems.append(f"{where}:{node.lineno} {receiver}.{method}(...)")
    return problems


def test_the_scan_finds_the_view_modules():
    names = {str(p.relative_to(ROOT)) for p in view_modules()}
    assert {
        "accounts/views.py",
        "inventory/views/stocktake.py",
        "patients/views/visits.py",
    } <= names


def test_the_scan_catches_each_kind_of_write(tmp_path):
    sample = tmp_path / "views.py"
    sample.write_text(
        "def v(request, form, obj):\n"
        "    Item.objects.create(name='x')\n"
        "    Item.objects.filter(pk=1).update(name='y')\n"
        "    Item.objects.filter(pk=1).delete()\n"
        "    form.save()\n"
        "    obj.save(update_fields=['name'])\n"
        "    form.save(commit=False)\n"
        "    context.update(a=1)\n"
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert [p.split(" ", 1)[0] for p in writes_in(sample)] == [
            f"views.py:{n}" for n in (2, 3, 4, 5, 6)
        ]
    finally:
        ROOT = saved


def test_no_view_writes_to_the_database_itself():
    problems = [p for path in view_modules() for p in writes_in(path)]
    assert problems == [], "views must call a service instead:\n" + "\n".join(problems)

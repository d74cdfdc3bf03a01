"""Reads of patient data have one owner: the access helpers. Only they (selectors, and the
FHIR framework's fetch-and-serve views) write per-patient read/export events, and every
access helper takes ``purpose`` as a required keyword, so a view cannot fetch a patient's
record without deciding how the fetch is audited."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from uscpis.registry import domain_apps

ROOT = Path(__file__).resolve().parents[2]
APPS = ["accounts", "uscpis", *(app for app in domain_apps() if app not in ("accounts",))]
WRITERS = {"audit_phi_access", "audit_phi_served"}
# Where the writers may be called: the audit module itself, selectors (the access
# helpers), and the FHIR framework, whose read and search views fetch through each
# resource's ``read``/``queryset`` and audit every row they serve.
OWNERS = {"accounts/audit.py", "uscpis/api/fhir.py"}


def _modules():
    for app in dict.fromkeys(APPS):
        for path in sorted((ROOT / app).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if "/migrations/" not in rel and "/tests/" not in rel:
                yield rel, ast.parse(path.read_text(), filename=rel)


def _is_owner(rel: str) -> bool:
    return rel in OWNERS or rel.endswith("/selectors.py") or "/selectors/" in rel


def _called_names(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name:
                yield name, node.lineno


def test_only_access_helpers_write_phi_read_events():
    offenders = [
        f"{rel}:{line} calls {name}"
        for rel, tree in _modules()
        if not _is_owner(rel)
        for name, line in _called_names(tree)
        if name in WRITERS
    ]
    assert not offenders, (
        "Record patient reads in an access helper (a selector taking purpose=...), not in "
        "the view:\n" + "\n".join(offenders)
    )


def _access_helpers():
    for rel, tree in _modules():
        if not _is_owner(rel) or rel in OWNERS:
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and (
                node.name.endswith("_for_user")
                and node.name.startswith("get_")
                or node.name in ("patient_for_portal", "own_patient", "get_own_offer")
            ):
                yield rel, node


HELPERS = list(_access_helpers())


def test_the_access_helpers_are_found():
    names = {node.name for _, node in HELPERS}
    assert {
        "get_patient_for_user",
        "get_visit_for_user",
        "get_document_for_user",
        "get_certificate_for_user",
        "patient_for_portal",
        "get_appointment_for_user",
        "get_invoice_for_user",
        "get_payment_for_user",
        "get_claim_for_user",
    } <= names


@pytest.mark.parametrize(("rel", "node"), HELPERS, ids=[n.name for _, n in HELPERS])
def test_every_access_helper_requires_a_purpose(rel, node):
    kwonly = {arg.arg: default for arg, default in zip(node.args.kwonlyargs, node.args.kw_defaults)}
    assert "purpose" in kwonly, f"{rel}: {node.name} must take a keyword-only purpose"
    assert kwonly["purpose"] is None, f"{rel}: {node.name}'s purpose must have no default"

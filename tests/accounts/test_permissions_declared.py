"""Every view of ours declares the permission it needs (InvenTree ruleset-test style)."""

from django.urls import URLPattern, URLResolver, get_resolver

from accounts.roles import MATRIX, PERMISSIONS, PUBLIC, Role

OUR_APPS = {
    "accounts",
    "patients",
    "appointments",
    "inventory",
    "billing",
    "analytics",
    "monitoring",
}


def _walk(patterns, prefix="", namespace=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern), p.namespace or namespace)
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), namespace, p.callback


def test_every_view_declares_a_permission():
    missing, unknown, seen = [], [], 0
    for route, namespace, callback in _walk(get_resolver().url_patterns):
        module = getattr(callback, "__module__", "") or ""
        if namespace not in OUR_APPS:
            continue  # Django admin (namespace "admin") has its own permission system
        seen += 1
        perm = getattr(callback, "required_permission", None)
        if perm is None:
            missing.append(f"{route} ({module}.{getattr(callback, '__name__', '?')})")
        elif perm != PUBLIC and perm not in PERMISSIONS:
            unknown.append(f"{route}: {perm}")
    assert seen >= 20, "the walker found too few views; is it walking the resolver?"
    assert not missing, "Views without a declared permission:\n" + "\n".join(missing)
    assert not unknown, "Views declaring unknown permissions:\n" + "\n".join(unknown)


def test_matrix_covers_every_role_and_only_known_permissions():
    assert set(MATRIX) == set(Role)
    for role, perms in MATRIX.items():
        assert perms <= set(PERMISSIONS), (
            f"{role} has unknown permissions {perms - set(PERMISSIONS)}"
        )
    # Every permission is granted to someone, or it is dead weight.
    granted = set().union(*MATRIX.values())
    assert granted == set(PERMISSIONS), f"never granted: {set(PERMISSIONS) - granted}"


def test_patients_cannot_reach_staff_permissions():
    staff_only = {p for p in PERMISSIONS if p not in MATRIX[Role.PATIENT]}
    assert "patients.view_clinical" in staff_only
    assert "accounts.manage_users" in staff_only

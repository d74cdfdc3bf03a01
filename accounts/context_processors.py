"""Role-aware navigation and the layout's fixed links for the base template.

Neither queries the database (the role is on the user), and neither reverses a URL on every
request: a role's menu and the layout's links only change when the URL configuration does,
so they are worked out once per process for each role, URL configuration and script prefix
and reused (``reverse`` and ``static`` were half the cost of rendering an empty page).
"""

from functools import lru_cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.templatetags.static import static
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse

from accounts.roles import role_has_perm
from uscpis.registry import app_modules

LAYOUT_URLS = {
    "home": "accounts:home",
    "notifications": "accounts:notifications",
    "bell": "accounts:notification_bell",
    "preferences": "accounts:preferences",
    "api_tokens": "accounts:api_tokens",
    "two_factor": "accounts:two_factor_setup",
    "password_change": "accounts:password_change",
    "logout": "accounts:logout",
}
LAYOUT_STATIC = {
    "favicon": "img/favicon.svg",
    "css": "css/app.css",
    "htmx": "js/htmx.min.js",
    "app_js": "js/app.js",
}


def _cache_key() -> tuple:
    return (get_urlconf() or settings.ROOT_URLCONF, get_script_prefix(), settings.STATIC_URL)


@lru_cache(maxsize=256)
def _menu(role: str, _key: tuple) -> tuple[tuple[str, str], ...]:
    items = []
    for module in app_modules("nav"):
        for item in getattr(module, "NAV", ()):
            if not role_has_perm(role, item.perm):
                continue
            try:
                items.append((item.label, reverse(item.url_name)))
            except NoReverseMatch:
                continue
    return tuple(items)


@lru_cache(maxsize=32)
def _layout(_key: tuple) -> dict[str, str]:
    links = {name: reverse(url_name) for name, url_name in LAYOUT_URLS.items()}
    links.update({name: static(path) for name, path in LAYOUT_STATIC.items()})
    return links


def navigation(request):
    layout = _layout(_cache_key())
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_active:
        return {"nav_items": [], "layout": layout, "site_url": settings.SITE_URL}
    items = [
        {"label": label, "url": url, "active": False}
        for label, url in _menu(user.role, _cache_key())
    ]
    # Highlight one entry: the one whose URL is the longest prefix of this page's path.
    matches = [
        i
        for i in items
        if request.path == i["url"] or (i["url"] != "/" and request.path.startswith(i["url"]))
    ]
    if matches:
        max(matches, key=lambda i: len(i["url"]))["active"] = True
    # Absolute links shown to users (calendar feeds) come from SITE_URL, never the Host header.
    return {"nav_items": items, "layout": layout, "site_url": settings.SITE_URL}


@receiver(setting_changed)
def _forget(**kwargs) -> None:
    """Tests that change URLs, static files or the script prefix get fresh links."""
    _menu.cache_clear()
    _layout.cache_clear()

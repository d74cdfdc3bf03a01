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


@lru_cache(maxsize=1024)
def _nav_items(role: str, key: tuple, active: int | None) -> tuple[dict, ...]:
    """A role's menu as the base template shows it, entry ``active`` highlighted. Shared
    between requests (one per role, URL configuration and highlighted entry): templates
    only read it."""
    return tuple(
        {"label": label, "url": url, "active": index == active}
        for index, (label, url) in enumerate(_menu(role, key))
    )


def _active_entry(menu: tuple[tuple[str, str], ...], path: str) -> int | None:
    """The entry whose URL is the longest prefix of ``path`` (the first of equals)."""
    best, best_length = None, -1
    for index, (_, url) in enumerate(menu):
        if (path == url or (url != "/" and path.startswith(url))) and len(url) > best_length:
            best, best_length = index, len(url)
    return best


# base.html asks for bare_layout (pages without the menu set it): a name found costs the
# template less than a missing one (a raised and caught VariableDoesNotExist).
_NO_MENU = {"nav_key": None, "bare_layout": False}


def navigation(request):
    key = _cache_key()
    layout = _layout(key)
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_active:
        return {"nav_items": [], **_NO_MENU, "layout": layout, "site_url": settings.SITE_URL}
    role = user.role
    active = _active_entry(_menu(role, key), request.path)
    # Absolute links shown to users (calendar feeds) come from SITE_URL, never the Host header.
    return {
        "nav_items": _nav_items(role, key, active),
        "nav_key": (key, role, active),  # names the menu for the layout's cached markup
        "bare_layout": False,
        "layout": layout,
        "site_url": settings.SITE_URL,
    }


@receiver(setting_changed)
def _forget(**kwargs) -> None:
    """Tests that change URLs, static files or the script prefix get fresh links."""
    _menu.cache_clear()
    _nav_items.cache_clear()
    _layout.cache_clear()

"""Role-aware navigation for the base layout (no queries: the role is on the user)."""

from django.urls import NoReverseMatch, reverse

from accounts.roles import user_has_perm
from uscpis.registry import app_modules


def navigation(request):
    from django.conf import settings

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "site_url": settings.SITE_URL}
    items = []
    for module in app_modules("nav"):
        for item in getattr(module, "NAV", ()):
            if not user_has_perm(user, item.perm):
                continue
            try:
                url = reverse(item.url_name)
            except NoReverseMatch:
                continue
            items.append({"label": item.label, "url": url, "active": False})
    # Highlight one entry: the one whose URL is the longest prefix of this page's path.
    matches = [i for i in items if request.path == i["url"] or (i["url"] != "/" and request.path.startswith(i["url"]))]
    if matches:
        max(matches, key=lambda i: len(i["url"]))["active"] = True
    # Absolute links shown to users (calendar feeds) come from SITE_URL, never the Host header.
    return {"nav_items": items, "site_url": settings.SITE_URL}

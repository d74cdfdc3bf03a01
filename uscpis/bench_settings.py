"""Settings for the HTTP benchmark's gunicorn: the production settings plus one URL.

The harness runs gunicorn with ``DJANGO_ENV=production`` and this module, which adds the
"shell" page (``/__bench__/shell/``): a signed-in page with no content, so the cost of
what every page carries (session, user, middleware, navigation, notification bell) is
measured on its own. Nothing else differs from ``uscpis.settings``.
"""

from uscpis.settings import *  # noqa: F403

ROOT_URLCONF = "uscpis.bench_urls"

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "uscpis.settings")
application = get_wsgi_application()
get_resolver().reverse_dict  # noqa: B018 -- URL patterns loaded here, not by the first request

# What is loaded by now (modules, classes, settings, URL patterns) lives as long as the worker.
# Moved out of the cyclic garbage collector's sight, it is no longer walked by each full
# collection, which otherwise scans every object in the process about once per 3,000
# requests (gc.freeze, in the Python documentation's words "for a more efficient GC").
gc.freeze()

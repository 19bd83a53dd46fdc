"""Production settings plus the bench-only URLconf (the framework-floor endpoint).

The gunicorn that `make bench` starts gets DJANGO_SETTINGS_MODULE=bench.settings; everything
else (DEBUG off, middleware, database options) is fleet.settings unchanged.
"""

from fleet.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

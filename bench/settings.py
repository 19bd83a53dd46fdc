"""Production settings plus the bench-only URLconf (the framework-floor endpoint).

The gunicorn that `make bench` starts gets DJANGO_SETTINGS_MODULE=bench.settings; everything
else (DEBUG off, middleware, database options) is the application's settings (bench.app.SETTINGS)
unchanged.
"""

from importlib import import_module

from bench import app

# `from <SETTINGS> import *`, with the module named in bench.app rather than here.
_production = import_module(app.SETTINGS)
globals().update(
    {
        name: getattr(_production, name)
        for name in getattr(_production, "__all__", None)
        or [n for n in vars(_production) if not n.startswith("_")]
    }
)

ROOT_URLCONF = "bench.urls"

# The framework floor takes the API's middleware chain (fleet.plumbing.wsgi), so that it is the
# same configuration as the endpoints it is compared with.
if "API_PATH_PREFIXES" in globals():
    API_PATH_PREFIXES = [*globals()["API_PATH_PREFIXES"], "/bench/"]

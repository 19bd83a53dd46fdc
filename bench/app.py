"""Every place in the application that the bench names, in one place.

The bench drives the application from outside (a gunicorn it starts, manage.py, short Django
subprocesses) and imports a few of its functions; when the application's modules move, these
names are the only ones to update. Nothing here imports the application: `resolve` does, when
it is called.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Files at the project root, run as production runs them.
MANAGE = "manage.py"
GUNICORN_CONFIG = "gunicorn.conf.py"

# Modules.
SETTINGS = "fleet.project.settings"  # the production settings bench.settings extends
WSGI = "fleet.project.wsgi"  # gunicorn's application argument
URLCONF = "fleet.project.urls"  # the URLs bench.urls mounts beside its floor endpoint
DBCONFIG = "fleet.plumbing.dbconfig"  # configured_database, embedded_database

# Callables, as "module.name".
CONFIGURED_DATABASE = f"{DBCONFIG}.configured_database"
EMBEDDED_DATABASE = f"{DBCONFIG}.embedded_database"
CREATE_API_KEY = "fleet.registry.services.keys.create_api_key"
MAP_RESOURCE = "fleet.registry.resources.VehicleMeterMapResource"
PARSE_READINGS = "telemetry.readings.parse_readings"  # (items, limits) -> (readings, errors)
LIMITS = "telemetry.readings.Limits"
CURRENT_LIMITS = "telemetry.services.current_limits"  # optional: Limits are built if it's gone
FLEET_PAGE = "analytics.queries.fleet_page"  # the fleet statement, timed in-process
BASELINE_WINDOW = "analytics.health.baseline_window"  # which stored baselines a window reads

# manage.py commands the bench database needs before the server starts.
MIGRATE = ("migrate", "--noinput", "--verbosity", "0")
PARTITIONS = ("maintain_partitions", "--verbosity", "0")


def resolve(dotted: str) -> Any:
    """The object named "module.name" (ImportError or AttributeError if either is missing)."""
    module, _, name = dotted.rpartition(".")
    return getattr(import_module(module), name)

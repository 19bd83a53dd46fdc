"""Where the database is: a configured server, or the embedded development PostgreSQL.

Kept apart from settings so the parsing can be tested without reloading Django.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import environ

logger = logging.getLogger(__name__)

ENGINE = "psqlextra.backend"

# The seed's variable names. Any one of them set means "a server is configured".
SEED_VARIABLES = (
    "POSTGRES_HOST",
    "POSTGRES_PORT",
    "POSTGRES_USERNAME",
    "POSTGRES_PASSWORD",
    "POSTGRES_DATABASE",
)


def configured_database(env: Mapping[str, str]) -> dict[str, Any] | None:
    """The DATABASES["default"] entry for a configured server, or None when nothing is set.

    DATABASE_URL wins over the seed's POSTGRES_* variables.
    """
    url = env.get("DATABASE_URL", "").strip()
    if url:
        config = environ.Env.db_url_config(url)
        if config.get("ENGINE") != "django.db.backends.postgresql":
            raise ValueError(
                "DATABASE_URL must point at PostgreSQL (postgres://user:password@host:port/name)."
            )
        config["ENGINE"] = ENGINE
        # A unix socket folder goes in the host part percent-encoded
        # (postgres://user@%2Fvar%2Frun%2Fpostgresql/name); libpq wants the plain path.
        config["HOST"] = unquote(str(config.get("HOST", "")))
        return config
    if any(env.get(name) for name in SEED_VARIABLES):
        return {
            "ENGINE": ENGINE,
            "HOST": env.get("POSTGRES_HOST", "localhost"),
            "PORT": int(env.get("POSTGRES_PORT", "5432")),
            "USER": env.get("POSTGRES_USERNAME", "postgres"),
            "PASSWORD": env.get("POSTGRES_PASSWORD", ""),
            "NAME": env.get("POSTGRES_DATABASE", "postgres"),
        }
    return None


def embedded_database(data_dir: Path) -> dict[str, Any]:
    """Start (or reuse) the embedded PostgreSQL under data_dir and describe how to reach it.

    The server keeps running after this process exits (cleanup_mode=None): gunicorn workers,
    management commands and test runs all share one server instead of each paying a start-up.
    """
    # platformdirs warns when XDG_RUNTIME_DIR is unset (cron, CI); pgserver then uses /tmp.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    from pgserver import get_server  # imported late: production never needs it

    pgdata = data_dir / "pg"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode=None)
    parts = urlsplit(server.get_uri())
    socket_dir = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair).get(
        "host", str(pgdata)
    )
    return {
        "ENGINE": ENGINE,
        "HOST": unquote(socket_dir),
        "PORT": "",
        "USER": parts.username or "postgres",
        "PASSWORD": "",
        "NAME": "postgres",
    }

"""One settings module for every environment, driven by the environment and an optional .env."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import environ

from fleet.dbconfig import configured_database, embedded_database

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG: bool = env.bool("DEBUG", default=False)
DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / ".data")))

_configured = configured_database(os.environ)
EMBEDDED_DATABASE = _configured is None

_database = embedded_database(DATA_DIR) if _configured is None else _configured

# Persistent connections save a connect per request; health checks drop a connection the
# server closed (restart, failover) instead of failing the next request on it.
_database.update(
    {
        "CONN_MAX_AGE": env.int("DB_CONN_MAX_AGE", default=60),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {
            # A dead or unreachable server must fail fast, not hang a worker.
            "connect_timeout": env.int("DB_CONNECT_TIMEOUT", default=5),
            "options": "-c statement_timeout={} -c lock_timeout={}".format(
                env.int("DB_STATEMENT_TIMEOUT_MS", default=30_000),
                env.int("DB_LOCK_TIMEOUT_MS", default=10_000),
            ),
            **_database.get("OPTIONS", {}),
        },
    }
)
DATABASES = {"default": _database}


def _secret_key() -> str:
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    if not DEBUG and not EMBEDDED_DATABASE:
        raise environ.ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off and a real database is configured."
        )
    # Development: a random key kept in the git-ignored data folder, so sessions survive restarts.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "psqlextra",
    "rest_framework",
    "rest_framework_api_key",
    "import_export",
    "fleet",
    "telemetry",
    "analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "fleet.middleware.DatabaseUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "fleet.urls"
WSGI_APPLICATION = "fleet.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The embedded server ships no contrib extensions (no hstore, no btree_gist): map overlaps are
# enforced in code under row locks instead of an exclusion constraint.
POSTGRES_EXTRA_AUTO_EXTENSION_SET_UP = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["fleet.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "fleet.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
}

# Partitioned history: partition size, how far back readings are accepted (and partitions made),
# how far ahead partitions are made, and an optional retention (off when unset).
TELEMETRY_PARTITION_DAYS: int = env.int("TELEMETRY_PARTITION_DAYS", default=1)
TELEMETRY_BACKFILL_DAYS: int = env.int("TELEMETRY_BACKFILL_DAYS", default=35)
TELEMETRY_PRECREATE_DAYS: int = env.int("TELEMETRY_PRECREATE_DAYS", default=7)
TELEMETRY_RETENTION_DAYS: int | None = env.int("TELEMETRY_RETENTION_DAYS", default=None)

# Ingestion limits. A reading's energy is that of one interval (since the device's previous
# reading); more than this in one interval is a broken counter, not a charge.
TELEMETRY_MAX_BATCH: int = env.int("TELEMETRY_MAX_BATCH", default=5_000)
TELEMETRY_MAX_BODY_BYTES: int = env.int("TELEMETRY_MAX_BODY_BYTES", default=5 * 1024 * 1024)
TELEMETRY_MAX_FUTURE_SECONDS: int = env.int("TELEMETRY_MAX_FUTURE_SECONDS", default=300)
TELEMETRY_MAX_INTERVAL_KWH: float = env.float("TELEMETRY_MAX_INTERVAL_KWH", default=1_000.0)

# The map import applies every row or none (the admin's confirm step rolls back on any error).
IMPORT_EXPORT_USE_TRANSACTIONS = True

# Efficiency below this flags a vehicle (hardware fault or leakage).
EFFICIENCY_ALERT_THRESHOLD: float = env.float("EFFICIENCY_ALERT_THRESHOLD", default=0.85)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # pgserver narrates every start and exit at INFO.
    "loggers": {"pgserver": {"level": "WARNING"}},
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=False)
    CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=False)

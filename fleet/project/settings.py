"""One settings module for every environment, driven by the environment and an optional .env."""

from __future__ import annotations

import os
import secrets
import zoneinfo
from datetime import timedelta
from pathlib import Path

import environ

from fleet.plumbing.dbconfig import configured_database, embedded_database

# fleet/project/settings.py: the repository is three levels up.
BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG: bool = env.bool("DEBUG", default=False)
DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / ".data")))

_configured = configured_database(os.environ)
EMBEDDED_DATABASE = _configured is None

_database = embedded_database(DATA_DIR) if _configured is None else _configured

# Persistent connections save a connect per request. A connection the server closed
# (restart, failover) is found by the request's first statement, which every API request and
# /readyz run through fleet.plumbing.db.on_live_connection (reconnect and retry once), rather
# than by Django's health check, a `SELECT 1` round trip on every request. Elsewhere (the
# admin) the first request on such a connection is a 503 and Django drops the connection after
# it. The ingest statement runs as a server-side prepared statement
# (fleet.plumbing.db.fetch_one_prepared).
DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS", default=True)
# Which statement forms the hot paths use: `auto` picks the shard-routed ones when the history
# tables are distributed (Citus), `single` and `distributed` force one (fleet.plumbing.citus).
DB_LAYOUT: str = env.str("DB_LAYOUT", default="auto")
if DB_LAYOUT not in ("auto", "single", "distributed"):
    raise environ.ImproperlyConfigured(
        f"DB_LAYOUT is {DB_LAYOUT!r}; use auto (the default), single or distributed."
    )
_database.update(
    {
        "CONN_MAX_AGE": env.int("DB_CONN_MAX_AGE", default=60),
        "CONN_HEALTH_CHECKS": env.bool("DB_CONN_HEALTH_CHECKS", default=False),
        "OPTIONS": {
            # A dead or unreachable server must fail fast, not hang a worker.
            "connect_timeout": env.int("DB_CONNECT_TIMEOUT", default=5),
            # jit off: its cost estimate makes PostgreSQL compile the fleet statement on every
            # request, and Debian's packages enable JIT (on this machine's PostgreSQL 15: 1,993
            # ms a fleet page at 10,000 vehicles against 306 ms without it). No statement here
            # runs long enough to win it back.
            "options": "-c statement_timeout={} -c lock_timeout={} -c jit=off".format(
                env.int("DB_STATEMENT_TIMEOUT_MS", default=30_000),
                env.int("DB_LOCK_TIMEOUT_MS", default=10_000),
            ),
            # Django's own cursors bind on the client and never prepare; this only lets
            # fetch_one_prepared's server-binding cursor prepare (Django's default is None).
            **({"prepare_threshold": 5} if DB_PREPARED_STATEMENTS else {}),
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
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "fleet.registry",
    "telemetry",
    "analytics",
]

# Each entry says whether API requests need it (fleet.plumbing.wsgi gives paths under
# API_PATH_PREFIXES the short chain): they skip what only the back office uses, sessions, CSRF,
# logins and their lockout, messages, the display time zone, static files and frame headers.
_MIDDLEWARE = [
    # First, so it times the whole chain (fleet.plumbing.metrics).
    ("fleet.plumbing.metrics.RequestMetricsMiddleware", True),
    ("django.middleware.security.SecurityMiddleware", True),
    ("fleet.plumbing.middleware.DatabaseUnavailableMiddleware", True),
    ("whitenoise.middleware.WhiteNoiseMiddleware", False),
    ("django.contrib.sessions.middleware.SessionMiddleware", False),
    ("django.middleware.common.CommonMiddleware", True),
    ("django.middleware.csrf.CsrfViewMiddleware", False),
    ("django.contrib.auth.middleware.AuthenticationMiddleware", False),
    ("fleet.plumbing.timezones.DisplayTimeZoneMiddleware", False),
    ("django.contrib.messages.middleware.MessageMiddleware", False),
    ("django.middleware.clickjacking.XFrameOptionsMiddleware", False),
    # Last, as django-axes asks: it turns a locked-out login into its lockout response.
    ("axes.middleware.AxesMiddleware", False),
]
MIDDLEWARE = [path for path, _ in _MIDDLEWARE]
API_MIDDLEWARE = [path for path, api in _MIDDLEWARE if api]
API_PATH_PREFIXES = ["/v1/", "/healthz", "/readyz", "/metrics"]

# Failed admin logins: django-axes locks out a username, and separately an address, after
# AXES_FAILURE_LIMIT failures, for AXES_COOLOFF_MINUTES; a success clears the count. Operators
# unlock with `manage.py axes_reset_username NAME` or `axes_reset_ip ADDRESS` (or by deleting
# the access attempt in the admin). Every failure and lockout is logged by axes.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT: int = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one locks
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "fleet.plumbing.client.client_address"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False  # no start-up banner in every management command; failures still logged
# Log who and from where (an operator needs both to unlock); passwords are never logged.
AXES_SENSITIVE_PARAMETERS: list[str] = []

# Front proxies whose X-Forwarded-For is believed (networks, e.g. 127.0.0.1/32 for an nginx on
# the same host). Empty: REMOTE_ADDR is the client, and X-Forwarded-For is ignored, so a client
# cannot pick the address it is locked out (or let in) by.
TRUSTED_PROXIES: list[str] = env.list("TRUSTED_PROXIES", default=[])

ROOT_URLCONF = "fleet.project.urls"
CSRF_FAILURE_VIEW = "fleet.plumbing.errors.csrf_failure"
WSGI_APPLICATION = "fleet.project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "fleet" / "project" / "templates"],  # the landing page
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
# Storage, the API and the database session are UTC. People read the admin in
# DISPLAY_TIME_ZONE (an IANA name such as Europe/Berlin), and every time shown names its zone.
TIME_ZONE = "UTC"
DISPLAY_TIME_ZONE: str = env.str("DISPLAY_TIME_ZONE", default="UTC")
try:
    zoneinfo.ZoneInfo(DISPLAY_TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
    raise environ.ImproperlyConfigured(
        f"DISPLAY_TIME_ZONE is {DISPLAY_TIME_ZONE!r}, not a time zone name; use an IANA name "
        "such as Europe/Berlin (the default is UTC)."
    ) from error
FORMAT_MODULE_PATH = ["fleet.project.formats"]
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
    "DEFAULT_AUTHENTICATION_CLASSES": ["fleet.registry.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "fleet.plumbing.negotiation.JsonFirstNegotiation",
    "EXCEPTION_HANDLER": "fleet.plumbing.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Per API key (fleet.registry.throttles), counted in the cache: per worker process with the
    # default local-memory cache (so the effective limit is rate x workers), once for all
    # workers when CACHE_URL is redis://... A device key's default never caps a gateway: one
    # for 10,000 devices posting a reading a minute sends 167 requests/s, 1,667/s in a 10x
    # burst, against 2,000/s here.
    "DEFAULT_THROTTLE_CLASSES": ["fleet.registry.throttles.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "device": env.str("THROTTLE_DEVICE_RATE", default="120000/min"),
        "analyst": env.str("THROTTLE_ANALYST_RATE", default="600/min"),
    },
}

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

# How long a worker trusts a usable API key without looking it up again (fleet.registry.keycache):
# a revoked key is refused everywhere within this bound. 0 looks every request up.
API_KEY_CACHE_SECONDS: int = env.int("API_KEY_CACHE_SECONDS", default=5)
if API_KEY_CACHE_SECONDS < 0:
    raise environ.ImproperlyConfigured("API_KEY_CACHE_SECONDS must be 0 or more (seconds).")

SPECTACULAR_SETTINGS = {
    "TITLE": "Fleet telemetry API",
    "DESCRIPTION": (
        "Ingestion of vehicle (DC) and smart meter (AC) readings, and charging efficiency "
        "analytics. Authenticate with `Authorization: Api-Key <key>`: device keys post "
        "telemetry, analyst keys read status and analytics. Errors are "
        '`{"status", "message", "errors"}`; a 503 carries Retry-After.'
    ),
    "VERSION": "1.0.0",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Two fields named "health" with different choices: a vehicle's verdict, and what an alert
    # changed it to.
    "ENUM_NAME_OVERRIDES": {
        "HealthEnum": "analytics.health.VERDICTS",
        "AlertHealthEnum": "analytics.models.ALERT_VERDICTS",
    },
    "SCHEMA_PATH_PREFIX": "/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "telemetry.schema.add_reading_schemas",
        "fleet.plumbing.openapi.postprocess",
    ],
}

# /metrics is not public: allowed from these networks, or with "Authorization: Bearer <token>".
METRICS_ALLOWED_NETWORKS: list[str] = env.list(
    "METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"]
)
METRICS_TOKEN: str = env.str("METRICS_TOKEN", default="")

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

# MQTT ingestion (manage.py ingest_mqtt, telemetry/mqtt/; broker: deploy/mosquitto/mosquitto.conf).
# mqtt://host:1883, or mqtts://host:8886 checked against MQTT_CA_FILE (empty: the system's CAs).
# user:password may sit in the URL; MQTT_USERNAME / MQTT_PASSWORD, when set, win.
MQTT_URL: str = env.str("MQTT_URL", default="mqtt://127.0.0.1:1883")
MQTT_CA_FILE: str = env.str("MQTT_CA_FILE", default="")
MQTT_USERNAME: str = env.str("MQTT_USERNAME", default="")
MQTT_PASSWORD: str = env.str("MQTT_PASSWORD", default="")
# The broker keeps this client's session (its subscriptions and every message not yet
# acknowledged) under this id: fixed across restarts, one per consumer process.
# Empty: fleet-ingest-<hostname>.
MQTT_CLIENT_ID: str = env.str("MQTT_CLIENT_ID", default="")
# Consumers of one group split the messages between them ($share/<group>/...).
MQTT_SHARE_GROUP: str = env.str("MQTT_SHARE_GROUP", default="fleet-ingest")
MQTT_KEEPALIVE: int = env.int("MQTT_KEEPALIVE", default=60)
# Seconds the broker keeps a consumer's session (and queues its messages) while it is away.
MQTT_SESSION_EXPIRY: int = env.int("MQTT_SESSION_EXPIRY", default=86_400)
# At most this many messages unacknowledged with a consumer; the broker holds the rest.
MQTT_RECEIVE_MAXIMUM: int = env.int("MQTT_RECEIVE_MAXIMUM", default=2_000)
# A batch (one transaction, then a PUBACK per message) closes at this many readings, this many
# payload bytes, or this long after its first message.
MQTT_BATCH_READINGS: int = env.int("MQTT_BATCH_READINGS", default=2_000)
MQTT_BATCH_BYTES: int = env.int("MQTT_BATCH_BYTES", default=8 * 1024 * 1024)
MQTT_BATCH_MS: int = env.int("MQTT_BATCH_MS", default=50)
# The consumer's Prometheus metrics on 127.0.0.1 (0: off).
MQTT_METRICS_PORT: int = env.int("MQTT_METRICS_PORT", default=9108)
# Backoff caps: commit retries while the database is down; reconnections to the broker.
MQTT_RETRY_MAX_SECONDS: float = env.float("MQTT_RETRY_MAX_SECONDS", default=5.0)
MQTT_RECONNECT_MAX_SECONDS: float = env.float("MQTT_RECONNECT_MAX_SECONDS", default=10.0)
# How much of a refused payload its fleet/v1/rejected/... message repeats.
MQTT_REJECTED_PAYLOAD_BYTES: int = env.int("MQTT_REJECTED_PAYLOAD_BYTES", default=65_536)

# The map import applies every row or none (the admin's confirm step rolls back on any error).
IMPORT_EXPORT_USE_TRANSACTIONS = True

# Efficiency below this flags a vehicle (hardware fault or leakage).
EFFICIENCY_ALERT_THRESHOLD: float = env.float("EFFICIENCY_ALERT_THRESHOLD", default=0.85)
# Health verdicts (analytics.health): how often a device is expected to report, how much of that
# an hour needs on both sides to count as paired, and the baseline a vehicle is compared with.
TELEMETRY_READING_INTERVAL_SECONDS: int = env.int("TELEMETRY_READING_INTERVAL_SECONDS", default=60)
EFFICIENCY_MIN_COVERAGE: float = env.float("EFFICIENCY_MIN_COVERAGE", default=0.9)
EFFICIENCY_MIN_PAIRED_HOURS: int = env.int("EFFICIENCY_MIN_PAIRED_HOURS", default=2)
EFFICIENCY_DEGRADATION_POINTS: float = env.float("EFFICIENCY_DEGRADATION_POINTS", default=0.05)
EFFICIENCY_BASELINE_DAYS: int = env.int("EFFICIENCY_BASELINE_DAYS", default=14)
EFFICIENCY_BASELINE_MIN_DAYS: int = env.int("EFFICIENCY_BASELINE_MIN_DAYS", default=7)
# The window manage.py evaluate_health judges every vehicle over, ending when it runs.
HEALTH_WINDOW_HOURS: int = env.int("HEALTH_WINDOW_HOURS", default=24)
# Alert delivery to webhooks (analytics.webhooks): how long one request may take, and how long a
# receiver that is down is retried for (exponential backoff from 1 minute, capped at an hour).
WEBHOOK_TIMEOUT_SECONDS: float = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
WEBHOOK_RETRY_HOURS: int = env.int("WEBHOOK_RETRY_HOURS", default=24)
if not 0 < EFFICIENCY_MIN_COVERAGE <= 1:
    raise environ.ImproperlyConfigured(
        "EFFICIENCY_MIN_COVERAGE must be above 0 and at most 1 (a share of expected readings)."
    )
if TELEMETRY_READING_INTERVAL_SECONDS < 1:
    raise environ.ImproperlyConfigured(
        "TELEMETRY_READING_INTERVAL_SECONDS must be at least 1 (seconds between readings)."
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # pgserver narrates every start and exit at INFO.
    "loggers": {"pgserver": {"level": "WARNING"}},
}

# Production behind TLS (HTTPS=true): redirect, HSTS, secure cookies, and trust the proxy's
# X-Forwarded-Proto. Off by default so `make run` works over plain http on localhost.
if env.bool("HTTPS", default=False):
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # /healthz and /readyz answer the load balancer's plain-http probes.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

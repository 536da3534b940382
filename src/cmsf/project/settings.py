"""Django settings for cmsf. Every value that an operator may change comes from the environment;
the README's configuration table lists them all."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from huey import PostgresHuey, RedisHuey, SqliteHuey

from cmsf.lib.env import EnvError, data_dir, env_bool, env_choice, env_int, env_str, trusted_proxies
from cmsf.lib.keys import ENCRYPTION_KEY_FILE, signing_key
from cmsf.lib.redact import json_formatter

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = data_dir()
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = signing_key(DATA_DIR, env_str("CMSF_SECRET_KEY"))
CMSF_ENCRYPTION_KEY = env_str("CMSF_ENCRYPTION_KEY")
CMSF_ENCRYPTION_KEY_FILE = DATA_DIR / ENCRYPTION_KEY_FILE

DEBUG = env_bool("CMSF_DEBUG", False)
# Seeds the stored public URL (sync.models.SyncSettings.public_url, where Campaign Monitor posts list webhooks) the
# first time it is read while none was ever stored; never read after that (see SyncSettings).
CMSF_PUBLIC_URL = env_str("CMSF_PUBLIC_URL").rstrip("/")
ALLOWED_HOSTS = [h.strip() for h in env_str("CMSF_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env_str("CMSF_CSRF_TRUSTED_ORIGINS").split(",") if o.strip()]
# Served over HTTPS (directly, or by a trusted proxy that says so): cookies only over HTTPS, plain HTTP redirected to
# HTTPS (but the health checks, which a load balancer may ask over HTTP), and HSTS. CMSF_SECURE_COOKIES, the older name,
# says the same.
CMSF_HTTPS = env_bool("CMSF_HTTPS", False) or env_bool("CMSF_SECURE_COOKIES", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = CMSF_HTTPS
# The probes of a load balancer and a scraper inside the network may ask over HTTP (/metrics still needs its token).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("CMSF_HSTS_SECONDS", 365 * 24 * 3600) if CMSF_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = CMSF_HTTPS
SESSION_COOKIE_HTTPONLY = True
# Proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (addresses or networks, comma-separated; empty:
# none). `cmsf serve` hands them to uvicorn, which puts the client's address and scheme into each request; Django
# itself reads no forwarded header, so a client cannot claim another address or https.
CMSF_TRUSTED_PROXIES = trusted_proxies(env_str("CMSF_TRUSTED_PROXIES"))
CMSF_BEHIND_PROXY = env_bool("CMSF_BEHIND_PROXY")  # said by the operator; `cmsf check --deploy` wants proxies then
X_FRAME_OPTIONS = "DENY"
# Request bodies, bounded before they are read (project/limits.py): a larger one is answered 413 at once.
CMSF_MAX_BODY_BYTES = env_int("CMSF_MAX_BODY_BYTES", 1024 * 1024)
CMSF_MAX_WEBHOOK_BODY_BYTES = env_int("CMSF_MAX_WEBHOOK_BODY_BYTES", 10 * 1024 * 1024)  # /hooks/: Campaign Monitor's
DATA_UPLOAD_MAX_MEMORY_SIZE = CMSF_MAX_BODY_BYTES
# One client across many workers (sync.partitions): the queue jobs a run asks for beside its own worker, which take its
# partitions too (0: one worker a client), and how long a partition's lease lasts without a heartbeat.
CMSF_SYNC_HELPERS = env_int("CMSF_SYNC_HELPERS", 0)
CMSF_PARTITION_TTL_SECONDS = env_int("CMSF_PARTITION_TTL_SECONDS", 600)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "csp",
    "axes",
    "huey.contrib.djhuey",
    "cmsf.connections",
    "cmsf.options",
    "cmsf.sync",
    "cmsf.audience",
    "cmsf.maintenance",
    "cmsf.billing",
    "cmsf.api",
    "cmsf.console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "cmsf.console.middleware.LoginRequiredMiddleware",
    "cmsf.console.middleware.TimeZoneMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# Every page's Content-Security-Policy: scripts, styles, images and fonts from cmsf itself (htmx and the Lightning Design
# System are served from its static files), nothing inline but style attributes (bars and meters sized by their
# value), no framing (the email-history embed replaces frame-ancestors with the org's and Salesforce's domains).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

ROOT_URLCONF = "cmsf.project.urls"
WSGI_APPLICATION = "cmsf.project.wsgi.application"
ASGI_APPLICATION = "cmsf.project.asgi.application"

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
                "cmsf.console.context_processors.console",
            ],
            # The console's formats (dates with their zone, counts, labels) in every template, unloaded.
            "builtins": ["cmsf.console.templatetags.formats"],
        },
    },
]


def _database() -> dict[str, Any]:
    url = env_str("DATABASE_URL")
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "cmsf.sqlite3"),
            "OPTIONS": {
                # WAL lets the console read while a sync writes; IMMEDIATE takes the write lock at
                # BEGIN so two writers queue on busy_timeout instead of failing mid-transaction.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            "TEST": {"NAME": str(DATA_DIR / "test.sqlite3")},
        }
    config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def _queue(url: str) -> Any:
    """The Huey instance named by CMSF_QUEUE_URL: sqlite:///PATH, redis://..., or postgres://..."""
    name = env_str("CMSF_QUEUE_NAME", "cmsf")
    scheme = urlsplit(url).scheme if url else "sqlite"
    if scheme in ("redis", "rediss", "unix"):
        return RedisHuey(name, url=url)
    if scheme in ("postgres", "postgresql"):
        return PostgresHuey(name, dsn=url)
    if scheme == "sqlite":
        path = urlsplit(url).path if url else ""
        # sqlite:///relative/file and sqlite:////absolute/file, as database URLs spell them.
        filename = Path(path[1:]) if path.startswith("/") else Path(path)
        if not path:
            filename = DATA_DIR / "queue.sqlite3"
        return SqliteHuey(name, filename=str(filename), timeout=20)
    raise EnvError(f"CMSF_QUEUE_URL must start with sqlite://, redis:// or postgres://, not {url!r}")


CMSF_QUEUE_URL = env_str("CMSF_QUEUE_URL")
HUEY = _queue(CMSF_QUEUE_URL)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in: django-axes first (it refuses a locked-out user before any password is checked), then passwords,
# then "Log in with Salesforce" (a Salesforce user whose email is a console user's).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Repeated failed sign-ins: after CMSF_LOGIN_FAILURES failures for one user name from one address, that pair is
# locked out for CMSF_LOCKOUT_MINUTES; a successful sign-in clears the count.
AXES_FAILURE_LIMIT = env_int("CMSF_LOGIN_FAILURES", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("CMSF_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "console/locked_out.html"
AXES_USERNAME_FORM_FIELD = "username"
# The address the server put into the request (the peer, or the client a trusted proxy names), never a header.
AXES_CLIENT_IP_CALLABLE = "cmsf.lib.env.client_address"

LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:home"
LOGOUT_REDIRECT_URL = "console:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"

# Email: by default every message is written as a file into the data folder's outbox.
EMAIL_BACKEND = env_str("CMSF_EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = DATA_DIR / "outbox"
EMAIL_HOST = env_str("CMSF_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("CMSF_EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("CMSF_EMAIL_USER")
EMAIL_HOST_PASSWORD = env_str("CMSF_EMAIL_PASSWORD")
EMAIL_USE_TLS = env_bool("CMSF_EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("CMSF_EMAIL_FROM", "cmsf@localhost")

# Logs (docs/logging.md): plain lines, or one JSON object a line (CMSF_LOG_FORMAT=json).
CMSF_LOG_FORMAT = env_choice("CMSF_LOG_FORMAT", ("plain", "json"), "plain")
# /metrics (console/metrics.py) answers only when this is set, to `Authorization: Bearer <this>`.
CMSF_METRICS_TOKEN = env_str("CMSF_METRICS_TOKEN")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": json_formatter(),
    },
    # No secret at any level, no email address above DEBUG (cmsf.lib.redact).
    "filters": {"redact": {"()": "cmsf.lib.redact.RedactSecrets"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": CMSF_LOG_FORMAT, "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env_str("CMSF_LOG_LEVEL", "INFO")},
    # django-axes logs every sign-in at INFO; its warnings (failures, lockouts) are what an operator needs. The queue
    # logs each task it runs and each periodic task it enqueues (several a minute): only its warnings and errors.
    "loggers": {"django.db.backends": {"level": "INFO"}, "axes": {"level": "WARNING"}, "huey": {"level": "WARNING"}},
}

"""Settings shared by every environment; configuration comes from environment variables.

Environment contract (see README.md):
  SECRET_KEY        required, non-empty. (DJANGO_SECRET_KEY is NOT read.)
  DATABASE_URL      required (except config.settings.local):
                    postgres://USER:PASSWORD@HOST:PORT/DBNAME[?sslmode=...&connect_timeout=...]
  ALLOWED_HOSTS     comma-separated; default "localhost,.localhost,127.0.0.1"
  APP_SHA           the deployed git SHA, shown by /api/v1/ready/ and the X-App-Sha header
  DEBUG             1/0, default per environment module
  PUBLIC_DOMAIN, DEFAULT_TENANT_SCHEMA, DEFAULT_TENANT_DOMAIN,
  SUPERUSER_EMAIL, SUPERUSER_PASSWORD   used by `create_super_tenant`
  PORT, BIND_HOST, WEB_CONCURRENCY      used by gunicorn.conf.py
"""
import os
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

ENVIRONMENT = "base"


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        value = default
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_database_url(url):
    """postgres://user:pass@host:port/db?opt=val -> a Django DATABASES entry (no extra deps)."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "pgsql", "postgis"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL must start with postgres:// or postgresql:// (got scheme {parts.scheme!r})"
        )
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ImproperlyConfigured("DATABASE_URL has no database name (postgres://user:pass@host:port/DBNAME)")
    try:
        port = parts.port
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL has an invalid port: {exc}") from None
    options = dict(parse_qsl(parts.query))
    # Fail fast when the database is unreachable, so readiness answers 503 quickly.
    options.setdefault("connect_timeout", "5")
    return {
        # django-tenants' backend wraps django.db.backends.postgresql (psycopg 3).
        "ENGINE": "django_tenants.postgresql_backend",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(port or ""),
        "OPTIONS": options,
        "CONN_MAX_AGE": int(os.environ.get("CONN_MAX_AGE", "0")),
    }


# --- secrets ---------------------------------------------------------------------------
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY.strip():
    hint = ""
    if os.environ.get("DJANGO_SECRET_KEY"):
        hint = " DJANGO_SECRET_KEY is set, but this app reads SECRET_KEY: rename the variable."
    raise ImproperlyConfigured("SECRET_KEY is not set; refusing to start." + hint)

# --- database --------------------------------------------------------------------------
def database_from_env():
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        raise ImproperlyConfigured("DATABASE_URL is not set (postgres://USER:PASSWORD@HOST:PORT/DBNAME)")
    return {"default": parse_database_url(url)}


DATABASES = database_from_env()
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)


# --- build-time breakage flags (written into the image by the Dockerfile) -------------
def _read_build_flags(path):
    flags = {}
    try:
        text = path.read_text()
    except FileNotFoundError:
        return flags
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            flags[key.strip()] = value.strip()
    return flags


BUILD_FLAGS = _read_build_flags(BASE_DIR / "BUILD_FLAGS")
_break_migration = BUILD_FLAGS.get("BREAK_MIGRATION", "0").lower()
if _break_migration in {"", "0", "no", "false", "off"}:
    BREAK_MIGRATION = None
elif _break_migration in {"1", "yes", "true", "on", "shared"}:
    BREAK_MIGRATION = "shared"
elif _break_migration == "tenant":
    BREAK_MIGRATION = "tenant"
else:
    raise ImproperlyConfigured(f"BUILD_FLAGS: BREAK_MIGRATION must be 0, 1, shared or tenant, not {_break_migration!r}")
BREAK_HEALTH = BUILD_FLAGS.get("BREAK_HEALTH", "0").lower() not in {"", "0", "no", "false", "off"}

# --- apps ------------------------------------------------------------------------------
SHARED_APPS = [
    "django_tenants",  # must come first
    "tenants",  # Client(TenantMixin) / Domain(DomainMixin): lives in the public schema
    "core",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "inventory",  # one schema per tenant
]
if BREAK_MIGRATION == "shared":
    SHARED_APPS.append("breakage")
elif BREAK_MIGRATION == "tenant":
    TENANT_APPS.append("breakage")

INSTALLED_APPS = list(SHARED_APPS) + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Client"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
ROOT_URLCONF = "config.urls_tenant"
PUBLIC_SCHEMA_URLCONF = "config.urls_public"
SHOW_PUBLIC_IF_NO_TENANT_FOUND = False

MIDDLEWARE = [
    "core.middleware.AppShaMiddleware",  # X-App-Sha on every response
    "core.middleware.ReadyProbeMiddleware",  # /api/v1/ready/ without tenant lookup or Host checks
    "django_tenants.middleware.main.TenantMainMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

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

WSGI_APPLICATION = "config.wsgi.application"

DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,.localhost,127.0.0.1")
APP_SHA = os.environ.get("APP_SHA", "").strip() or "unknown"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

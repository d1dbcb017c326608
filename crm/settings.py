"""Carreau settings: one file, read from the environment.

Every variable is documented in `.env.example`. The helpers below fail loudly on a value they
cannot read, so a typo in production stops the start instead of silently using a default.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    """The variable's value; unset or empty means the default."""
    return os.environ.get(name) or default


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}.")
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", default=True)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DJANGO_DEBUG is false.")
    # Development only: a fixed key so sessions survive restarts of `make run`.
    SECRET_KEY = "django-insecure-carreau-development-only"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "crm",
    "projects",
    "prospects",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.forms",  # its widget templates, for the site's form renderer
    "django_fsm",  # its admin templates (transition buttons on change forms)
    "django_filters",
    "django_htmx",
    "template_partials",
    "axes",  # login throttling and the login log (AccessAttempt, AccessLog, AccessFailureLog)
    "csp",
    "django_tasks",
    "django_tasks_db",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "crm.middleware.FrenchFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "crm.middleware.RefuseMisencodedFormsMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as axes requires: it turns a lockout raised during authentication into its response.
    "axes.middleware.AxesMiddleware",
]

# Axes first: it refuses a locked-out username+IP before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "crm.backends.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"
ASGI_APPLICATION = "crm.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "crm.context_processors.navigation",
            ],
        },
    },
]

# Forms are drawn with the project's templates (templates/includes/forms/).
FORM_RENDERER = "crm.forms.CarreauFormRenderer"

# SQLite by default (nothing to install); PostgreSQL when DATABASE_URL is set.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'var' / 'carreau.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL and a busy timeout let the dev server and a management command share the file.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "crm.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "crm:dashboard"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# French first, English second. French is the source language of the UI strings.
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("Français")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The switcher's choice lasts a year, not just the browser session.
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SECURE = not DEBUG
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = env_str("TIME_ZONE", "Europe/Paris")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT") or BASE_DIR / "var" / "staticfiles")

# Uploaded files are private: there is no MEDIA_URL route; every file goes through a
# permission-checked view (`crm.uploads.serve_private_file`), which streams the bytes itself.
# A local folder by default; S3-compatible object storage when AWS_STORAGE_BUCKET_NAME is set,
# so that several app servers and workers share one store (DESIGN §10).
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or BASE_DIR / "var" / "media")


def s3_storage_options() -> dict[str, object] | None:
    """django-storages' S3 options read from the AWS_* variables, or None when no bucket is
    named. A half-done configuration (an endpoint or a key without a bucket, a key without its
    secret, an endpoint that is not a URL) stops the start instead of writing to local disk."""
    bucket = env_str("AWS_STORAGE_BUCKET_NAME")
    related = ("AWS_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    if not bucket:
        named = [name for name in related if env_str(name)]
        if named:
            raise ImproperlyConfigured(
                f"{', '.join(named)} set without AWS_STORAGE_BUCKET_NAME: name the bucket, "
                "or unset them to keep the files in MEDIA_ROOT."
            )
        return None
    endpoint = env_str("AWS_S3_ENDPOINT_URL")
    if endpoint and not endpoint.startswith(("https://", "http://")):
        raise ImproperlyConfigured(f"AWS_S3_ENDPOINT_URL must be an http(s) URL, got {endpoint!r}.")
    access_key, secret_key = env_str("AWS_ACCESS_KEY_ID"), env_str("AWS_SECRET_ACCESS_KEY")
    location = env_str("AWS_LOCATION")
    if bool(access_key) != bool(secret_key):
        raise ImproperlyConfigured("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together.")
    return {
        "bucket_name": bucket,
        "endpoint_url": endpoint or None,
        "region_name": env_str("AWS_S3_REGION_NAME") or None,
        # None: boto3 looks for credentials itself (instance role, ~/.aws).
        "access_key": access_key or None,
        "secret_key": secret_key or None,
        "addressing_style": env_choice(
            "AWS_S3_ADDRESSING_STYLE", "auto", ("auto", "path", "virtual")
        ),
        "location": location.strip("/"),
        # No object is public: no ACL is sent, so each object is private to the bucket's
        # owner (and works on buckets where ACLs are disabled). Carreau never hands out an
        # object's URL; were one made, it would be signed and expire.
        "default_acl": None,
        "querystring_auth": True,
        # Names are generated and must never replace another record's file.
        "file_overwrite": False,
        # A download is spooled to a temporary file past this size, not held in memory.
        "max_memory_size": FILE_UPLOAD_MAX_MEMORY_SIZE,
    }


DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
S3_STORAGE_OPTIONS = s3_storage_options()
STORAGES = {
    "default": (
        {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": S3_STORAGE_OPTIONS}
        if S3_STORAGE_OPTIONS
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Uploads: size bound (bytes) and image bound (megapixels) checked on content, not name.
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 25 * 1024 * 1024)
UPLOAD_MAX_MEGAPIXELS = env_int("UPLOAD_MAX_MEGAPIXELS", 50)

# The PDF renderer inlines `data:` URLs up to this many bytes and fetches nothing remote.
PDF_MAX_DATA_URL_BYTES = env_int("PDF_MAX_DATA_URL_BYTES", 2 * 1024 * 1024)
# Rows read from one imported workbook at most (a bigger file is refused, memory stays bounded).
IMPORT_MAX_ROWS = env_int("IMPORT_MAX_ROWS", 20_000)
# Background jobs (DESIGN §10): Django's tasks API on the database, run by `manage.py db_worker`.
# TASKS_BACKEND=immediate runs each job inside the request that asks for it (no worker: only
# for a quick try, never in production).
TASKS = {
    "default": {
        "BACKEND": {
            "database": "django_tasks_db.DatabaseBackend",
            "immediate": "django_tasks.backends.immediate.ImmediateBackend",
        }[env_choice("TASKS_BACKEND", "database", ("database", "immediate"))],
    }
}
# A list export of more rows than this runs as a job; smaller ones answer at once.
EXPORT_SYNC_MAX_ROWS = env_int("EXPORT_SYNC_MAX_ROWS", 5000)
# A project or site sheet that embeds more images than this is rendered by the worker; a
# smaller one answers at once. Measured on the CI machine: about 0.9 s for a sheet without
# images, and 0.3 s more per embedded image (a 12-megapixel original, before its thumbnail
# is ready, about 0.5 s): two images keep the request well inside DESIGN §8's 2 s.
SHEET_SYNC_MAX_IMAGES = env_int("SHEET_SYNC_MAX_IMAGES", 2)
# Days a finished job's file stays in "Mes fichiers" before `purge_jobs` deletes it.
JOB_FILE_DAYS = env_int("JOB_FILE_DAYS", 7)
# A running job that has not reported for this many seconds was interrupted (its worker was
# killed): the worker's start and `recover_jobs` queue it again.
JOB_STALE_SECONDS = env_int("JOB_STALE_SECONDS", 600)

# CNIL: contacts with no interaction for this many years are listed for review and anonymised
# by `manage.py anonymise_contacts` (DESIGN §6).
PRIVACY_RETENTION_YEARS = env_int("PRIVACY_RETENTION_YEARS", 3)
# The login log (django-axes: every attempt with the username typed, its address and browser)
# is kept this many days for the service's security, then deleted by `manage.py
# purge_login_log`. A username is often someone's e-mail address: the CNIL advises six months
# to a year for such logs.
LOGIN_LOG_RETENTION_DAYS = env_int("LOGIN_LOG_RETENTION_DAYS", 180)

# Lists
PAGE_SIZE = env_int("PAGE_SIZE", 25)
# The main lists count their rows exactly up to this many; beyond, an estimate or "more than".
LIST_COUNT_LIMIT = env_int("LIST_COUNT_LIMIT", 10_000)
# A search's page is sorted from its matches, rather than walked from the sort's index, when
# they are counted or (PostgreSQL) estimated at most this many: sorting 33,000 matches took
# 41 ms at 500,000 contacts, walking the name index to them 100 ms (crm.listing).
SORT_MATCHES_MAX = env_int("SORT_MATCHES_MAX", 50_000)
FILTERS_EMPTY_CHOICE_LABEL = _("Indifférent")

# Security. Secure-by-default outside DEBUG; `manage.py check --deploy` must report nothing.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp): everything from this host only. No inline script or
# style is allowed: the templates have none, and htmx is told not to inject its indicator styles
# (meta htmx-config in base.html). Forms post only here; nothing may frame the site.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # data: for the small images the browser builds itself (e.g. CSS icons).
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Login throttling (django-axes). A username is locked from one IP address after this many
# failures in a row, for the cool-off; a correct password during the cool-off is refused too.
# Every attempt, failed or not, is kept with its time, IP address and user agent, read-only in
# the admin for staff.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
# The log line of a failure names the account and the address (axes masks them by default): an
# operator must see who is attacked and from where. The password is always masked.
AXES_SENSITIVE_PARAMETERS: list[str] = []
# How many reverse proxies stand in front of the app, each appending to X-Forwarded-For; 0 when
# gunicorn faces the clients. Without it, behind a proxy every login would come from the proxy's
# address: one lock for everyone trying a username, and a login log without addresses.
TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", 0)
AXES_CLIENT_IP_CALLABLE = "crm.backends.client_ip"

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "carreau@localhost")
# Where people reach Carreau: the links of its e-mails (records, unsubscribe) start here.
CARREAU_BASE_URL = env_str("CARREAU_BASE_URL", "http://127.0.0.1:8000")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {
        "handlers": ["console"],
        "level": env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
    },
    "loggers": {
        # WeasyPrint reports every refused fetch; keep them visible but not noisy.
        "weasyprint": {"level": "ERROR"},
        # How far a render has got ("Step 5 - Creating layout - Page 12"): heard by the job
        # that renders (`crm.pdf.render_pdf_document`), never written to the log.
        "weasyprint.progress": {"level": "INFO", "handlers": [], "propagate": False},
        "fontTools": {"level": "ERROR"},
    },
}

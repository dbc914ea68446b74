"""Settings for the test suite. The database is chosen by ``OAUTH_PROVIDER_TEST_DB``:
``sqlite`` (default), ``postgres`` (127.0.0.1:5432, user postgres, db test) or ``mariadb``
(127.0.0.1:3306, root). ``DATABASE_HOST``/``DATABASE_PORT``/``DATABASE_USER`` override."""

import os
from importlib.util import find_spec
from pathlib import Path
from typing import Any

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = True
LANGUAGE_CODE = "en"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "tests.urls"
LOGIN_URL = "/accounts/login/"
STATIC_URL = "/static/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "oauth_provider",
]
# Optional integrations (the "test" extra installs them; a docs-only install runs without):
# drf-spectacular's extension loads in oauth_provider's ready() when the app is installed.
if find_spec("drf_spectacular") is not None:
    INSTALLED_APPS.append("drf_spectacular")
    REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}

MIDDLEWARE = [
    # First, so it sees the final response: asserts the security headers of every response of
    # an oauth_provider view the suite causes (figures F17, F18).
    "tests.support.header_audit.HeaderAuditMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "oauth_provider.middleware.FrontChannelLogoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # registration/login.html for the LoginView in tests/urls.py
        "DIRS": [Path(__file__).resolve().parent / "templates"],
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

# Fast hashing for test users; client secrets never use these.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

OAUTH_PROVIDER: dict[str, Any] = {
    "ISSUER": "https://testserver/o",
    "SCOPES": {"read": "Read your data", "write": "Change your data", "profile": "See your profile"},
}

_db = os.environ.get("OAUTH_PROVIDER_TEST_DB", "sqlite").lower()
DATABASES: dict[str, dict[str, Any]]
if _db in ("postgres", "postgresql", "pg"):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("DATABASE_NAME", "test"),
            "USER": os.environ.get("DATABASE_USER", "postgres"),
            "PASSWORD": os.environ.get("DATABASE_PASSWORD", ""),
            "HOST": os.environ.get("DATABASE_HOST", "127.0.0.1"),
            "PORT": os.environ.get("DATABASE_PORT", "5432"),
        }
    }
elif _db in ("mariadb", "mysql"):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": os.environ.get("DATABASE_NAME", "test"),
            "USER": os.environ.get("DATABASE_USER", "root"),
            "PASSWORD": os.environ.get("DATABASE_PASSWORD", ""),
            "HOST": os.environ.get("DATABASE_HOST", "127.0.0.1"),
            "PORT": os.environ.get("DATABASE_PORT", "3306"),
            "OPTIONS": {"charset": "utf8mb4"},
        }
    }
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

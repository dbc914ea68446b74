"""Settings of the benchmark host: Django's ``startproject`` middleware, DEBUG off, the
provider's defaults plus two scopes.

Environment:
  BENCH_DB        ``sqlite`` (default; a file under benchmarks/.data, SQLite's own defaults:
                  rollback journal, synchronous=FULL) or ``postgres``
  DATABASE_URL    postgresql://user[:password]@host[:port]/name (BENCH_DB=postgres; default
                  postgresql://postgres@127.0.0.1:5432/oauth_provider_bench)
  BENCH_SQLITE    path of the SQLite file (default benchmarks/.data/bench.sqlite3)
  BENCH_PG_PREPARE  ``1``: let psycopg prepare repeated statements (``server_side_binding``
                  and ``prepare_threshold``; not behind a transaction-pooling PgBouncer)
  BENCH_CACHE     ``locmem`` (default: Django's per-process default cache) or ``redis``: a
                  Redis cache shared by every process (``BENCH_REDIS_URL``, default
                  redis://127.0.0.1:6379/5), as several nodes need it, with the JWT denylist on
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

BENCH_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = BENCH_DIR / ".data"

SECRET_KEY = "benchmark-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "benchsite.urls"
WSGI_APPLICATION = "benchsite.wsgi.application"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "oauth_provider",
    "benchsite.floor",
]
MIDDLEWARE = [
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
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser", "rest_framework.parsers.FormParser"],
}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"handlers": [], "level": "ERROR"}}

OAUTH_PROVIDER = {
    # the test client's host; the multi-process run reaches the server on 127.0.0.1 with
    # this Host header
    "ISSUER": "http://testserver/o",
    "SCOPES": {"read": "Read your data", "write": "Change your data"},
    # the wave-2 paths (scenarios.py): a second resource for audience-bound tokens, open
    # registration, and public clients' device authorization requests (a device code per
    # device_poll iteration), with throttles no benchmark reaches
    "RESOURCES": {"https://api.bench.example/": {"name": "Bench API", "scopes": ["read"]}},
    "DYNAMIC_REGISTRATION": "open",
    "REGISTRATION_THROTTLE": {"registrations": 10**9},
    "PUBLIC_CLIENT_THROTTLE": {"requests": 10**9},
}


def _database() -> dict[str, Any]:
    if os.environ.get("BENCH_DB", "sqlite").lower() in ("postgres", "postgresql", "pg"):
        url = urlsplit(os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/oauth_provider_bench"))
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": url.path.lstrip("/") or "oauth_provider_bench",
            "USER": unquote(url.username or ""),
            "PASSWORD": unquote(url.password or ""),
            "HOST": url.hostname or "",
            "PORT": str(url.port or ""),
            # persistent connections, as a production deployment would have
            "CONN_MAX_AGE": None,
            "OPTIONS": {"server_side_binding": True, "prepare_threshold": 5}
            if os.environ.get("BENCH_PG_PREPARE") == "1" else {},
        }
    DATA_DIR.mkdir(exist_ok=True)
    name = os.environ.get("BENCH_SQLITE", str(DATA_DIR / "bench.sqlite3"))
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": name}


DATABASES = {"default": _database()}


if os.environ.get("BENCH_CACHE", "locmem").lower() == "redis":
    # what a deployment of several nodes needs: throttle counters, the JWT denylist, replay
    # caches and the signing-key generation shared by every process (docs/how-to/deployment.md)
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")}}
    OAUTH_PROVIDER["JWT_ACCESS_TOKEN_DENYLIST"] = True

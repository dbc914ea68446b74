"""Settings of the consumer site, a relying party of the example provider. Local development
only (DEBUG on, a published SECRET_KEY).

It runs beside the provider on 127.0.0.1, and cookies ignore ports: so its session and CSRF
cookies have their own names, or each site would overwrite the other's.

The environment can move things (``dev.py serve`` and the tests use it):

``EXAMPLE_CONSUMER_URL``      where this site runs (default http://127.0.0.1:8001)
``EXAMPLE_PROVIDER_URL``      the provider site (default http://127.0.0.1:8000)
``EXAMPLE_ISSUER``            the provider's issuer (default the provider site + /o)
``CONSUMER_DATABASE_PATH``    this site's SQLite file
``EXAMPLE_CREDENTIALS_FILE``  where seed_demo wrote the client id and secret
``CONSUMER_CLIENT_ID``, ``CONSUMER_CLIENT_SECRET``   use these instead of that file
"""

from __future__ import annotations

import os
from pathlib import Path

#: example_project/
BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "consumer-site-not-secret-do-not-deploy"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "consumer",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "consumer.urls"
WSGI_APPLICATION = "consumer.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("CONSUMER_DATABASE_PATH", str(BASE_DIR / "consumer.sqlite3")),
    }
}

SESSION_COOKIE_NAME = "consumer_sessionid"
CSRF_COOKIE_NAME = "consumer_csrftoken"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CONSUMER_URL = os.environ.get("EXAMPLE_CONSUMER_URL", "http://127.0.0.1:8001").rstrip("/")
PROVIDER_URL = os.environ.get("EXAMPLE_PROVIDER_URL", "http://127.0.0.1:8000").rstrip("/")
PROVIDER_ISSUER = os.environ.get("EXAMPLE_ISSUER", PROVIDER_URL + "/o").rstrip("/")
PROVIDER_API = PROVIDER_URL + "/api/"
CREDENTIALS_FILE = Path(os.environ.get("EXAMPLE_CREDENTIALS_FILE", BASE_DIR / ".demo-credentials.json"))
#: the name seed_demo registers this site under (its key in the credentials file)
CLIENT_NAME = "Consumer site"
CLIENT_ID = os.environ.get("CONSUMER_CLIENT_ID", "")
CLIENT_SECRET = os.environ.get("CONSUMER_CLIENT_SECRET", "")
#: what the site asks for: an OIDC login with name and email, and the notes API
SCOPE = "openid profile email read write"

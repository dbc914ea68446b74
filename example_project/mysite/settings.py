"""Settings of the example site: an ordinary Django project that adds ``oauth_provider``
exactly as the README describes. Local development only (DEBUG on, a published SECRET_KEY).

The whole example runs on 127.0.0.1: this site on port 8000 (identity provider,
authorization server at ``/o/``, notes API at ``/api/``) and the consumer site
(``consumer/``, a separate Django project) on port 8001. The environment can move things,
which ``dev.py serve --port`` and the test suite use:

``EXAMPLE_ISSUER``            this site's issuer (default http://127.0.0.1:8000/o)
``EXAMPLE_CONSUMER_URL``      where the consumer site runs (default http://127.0.0.1:8001)
``EXAMPLE_DATABASE_PATH``     the SQLite file
``EXAMPLE_CREDENTIALS_FILE``  where ``seed_demo`` keeps the demo clients' ids and secrets
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "example-project-not-secret-do-not-deploy"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # before oauth_provider: its templates/oauth_provider/base.html restyles the provider's pages
    "demo",
    "oauth_provider",
    "notes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # the provider's pages follow the browser's language (English, or French)
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # signing out of the site also signs the user out of relying parties that registered a
    # front-channel logout URI (the logout redirect becomes a page loading them in iframes)
    "oauth_provider.middleware.FrontChannelLogoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"

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

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("EXAMPLE_DATABASE_PATH", str(BASE_DIR / "db.sqlite3")),
    }
}

AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
# the site's own strings (scope descriptions, header, login page); the provider ships its own
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Both sites live on 127.0.0.1, and cookies ignore the port: each site names its own.
SESSION_COOKIE_NAME = "provider_sessionid"
CSRF_COOKIE_NAME = "provider_csrftoken"

EXAMPLE_CONSUMER_URL = os.environ.get("EXAMPLE_CONSUMER_URL", "http://127.0.0.1:8001").rstrip("/")
EXAMPLE_CREDENTIALS_FILE = Path(os.environ.get("EXAMPLE_CREDENTIALS_FILE", BASE_DIR / ".demo-credentials.json"))

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# The notes API's OpenAPI schema at /api/schema/ (drf-spectacular, when installed: the
# "spectacular" extra). The provider's extension describes its OAuth 2 flows, URLs and scopes.
if find_spec("drf_spectacular") is not None:
    INSTALLED_APPS.append("drf_spectacular")
    REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
    SPECTACULAR_SETTINGS = {"TITLE": "Notes API", "VERSION": "1.0", "SERVE_INCLUDE_SCHEMA": False}

# The URL the provider is mounted at (see urls.py); clients compare it with the `iss` they
# receive, so it must name the host and port the site is really served on.
ISSUER = os.environ.get("EXAMPLE_ISSUER", "http://127.0.0.1:8000/o")
# The MCP server at /mcp (notes/mcp_server.py) is a resource of its own: its identifier is the
# URL MCP clients are given, and tokens for it are good nowhere else (nor the API's at it).
MCP_RESOURCE = ISSUER.rsplit("/o", 1)[0] + "/mcp"

OAUTH_PROVIDER = {
    "ISSUER": ISSUER,
    "SCOPES": {
        # lazy: shown in the language of the consent page (locale/ has French)
        "read": _("Read your notes"),
        "write": _("Add notes for you"),
    },
    # The user may untick "write" on the consent page; "read" is all or nothing.
    "OPTIONAL_SCOPES": ["write"],
    # The consumer site runs on http://127.0.0.1:8001: let the provider POST its back-channel
    # logout tokens there, and fetch client ID metadata documents served on this machine.
    # Local development only (check --deploy warns, W030).
    "ALLOW_INSECURE_LOOPBACK_FETCH": True,
    # MCP clients (Claude, ChatGPT, the MCP SDKs) register themselves: RFC 7591 dynamic
    # registration, open to anyone (throttled per address). A public site might prefer
    # "token", or client ID metadata documents.
    "DYNAMIC_REGISTRATION": "open",
    # ...or, MCP's preferred way, with a client ID metadata document: the client_id is an https
    # URL of the client's metadata, which the provider fetches (oauth_provider.fetch).
    "CLIENT_ID_METADATA_DOCUMENTS": True,
    "RESOURCES": {
        # (a plain string: the RESOURCES check of this version wants str, not a lazy translation)
        MCP_RESOURCE: {"name": "Your notes, for AI assistants (MCP)", "scopes": ["read", "write"]},
    },
}

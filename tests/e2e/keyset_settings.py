"""Settings for tests/e2e/test_key_rotation_across_processes.py: the suite's settings, with a
database file and a cache every process of one test shares (their paths come from the
environment), and JWT access tokens so a protected API verifies with the keys alone."""

import os

from tests.settings import *  # noqa: F403
from tests.settings import OAUTH_PROVIDER

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["KEYSET_DATABASE"]}}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": os.environ["KEYSET_CACHE_DIR"],
    },
}
ROOT_URLCONF = "tests.support.jwt_urls"
OAUTH_PROVIDER = {**OAUTH_PROVIDER, "ACCESS_TOKEN_FORMAT": "jwt"}

"""The test settings with the client model swapped for ``swapped_app.Application``."""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.swapped_app"]
OAUTH_PROVIDER_CLIENT_MODEL = "swapped_app.Application"
ROOT_URLCONF = "tests.urls"

"""The one way tests change ``OAUTH_PROVIDER``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.test import override_settings


def oauth_settings(**changes: Any) -> dict[str, Any]:
    """The test ``OAUTH_PROVIDER`` dict with ``changes`` applied, for ``override_settings``
    (or assignment to pytest-django's ``settings`` fixture)."""
    return {**settings.OAUTH_PROVIDER, **changes}


def override_oauth(**changes: Any) -> override_settings:
    """``override_settings`` of ``OAUTH_PROVIDER`` with ``changes``: a decorator or context."""
    return override_settings(OAUTH_PROVIDER=oauth_settings(**changes))

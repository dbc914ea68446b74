from __future__ import annotations

from django.apps import AppConfig, apps
from django.utils.translation import gettext_lazy as _


class OAuthProviderConfig(AppConfig):
    name = "oauth_provider"
    verbose_name = _("OAuth provider")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import (
            checks,  # noqa: F401  (registers the system checks)
            profile_checks,  # noqa: F401  (registers the security profile's checks)
            receivers,
        )

        receivers.connect()
        # drf-spectacular's documented place for schema extensions: imported in ready(), once
        # settings are loaded (they register themselves on import).
        if apps.is_installed("drf_spectacular"):
            from .contrib import spectacular  # noqa: F401

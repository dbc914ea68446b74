from __future__ import annotations

from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The example site's own app: its home page, login template and ``seed_demo`` command."""

    name = "demo"
    default_auto_field = "django.db.models.BigAutoField"

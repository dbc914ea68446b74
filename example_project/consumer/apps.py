from __future__ import annotations

from django.apps import AppConfig


class ConsumerConfig(AppConfig):
    """The consumer site's pages, templates and static files."""

    name = "consumer"
    default_auto_field = "django.db.models.BigAutoField"

from __future__ import annotations

from django.apps import AppConfig


class NotesConfig(AppConfig):
    """Notes, the data the example's API serves (``/api/notes/``, ``/api/stats/``)."""

    name = "notes"
    default_auto_field = "django.db.models.BigAutoField"

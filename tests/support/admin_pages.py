"""What the admin tests share: the URL of an admin page of a model."""

from __future__ import annotations

from typing import Any

from django.urls import reverse


def url(model: Any, view: str, *args: Any) -> str:
    """``/admin/<app>/<model>/<view>/`` for ``model``'s ``view`` (changelist, change, add...)."""
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)

"""Callables referenced by migrations (their import paths must stay stable)."""

from __future__ import annotations

from . import secrets


def generate_client_id() -> str:
    """Default for ``Client.client_id``."""
    return secrets.generate_client_id()

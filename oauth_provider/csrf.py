"""CSRF checks for views that must be CSRF-exempt as a whole.

The authorization and end-session endpoints accept requests a relying party's page POSTs
from its own origin, so they cannot use ``csrf_protect``; the user's own decisions on our
pages (consent, logout confirmation) are checked here with Django's middleware logic.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware


def _protected_view(request: HttpRequest) -> HttpResponse:  # pragma: no cover - never called
    raise AssertionError("only used as the 'view' CsrfViewMiddleware inspects")


def csrf_failure(request: HttpRequest) -> HttpResponse | None:
    """Django's CSRF verdict on ``request``: None when it passes, else the 403 response."""
    return CsrfViewMiddleware(_protected_view).process_view(request, _protected_view, (), {})

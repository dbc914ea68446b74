"""CSRF checks for views that must be CSRF-exempt as a whole.

The authorization and end-session endpoints accept requests a relying party's page POSTs
from its own origin, so they cannot use ``csrf_protect``; the user's own decisions on our
pages (consent, logout confirmation, revoking an app) are checked here with Django's
middleware logic.

Our pages send ``Referrer-Policy: no-referrer``, under which a browser posts their forms with
``Origin: null`` and no ``Referer`` (Fetch §3.1), which Django's origin check refuses. Such a
post is let through to the token check when the browser also says ``Sec-Fetch-Site:
same-origin`` (Fetch Metadata; a header no page can set): a cross-site page that makes its own
post carry ``Origin: null`` is still refused.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware


def _protected_view(request: HttpRequest) -> HttpResponse:  # pragma: no cover - never called
    raise AssertionError("only used as the 'view' CsrfViewMiddleware inspects")


def csrf_failure(request: HttpRequest) -> HttpResponse | None:
    """Django's CSRF verdict on ``request``: None when it passes, else the 403 response. The
    CSRF token is always required."""
    meta = request.META
    if meta.get("HTTP_ORIGIN") == "null" and meta.get("HTTP_SEC_FETCH_SITE") == "same-origin":
        # the page's own post under no-referrer: the browser vouches for the origin
        own = f"{'https' if request.is_secure() else 'http'}://{request.get_host()}"
        meta["HTTP_ORIGIN"] = own
        try:
            return CsrfViewMiddleware(_protected_view).process_view(request, _protected_view, (), {})
        finally:
            meta["HTTP_ORIGIN"] = "null"
    return CsrfViewMiddleware(_protected_view).process_view(request, _protected_view, (), {})

"""The test ASGI app's URLconf: ``async def`` views protected by the library's async paths,
served by a real ASGI server (uvicorn) in tests/asgi/test_uvicorn.py.

* ``decorated/``: ``@protected_resource`` on an ``async def`` view (the async guard);
* ``manual/``: :func:`oauth_provider.resource.arequire` called by the view itself;
* ``middleware/``: ``request.oauth_token`` set by ``OAuth2TokenMiddleware`` (async-capable);
* ``slow/``: an unprotected view that sleeps, to show the event loop is never blocked.

Each view records when it started and finished (``TIMELINE``), so a test can tell whether
requests overlapped.
"""

from __future__ import annotations

import asyncio
import threading
import time

from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from oauth_provider import resource
from oauth_provider.decorators import protected_resource
from oauth_provider.errors import OAuthError

#: (view, start, end) per request, monotonic seconds
TIMELINE: list[tuple[str, float, float]] = []
_LOCK = threading.Lock()


def _record(name: str, start: float) -> None:
    with _LOCK:
        TIMELINE.append((name, start, time.monotonic()))


async def _describe(token: resource.ResourceToken) -> dict:
    client = await token.aclient()
    user = await token.auser()
    return {"client_id": client.client_id, "user": user.get_username() if user else None,
            "scopes": sorted(token.scopes), "jwt": token.is_jwt}


@protected_resource(scopes=["read"])
async def decorated(request: HttpRequest) -> JsonResponse:
    start = time.monotonic()
    body = await _describe(request.oauth_token)  # type: ignore[attr-defined]
    _record("decorated", start)
    return JsonResponse({"via": "decorator", **body})


async def manual(request: HttpRequest) -> JsonResponse:
    start = time.monotonic()
    try:
        token = await resource.arequire(request, ["read"])
    except OAuthError as exc:
        return resource.error_response(request, exc, ["read"])  # type: ignore[return-value]
    body = await _describe(token)
    _record("manual", start)
    return JsonResponse({"via": "arequire", **body})


async def middleware(request: HttpRequest) -> JsonResponse:
    start = time.monotonic()
    token = request.oauth_token  # type: ignore[attr-defined]
    body = await _describe(token) if token else {}
    _record("middleware", start)
    return JsonResponse({"via": "middleware", "valid": bool(token), **body})


async def slow(request: HttpRequest) -> JsonResponse:
    start = time.monotonic()
    await asyncio.sleep(float(request.GET.get("s", "0.5")))
    _record("slow", start)
    return JsonResponse({"slept": True})


urlpatterns = [
    path("async/decorated/", decorated),
    path("async/manual/", manual),
    path("async/middleware/", middleware),
    path("async/slow/", slow),
    path("", include("tests.urls")),
]

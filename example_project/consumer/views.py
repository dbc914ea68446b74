"""The consumer site's pages: log in with Example, see who you are, read and add notes."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from . import dpop
from .oidc import (
    AccessRevoked,
    NotConfigured,
    call_api,
    dpop_key,
    example,
    forget,
    logged_in,
    remember,
    token_request_headers,
)

#: ID token claims that are times (seconds since the epoch), shown as dates too
TIME_CLAIMS = ("exp", "iat", "auth_time", "updated_at")
NOTICE = "notice"


def _claims_rows(claims: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    for name in sorted(claims):
        value = claims[name]
        when = ""
        if name in TIME_CLAIMS and isinstance(value, (int, float)):
            when = datetime.fromtimestamp(value, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        rows.append((name, value if isinstance(value, str) else json.dumps(value), when))
    return rows


def _render_home(request: HttpRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    context: dict[str, Any] = {"error": error, "notice": request.session.pop(NOTICE, ""),
                               "provider": settings.PROVIDER_URL}
    if logged_in(request):
        try:
            notes = call_api(request, "GET", "notes/")
        except AccessRevoked as exc:
            context["error"] = (
                f"Example no longer accepts this site's tokens ({exc.error}): access was revoked. "
                "Log in with Example again to reconnect."
            )
        except requests.RequestException as exc:
            context["error"] = f"The notes API did not answer: {exc.__class__.__name__}."
        else:
            context["notes"] = notes
    if logged_in(request):
        token = request.session["token"]
        claims = request.session["claims"]
        expires = token.get("expires_at")
        key = dpop_key(request)
        context.update(
            claims=claims,
            claim_rows=_claims_rows(claims),
            granted_scope=token.get("scope", ""),
            expires_at=datetime.fromtimestamp(expires, tz=timezone.utc) if expires else None,
            token_type=token.get("token_type", "Bearer"),
            dpop_jkt=dpop.thumbprint(key) if key is not None else "",
        )
    return render(request, "consumer/home.html", context, status=status)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if "state" in request.GET and not logged_in(request):
        # back from RP-initiated logout: the state must be the one this browser sent
        try:
            example().validate_logout_response(request)
            request.session[NOTICE] = "You are signed out of this site and of Example."
        except (OAuthError, NotConfigured):
            pass
        return HttpResponseRedirect("/")
    return _render_home(request)


@require_GET
def login(request: HttpRequest) -> HttpResponse:
    """Send the browser to Example's authorization endpoint (code flow, PKCE, nonce). With
    ``?dpop=1`` the login gets a key of its own, and its tokens will be bound to it (DPoP)."""
    if request.GET.get("dpop") == "1":
        request.session[dpop.SESSION_KEY] = dpop.new_key()
    else:
        request.session.pop(dpop.SESSION_KEY, None)
    try:
        return example().authorize_redirect(request, settings.CONSUMER_URL + "/callback")
    except NotConfigured as exc:
        return _render_home(request, error=f"{exc}. Run python3 dev.py serve (it seeds the demo).", status=503)
    except requests.RequestException:
        return _render_home(request, error=f"Example ({settings.PROVIDER_URL}) is not answering.", status=502)


@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """The registered redirect URI: exchange the code, verify the ID token, log in."""
    try:
        token = example().authorize_access_token(request, headers=token_request_headers(request))
    except OAuthError as exc:
        message = {"access_denied": "You did not allow this site to use your Example account."}.get(
            exc.error or "", f"Logging in with Example failed: {exc.error}: {exc.description or ''}".strip()
        )
        return _render_home(request, error=message, status=400)
    except (NotConfigured, requests.RequestException) as exc:
        return _render_home(request, error=f"Logging in with Example failed: {exc}", status=502)
    remember(request, token)
    return HttpResponseRedirect("/")


@require_POST
def add_note(request: HttpRequest) -> HttpResponse:
    """POST a note to the API: needs the ``write`` scope, which the user may have unticked."""
    if not logged_in(request):
        return HttpResponseRedirect("/")
    text = request.POST.get("text", "").strip()[:500]
    if text:
        try:
            answer = call_api(request, "POST", "notes/", {"text": text})
        except AccessRevoked:
            return HttpResponseRedirect("/")
        if answer.status == 403:
            request.session[NOTICE] = ("Example did not give this site the write scope, so it cannot add notes "
                                       f"({answer.data.get('www_authenticate', 'HTTP 403')}).")
        elif not answer.ok:
            request.session[NOTICE] = f"The API refused the note: HTTP {answer.status}."
        else:
            request.session[NOTICE] = "Note added through the API."
    return HttpResponseRedirect("/")


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    """Log out here, then at Example (OIDC RP-Initiated Logout) with the ID token as the hint,
    which brings the browser back to this site's home page."""
    id_token = (request.session.get("token") or {}).get("id_token")
    forget(request)
    request.session.flush()
    if not id_token:
        return HttpResponseRedirect("/")
    try:
        return example().logout_redirect(request, post_logout_redirect_uri=settings.CONSUMER_URL + "/",
                                         id_token_hint=id_token)
    except (NotConfigured, requests.RequestException, RuntimeError):
        return HttpResponseRedirect("/")


def page(request: HttpRequest, template: str) -> HttpResponse:
    return render(request, template, {"provider": settings.PROVIDER_URL})

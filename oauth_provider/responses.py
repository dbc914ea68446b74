"""The one renderer of protocol answers.

Three channels, one function each: JSON for back-channel endpoints (always
``Cache-Control: no-store``, RFC 6749 §5.1), a redirect back to a verified client
(``error``, ``state`` and ``iss``, RFC 6749 §4.1.2.1 and RFC 9207 §2), and an HTML page for
the user (anti-framing, no referrer, no-store). Plus the ``WWW-Authenticate`` builders (Bearer,
RFC 6750 §3; DPoP, RFC 9449 §7.1).
"""

from __future__ import annotations

import gettext
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils import translation
from django.utils.translation import to_locale

from .errors import OAuthError

JSON_CONTENT_TYPE = "application/json"


def no_store(response: HttpResponse) -> HttpResponse:
    """Mark a response carrying tokens or credentials uncacheable (RFC 6749 §5.1)."""
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def json_response(data: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(
        json.dumps(data, separators=(",", ":")), status=status, content_type=JSON_CONTENT_TYPE
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return no_store(response)


def error_json(error: OAuthError) -> HttpResponse:
    """RFC 6749 §5.2 error response."""
    return json_response(error.as_dict(), status=error.status, headers=error.headers)


def www_authenticate(scheme: str, **params: str | None) -> str:
    """``Scheme key="value", ...`` with quotes and backslashes escaped (RFC 9110 §11.6.1)."""
    parts = []
    for key, value in params.items():
        if value is None:
            continue
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        parts.append(f'{key}="{escaped}"')
    return f"{scheme} {', '.join(parts)}" if parts else scheme


def bearer_challenge(
    error: OAuthError | None, *, realm: str | None = None, scope: str | None = None,
    resource_metadata: str | None = None,
) -> str:
    """The ``WWW-Authenticate`` value of a protected resource (RFC 6750 §3, RFC 9728 §5.1).

    ``error`` None, or one without an error code (``MissingToken``), gives a challenge with no
    ``error`` attribute: the request carried no token (RFC 6750 §3.1 SHOULD NOT)."""
    code = description = None
    if error is not None and error.error:
        code, description = error.error, error.description or None
    return www_authenticate(
        "Bearer", realm=realm, error=code, error_description=description,
        scope=scope or None, resource_metadata=resource_metadata,
    )


def bearer_error(
    error: OAuthError, *, realm: str | None = None, scope: str | None = None,
    resource_metadata: str | None = None,
) -> HttpResponse:
    """The answer to a failed protected resource request (RFC 6750 §3.1): the error's status
    (401 ``MissingToken``/``InvalidToken``, 403 ``InsufficientScope``, 400 ``InvalidRequest``)
    with the Bearer challenge. ``scope`` defaults to the scope an ``InsufficientScope`` names."""
    if scope is None:
        scope = getattr(error, "scope", None)
    headers = dict(error.headers)
    headers["WWW-Authenticate"] = bearer_challenge(
        error, realm=realm, scope=scope, resource_metadata=resource_metadata
    )
    return json_response(error.as_dict(), status=error.status, headers=headers)


def dpop_challenge(
    error: OAuthError | None, *, algs: Iterable[str], realm: str | None = None, scope: str | None = None,
    resource_metadata: str | None = None,
) -> str:
    """The ``DPoP`` challenge of a protected resource (RFC 9449 §7.1): as the Bearer one, plus
    ``algs``, the JWS algorithms a proof may be signed with. ``error`` None, or one without an
    error code, gives a challenge without ``error``."""
    code = description = None
    if error is not None and error.error:
        code, description = error.error, error.description or None
    return www_authenticate(
        "DPoP", realm=realm, error=code, error_description=description, scope=scope or None,
        resource_metadata=resource_metadata, algs=" ".join(algs) or None,
    )


def challenge_error(error: OAuthError, challenges: str, *, status: int | None = None) -> HttpResponse:
    """The answer to a failed protected resource request whose ``WWW-Authenticate`` value,
    ``challenges`` (one or more, RFC 9110 §11.6.1), is already built: ``status`` (default: the
    error's), the error's own headers (``DPoP-Nonce``), the RFC 6749 §5.2 JSON body."""
    headers = dict(error.headers)
    headers["WWW-Authenticate"] = challenges
    return json_response(error.as_dict(), status=error.status if status is None else status, headers=headers)


class ClientRedirect(HttpResponseRedirect):
    """A redirect to a client's *verified* redirect URI, whatever its scheme (native apps
    register private-use schemes, RFC 8252 §7.1). Never use it for unverified URIs."""

    def __init__(self, url: str) -> None:
        self.allowed_schemes = [urlsplit(url).scheme or "https"]
        super().__init__(url)


def add_query(uri: str, params: Mapping[str, str | None]) -> str:
    """``uri`` with ``params`` appended to its query (RFC 6749 §3.1.2: keep existing ones)."""
    parts = urlsplit(uri)
    added = urlencode([(k, v) for k, v in params.items() if v is not None])
    # The registered query is kept byte for byte: re-encoding it could change what the
    # client registered (``?x`` to ``?x=``, ``%20`` to ``+``).
    query = f"{parts.query}&{added}" if parts.query and added else parts.query or added
    return urlunsplit(parts._replace(query=query))


def redirect_to_client(redirect_uri: str, params: Mapping[str, str | None]) -> HttpResponse:
    return page_headers(ClientRedirect(add_query(redirect_uri, params)))


def error_redirect_url(error: OAuthError, redirect_uri: str, state: str | None, issuer: str) -> str:
    """Where an RFC 6749 §4.1.2.1 error response sends the user: ``redirect_uri`` with the
    error, ``state`` and ``iss`` (RFC 9207 §2)."""
    params: dict[str, str | None] = dict(error.as_dict())
    params["state"] = state or None
    params["iss"] = issuer
    return add_query(redirect_uri, params)


def error_redirect(error: OAuthError, redirect_uri: str, state: str | None, issuer: str) -> HttpResponse:
    """RFC 6749 §4.1.2.1 error response, with ``iss`` (RFC 9207 §2)."""
    return page_headers(ClientRedirect(error_redirect_url(error, redirect_uri, state, issuer)))


def page_headers(response: HttpResponse) -> HttpResponse:
    """Headers every page a user sees carries: no framing (RFC 9700 §4.16), no Referer at
    all (§4.2.4: the consent page's URL is the whole authorization request), never cached.

    Under ``no-referrer`` browsers send ``Origin: null`` with the page's own form posts
    (Fetch §3.1); :func:`oauth_provider.csrf.csrf_failure` accepts those when the browser
    vouches for them (``Sec-Fetch-Site: same-origin``)."""
    response["X-Frame-Options"] = "DENY"
    response["Content-Security-Policy"] = "frame-ancestors 'none'"
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


#: how many ``ui_locales`` tags are looked at (a request may list any number)
UI_LOCALES_LOOKED_AT = 8


def ui_language(ui_locales: str | None) -> str | None:
    """The first language of ``ui_locales`` (OIDC Core §3.1.2.1, RP-Initiated Logout §2: the
    End-User's preferred languages, space-separated BCP 47 tags) that this site offers, in
    ``LANGUAGES``, and that the pages can speak: English, their source language, or one with a
    catalog (this library's, or the site's ``LOCALE_PATHS``). None when none is, or i18n is off:
    the page then speaks as the site would (an unsupported locale is no error, §3.1.2.1)."""
    if not ui_locales or not settings.USE_I18N:
        return None
    for tag in ui_locales.split()[:UI_LOCALES_LOOKED_AT]:
        try:
            language = translation.get_supported_language_variant(tag.lower())
        except LookupError:
            continue
        if language.split("-")[0] == "en" or _has_catalog(language):
            return language
    return None


def _has_catalog(language: str) -> bool:
    paths = [Path(__file__).resolve().parent / "locale", *map(Path, settings.LOCALE_PATHS)]
    return any(gettext.find("django", str(path), [to_locale(language)]) for path in paths)


def render_page(
    request: HttpRequest, template: str, context: Mapping[str, Any], status: int = 200, *, ui_locales: str = ""
) -> HttpResponse:
    """``template`` rendered as a page of ours (:func:`page_headers`); in the first language of
    ``ui_locales`` the site can speak (:func:`ui_language`), said in ``Content-Language``."""
    response = TemplateResponse(request, template, dict(context), status=status)
    language = ui_language(ui_locales)
    if language is None:
        response.render()
    else:
        with translation.override(language):
            response.render()
        response["Content-Language"] = language
    return page_headers(response)


def error_page(request: HttpRequest, error: OAuthError, *, back_to: str = "", back_to_shown: str = "") -> HttpResponse:
    """The HTML error page for errors that must not be redirected (RFC 6749 §4.1.2.1), or
    that the user should choose to take back to the client: ``back_to`` is then the error
    response's URL, offered as a link, and ``back_to_shown`` the redirect URI as the page
    names it (RFC 9700 §4.11.2)."""
    status = 400 if error.status < 400 or error.status == 401 else error.status
    context = {"error": error, "back_to": back_to, "back_to_shown": back_to_shown}
    response = render_page(request, "oauth_provider/error.html", context, status=status)
    if "Retry-After" in error.headers:  # a throttle's page says when to come back (RFC 6585 §4)
        response["Retry-After"] = error.headers["Retry-After"]
    return response


def allow_cors(response: HttpResponse, methods: str = "GET, OPTIONS") -> HttpResponse:
    """Open a credential-less endpoint (token, metadata, JWKS) to browser clients. Never used
    on the authorization endpoint (RFC 9700 §2.6)."""
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Allow-Methods"] = methods
    # DPoP (RFC 9449): browser clients send a DPoP header and must read the DPoP-Nonce answer
    response["Access-Control-Allow-Headers"] = "Authorization, Content-Type, DPoP"
    response["Access-Control-Expose-Headers"] = "DPoP-Nonce, WWW-Authenticate"
    response["Access-Control-Max-Age"] = "600"
    return response

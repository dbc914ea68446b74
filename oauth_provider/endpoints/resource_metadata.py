"""Protected-resource metadata (RFC 9728) for the host's API.

Served by ``oauth_provider.root_urls`` at ``/.well-known/oauth-protected-resource`` and, when
the resource identifier has a path (``https://example.com/api``), at
``/.well-known/oauth-protected-resource/api`` (§3.1). Every Bearer challenge the library
sends points here with ``resource_metadata`` (§5.1), so a client that meets a 401 (MCP
clients do exactly this) finds the authorization server without prior configuration.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import View

from ..conf import provider_settings
from ..issuer import get_issuer, resource_identifier
from ..responses import allow_cors


def protected_resource_metadata(request: HttpRequest) -> dict[str, Any]:
    """The RFC 9728 §2 document: ``resource`` (§3.3: identical to the identifier the
    document was found by), ``authorization_servers``, ``scopes_supported`` (the host's
    ``SCOPES``: the API's own, not the OpenID Connect ones, which are not for the API) and
    ``bearer_methods_supported`` (never ``query``)."""
    methods = ["header"]
    if provider_settings.BEARER_FORM_BODY:
        methods.append("body")
    return {
        "resource": resource_identifier(request),
        "authorization_servers": [get_issuer(request)],
        "scopes_supported": list(provider_settings.SCOPES),
        "bearer_methods_supported": methods,
    }


class ProtectedResourceMetadataView(View):
    """``GET`` the document. Cacheable, open to browsers (CORS)."""

    http_method_names = ["get", "head", "options"]

    def get(self, request: HttpRequest, resource_path: str = "") -> HttpResponse:
        # RFC 9728 §3.1 names one URL per resource: no slash-tolerant aliases.
        expected = urlsplit(resource_identifier(request)).path.lstrip("/")
        if resource_path != expected:
            raise Http404("No protected resource at this path.")
        response = JsonResponse(protected_resource_metadata(request))
        response["Cache-Control"] = "public, max-age=300"
        return allow_cors(response)

    def options(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return allow_cors(HttpResponse(status=204))

"""Protected-resource metadata (RFC 9728) for every resource this provider issues tokens for.

Served by ``oauth_provider.root_urls`` at the well-known URL of each resource (§3.1): the
path ``/.well-known/oauth-protected-resource`` followed by the path of the resource
identifier. The default resource ``https://example.com/api`` (``RESOURCE_IDENTIFIER``) is
described at ``/.well-known/oauth-protected-resource/api``; each resource of ``RESOURCES``
at its own. Every Bearer challenge the library sends points at the document of the resource
that refused the token, with ``resource_metadata`` (§5.1), so a client that meets a 401 (MCP
clients do exactly this) finds the authorization server without prior configuration.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import View

from .. import resources
from ..conf import provider_settings
from ..issuer import METADATA_WELL_KNOWN, get_issuer, resource_identifier
from ..responses import allow_cors


def protected_resource_metadata(request: HttpRequest, resource: resources.Resource | None = None) -> dict[str, Any]:
    """The RFC 9728 §2 document of ``resource`` (None: the default resource): ``resource``
    (§3.3: identical to the identifier the document was found by), ``resource_name`` (when
    one is configured),
    ``authorization_servers``, ``scopes_supported`` (the scopes the resource accepts; for an
    unlimited default resource the host's ``SCOPES``, not the OpenID Connect ones, which are
    not for the API) and ``bearer_methods_supported`` (never ``query``)."""
    if resource is None:
        resource = resources.configured(request)[resource_identifier(request)]
    methods = ["header"]
    if provider_settings.BEARER_FORM_BODY:
        methods.append("body")
    document: dict[str, Any] = {
        "resource": resource.identifier,
        "authorization_servers": [get_issuer(request)],
        "scopes_supported": list(provider_settings.SCOPES if resource.scopes is None else resource.scopes),
        "bearer_methods_supported": methods,
    }
    if resource.name != resource.identifier:  # a name was configured
        document["resource_name"] = resource.name
    return document


def _matching(request: HttpRequest, path: str) -> resources.Resource | None:
    """The resource whose well-known URL has ``path`` (exactly: RFC 9728 §3.1 names one URL
    per resource, no slash-tolerant aliases). Resources of several hosts sharing a path are
    told apart by the request's host."""
    found = [r for r in resources.configured(request).values() if r.metadata_path == path]
    if len(found) > 1:
        host = request.get_host()
        found = [r for r in found if urlsplit(r.identifier).netloc == host]
    return found[0] if len(found) == 1 else None


class ProtectedResourceMetadataView(View):
    """``GET`` the document. Cacheable, open to browsers (CORS)."""

    http_method_names = ["get", "head", "options"]

    def get(self, request: HttpRequest, resource_path: str | None = None) -> HttpResponse:
        path = METADATA_WELL_KNOWN if resource_path is None else f"{METADATA_WELL_KNOWN}/{resource_path}"
        resource = _matching(request, path)
        if resource is None:
            raise Http404("No protected resource at this path.")
        response = JsonResponse(protected_resource_metadata(request, resource))
        response["Cache-Control"] = "public, max-age=300"
        return allow_cors(response)

    def options(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return allow_cors(HttpResponse(status=204))


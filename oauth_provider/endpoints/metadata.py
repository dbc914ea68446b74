"""Authorization-server metadata (RFC 8414 §2-3).

Served at ``{issuer}/.well-known/oauth-authorization-server`` (this URLconf) and at the
path-inserted form ``/.well-known/oauth-authorization-server{issuer path}``
(``oauth_provider.root_urls``), with the same document. Only enabled features are listed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import View

from .. import dpop, dynamic_registration, profiles, resources, scopes
from ..client_keys import SIGNING_ALGORITHMS
from ..conf import provider_settings
from ..grants.device_code import GRANT_TYPE as DEVICE_GRANT
from ..issuer import endpoint_url, get_issuer
from ..models import advertised
from ..registry import client_auth_methods, grant_types
from ..responses import allow_cors
from . import par


def advertised_grants() -> list[str]:
    """The enabled grant types the metadata lists. A grant marked ``opt_in`` (the device
    grant) is listed only while an active client is registered for it
    (:mod:`oauth_provider.models.advertised`: one query, cached until a client changes)."""
    enabled = grant_types()
    opt_in = [name for name, grant in enabled.items() if getattr(grant, "opt_in", False)]
    registered = set(advertised.registered(opt_in))
    return [name for name in enabled if name not in opt_in or name in registered]


def metadata(request: HttpRequest) -> dict[str, Any]:
    """The RFC 8414 document for this provider."""
    grants = advertised_grants()
    document: dict[str, Any] = {
        "issuer": get_issuer(request),
        "token_endpoint": endpoint_url(request, "token"),
        "grant_types_supported": grants,
        "token_endpoint_auth_methods_supported": list(client_auth_methods()),
        "scopes_supported": list(scopes.registered()),
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
    }
    # RFC 8414 §2 / RFC 7009 / RFC 7662: introspection refuses public clients ("none").
    methods = list(client_auth_methods())
    # RFC 8414 §2: the keys that verify what we sign (ID tokens, RFC 9068 access tokens), so a
    # resource server that only reads OAuth metadata finds them too.
    document["jwks_uri"] = endpoint_url(request, "jwks")
    document["introspection_endpoint"] = endpoint_url(request, "introspect")
    document["introspection_endpoint_auth_methods_supported"] = [m for m in methods if m != "none"]
    document["revocation_endpoint"] = endpoint_url(request, "revoke")
    document["revocation_endpoint_auth_methods_supported"] = methods
    if "private_key_jwt" in methods:
        # RFC 8414 §2: the algorithms private_key_jwt assertions may be signed with, at each
        # endpoint that authenticates clients (asymmetric only: never none or an HMAC; under a
        # profile only its own, FAPI 2.0 §5.4.1)
        algorithms = list(profiles.allowed_algorithms(SIGNING_ALGORITHMS))
        for endpoint in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
            document[f"{endpoint}_auth_signing_alg_values_supported"] = algorithms
    # RFC 9449 §5.1: DPoP proofs are accepted at the token endpoint, with these algorithms
    document["dpop_signing_alg_values_supported"] = list(dpop.signing_algorithms())
    # RFC 9728 §4: the resources this server issues tokens for
    document["protected_resources"] = list(resources.configured(request))
    if DEVICE_GRANT in grants:
        # RFC 8628 §4
        document["device_authorization_endpoint"] = endpoint_url(request, "device_authorization")
    # RFC 7591 §3 / RFC 8414 §2: only when registration is on (MCP 2026-07-28: DCR is optional)
    if dynamic_registration.enabled():
        document["registration_endpoint"] = endpoint_url(request, "registration")
    if "authorization_code" in grants:
        document["authorization_endpoint"] = endpoint_url(request, "authorize")
        document["response_types_supported"] = ["code"]
        document["response_modes_supported"] = ["query"]
    else:
        document["response_types_supported"] = []
    document.update(protected_requests(request, grants))
    if provider_settings.CLIENT_ID_METADATA_DOCUMENTS:
        # draft-ietf-oauth-client-id-metadata-document §5
        document["client_id_metadata_document_supported"] = True
    return document


def protected_requests(request: HttpRequest, grants: list[str]) -> dict[str, Any]:
    """PAR (RFC 9126 §5) and request objects (RFC 9101 §10.5, OIDC Discovery §3). A
    ``request_uri`` is accepted only from our PAR endpoint, never fetched from a client's URL:
    ``request_uri_parameter_supported`` (OIDC Discovery: "use of the request_uri parameter",
    i.e. by reference from the client) stays false, and PAR's own metadata says the rest."""
    if "authorization_code" not in grants:
        return {}
    document: dict[str, Any] = {"request_uri_parameter_supported": False}
    if par.enabled():
        document["pushed_authorization_request_endpoint"] = endpoint_url(request, "par")
        document["require_pushed_authorization_requests"] = bool(
            provider_settings.REQUIRE_PUSHED_AUTHORIZATION_REQUESTS)
    document["request_parameter_supported"] = bool(provider_settings.REQUEST_OBJECTS)
    if provider_settings.REQUEST_OBJECTS:
        # FAPI 2.0 §5.4.1 narrows them under that profile (jwt.foreign_header enforces it)
        document["request_object_signing_alg_values_supported"] = list(profiles.allowed_algorithms(SIGNING_ALGORITHMS))
        if provider_settings.REQUIRE_SIGNED_REQUEST_OBJECT:
            document["require_signed_request_object"] = True
    return document


class MetadataView(View):
    """``GET`` the metadata document. Cacheable, open to browsers (CORS)."""

    http_method_names = ["get", "head", "options"]

    def get(self, request: HttpRequest, issuer_path: str | None = None) -> HttpResponse:
        if issuer_path is not None:
            # RFC 8414 §3.1 names one URL per issuer: no slash-tolerant aliases.
            expected = urlsplit(get_issuer(request)).path.lstrip("/")
            if issuer_path != expected:
                raise Http404("No authorization server at this path.")
        response = JsonResponse(metadata(request))
        response["Cache-Control"] = "public, max-age=300"
        return allow_cors(response)

    def options(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return allow_cors(HttpResponse(status=204))

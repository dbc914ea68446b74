"""The OAuth 2 security scheme of an OpenAPI document (OpenAPI 3.0.3 §4.7.27-4.7.31, 3.1
and 3.2 alike), built from the provider's own metadata, so API tooling (Swagger UI, client
generators) points at our endpoints with our scopes.

One builder for every schema generator the library plugs into: drf-spectacular
(:mod:`oauth_provider.contrib.spectacular`) and Django Ninja (:mod:`oauth_provider.contrib.ninja`).

* ``authorizationCode`` when the authorization code grant is enabled: the authorization and
  token endpoints (RFC 8414 §2), ``refreshUrl`` when refresh tokens are, and every scope a user
  may grant (the OpenID Connect standard scopes and ``SCOPES``). PKCE with S256 is required
  (OAuth 2.1 §4.1.1); OpenAPI has no field for it, so the description says so.
* ``clientCredentials`` when that grant is enabled: the token endpoint and ``SCOPES`` (a client
  acting for itself gets no OpenID Connect scope).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.urls import reverse

from . import scopes
from .conf import provider_settings
from .issuer import endpoint_url

#: the name the scheme is registered under in ``components.securitySchemes``
SCHEME_NAME = "oauth2"


def _url(request: HttpRequest | None, name: str) -> str:
    """The absolute endpoint URL; a path (which OpenAPI resolves against the server URL) when
    no issuer can be known yet: ISSUER unset, in DEBUG, with no request to derive it from."""
    try:
        return endpoint_url(request, name)
    except ImproperlyConfigured:
        return reverse(f"oauth_provider:{name}")


def security_scheme(request: HttpRequest | None = None, *, metadata_url_field: bool = False) -> dict[str, Any]:
    """The ``type: oauth2`` Security Scheme Object for this provider. ``metadata_url_field``
    adds OpenAPI 3.2's ``oauth2MetadataUrl`` (§4.8.27.1), pointing at the RFC 8414 document."""
    grants = set(provider_settings.GRANT_TYPES)
    token_url = _url(request, "token")
    flows: dict[str, dict[str, Any]] = {}
    if "authorization_code" in grants:
        flow: dict[str, Any] = {"authorizationUrl": _url(request, "authorize"), "tokenUrl": token_url}
        if "refresh_token" in grants:
            flow["refreshUrl"] = token_url
        flow["scopes"] = {name: str(text) for name, text in scopes.registered().items()}
        flows["authorizationCode"] = flow
    if "client_credentials" in grants:
        flows["clientCredentials"] = {
            "tokenUrl": token_url, "scopes": {name: str(text) for name, text in provider_settings.SCOPES.items()},
        }
    metadata = _url(request, "metadata")
    scheme: dict[str, Any] = {
        "type": "oauth2",
        "description": (
            "OAuth 2.1 bearer access tokens (RFC 6750). The authorization code flow requires PKCE with "
            f"S256 (RFC 7636). Authorization server metadata (RFC 8414): {metadata}"
        ),
        "flows": flows,
    }
    if metadata_url_field:
        scheme["oauth2MetadataUrl"] = metadata
    return scheme


__all__ = ["SCHEME_NAME", "security_scheme"]

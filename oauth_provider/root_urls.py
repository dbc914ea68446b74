"""Documents that live at the site root, outside the issuer's path. Include once::

    path("", include("oauth_provider.root_urls"))

RFC 8414 §3.1 inserts ``/.well-known/oauth-authorization-server`` between the host and the
issuer's path, so an issuer ``https://example.com/o`` is also described at
``https://example.com/.well-known/oauth-authorization-server/o``.

RFC 9728 §3.1 does the same for the host API's protected-resource metadata: an API
``https://example.com/api`` (``RESOURCE_IDENTIFIER``) is described at
``https://example.com/.well-known/oauth-protected-resource/api``.
"""

from __future__ import annotations

from django.urls import path

from .endpoints.metadata import MetadataView
from .endpoints.resource_metadata import ProtectedResourceMetadataView

app_name = "oauth_provider_root"

urlpatterns = [
    path(".well-known/oauth-authorization-server", MetadataView.as_view(), {"issuer_path": ""}, name="metadata"),
    path(
        ".well-known/oauth-authorization-server/<path:issuer_path>",
        MetadataView.as_view(),
        name="metadata-path",
    ),
    path(
        ".well-known/oauth-protected-resource", ProtectedResourceMetadataView.as_view(),
        name="protected-resource",
    ),
    path(
        ".well-known/oauth-protected-resource/<path:resource_path>",
        ProtectedResourceMetadataView.as_view(),
        name="protected-resource-path",
    ),
]

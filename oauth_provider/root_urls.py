"""Documents that live at the site root, outside the issuer's path. Include once::

    path("", include("oauth_provider.root_urls"))

RFC 8414 §3.1 inserts ``/.well-known/oauth-authorization-server`` between the host and the
issuer's path, so an issuer ``https://example.com/o`` is also described at
``https://example.com/.well-known/oauth-authorization-server/o``.
"""

from __future__ import annotations

from django.urls import path

from .endpoints.metadata import MetadataView

app_name = "oauth_provider_root"

urlpatterns = [
    path(".well-known/oauth-authorization-server", MetadataView.as_view(), {"issuer_path": ""}, name="metadata"),
    path(
        ".well-known/oauth-authorization-server/<path:issuer_path>",
        MetadataView.as_view(),
        name="metadata-path",
    ),
]

"""URLs of the example site: its own pages, Django's admin and login (the identity
provider), the authorization server at /o/, the notes API at /api/ and an MCP server at /mcp
(two resource servers)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from demo.views import HomeView
from notes.mcp_server import mcp_endpoint

urlpatterns = [
    path("", HomeView.as_view(), name="home"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The provider: its endpoints under the issuer's path, and the RFC 8414 §3.1 metadata
    # document at the site root.
    path("o/", include("oauth_provider.urls")),
    path("", include("oauth_provider.root_urls")),
    # The resource server: a DRF API and a plain Django view, both taking the provider's tokens.
    path("api/", include("notes.urls")),
    # An MCP server (Streamable HTTP) over the same notes: its own resource, same tokens' issuer.
    path("mcp", mcp_endpoint, name="mcp"),
]

"""Views of three resources for the resource-indicator tests (RFC 8707, RFC 9728): the default
resource (``https://testserver``), ``RS_A``, ``RS_B`` and an MCP-style resource with a path,
each protected by the decorator, the mixin and the DRF classes, sync and async."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.urls import include, path
from django.views import View
from rest_framework.response import Response
from rest_framework.views import APIView

from oauth_provider.contrib.rest_framework import OAuth2Authentication, TokenHasScope
from oauth_provider.decorators import ProtectedResourceMixin, protected_resource

DEFAULT = "https://testserver"
RS_A = "https://rs-a.example/"
RS_B = "https://rs-b.example/"
MCP = "https://testserver/mcp"
SCOPES = {
    "read": "Read your data", "write": "Change your data", "profile": "See your profile",
    "rs-a:read": "Read A", "rs-a:write": "Change A", "rs-b:read": "Read B", "mcp:tools": "Use the tools",
}
RESOURCES = {
    RS_A: {"name": "Resource A", "scopes": ["rs-a:read", "rs-a:write", "read"]},
    RS_B: {"name": "Resource B", "scopes": ["rs-b:read", "read"]},
    MCP: {"name": "Notes MCP server", "scopes": ["mcp:tools"]},
}


def _answer(request) -> JsonResponse:
    token = request.oauth_token
    return JsonResponse({"audience": list(token.audience), "scope": token.scope})


@protected_resource
def default_view(request):
    return _answer(request)


@protected_resource(resource=RS_A)
def a_view(request):
    return _answer(request)


@protected_resource(resource=RS_B)
def b_view(request):
    return _answer(request)


@protected_resource(scopes=["mcp:tools"], resource=MCP)
def mcp_view(request):
    return _answer(request)


@protected_resource(resource=RS_A)
async def a_async(request):
    return _answer(request)


@protected_resource(scopes=["rs-a:write"], resource=RS_A)
async def a_async_write(request):
    return _answer(request)


class BMixinView(ProtectedResourceMixin, View):
    oauth_resource = RS_B

    def get(self, request):
        return _answer(request)


class AAsyncMixinView(ProtectedResourceMixin, View):
    oauth_resource = RS_A

    async def get(self, request):
        return _answer(request)


class ADrfView(APIView):
    authentication_classes = [OAuth2Authentication]
    permission_classes = [TokenHasScope]
    required_scopes = ["read"]
    oauth_resource = RS_A

    def get(self, request):
        return Response({"audience": list(request.auth.audience), "scope": request.auth.scope})


class DefaultDrfView(ADrfView):
    oauth_resource = None


class RsAAuthentication(OAuth2Authentication):
    """The documented way to put every view of an API on one resource: a subclass naming it."""

    resource = RS_A


class AByAuthenticationView(APIView):
    authentication_classes = [RsAAuthentication]
    permission_classes = [TokenHasScope]
    required_scopes = ["rs-a:write"]

    def get(self, request):
        return Response({"audience": list(request.auth.audience), "scope": request.auth.scope})


def middleware_view(request):
    token = request.oauth_token
    return JsonResponse({"audience": list(token.audience) if token else None})


middleware_view.oauth_resource = RS_A  # type: ignore[attr-defined]

urlpatterns = [
    path("o/", include("oauth_provider.urls")),
    path("", include("oauth_provider.root_urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("api/default/", default_view),
    path("api/a/", a_view),
    path("api/b/", b_view),
    path("api/mcp/", mcp_view),
    path("api/a-async/", a_async),
    path("api/a-async-write/", a_async_write),
    path("api/b-mixin/", BMixinView.as_view()),
    path("api/a-async-mixin/", AAsyncMixinView.as_view()),
    path("api/a-drf/", ADrfView.as_view()),
    path("api/default-drf/", DefaultDrfView.as_view()),
    path("api/a-by-authentication/", AByAuthenticationView.as_view()),
    path("api/a-middleware/", middleware_view),
]


@protected_resource(resource=RS_A)
async def a_async_who(request):
    token = request.oauth_token
    user = await token.auser()
    client = await token.aclient()
    return JsonResponse({"user": user.get_username() if user else None, "client_id": client.client_id})


urlpatterns.append(path("api/a-async-who/", a_async_who))

"""Protected views the resource-server tests call, mounted under ``/api/`` by tests/urls.py.

Each answers JSON naming who the token belongs to, so a test can tell that the view ran and
with which identity."""

from __future__ import annotations

from django.http import JsonResponse
from django.urls import path
from django.views import View
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from oauth_provider.contrib.rest_framework import (
    IsAuthenticatedOrTokenHasScope,
    OAuth2Authentication,
    TokenHasReadWriteScope,
    TokenHasResourceScope,
    TokenHasScope,
)
from oauth_provider.decorators import ProtectedResourceMixin, protected_resource


def _who(user) -> str:
    if user is None or not getattr(user, "is_authenticated", False):
        return "anonymous"
    return user.get_username()


class ApiView(APIView):
    authentication_classes = [OAuth2Authentication]
    permission_classes = [TokenHasScope]
    required_scopes = ["read"]

    def get(self, request):
        auth = request.auth
        return Response({
            "user": _who(request.user),
            "client_id": getattr(getattr(auth, "client", None), "client_id", None),
            "scope": getattr(auth, "scope", None),
        })

    post = put = delete = get


class EchoView(ApiView):
    def post(self, request):
        return Response({"data": {key: request.data.get(key) for key in request.data}})


def api(name: str, **attrs) -> type[ApiView]:
    return type(name, (ApiView,), attrs)


drf_views = {
    "read": api("ReadView"),
    "write": api("WriteView", required_scopes=["write"]),
    "rw": api("ReadWriteView", permission_classes=[TokenHasReadWriteScope], required_scopes=None),
    "rw-custom": api(
        "ReadWriteCustomView", permission_classes=[TokenHasReadWriteScope], required_scopes=["profile"],
        read_scope="notes:read", write_scope="notes:write",
    ),
    "resource": api("ResourceScopeView", permission_classes=[TokenHasResourceScope], required_scopes=["notes"]),
    "either": api(
        "EitherView", authentication_classes=[OAuth2Authentication, SessionAuthentication],
        permission_classes=[IsAuthenticatedOrTokenHasScope],
    ),
    "factory": api("FactoryView", permission_classes=[TokenHasScope.for_scopes("read", "profile")],
                   required_scopes=None),
    "or": api("OrView", permission_classes=[TokenHasScope.for_scopes("write") | TokenHasScope.for_scopes("profile")]),
    "or-admin": api("OrAdminView", permission_classes=[IsAdminUser | TokenHasScope.for_scopes("write")]),
    "and": api("AndView", permission_classes=[TokenHasScope.for_scopes("read") & TokenHasScope.for_scopes("write")]),
    "not": api("NotView", permission_classes=[~TokenHasScope.for_scopes("write")]),
    "unconfigured": api("UnconfiguredView", required_scopes=None),
    "echo": EchoView,
}


def _plain(request):
    token = getattr(request, "oauth_token", None)
    return JsonResponse({
        "user": _who(getattr(request, "resource_owner", None)),
        "client_id": token.client.client_id if token else None,
        "method": request.method,
    })


plain_read = protected_resource(scopes=["read"])(_plain)
plain_any = protected_resource(_plain)


class MixinView(ProtectedResourceMixin, View):
    required_scopes = ["write"]

    def get(self, request):
        return _plain(request)

    post = get


def middleware_probe(request):
    """Unprotected: reports what OAuth2TokenMiddleware left on the request."""
    token = request.oauth_token
    return JsonResponse({
        "token": bool(token),
        "user": _who(token.user) if token else None,
        "is_none": token is None,
    })


urlpatterns = [
    *(path(f"drf/{name}/", view.as_view()) for name, view in drf_views.items()),
    path("plain/", plain_read),
    path("plain-any/", plain_any),
    path("mixin/", MixinView.as_view()),
    path("probe/", middleware_probe),
]

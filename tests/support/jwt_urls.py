"""A URLconf whose protected views never touch ``request.user``: they prove that a JWT access
token is verified with no database query at all."""

from django.http import JsonResponse
from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from oauth_provider.contrib.rest_framework import OAuth2Authentication, TokenHasScope
from oauth_provider.decorators import protected_resource


class ScopeOnlyView(APIView):
    authentication_classes = [OAuth2Authentication]
    permission_classes = [TokenHasScope]
    required_scopes = ["read"]

    def get(self, request):
        return Response({"scope": request.auth.scope})


class WhoView(ScopeOnlyView):
    def get(self, request):
        return Response({"user": request.user.get_username() if request.user.is_authenticated else None,
                         "client_id": request.auth.client.client_id})


class KindView(ScopeOnlyView):
    """What the resource layer made of the token: the client's own, or a user's."""

    def get(self, request):
        return Response({"client_token": request.auth.is_client_token,
                         "user": request.user.get_username() if request.user.is_authenticated else None})


@protected_resource(scopes=["read"])
def plain_scope_only(request):
    return JsonResponse({"scope": request.oauth_token.scope})


urlpatterns = [
    path("o/", include("oauth_provider.urls")),
    path("", include("oauth_provider.root_urls")),
    path("api/scope-only/", ScopeOnlyView.as_view()),
    path("api/who/", WhoView.as_view()),
    path("api/kind/", KindView.as_view()),
    path("api/plain-scope-only/", plain_scope_only),
]

"""The protected API a host would write, as the README shows it, and the same views without
protection (the floor the protection's overhead is measured against)."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.http import HttpRequest, JsonResponse
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from oauth_provider.contrib.rest_framework import OAuth2Authentication, TokenHasScope
from oauth_provider.decorators import protected_resource


def _name(user: Any) -> str:
    return user.get_username() if user is not None and user.is_authenticated else "anonymous"


class Hello(APIView):
    authentication_classes = [OAuth2Authentication]
    permission_classes = [TokenHasScope]
    required_scopes = ["read"]

    def get(self, request: Request) -> Response:
        return Response({"hello": _name(request.user)})


class Scope(Hello):
    """Answers from the token alone (``request.auth``), never touching ``request.user``: with
    a JWT access token the protection then costs no query at all."""

    def get(self, request: Request) -> Response:
        return Response({"hello": request.auth.scope})


class HelloOpen(Hello):
    authentication_classes = []
    permission_classes = [AllowAny]


class HelloOneQuery(HelloOpen):
    """The open view plus one ``SELECT 1`` through Django's cursor: what any protection that
    asks the database once costs at the least (a round trip, nothing read), the floor of
    ``drf_protected`` with an opaque token."""

    def get(self, request: Request) -> Response:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return super().get(request)


def hello_plain_open(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"hello": _name(getattr(request, "resource_owner", None))})


hello_plain = protected_resource(scopes=["read"])(hello_plain_open)

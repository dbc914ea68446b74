"""Django Ninja operations protected by :class:`oauth_provider.contrib.ninja.OAuth2`, mounted
under ``/api/ninja/`` by tests/urls.py (when django-ninja is installed). ``/api/ninja/bare/``
is an API on which ``install`` was not called."""

from __future__ import annotations

from django.urls import path
from ninja import NinjaAPI
from ninja.security import django_auth

from oauth_provider.contrib.ninja import OAuth2, install


def _who(user) -> str:
    if user is None or not getattr(user, "is_authenticated", False):
        return "anonymous"
    return user.get_username()


api = NinjaAPI(urls_namespace="tests-ninja", auth=OAuth2(scopes=["read"]), title="Notes (Ninja)")
install(api)


@api.get("/read")
def read(request):
    return {"user": _who(request.user), "client_id": request.auth.client.client_id, "scope": request.auth.scope}


@api.post("/read")
def read_post(request):
    return {"user": _who(request.user), "scope": request.auth.scope}


@api.post("/write", auth=OAuth2(scopes=["write"]))
def write(request):
    return {"user": _who(request.user)}


@api.get("/scope-only", auth=OAuth2(scopes=["read"]))
def scope_only(request):
    """Touches neither the client nor the user: a JWT access token costs no query here."""
    return {"scope": request.auth.scope}


@api.get("/any", auth=OAuth2())
def any_scope(request):
    return {"scope": request.auth.scope}


@api.get("/two", auth=OAuth2(scopes=["read", "profile"]))
def two(request):
    return {"scope": request.auth.scope}


@api.get("/either", auth=[OAuth2(scopes=["read"]), django_auth])
def either(request):
    return {"user": _who(request.user), "by_token": hasattr(request.auth, "scopes")}


@api.get("/rs-a", auth=OAuth2(scopes=["read"], resource="https://rs-a.example/"))
def rs_a(request):
    """An operation of another resource (RFC 8707): only tokens whose audience names it."""
    return {"audience": list(request.auth.audience)}


@api.get("/async")
async def read_async(request):
    return {"scope": request.auth.scope}


bare = NinjaAPI(urls_namespace="tests-ninja-bare", auth=OAuth2(scopes=["write"]))


@bare.get("/write")
def bare_write(request):
    return {"user": _who(request.user)}


urlpatterns = [path("bare/", bare.urls), path("", api.urls)]

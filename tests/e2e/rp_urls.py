"""The test site plus a relying party (mozilla-django-oidc) mounted in the same Django site,
logging its users in with this site's own OpenID Provider over real HTTP."""

from django.http import JsonResponse
from django.urls import include, path

from tests.urls import urlpatterns as provider_patterns


def rp_home(request):
    user = request.user
    return JsonResponse({"user": user.get_username() if user.is_authenticated else None})


urlpatterns = [
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("rp-home/", rp_home, name="rp-home"),
    *provider_patterns,
]

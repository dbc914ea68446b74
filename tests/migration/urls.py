from django.urls import include, path

from tests.urls import urlpatterns as ours

urlpatterns = [path("dot/", include("oauth2_provider.urls", namespace="oauth2_provider")), *ours]

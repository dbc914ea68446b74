from django.urls import include, path

from tests.support.resource_views import drf_views
from tests.urls import urlpatterns as ours

urlpatterns = [
    path("dot/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("api/notes/", drf_views["read"].as_view()),  # the API docs/migrating-from-dot.md calls
    *ours,
]

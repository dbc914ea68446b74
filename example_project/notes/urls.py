"""The resource server's URLs, mounted at ``/api/`` by mysite/urls.py."""

from __future__ import annotations

from django.apps import apps
from django.urls import path

from .api import NoteList
from .views import stats

app_name = "notes"

urlpatterns = [
    path("notes/", NoteList.as_view(), name="list"),
    path("stats/", stats, name="stats"),
]

if apps.is_installed("drf_spectacular"):
    from drf_spectacular.views import SpectacularAPIView

    # the OpenAPI document of this API, with the provider's OAuth 2 security scheme
    urlpatterns.append(path("schema/", SpectacularAPIView.as_view(), name="schema"))

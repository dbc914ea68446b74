"""The resource server's URLs, mounted at ``/api/`` by mysite/urls.py."""

from __future__ import annotations

from django.urls import path

from .api import NoteList
from .views import stats

app_name = "notes"

urlpatterns = [
    path("notes/", NoteList.as_view(), name="list"),
    path("stats/", stats, name="stats"),
]

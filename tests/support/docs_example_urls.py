"""The integrations' how-to examples mounted as their pages say: the Django Ninja API of
docs/how-to/django-ninja.md at ``/api/``, and drf-spectacular's views of docs/how-to/openapi.md
with the DRF tutorial's notes API (tests/docs_examples/)."""

from django.urls import include, path

from tests.docs_examples import schema_urls
from tests.docs_examples.ninja_notes import api

urlpatterns = [
    path("api/", api.urls),
    *schema_urls.urlpatterns,
    path("drf/", include("tests.docs_examples.notes.urls")),
    path("o/", include("oauth_provider.urls")),
]

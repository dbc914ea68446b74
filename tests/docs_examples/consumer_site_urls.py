"""Both sites of the OIDC tutorial in one URLconf, for the tests: the consumer site (served
as https://consumer.example) and the provider (mysite, served as https://example.com). Their
paths do not overlap, so each keeps the URLs the tutorial gives it."""

from django.urls import include, path

from .mysite.urls import urlpatterns as provider_patterns

urlpatterns = [
    path("", include("consumer.urls")),
    *provider_patterns,
]

"""Both sites of the OIDC tutorial in one URLconf, for the tests: the consumer site (served
as https://consumer.example) and the provider (mysite, served as https://example.com). Their
paths do not overlap, so each keeps the URLs the tutorial gives it."""

from django.urls import include, path

from .mysite.urls import urlpatterns as provider_patterns
from .resource_views import ReportList, mcp

urlpatterns = [
    path("", include("consumer.urls")),
    *provider_patterns,
    # docs/how-to/resource-indicators.md
    path("mcp", mcp),
    path("reports/", ReportList.as_view()),
]

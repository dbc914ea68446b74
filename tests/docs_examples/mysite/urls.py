from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),  # the login page
    path("o/", include("oauth_provider.urls")),
    path("", include("oauth_provider.root_urls")),
    path("api/", include("notes.urls")),
]

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("o/", include("oauth_provider.urls")),
    path("", include("oauth_provider.root_urls")),
    path("api/", include("tests.support.resource_views")),
]

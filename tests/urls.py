from importlib.util import find_spec

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("o/", include("oauth_provider.urls")),
    path("", include("oauth_provider.root_urls")),
    path("api/", include("tests.support.resource_views")),
]

if find_spec("ninja") is not None:  # the "test" extra installs it
    urlpatterns.append(path("api/ninja/", include("tests.support.ninja_views")))
if find_spec("drf_spectacular") is not None:  # the "test" extra installs it
    from drf_spectacular.views import SpectacularAPIView

    urlpatterns.append(path("api/schema/", SpectacularAPIView.as_view(), name="schema"))

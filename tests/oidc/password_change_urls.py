"""tests.urls plus Django's own password change view, an ordinary page of a host site."""

from django.contrib.auth import views as auth_views
from django.urls import path

from tests.urls import urlpatterns as base

urlpatterns = [
    path("accounts/password_change/", auth_views.PasswordChangeView.as_view(success_url="/done/"),
         name="password_change"),
    *base,
]

"""URLs of the consumer site. ``/callback`` is the redirect URI registered at the provider."""

from __future__ import annotations

from django.urls import path

from . import backchannel, views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login, name="login"),
    path("callback", views.callback, name="callback"),
    path("notes/", views.add_note, name="add_note"),
    path("logout/", views.logout, name="logout"),
    # registered at Example as this site's backchannel_logout_uri (OIDC Back-Channel Logout)
    path("oidc/backchannel-logout", backchannel.backchannel_logout, name="backchannel_logout"),
    path("privacy/", views.page, {"template": "consumer/privacy.html"}, name="privacy"),
    path("terms/", views.page, {"template": "consumer/terms.html"}, name="terms"),
]

"""URLs of the consumer site. ``/callback`` is the redirect URI registered at the provider."""

from __future__ import annotations

from django.urls import path

from . import backchannel, frontchannel, views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login, name="login"),
    path("callback", views.callback, name="callback"),
    path("notes/", views.add_note, name="add_note"),
    path("logout/", views.logout, name="logout"),
    # registered at Example as this site's backchannel_logout_uri (OIDC Back-Channel Logout)
    path("oidc/backchannel-logout", backchannel.backchannel_logout, name="backchannel_logout"),
    # registered as its frontchannel_logout_uri (OIDC Front-Channel Logout): loaded in an iframe
    path("oidc/frontchannel-logout", frontchannel.frontchannel_logout, name="frontchannel_logout"),
    path("privacy/", views.page, {"template": "consumer/privacy.html"}, name="privacy"),
    path("terms/", views.page, {"template": "consumer/terms.html"}, name="terms"),
]

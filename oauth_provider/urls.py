"""Endpoints under the issuer. Include at the issuer's path::

    path("o/", include("oauth_provider.urls"))
"""

from __future__ import annotations

from django.urls import path

from .endpoints.authorize import AuthorizationView
from .endpoints.connected_apps import ConnectedAppsView
from .endpoints.device import DeviceVerificationView
from .endpoints.device_authorization import DeviceAuthorizationView
from .endpoints.discovery import OpenIDConfigurationView
from .endpoints.end_session import EndSessionView
from .endpoints.introspect import IntrospectionView
from .endpoints.jwks import JWKSView
from .endpoints.metadata import MetadataView
from .endpoints.par import PushedAuthorizationView
from .endpoints.registration import ClientConfigurationView, RegistrationView
from .endpoints.revoke import RevocationView
from .endpoints.token import TokenView
from .endpoints.userinfo import UserInfoView

app_name = "oauth_provider"

urlpatterns = [
    path("authorize/", AuthorizationView.as_view(), name="authorize"),
    path("token/", TokenView.as_view(), name="token"),
    # RFC 9126; 404 while PUSHED_AUTHORIZATION_REQUESTS is off
    path("par/", PushedAuthorizationView.as_view(), name="par"),
    path(".well-known/oauth-authorization-server", MetadataView.as_view(), name="metadata"),
    path(".well-known/openid-configuration", OpenIDConfigurationView.as_view(), name="openid-configuration"),
    path("jwks/", JWKSView.as_view(), name="jwks"),
    path("userinfo/", UserInfoView.as_view(), name="userinfo"),
    path("logout/", EndSessionView.as_view(), name="end_session"),
    path("introspect/", IntrospectionView.as_view(), name="introspect"),
    path("revoke/", RevocationView.as_view(), name="revoke"),
    path("connected-apps/", ConnectedAppsView.as_view(), name="connected_apps"),
    path("device_authorization/", DeviceAuthorizationView.as_view(), name="device_authorization"),
    path("device/", DeviceVerificationView.as_view(), name="device"),
    # RFC 7591 / RFC 7592; 404 unless DYNAMIC_REGISTRATION is on
    path("register/", RegistrationView.as_view(), name="registration"),
    path("register/<str:client_id>", ClientConfigurationView.as_view(), name="registration-client"),
]

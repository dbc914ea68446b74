"""OpenID Provider metadata (OpenID Connect Discovery 1.0 §3-4).

Served at ``{issuer}/.well-known/openid-configuration``. It is the RFC 8414 document
(:func:`oauth_provider.endpoints.metadata.metadata`) plus the OpenID fields, so both always
agree on every shared member.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.urls import NoReverseMatch
from django.views import View

from .. import keys, profiles
from ..conf import provider_settings
from ..issuer import endpoint_url
from ..oidc import frontchannel
from ..oidc import logout as backchannel_logout
from ..oidc.claims import supported_claims
from ..responses import allow_cors
from .metadata import metadata


def _optional_endpoint(request: HttpRequest, name: str) -> str | None:
    try:
        return endpoint_url(request, name)
    except NoReverseMatch:
        return None


def openid_configuration(request: HttpRequest) -> dict[str, Any]:
    document = metadata(request)
    document.update({
        "jwks_uri": endpoint_url(request, "jwks"),
        "subject_types_supported": ["public"],
        # what ID tokens may be signed with: under a profile, only its algorithms (FAPI 2.0 §5.4.1)
        "id_token_signing_alg_values_supported": sorted(profiles.allowed_algorithms(tuple(
            {provider_settings.SIGNING_KEY_ALGORITHM} | {jwk["alg"] for jwk in keys.jwks()["keys"]}
        ))),
        "claims_supported": supported_claims() + ["iss", "aud", "exp", "iat", "auth_time", "nonce", "sid"],
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": True,
        # request_parameter_supported and request_uri_parameter_supported: metadata()'s
        # (RFC 9101 / RFC 9126); no request_uri is ever fetched, so none is registered either
        "require_request_uri_registration": False,
        "display_values_supported": ["page"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
    })
    if backchannel_logout.enabled():  # Back-Channel Logout 1.0 §2.1
        document["backchannel_logout_supported"] = True
        document["backchannel_logout_session_supported"] = True
    if frontchannel.enabled():  # Front-Channel Logout 1.0 §3: iss and sid sent, sid in ID tokens
        document["frontchannel_logout_supported"] = True
        document["frontchannel_logout_session_supported"] = True
    for field, name in (("userinfo_endpoint", "userinfo"), ("end_session_endpoint", "end_session")):
        url = _optional_endpoint(request, name)
        if url:
            document[field] = url
    return document


class OpenIDConfigurationView(View):
    http_method_names = ["get", "head", "options"]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not provider_settings.OIDC_ENABLED:
            raise Http404("OpenID Connect is not enabled.")
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        response = JsonResponse(openid_configuration(request))
        response["Cache-Control"] = "public, max-age=300"
        return allow_cors(response)

    def options(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return allow_cors(HttpResponse(status=204))

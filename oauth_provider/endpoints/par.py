"""The pushed authorization request endpoint (RFC 9126 §2).

A client POSTs the parameters of an authorization request (or a signed request object in
``request``, RFC 9126 §3), authenticated exactly as at the token endpoint (the form body,
client authentication and its throttle, the rendering of errors are :mod:`._backchannel`'s).
The request is validated as the authorization endpoint would (:func:`oauth_provider.
request_objects.push`); every error is JSON, never a redirect (RFC 9126 §2.3). Success is
``201 Created`` with a single-use ``request_uri`` and its ``expires_in`` (§2.2), and
``Cache-Control: no-store``. While ``PUSHED_AUTHORIZATION_REQUESTS`` is off the endpoint
answers 404 and is not advertised.

Public clients may push too (they identify themselves with ``client_id``, and PKCE binds the
code to them); a host that wants only confidential ones says so with its clients' settings.
Since a public client proves nothing, its pushes are counted per address
(``PUBLIC_CLIENT_THROTTLE``; 429 with ``Retry-After`` past the limit, as §2.3 allows), so
nobody can fill the table of pushed requests.
The assertion of a ``private_key_jwt`` client names the issuer in ``aud``, as at every endpoint
(draft-ietf-oauth-rfc7523bis §5 replaces RFC 9126 §2's list of accepted values).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters

from .. import dpop, request_objects, throttling
from ..conf import provider_settings
from ..issuer import get_issuer
from ..params import Params
from ..registry import grant_types
from ..responses import json_response, no_store
from ._backchannel import BackchannelView


def enabled() -> bool:
    """Is the PAR endpoint on? It needs the authorization code grant it serves."""
    return bool(provider_settings.PUSHED_AUTHORIZATION_REQUESTS) and "authorization_code" in grant_types()


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(sensitive_post_parameters(), name="dispatch")
class PushedAuthorizationView(BackchannelView):
    """Pushed authorization request endpoint."""

    endpoint = "pushed authorization request"
    #: browser apps (public clients) may push their requests, as they may redeem codes
    cors = True

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not enabled():
            return no_store(HttpResponseNotFound("Pushed authorization requests are off.", content_type="text/plain"))
        return super().dispatch(request, *args, **kwargs)

    def answer(self, request: HttpRequest, params: Params) -> HttpResponse:
        dpop.demand_nonce_first(request)  # RFC 9449 §8: before a client assertion is spent
        client = self.authenticate(request, params)
        throttling.count_public_client_request(request, client)
        request_uri, expires_in = request_objects.push(request, client, params, get_issuer(request))
        return json_response({"request_uri": request_uri, "expires_in": expires_in}, status=201)

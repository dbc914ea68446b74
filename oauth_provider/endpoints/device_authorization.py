"""The device authorization endpoint (RFC 8628 §3.1-3.2).

A device with no browser, or none it can type in (a TV, a CLI on a server, a printer), POSTs
its ``client_id`` (and ``scope``) here and gets back::

    {"device_code": "...", "user_code": "WDJBM-KHTXZ",
     "verification_uri": "https://example.com/o/device/",
     "verification_uri_complete": "https://example.com/o/device/?user_code=WDJBM-KHTXZ",
     "expires_in": 600, "interval": 5}

with ``Cache-Control: no-store``. It shows the user code and the URI (or a QR code of the
complete URI) and polls the token endpoint (:mod:`oauth_provider.grants.device_code`).

Client authentication is the token endpoint's (:mod:`._backchannel`): confidential clients
authenticate, public ones send their ``client_id`` (RFC 8628 §3.1), and errors are RFC 6749
§5.2 JSON (§3.2). A public client's requests are counted per address
(``PUBLIC_CLIENT_THROTTLE``; 429 with ``Retry-After`` past the limit): it proves only its
``client_id``, and each request stores a device code. The client must be registered for the
device grant (``unauthorized_client`` otherwise, so no client is opted in by accident); the scope is checked like the
authorization endpoint's (its allow-list, ``DEFAULT_SCOPES`` when none is asked for), and
so are ``resource`` values (RFC 8707: ``invalid_target``; the scope narrowed to what they
accept). With
the grant removed from ``GRANT_TYPES`` the endpoint answers 404.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt

from .. import resources, scopes, throttling
from ..conf import provider_settings
from ..errors import UnauthorizedClient
from ..grants.device_code import GRANT_TYPE
from ..issuer import endpoint_url
from ..issuing import issue_device_code
from ..params import getlist
from ..registry import grant_types
from ..responses import add_query, json_response, no_store
from ._backchannel import BackchannelView


def device_grant_enabled() -> bool:
    return GRANT_TYPE in grant_types()


def verification_uri(request: HttpRequest) -> str:
    """Where users enter the code: ``DEVICE_VERIFICATION_URI`` or the verification page."""
    return str(provider_settings.DEVICE_VERIFICATION_URI or endpoint_url(request, "device"))


@method_decorator(csrf_exempt, name="dispatch")  # as the base's: a device has no CSRF cookie
class DeviceAuthorizationView(BackchannelView):
    """Device authorization endpoint."""

    endpoint = "device authorization"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not device_grant_enabled():  # not mounted, as far as anyone can tell
            return no_store(HttpResponseNotFound())
        return super().dispatch(request, *args, **kwargs)

    def answer(self, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
        client = self.authenticate(request, params)
        throttling.count_public_client_request(request, client)
        if not client.allows_grant(GRANT_TYPE):
            raise UnauthorizedClient("This client may not use the device authorization grant.")
        requested = scopes.without_unusable_offline_access(scopes.parse(params.get("scope")), client)
        granted = scopes.resolve(requested, scopes.client_allowed(client))
        # RFC 8707 §2: the resources the tokens are for, checked as at the authorization endpoint
        audience = resources.store(resources.requested(getlist(params, "resource"), client, request))
        granted = resources.downscope(granted, audience, request)
        device_code, user_code, device = issue_device_code(
            client=client, scope=scopes.join(granted), audience=audience)
        uri = verification_uri(request)
        return json_response({
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": uri,
            "verification_uri_complete": add_query(uri, {"user_code": user_code}),
            "expires_in": provider_settings.DEVICE_CODE_LIFETIME,
            "interval": device.interval_seconds,
        })

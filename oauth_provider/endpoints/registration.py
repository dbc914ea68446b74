"""The registration endpoint (RFC 7591 §3) and the client configuration endpoint (RFC 7592 §2).

``POST {issuer}/register/`` registers a client and answers ``201`` with its information
(§3.2.1); ``GET``, ``PUT`` and ``DELETE`` on the ``registration_client_uri`` it returned
(``{issuer}/register/<client_id>``), with the registration access token as a bearer token,
read, replace and delete that registration. Errors are JSON with ``Cache-Control: no-store``
(§3.2.2); a bearer failure adds its RFC 6750 challenge. Both are open to browser clients
(CORS: a browser-based MCP client registers from its page) and CSRF-exempt (no ambient
credential: the body is JSON and the credential a bearer token).

While ``DYNAMIC_REGISTRATION`` is off both answer 404 and the metadata does not name them.
The rules live in :mod:`oauth_provider.dynamic_registration`.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from .. import dynamic_registration as registration
from ..errors import InvalidToken, MissingToken, OAuthError
from ..responses import allow_cors, bearer_error, error_json, json_response

REGISTER_METHODS = "POST, OPTIONS"
CONFIGURE_METHODS = "GET, PUT, DELETE, OPTIONS"


def _error(error: OAuthError, methods: str) -> HttpResponse:
    if isinstance(error, (MissingToken, InvalidToken)):
        return allow_cors(bearer_error(error), methods)
    return allow_cors(error_json(error), methods)


class _Base(View):
    methods = REGISTER_METHODS

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not registration.enabled():
            raise Http404("Dynamic client registration is off.")
        try:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[return-value]
        except OAuthError as error:
            return _error(error, self.methods)

    def options(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return allow_cors(HttpResponse(status=204), self.methods)

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().http_method_not_allowed(request, *args, **kwargs)
        return allow_cors(response, self.methods)


@method_decorator(csrf_exempt, name="dispatch")
class RegistrationView(_Base):
    """``POST`` client metadata (RFC 7591 §3.1) -> ``201`` client information (§3.2.1)."""

    http_method_names = ["post", "options"]
    methods = REGISTER_METHODS

    def post(self, request: HttpRequest) -> HttpResponse:
        done = registration.register(request)
        info = registration.client_information(
            request, done.client, registration_access_token=done.registration_access_token,
            client_secret=done.client_secret,
        )
        return allow_cors(json_response(info, status=201), self.methods)


@method_decorator(csrf_exempt, name="dispatch")
class ClientConfigurationView(_Base):
    """Read (``GET``), replace (``PUT``) and delete (``DELETE``) one registration (RFC 7592 §2)."""

    http_method_names = ["get", "put", "delete", "options"]
    methods = CONFIGURE_METHODS

    def get(self, request: HttpRequest, client_id: str) -> HttpResponse:
        row = registration.authenticate(request, client_id)
        info = registration.client_information(request, row.client, registration_access_token=None)
        return allow_cors(json_response(info), self.methods)

    def put(self, request: HttpRequest, client_id: str) -> HttpResponse:
        row = registration.authenticate(request, client_id)
        done = registration.update(request, row)
        info = registration.client_information(
            request, done.client, registration_access_token=done.registration_access_token,
            client_secret=done.client_secret,
        )
        return allow_cors(json_response(info), self.methods)

    def delete(self, request: HttpRequest, client_id: str) -> HttpResponse:
        row = registration.authenticate(request, client_id)
        registration.delete(row)
        response = HttpResponse(status=204)
        response["Cache-Control"] = "no-store"
        return allow_cors(response, self.methods)

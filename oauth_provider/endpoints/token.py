"""The token endpoint (RFC 6749 §3.2 and §5, OAuth 2.1 §3.2).

POST with an ``application/x-www-form-urlencoded`` body only. The view parses (repeated or
oversized parameters are ``invalid_request``), authenticates the client
(:mod:`oauth_provider.client_auth`), checks the client may use the grant, hands over to the
grant class registered for ``grant_type`` and renders JSON with ``Cache-Control: no-store``.
Every failure is an :class:`~oauth_provider.errors.OAuthError` rendered once, here. CORS is
allowed (RFC 9700 §2.6 permits it here) so browser-based public clients can redeem codes.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters

from .. import client_auth
from ..errors import InvalidRequest, MethodNotAllowed, OAuthError, UnauthorizedClient, UnsupportedGrantType
from ..params import flatten, request_data
from ..registry import grant_types
from ..responses import allow_cors, error_json, json_response

FORM = "application/x-www-form-urlencoded"
#: what browsers may call here (RFC 9700 §2.6 allows CORS at the token endpoint)
CORS_METHODS = "POST, OPTIONS"
#: RFC 6749 §3.2 names the urlencoded form; multipart form data is accepted too, since it
#: carries the same flat fields and some HTTP clients (and Django's test client) send it.
FORM_TYPES = frozenset({FORM, "multipart/form-data"})


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(sensitive_post_parameters(), name="dispatch")
class TokenView(View):
    """Token endpoint."""

    def dispatch(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if request.method == "OPTIONS":
            return allow_cors(HttpResponse(status=204), methods=CORS_METHODS)
        if request.method != "POST":
            return allow_cors(error_json(MethodNotAllowed("token")), methods=CORS_METHODS)
        try:
            response = json_response(self.issue(request))
        except OAuthError as exc:
            response = error_json(exc)
        return allow_cors(response, methods=CORS_METHODS)

    def issue(self, request: HttpRequest) -> dict[str, object]:
        if request.content_type not in FORM_TYPES:
            raise InvalidRequest(f"The body must be {FORM}.")
        params = flatten(request_data(request))
        # The client authenticates first: an unauthenticated caller learns nothing about the
        # grant types this server supports (OAuth 2.1 §3.2.1).
        client = client_auth.authenticate(request, params)
        grant_type = params.get("grant_type")
        if grant_type is None:
            raise InvalidRequest("The grant_type parameter is required.")
        grant = grant_types().get(grant_type)
        if grant is None:
            raise UnsupportedGrantType(f"Unsupported grant_type: {grant_type}")
        if not client.allows_grant(grant_type):
            raise UnauthorizedClient(f"This client may not use the {grant_type} grant.")
        return grant.issue(request, params, client).as_dict()

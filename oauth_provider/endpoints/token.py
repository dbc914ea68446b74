"""The token endpoint (RFC 6749 §3.2 and §5, OAuth 2.1 §3.2).

The form body, CORS, client authentication (:mod:`oauth_provider.client_auth`) and the
rendering of errors are :mod:`._backchannel`'s, shared with introspection and revocation.
The view checks the client may use the grant, hands over to the grant class registered for
``grant_type`` and renders JSON with ``Cache-Control: no-store``. CORS is allowed (RFC 9700
§2.6 permits it here) so browser-based public clients can redeem codes. A ``WWW-Authenticate:
Basic`` challenge answers a failed client authentication only when the client tried HTTP
Basic (RFC 6749 §5.2), so a browser app is never shown a password prompt.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from ..errors import InvalidRequest, UnauthorizedClient, UnsupportedGrantType
from ..registry import grant_types
from ..responses import json_response
from ._backchannel import BackchannelView


class TokenView(BackchannelView):
    """Token endpoint."""

    endpoint = "token"
    cors = True

    def answer(self, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
        return json_response(self.issue(request, params))

    def issue(self, request: HttpRequest, params: dict[str, str]) -> dict[str, object]:
        # The client authenticates first: an unauthenticated caller learns nothing about the
        # grant types this server supports (OAuth 2.1 §3.2.1).
        client = self.authenticate(request, params)
        grant_type = params.get("grant_type")
        if grant_type is None:
            raise InvalidRequest("The grant_type parameter is required.")
        grant = grant_types().get(grant_type)
        if grant is None:
            raise UnsupportedGrantType(f"Unsupported grant_type: {grant_type}")
        if not client.allows_grant(grant_type):
            raise UnauthorizedClient(f"This client may not use the {grant_type} grant.")
        return grant.issue(request, params, client).as_dict()

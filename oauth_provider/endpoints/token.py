"""The token endpoint (RFC 6749 §3.2 and §5, OAuth 2.1 §3.2).

The form body, CORS, client authentication (:mod:`oauth_provider.client_auth`) and the
rendering of errors are :mod:`._backchannel`'s, shared with introspection and revocation.
The view checks the client may use the grant, hands over to the grant class registered for
``grant_type`` and renders JSON with ``Cache-Control: no-store``. CORS is allowed (RFC 9700
§2.6 permits it here) so browser-based public clients can redeem codes. A ``WWW-Authenticate:
Basic`` challenge answers a failed client authentication only when the client tried HTTP
Basic (RFC 6749 §5.2), so a browser app is never shown a password prompt.

DPoP (RFC 9449 §5): once the client is authenticated and may use the grant, the request's
``DPoP`` proof is verified (:func:`oauth_provider.dpop.token_request_proof`) before the grant
looks at its code or token, and in nonce mode a proof without a current nonce is answered
``use_dpop_nonce`` before the client authenticates
(:func:`oauth_provider.dpop.demand_nonce_first`), so that answer spends nothing, neither the
code nor a client assertion's ``jti``; the grant's tokens
are bound to the proof's key, and in nonce mode the answer carries a fresh ``DPoP-Nonce``.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from .. import dpop
from ..errors import InvalidRequest, UnauthorizedClient, UnsupportedGrantType
from ..registry import grant_types
from ..responses import json_response
from ._backchannel import BackchannelView


class TokenView(BackchannelView):
    """Token endpoint."""

    endpoint = "token"
    cors = True

    def answer(self, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
        body = self.issue(request, params)
        return json_response(body, headers=dpop.response_headers(request))

    def issue(self, request: HttpRequest, params: dict[str, str]) -> dict[str, object]:
        # RFC 9449 §8: a proof without a current nonce is answered before the client's
        # assertion (its jti) is spent. Then the client authenticates: an unauthenticated
        # caller learns nothing about the grant types this server supports (OAuth 2.1 §3.2.1).
        dpop.demand_nonce_first(request)
        client = self.authenticate(request, params)
        grant_type = params.get("grant_type")
        if grant_type is None:
            raise InvalidRequest("The grant_type parameter is required.")
        grant = grant_types().get(grant_type)
        if grant is None:
            raise UnsupportedGrantType(f"Unsupported grant_type: {grant_type}")
        if not client.allows_grant(grant_type):
            raise UnauthorizedClient(f"This client may not use the {grant_type} grant.")
        dpop.token_request_proof(request, client)
        return grant.issue(request, params, client).as_dict()

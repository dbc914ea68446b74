"""Token revocation (RFC 7009).

A form-encoded POST (§2.1) with client authentication; a public client identifies itself by
``client_id`` (§5 notes it cannot do more). The client may revoke only tokens issued to it
(§2.1); anything else, and any unknown or malformed token, is answered 200 without a change
(§2.2), so the endpoint tells a caller nothing about other clients' tokens.

* An access token is revoked alone (its refresh token lives on; §2.1 makes the cascade
  optional in that direction).
* A refresh token revokes its whole family: the grant, every refresh token and every access
  token born of it stop working at once (§2.1 SHOULD).

``token_type_hint`` only chooses which lookup runs first (§2.1); a value other than
``access_token`` / ``refresh_token`` is ``unsupported_token_type`` (§2.2.1). Each revocation
is one conditional UPDATE, so a 200 means the token is dead in the database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest, HttpResponse

from .. import resource
from ..errors import InvalidRequest, UnsupportedTokenType
from ..models import AccessToken, Authorization, get_client_model
from ..responses import no_store
from ..signals import token_revoked
from ._backchannel import BackchannelView

if TYPE_CHECKING:
    from ..models import AbstractClient


def revoke_access_token(raw: str, client: AbstractClient) -> int:
    """Revoke ``client``'s access token ``raw``; the number of rows changed (0 or 1)."""
    return int(AccessToken.objects.by_value(raw).filter(client=client).revoke())


def revoke_refresh_token(raw: str, client: AbstractClient) -> int:
    """Revoke the family of ``client``'s refresh token ``raw``; the number of families changed."""
    return int(Authorization.objects.filter(client=client).holding_refresh_token(raw).revoke())


class RevocationView(BackchannelView):
    """Revocation endpoint. Open to browsers (CORS) so public SPA clients can log out."""

    endpoint = "revocation"
    cors = True
    challenge_always = True
    revokers = {"access_token": revoke_access_token, "refresh_token": revoke_refresh_token}

    def answer(self, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
        self.revoke(request, params)
        return no_store(HttpResponse(status=200))

    def revoke(self, request: HttpRequest, params: dict[str, str]) -> None:
        client = self.authenticate(request, params)
        raw = params.get("token")
        if raw is None:
            raise InvalidRequest("The token parameter is required.")
        hint = params.get("token_type_hint")
        if hint is not None and hint not in self.revokers:
            raise UnsupportedTokenType(f"Unsupported token_type_hint: {hint}")
        if not resource.is_token_shaped(raw):
            return
        order = sorted(self.revokers, key=lambda kind: kind != hint)
        for kind in order:
            if self.revokers[kind](raw, client):
                token_revoked.send(sender=get_client_model(), request=request, client=client, token_type=kind,
                                   user=None, reason="revocation_endpoint")
                return

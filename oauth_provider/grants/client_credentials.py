"""The client credentials grant (RFC 6749 §4.4, OAuth 2.1 §4.2).

Confidential clients only; no refresh token (RFC 6749 §4.4.3); no user. The token's audience
is the ``resource`` values named (RFC 8707 §2), else the one inferred from the scopes (by
default the default resource). Two queries: the
client lookup done by client authentication, and the access-token INSERT.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

from .. import resources, scopes
from ..errors import UnauthorizedClient
from ..issuing import IssuedTokens, issue_tokens
from ..params import getlist
from .base import Grant

if TYPE_CHECKING:
    from ..models import AbstractClient


class ClientCredentialsGrant(Grant):
    grant_type = "client_credentials"

    def issue(self, request: HttpRequest, params: dict[str, str], client: AbstractClient) -> IssuedTokens:
        if client.is_public:
            raise UnauthorizedClient("client_credentials needs a confidential client.")
        asked = resources.requested(getlist(params, "resource"), client, request)
        granted = scopes.resolve(scopes.parse(params.get("scope")), client.allowed_scope_tuple)
        audience = resources.store(asked or resources.inferred(granted, client, request))
        granted = resources.downscope(granted, audience, request)
        return issue_tokens(
            request, grant_type=self.grant_type, client=client, user=None,
            scope=scopes.join(granted), authorization=None, audience=audience,
        )

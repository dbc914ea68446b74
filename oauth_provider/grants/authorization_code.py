"""The authorization code grant, token side (RFC 6749 §4.1.3, OAuth 2.1 §4.1.3, RFC 7636 §4.6).

Checks, in order: the code exists and was issued to this client; it was not used before
(else a replay); its family is not revoked, it is not expired and its user is active (the
code's state, :meth:`AuthorizationCode.dead_reason`); the redirect_uri matches the one sent
at the authorization endpoint; the PKCE verifier matches the stored S256 challenge (constant
time); a code bound to a DPoP key by ``dpop_jkt`` comes with a proof by that key (RFC 9449
§10). Then the code is consumed by a conditional UPDATE: the one request that flips
``consumed_at`` wins, and its tokens are stored under that condition
(:func:`oauth_provider.models.store.insert_if`), so a request that loses stores nothing. A
code presented again (RFC 6749 §4.1.2, RFC 9700 §4.5.1) is ``invalid_grant`` and revokes every
token of its family. Five queries: client, code (joined to its family and user), UPDATE,
access-token INSERT, refresh-token INSERT, the last three in one transaction; on PostgreSQL
three: the UPDATE and both INSERTs are one statement.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from django.http import HttpRequest

from .. import dpop, resources, scopes, secrets
from ..errors import InvalidGrant, InvalidRequest
from ..issuing import IssuedTokens, NotStored, issue_tokens
from ..models import Authorization, AuthorizationCode, get_client_model
from ..models import tokens as state
from ..models.store import code_by_value, code_unconsumed
from ..params import getlist
from ..registry import grant_types
from ..signals import authorization_code_replayed
from .base import Grant

if TYPE_CHECKING:
    from ..models import AbstractClient

# RFC 7636 §4.1: 43-128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
# Used with fullmatch: "$" alone would also accept a trailing newline.
VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_REFUSED = {
    state.FAMILY_REVOKED: "The authorization was revoked.",
    state.EXPIRED: "The authorization code has expired.",
    state.USER_INACTIVE: "The resource owner is no longer active.",
}


def verify_pkce(code: AuthorizationCode, verifier: str | None) -> None:
    """RFC 7636 §4.6 with S256 only; a verifier is required because every code carries a
    challenge (OAuth 2.1 §4.1.3)."""
    if verifier is None:
        raise InvalidGrant("code_verifier is required.")
    if not VERIFIER.fullmatch(verifier):
        raise InvalidGrant("code_verifier must be 43-128 characters of [A-Za-z0-9-._~].")
    if code.code_challenge_method != "S256" or not secrets.constant_time_equals(
        secrets.s256_challenge(verifier), code.code_challenge
    ):
        raise InvalidGrant("code_verifier does not match the code_challenge.")


class AuthorizationCodeGrant(Grant):
    grant_type = "authorization_code"

    def issue(self, request: HttpRequest, params: dict[str, str], client: AbstractClient) -> IssuedTokens:
        raw = params.get("code")
        if raw is None:
            raise InvalidRequest("The code parameter is required.")
        code = self.load(raw, client)
        family = code.authorization
        reason = code.dead_reason(secrets.now())
        if reason == state.CONSUMED:
            self.replayed(request, client, family)
            raise InvalidGrant("The authorization code was already used.")
        if reason is not None:
            raise InvalidGrant(_REFUSED[reason])
        self.check(code, params)
        dpop.require_key(request, code.dpop_jkt, "The authorization code")
        audience, scope = self.target(request, params, client, family)
        refresh = "refresh_token" in grant_types() and client.allows_grant("refresh_token")
        try:
            return issue_tokens(
                request, grant_type=self.grant_type, client=client, user=family.user,
                scope=scope, authorization=family, audience=audience,
                refresh_scope=family.scope if refresh else None, nonce=code.nonce or None,
                condition=code_unconsumed(code.pk, secrets.now()),
            )
        except NotStored:  # another redemption consumed it first
            self.replayed(request, client, family)
            raise InvalidGrant("The authorization code was already used.") from None

    def load(self, raw: str, client: AbstractClient) -> AuthorizationCode:
        code = code_by_value(raw)
        if code is None or code.authorization.client_id != client.pk:
            raise InvalidGrant("The authorization code is invalid or was issued to another client.")
        return code

    def check(self, code: AuthorizationCode, params: dict[str, str]) -> None:
        """What the redemption must prove beyond the code's state: the same redirect_uri
        (RFC 6749 §4.1.3) and the PKCE verifier (RFC 7636 §4.6)."""
        if code.redirect_uri and params.get("redirect_uri") != code.redirect_uri:
            raise InvalidGrant("redirect_uri does not match the authorization request.")
        verify_pkce(code, params.get("code_verifier"))

    @staticmethod
    def target(
        request: HttpRequest, params: dict[str, str], client: AbstractClient, family: Authorization
    ) -> tuple[str, str]:
        """The access token's audience (stored form) and scope: the grant's, or the resources
        the token request names, which must be among those authorized (RFC 8707 §2.2), with
        the scope reduced to what they accept. The refresh token keeps the whole grant."""
        asked = resources.requested(getlist(params, "resource"), client, request, required=False)
        if not asked:
            return family.resources, family.scope
        audience = resources.within(asked, family.resources, request)
        return audience, scopes.join(resources.downscope(family.scope.split(), audience, request))

    @staticmethod
    def replayed(request: HttpRequest, client: AbstractClient, family: Authorization) -> None:
        """A code came back: revoke everything it produced (RFC 6749 §4.1.2)."""
        Authorization.objects.filter(pk=family.pk).revoke()
        authorization_code_replayed.send(
            sender=get_client_model(), request=request, client=client, authorization=family
        )

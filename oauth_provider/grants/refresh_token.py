"""The refresh token grant with rotation and reuse detection (RFC 6749 §6, OAuth 2.1 §4.3,
RFC 9700 §4.14.2).

Every use rotates the token: the presented one is consumed by a conditional UPDATE and a new
one is issued with the original scope and the family's absolute deadline. A rotated token
presented again is reuse: the whole family is revoked and ``refresh_token_reused`` sent.

With ``REFRESH_TOKEN_GRACE_PERIOD`` (for clients that refresh concurrently), a rotated token
presented again inside the period is honoured **once**, and only while its successor is
unused: the answer carries the *same* successor (derived from the presented value,
:func:`~oauth_provider.issuing.successor_of`) and one new access token. So a family never
forks into two chains. A successor handed out twice has two holders, so it gets no grace of
its own (``shared_at``): once either holder uses it, the other's use is reuse, detected. A
thief who replays a stolen token inside the window therefore cannot ride the chain by
refreshing just after the client each time. A second replay, or a replay after the successor
was used, is reuse.

With ``REFRESH_TOKEN_ROTATION = "public_clients"`` (the FAPI 2.0 profile's value,
§5.3.2.1-9) only public clients' tokens rotate, with the reuse detection above; a confidential
client, which must authenticate to use its refresh token at all, keeps it: the answer returns
the same value and a new access token, and the idle timeout counts from this use.

A refresh token issued to a public client with a DPoP proof is bound to the proof's key
(RFC 9449 §5): only a proof by that key refreshes it, and the binding passes to its successor
(:mod:`oauth_provider.issuing`). A confidential client's refresh token is bound to its client
authentication instead; its new access token is bound to whatever key its proof, if any, names.

The requested scope may narrow the new access token, never widen it; scopes the client lost
since, or that the token's resources no longer accept (``RESOURCES``), are dropped. Five
queries: client, token (joined to its family and user), UPDATE, two INSERTs, the last three
in one transaction; on PostgreSQL three, the UPDATE and the INSERTs being one statement that
stores the tokens only if the UPDATE rotated the token
(:func:`oauth_provider.models.store.insert_if`). A kept token: client, token, UPDATE, one
INSERT (PostgreSQL: three). A grace retry: client, token, then in one transaction the
grace UPDATE, the successor, one INSERT.
"""

from __future__ import annotations

from typing import NoReturn

from django.db import transaction
from django.http import HttpRequest

from .. import dpop, resources, scopes, secrets
from ..conf import provider_settings
from ..errors import InvalidGrant, InvalidRequest, InvalidScope
from ..issuing import IssuedTokens, NotStored, issue_tokens, refresh_expiry, successor_of
from ..models import AbstractClient, Authorization, RefreshToken, get_client_model
from ..models import tokens as state
from ..models.store import (
    attach_client,
    refresh_kept,
    refresh_token_by_value,
    refresh_unrotated,
    share_refresh_token,
    spend_refresh_grace,
)
from ..params import getlist
from ..signals import refresh_token_reused
from .base import Grant

_REFUSED = {
    state.FAMILY_REVOKED: "The refresh token was revoked.",
    state.REVOKED: "The refresh token was revoked.",
    state.EXPIRED: "The refresh token has expired.",
    state.USER_INACTIVE: "The resource owner is no longer active.",
    state.CLIENT_INACTIVE: "The client is no longer active.",
}
_REUSED = "The refresh token was already used; the grant has been revoked."


class RefreshTokenGrant(Grant):
    grant_type = "refresh_token"

    def issue(self, request: HttpRequest, params: dict[str, str], client: AbstractClient) -> IssuedTokens:
        raw = params.get("refresh_token")
        if raw is None:
            raise InvalidRequest("The refresh_token parameter is required.")
        token = refresh_token_by_value(raw)
        if token is None or token.authorization.client_id != client.pk:
            raise InvalidGrant("The refresh token is invalid or was issued to another client.")
        family = token.authorization
        attach_client(family, client)
        now = secrets.now()
        reason = token.dead_reason(now)
        if reason == state.ROTATED:
            self.reused(request, client, family)
        if reason is not None:
            raise InvalidGrant(_REFUSED[reason])
        dpop.require_key(request, token.dpop_jkt, "The refresh token")
        scope = self.narrowed_scope(params, token, client)
        audience, scope = self.narrowed_audience(request, params, client, family, scope)
        if not self.rotates(client):
            try:
                return issue_tokens(
                    request, grant_type=self.grant_type, client=client, user=family.user, scope=scope,
                    authorization=family, refresh_value=raw, stored_refresh=token, audience=audience,
                    condition=refresh_kept(token.pk, now, refresh_expiry(family, now)),
                )
            except NotStored:  # revoked or expired meanwhile
                raise InvalidGrant(_REFUSED[state.REVOKED]) from None
        grace = state.refresh_grace()
        successor = successor_of(raw) if grace else None
        if token.rotated_at is None:
            try:
                return issue_tokens(
                    request, grant_type=self.grant_type, client=client, user=family.user,
                    scope=scope, authorization=family, refresh_scope=token.scope, refresh_value=successor,
                    audience=audience, condition=refresh_unrotated(token.pk, now),
                )
            except NotStored:  # rotated meanwhile by another request (a grace retry, or reuse), or revoked
                if RefreshToken.objects.filter(pk=token.pk).revoked().exists():
                    raise InvalidGrant(_REFUSED[state.REVOKED]) from None
        with transaction.atomic():
            if successor is not None and spend_refresh_grace(token.pk, now, grace):
                stored = refresh_token_by_value(successor)
                if stored is not None and stored.authorization_id == family.pk and stored.rotated_at is None:
                    attach_client(stored.authorization, client)
                    # two holders now, unless the successor was used meanwhile: then reuse
                    if stored.is_live(now) and share_refresh_token(stored.pk, now):
                        return issue_tokens(
                            request, grant_type=self.grant_type, client=client, user=family.user, scope=scope,
                            authorization=family, refresh_value=successor, stored_refresh=stored,
                            audience=audience,
                        )
        self.reused(request, client, family)

    @staticmethod
    def rotates(client: AbstractClient) -> bool:
        """Does using a refresh token of ``client`` replace it? Always, unless
        ``REFRESH_TOKEN_ROTATION`` is ``"public_clients"`` and ``client`` is confidential
        (FAPI 2.0 §5.3.2.1-9: its token is useless without its credentials)."""
        return provider_settings.REFRESH_TOKEN_ROTATION != "public_clients" or bool(client.is_public)

    @staticmethod
    def reused(request: HttpRequest, client: AbstractClient, family: Authorization) -> NoReturn:
        """A rotated refresh token came back: revoke the family (RFC 9700 §4.14.2)."""
        Authorization.objects.filter(pk=family.pk).revoke()
        refresh_token_reused.send(sender=get_client_model(), request=request, client=client, authorization=family)
        raise InvalidGrant(_REUSED)

    @staticmethod
    def narrowed_audience(
        request: HttpRequest, params: dict[str, str], client: AbstractClient, family: Authorization, scope: str
    ) -> tuple[str, str]:
        """The new access token's audience (stored form) and scope: the grant's resources, or
        those the request names, which must be among them (RFC 8707 §2.2: narrowed, never
        widened; the refresh token stays bound to the whole grant), the scope reduced to what
        they accept now: a scope ``RESOURCES`` no longer lets them accept is dropped, as a scope
        the client lost is (:meth:`narrowed_scope`), whether or not the request names them."""
        asked = resources.requested(getlist(params, "resource"), client, request, required=False)
        audience = resources.within(asked, family.resources, request)
        return audience, scopes.join(resources.downscope(scope.split(), audience, request))

    @staticmethod
    def narrowed_scope(params: dict[str, str], token: RefreshToken, client: AbstractClient) -> str:
        """The new access token's scope: the requested one if it is within the original
        grant (OAuth 2.1 §4.3.1), minus scopes the client may no longer have."""
        original = scopes.parse(token.scope)
        requested = scopes.parse(params.get("scope")) or original
        if not set(requested) <= set(original):
            raise InvalidScope("The requested scope exceeds the scope originally granted.")
        allowed = scopes.client_allowed(client)
        known = scopes.registered()
        kept = tuple(s for s in requested if s in known and (allowed is None or s in allowed))
        if not kept and requested:
            raise InvalidScope("None of the granted scopes is still allowed for this client.")
        return scopes.join(kept)

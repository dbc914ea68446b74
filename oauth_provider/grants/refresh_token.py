"""The refresh token grant with rotation and reuse detection (RFC 6749 §6, OAuth 2.1 §4.3,
RFC 9700 §4.14.2).

Every use rotates the token: the presented one is consumed by a conditional UPDATE and a new
one is issued with the original scope and the family's absolute deadline. A rotated token
presented again revokes the whole family, unless it comes back within the optional
``REFRESH_TOKEN_GRACE_PERIOD`` (for clients that refresh concurrently). The requested scope
may narrow the new access token, never widen it; scopes the client lost since are dropped.
Five queries: client, token (joined to its family and user), UPDATE, two INSERTs.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest

from .. import scopes, secrets
from ..conf import provider_settings
from ..errors import InvalidGrant, InvalidRequest, InvalidScope
from ..issuing import IssuedTokens, issue_tokens
from ..models import Authorization, RefreshToken, get_client_model
from ..models.lookups import refresh_token_by_value, rotate_refresh_token
from ..signals import refresh_token_reused
from .base import Grant


class RefreshTokenGrant(Grant):
    grant_type = "refresh_token"

    def issue(self, request: HttpRequest, params: dict[str, str], client: Any) -> IssuedTokens:
        raw = params.get("refresh_token")
        if raw is None:
            raise InvalidRequest("The refresh_token parameter is required.")
        token = refresh_token_by_value(raw)
        if token is None or token.authorization.client_id != client.pk:
            raise InvalidGrant("The refresh token is invalid or was issued to another client.")
        family = token.authorization
        now = secrets.now()
        if family.revoked_at is not None or token.revoked_at is not None:
            raise InvalidGrant("The refresh token was revoked.")
        if token.expires_at <= now:
            raise InvalidGrant("The refresh token has expired.")
        if family.user is not None and not family.user.is_active:
            raise InvalidGrant("The resource owner is no longer active.")
        scope = self.narrowed_scope(params, token, client)
        grace = provider_settings.REFRESH_TOKEN_GRACE_PERIOD
        with transaction.atomic():
            if rotate_refresh_token(token.pk, now, grace):
                issued = issue_tokens(
                    request, grant_type=self.grant_type, client=client, user=family.user,
                    scope=scope, authorization=family, refresh_scope=token.scope,
                )
                if grace and issued.refresh is not None:
                    # Within the grace window one token may be redeemed twice; only the newest
                    # successor lives on, so a family never forks into two chains that could
                    # each rotate forever without reuse detection.
                    RefreshToken.objects.filter(
                        authorization=family, rotated_at__isnull=True, revoked_at__isnull=True
                    ).exclude(pk=issued.refresh.pk).update(revoked_at=now)
                return issued
        Authorization.objects.filter(pk=family.pk).revoke()
        refresh_token_reused.send(sender=get_client_model(), request=request, client=client, authorization=family)
        raise InvalidGrant("The refresh token was already used; the grant has been revoked.")

    @staticmethod
    def narrowed_scope(params: dict[str, str], token: RefreshToken, client: Any) -> str:
        """The new access token's scope: the requested one if it is within the original
        grant (OAuth 2.1 §4.3.1), minus scopes the client may no longer have."""
        original = scopes.parse(token.scope)
        requested = scopes.parse(params.get("scope")) or original
        if not set(requested) <= set(original):
            raise InvalidScope("The requested scope exceeds the scope originally granted.")
        allowed = client.allowed_scope_tuple
        known = scopes.registered()
        kept = tuple(s for s in requested if s in known and (allowed is None or s in allowed))
        if not kept and requested:
            raise InvalidScope("None of the granted scopes is still allowed for this client.")
        return scopes.join(kept)

"""The device authorization grant, token side (RFC 8628 §3.4-3.5).

The device polls with ``grant_type=urn:ietf:params:oauth:grant-type:device_code`` and its
``device_code``; the client authenticates as at any token request (public device clients
send their ``client_id``). The answers, all HTTP 400 except the last (§3.5):

* ``authorization_pending``: nobody has decided yet. This is the common case and costs two
  statements: the client lookup and one conditional UPDATE that checks the code is this
  client's, pending, unexpired and polled no sooner than its interval, and records the poll
  (:meth:`~oauth_provider.models.DeviceCodeQuerySet.poll`);
* ``slow_down``: polled before the interval passed; the code's interval grows by 5 seconds
  for this and every later poll, and is stored;
* ``access_denied``: the user denied it; ``expired_token``: it expired first;
* ``invalid_grant``: no such code for this client (another client's code is unknown to this
  one), or it was redeemed already;
* the tokens, once: the approved code is consumed by a conditional UPDATE (of parallel polls
  exactly one wins), then a token family is stored for the user who approved it and its
  tokens issued. Seven statements: client, UPDATE (no row), the code with its user, the
  consuming UPDATE, the family, the access token, the refresh token.

A redeemed code presented again is refused but revokes nothing: a device code never passes
through a browser, and a client that polls twice at once must not lose its tokens.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.http import HttpRequest

from .. import resources, scopes, secrets
from ..conf import provider_settings
from ..errors import AuthorizationPending, DeviceAccessDenied, ExpiredToken, InvalidGrant, InvalidRequest, SlowDown
from ..issuing import IssuedTokens, issue_tokens
from ..models import Authorization, DeviceCode
from ..models import devices as state
from ..models.store import device_code_by_value, insert
from ..params import getlist
from ..registry import grant_types
from .base import Grant

if TYPE_CHECKING:
    from ..models import AbstractClient

#: the grant_type of RFC 8628 §3.4
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"


class DeviceCodeGrant(Grant):
    grant_type = GRANT_TYPE
    #: listed in the metadata only while an active client is registered for it
    opt_in = True

    def issue(self, request: HttpRequest, params: dict[str, str], client: AbstractClient) -> IssuedTokens:
        raw = params.get("device_code")
        if raw is None:
            raise InvalidRequest("The device_code parameter is required.")
        now = secrets.now()
        if DeviceCode.objects.poll(raw, client.pk, now):
            raise AuthorizationPending()
        device = device_code_by_value(raw)
        if device is None or device.client_id != client.pk:
            raise InvalidGrant("The device code is invalid or was issued to another client.")
        current = device.state(now)
        if current == state.CONSUMED:
            raise InvalidGrant("The device code was already used.")
        if current == state.EXPIRED:
            raise ExpiredToken()
        if current == state.DENIED:
            raise DeviceAccessDenied()
        if current == state.PENDING:
            if device.too_soon(now):
                longest = timedelta(seconds=provider_settings.DEVICE_CODE_LIFETIME)
                raise SlowDown(int(device.slow_down(now, longest).total_seconds()))
            raise AuthorizationPending()  # decided and undone between the two statements: ask again
        return self.redeem(request, params, device, client)

    def redeem(self, request: HttpRequest, params: dict[str, str], device: DeviceCode,
               client: AbstractClient) -> IssuedTokens:
        """The approved code: consume it, store the family of the user who approved, issue."""
        user = device.user
        if user is None or not getattr(user, "is_active", True):
            raise InvalidGrant("The resource owner is no longer active.")
        audience, scope = self.target(request, params, client, device)
        with transaction.atomic():
            if not device.consume(secrets.now()):
                raise InvalidGrant("The device code was already used.")
            family = Authorization(
                client=client,  # type: ignore[misc]  # the FK is to the swappable client model
                user=user, scope=device.scope, auth_time=device.auth_time, resources=device.resources,
            )
            insert(family)
            refresh = "refresh_token" in grant_types() and client.allows_grant("refresh_token")
            return issue_tokens(
                request, grant_type=self.grant_type, client=client, user=user, scope=scope,
                authorization=family, refresh_scope=device.scope if refresh else None, audience=audience,
            )

    @staticmethod
    def target(request: HttpRequest, params: dict[str, str], client: AbstractClient,
               device: DeviceCode) -> tuple[str, str]:
        """The access token's audience (stored form) and scope: those the device asked for, or
        the resources the poll names, which must be among them (RFC 8707 §2.2), with the scope
        reduced to what they accept. The refresh token keeps the whole grant."""
        asked = resources.requested(getlist(params, "resource"), client, request, required=False)
        if not asked:
            return device.resources, device.scope
        audience = resources.within(asked, device.resources, request)
        return audience, scopes.join(resources.downscope(device.scope.split(), audience, request))

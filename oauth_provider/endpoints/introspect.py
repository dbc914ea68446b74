"""Token introspection (RFC 7662).

A form-encoded POST (§2.1) from an authenticated client (§2.1: the endpoint must not be open
to token scanning; public clients, which prove nothing, are refused with 401). A client may
introspect the tokens issued to it; a client flagged ``is_resource_server`` may introspect
the access tokens meant for a resource it serves (``served_resources``, or the default
resource when it lists none; §4: the server must determine whether the token "can be used at
the protected resource making the introspection call"), but a refresh token only its own
client may (it is never meant for a resource server). Access and refresh tokens are both
looked up, in the order ``token_type_hint`` suggests (§2.1: the hint is only an optimisation).

Anything the caller may not learn about (unknown, expired, revoked, malformed, another
client's token, a token for another resource) is exactly ``{"active": false}`` (§2.2).
Active tokens give ``active``, ``scope``, ``client_id``, ``token_type``, ``exp``, ``iat``,
``iss``, ``aud`` (access tokens) and, for a user's token, ``sub`` (the adapter's subject, the
user's primary key by default) and ``username``. A client_credentials token has **no**
``sub`` and no ``username``: nothing that a resource server could mistake for a user (RFC
9700 §4.15.1); its ``client_id`` says who it belongs to.

Two queries for an access token: the client, then the token joined to its client, user and
family. Always ``Cache-Control: no-store``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse

from .. import resource, resources, secrets
from ..adapter import subject_for
from ..errors import InvalidClient, InvalidRequest
from ..issuer import get_issuer
from ..models.store import refresh_token_by_value
from ..responses import json_response
from ._backchannel import BackchannelView

if TYPE_CHECKING:
    from ..models import AbstractClient

INACTIVE: dict[str, Any] = {"active": False}
#: ``token_type`` reported for a refresh token (RFC 7662 leaves it to the server)
REFRESH_TOKEN_TYPE = "refresh_token"


def _timestamp(value: datetime) -> int:
    return int(value.timestamp())


def _user_fields(user: Any, client: AbstractClient) -> dict[str, Any]:
    if user is None:
        return {}
    return {"sub": subject_for(user, client), "username": user.get_username()}


def _may_see(request: HttpRequest, caller: AbstractClient, row: Any) -> bool:
    """The token's own client, or a resource server it is meant for (RFC 7662 §4)."""
    return caller.pk == row.client_id or resources.served_by(caller, row.audience, request)


def _access_token(request: HttpRequest, raw: str, caller: AbstractClient) -> dict[str, Any] | None:
    row = resource.lookup(raw)
    if row is None:
        return None
    if not row.is_live(secrets.now()) or not _may_see(request, caller, row):
        return INACTIVE
    audience = resources.audience(row.audience, request)
    return {
        "active": True,
        "scope": row.scope,
        "client_id": row.client.client_id,
        # RFC 9449 §6.2: a DPoP-bound token is of type DPoP and says which key it is bound to
        "token_type": "DPoP" if row.dpop_jkt else "Bearer",
        **({"cnf": {"jkt": row.dpop_jkt}} if row.dpop_jkt else {}),
        "exp": _timestamp(row.expires_at),
        "iat": _timestamp(row.created_at),
        "iss": get_issuer(request),
        # RFC 7662 §2.2, RFC 8707: the resources the token is good at; a string for one
        "aud": audience[0] if len(audience) == 1 else list(audience),
        **_user_fields(row.user if row.user_id is not None else None, row.client),
        # RFC 8693 §4.1: the actor of a token obtained by token exchange, as in the JWT
        **({"act": row.act} if row.act else {}),
    }


def _refresh_token(request: HttpRequest, raw: str, caller: AbstractClient) -> dict[str, Any] | None:
    if not resource.is_token_shaped(raw):
        return None
    row = refresh_token_by_value(raw, with_client=True)
    if row is None:
        return None
    family = row.authorization
    # Only its own client: a refresh token is never sent to a resource server, so a resource
    # server holding one holds a leaked credential and learns nothing from it.
    if not row.is_live(secrets.now()) or caller.pk != family.client_id:
        return INACTIVE
    return {
        "active": True,
        "scope": row.scope,
        "client_id": family.client.client_id,
        "token_type": REFRESH_TOKEN_TYPE,
        "exp": _timestamp(row.expires_at),
        "iat": _timestamp(row.created_at),
        "iss": get_issuer(request),
        **_user_fields(family.user if family.user_id is not None else None, family.client),
    }


class IntrospectionView(BackchannelView):
    """Introspection endpoint. Not open to browsers: its callers are resource servers."""

    endpoint = "introspection"
    challenge_always = True
    #: lookups tried in order; ``token_type_hint=refresh_token`` moves that one first
    lookups = {"access_token": _access_token, "refresh_token": _refresh_token}

    def answer(self, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
        return json_response(self.introspect(request, params))

    def introspect(self, request: HttpRequest, params: dict[str, str]) -> dict[str, Any]:
        caller = self.authenticate(request, params)
        if caller.is_public:
            raise InvalidClient("Public clients may not introspect tokens.")
        raw = params.get("token")
        if raw is None:
            raise InvalidRequest("The token parameter is required.")
        order = list(self.lookups)
        if params.get("token_type_hint") in order:
            order.remove(params["token_type_hint"])
            order.insert(0, params["token_type_hint"])
        for kind in order:
            answer = self.lookups[kind](request, raw, caller)
            if answer is not None:
                return answer
        return INACTIVE

"""Dynamic client registration (RFC 7591) and client configuration (RFC 7592): the rules.

The endpoints in :mod:`oauth_provider.endpoints.registration` parse and render; this module
decides. Off unless ``OAUTH_PROVIDER["DYNAMIC_REGISTRATION"]`` is ``"open"``, ``"token"`` or
``"adapter"``.

Registration (RFC 7591 §3.1), in order:

1. the throttle counts the attempt (``REGISTRATION_THROTTLE``: per address, every attempt);
2. ``"token"`` mode: an initial access token as an RFC 6750 bearer token (§3: missing -> 401
   with a bare Bearer challenge; unknown, revoked, expired or used up -> 401 ``invalid_token``);
3. the body: one JSON object (§3.1), at most :data:`MAX_BODY` bytes;
4. a ``software_statement`` is refused (``invalid_software_statement``: we trust no statement
   issuer); values only the server assigns (``client_id``, ``client_secret``, ... §3.2.1) are
   ignored, so a client never chooses its identifier or secret (RFC 7591 §5);
5. :func:`oauth_provider.client_metadata.validate` with ``source="dynamic"``: the same rules
   as admin and ``createclient`` (redirect URIs by ``application_type``, grant and response
   types, auth method, keys, display URIs); unknown members are dropped (§2);
6. the adapter's ``allow_registration(request, metadata)`` (403 when it says no);
7. the client is created with what only an administrator may set left at its safe default
   (never ``skip_consent``, never ``is_resource_server``, no owner), ``registration_method``
   ``"dynamic"``, a secret only for a client that authenticates with one, and a registration
   access token (hashed) for RFC 7592. The initial token's use is spent in the same
   transaction (a conditional UPDATE: racing registrations cannot share its last use).

Client configuration (RFC 7592 §2): the registration access token as a bearer token on
``registration_client_uri``; a token of another client, a replaced one, or a deleted client's
is 401 ``invalid_token``. Read returns the registration; update replaces the metadata (fields
left out return to their defaults), issues a new registration access token and invalidates the
old one; delete deactivates the client and revokes every grant and token it holds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.http import HttpRequest

from . import client_metadata, secrets, throttling
from .client_auth import uses_secret
from .conf import provider_settings
from .errors import ClientMetadataError, InvalidToken, MissingToken, RegistrationRefused
from .issuer import endpoint_url
from .models import AbstractClient, ClientRegistration, Consent, InitialAccessToken, get_client_model
from .models.tokens import revoke_client_tokens
from .registry import adapter

MODES = ("open", "token", "adapter")
#: a client's metadata is a few hundred bytes; a larger body is refused unread (DERIVED-input-size)
MAX_BODY = 32 * 1024
JSON_TYPE = "application/json"
#: RFC 7591 §3.2.1 / RFC 7592 §3: values the server assigns; in a registration they are ignored
SERVER_ASSIGNED = ("client_id", "client_secret", "client_id_issued_at", "client_secret_expires_at",
                   "registration_access_token", "registration_client_uri")
#: RFC 7592 §2.2: an update must not carry these
NOT_IN_UPDATE = ("registration_access_token", "registration_client_uri", "client_secret_expires_at",
                 "client_id_issued_at")


def mode() -> str | None:
    """The registration mode, or None when dynamic registration is off."""
    value = provider_settings.DYNAMIC_REGISTRATION
    return value if value in MODES else None


def enabled() -> bool:
    return mode() is not None


@dataclass(frozen=True)
class Registered:
    """A registration's outcome: the client, and the plaintexts shown this once."""

    client: AbstractClient
    registration_access_token: str
    client_secret: str | None = None


# -- reading the request ------------------------------------------------------------------------
def bearer(request: HttpRequest) -> str | None:
    """The RFC 6750 §2.1 bearer token of the Authorization header (never the query or body)."""
    header = str(request.META.get("HTTP_AUTHORIZATION", ""))
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        return None
    return value


def parse_body(request: HttpRequest) -> dict[str, Any]:
    """The JSON object of the request body (RFC 7591 §3.1), or :class:`ClientMetadataError`."""
    if request.content_type != JSON_TYPE:
        raise ClientMetadataError("Send the client metadata as an application/json object.")
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not re.fullmatch(r"[0-9]{1,20}", length) or int(length) > MAX_BODY:  # never "²": int() refuses it
        raise ClientMetadataError(f"The client metadata must be at most {MAX_BODY} bytes.")
    body = request.body
    if len(body) > MAX_BODY:
        raise ClientMetadataError(f"The client metadata must be at most {MAX_BODY} bytes.")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise ClientMetadataError("The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ClientMetadataError("The client metadata must be a JSON object.")
    return data


def _validated(data: Mapping[str, Any], client_id: str | None = None) -> Any:
    if "software_statement" in data:
        raise ClientMetadataError("Software statements are not accepted by this server.",
                                  error="invalid_software_statement")
    try:
        return client_metadata.validate(data, source="dynamic", client_id=client_id)
    except client_metadata.InvalidClientMetadata as exc:
        raise ClientMetadataError(exc.description, error=exc.error) from None


# -- registration (RFC 7591 §3) --------------------------------------------------------------
def _initial_token(request: HttpRequest) -> InitialAccessToken | None:
    """``"token"`` mode: the usable initial access token the request carries (not spent yet)."""
    if mode() != "token":
        return None
    raw = bearer(request)
    if raw is None:
        raise MissingToken()
    row: InitialAccessToken | None = (
        InitialAccessToken.objects.usable().filter(token_hash=secrets.hash_token(raw)).first()
    )
    if row is None:
        raise InvalidToken("The initial access token is invalid, expired or used up.")
    return row


def _make_safe(client: AbstractClient) -> None:
    """What only an administrator may grant, at its safe value whatever the metadata said
    (``is_active`` is left alone: new rows are active, and an update never turns a client an
    operator deactivated back on)."""
    client.skip_consent = False
    client.is_resource_server = False
    client.owner = None
    client.registration_method = "dynamic"


def _give_secret(client: AbstractClient) -> str | None:
    """A secret for a client that authenticates with one (RFC 7591 §3.2.1: only then)."""
    if uses_secret(client):
        return client.generate_secret()
    client.set_secret(None)
    return None


def register(request: HttpRequest) -> Registered:
    """Register a client from ``request`` (see the module docstring for the order)."""
    throttling.count_registration(request)
    initial = _initial_token(request)
    data = {k: v for k, v in parse_body(request).items() if k not in SERVER_ASSIGNED}
    metadata = _validated(data)
    if not adapter().allow_registration(request, metadata):
        raise RegistrationRefused()
    client = get_client_model()()
    metadata.apply(client)
    _make_safe(client)
    secret = _give_secret(client)
    with transaction.atomic():
        if initial is not None and not InitialAccessToken.objects.spend(initial):
            raise InvalidToken("The initial access token is invalid, expired or used up.")
        client.save()
        address = throttling.client_ip(request, throttling.throttle_settings().ip_header)
        _row, token = ClientRegistration.objects.register(client, initial_token=initial, address=address)
    return Registered(client, token, secret)


# -- client configuration (RFC 7592 §2) ------------------------------------------------------
def authenticate(request: HttpRequest, client_id: str) -> ClientRegistration:
    """The registration the request's registration access token opens, for ``client_id``."""
    raw = bearer(request)
    if raw is None:
        raise MissingToken()
    row: ClientRegistration | None = ClientRegistration.objects.authenticate(client_id, raw)
    if row is None:
        raise InvalidToken("The registration access token is invalid for this client.")
    return row


def update(request: HttpRequest, registration: ClientRegistration) -> Registered:
    """Replace the client's metadata (RFC 7592 §2.2) and its registration access token."""
    client = registration.client
    data = parse_body(request)
    present = [name for name in NOT_IN_UPDATE if name in data]
    if present:
        raise ClientMetadataError(f"An update must not include {', '.join(present)} (RFC 7592 §2.2).")
    if data.get("client_id") != client.client_id:
        raise ClientMetadataError("client_id must be this client's identifier.")
    sent_secret = data.get("client_secret")
    if sent_secret is not None and not (isinstance(sent_secret, str) and client.check_secret(sent_secret)):
        raise ClientMetadataError("client_secret must be the client's current secret; it cannot be chosen.")
    metadata = _validated({k: v for k, v in data.items() if k not in SERVER_ASSIGNED}, client.client_id)
    if not adapter().allow_registration(request, metadata):
        raise RegistrationRefused()
    with transaction.atomic():
        token = registration.rotate()  # first: of two requests with the same token one wins
        if token is None:
            raise InvalidToken("The registration access token is invalid for this client.")
        # the row as it is now, not as authenticate() read it: an operator's deactivation or
        # narrowing made while this request was validated and put to the adapter stands
        client = type(client)._default_manager.select_for_update().get(pk=client.pk)
        if not client.is_active:
            raise InvalidToken("The registration access token is invalid for this client.")
        had_secret = bool(client.client_secret_hash)
        allowed_before, shown_before = client.allowed_scope_tuple, _shown_to_users(client)
        grants_before = client.grant_type_list
        metadata.apply(client)
        _keep_within(client, allowed_before)
        _keep_grants_within(client, grants_before, asked="grant_types" in data)
        _make_safe(client)
        secret = None
        if uses_secret(client):
            if not had_secret:  # e.g. a public client becoming confidential: its first secret
                secret = client.generate_secret()
        else:
            client.set_secret(None)
        client.save()
        if _shown_to_users(client) != shown_before:
            Consent.objects.forget_everyone(client)
    return Registered(client, token, secret)


#: what the consent page showed the user about the client: a remembered decision was made on it
SHOWN_TO_USERS = ("name", "logo_uri", "client_uri", "policy_uri", "tos_uri")


def _shown_to_users(client: AbstractClient) -> tuple[Any, ...]:
    """The client as the user approved it: its redirect URIs and what the consent page shows.
    An update changing any of them forgets every remembered decision, so the next authorization
    asks again (as a changed client ID metadata document does): a registration access token in
    the wrong hands must not turn "Notes" into "Your bank", or send codes to a new address,
    behind decisions users made about the client they saw."""
    return (frozenset(client.redirect_uri_list), *(getattr(client, name) for name in SHOWN_TO_USERS))


def _keep_within(client: AbstractClient, allowed_before: tuple[str, ...] | None) -> None:
    """An update asks for scopes; it gets those among the ones the client may use now. Only an
    operator widens a client's scopes (admin, createclient)."""
    if allowed_before is None:
        return
    asked = client.allowed_scope_tuple
    kept = [s for s in (asked if asked is not None else allowed_before) if s in allowed_before]
    if not kept:
        raise ClientMetadataError("scope: none of these scopes is available to this client.")
    client.allowed_scopes = " ".join(kept)


def _keep_grants_within(client: AbstractClient, before: list[str], *, asked: bool) -> None:
    """As for scopes: an update gets the grant types it asks for among those the client has
    now (none named: those it has), so a grant an operator took away in the admin does not
    come back with the client's next update. Only an operator adds a grant type."""
    kept = [g for g in client.grant_type_list if g in before] if asked else list(before)
    if not kept:
        raise ClientMetadataError("grant_types: none of these grant types is available to this client.")
    client.grant_types = " ".join(kept)


def delete(registration: ClientRegistration) -> None:
    """RFC 7592 §2.3: the client_id, its secret and the registration access token stop working
    at once, and every grant and token of the client is revoked. The client row stays,
    inactive, for the record (admin can delete it)."""
    client = registration.client
    model = type(client)
    with transaction.atomic():
        if not registration.spend():  # an update replaced the token meanwhile, or a delete won
            raise InvalidToken("The registration access token is invalid for this client.")
        model._default_manager.filter(pk=client.pk).update(is_active=False, client_secret_hash="")
        revoke_client_tokens(model._default_manager.filter(pk=client.pk))


# -- the response (RFC 7591 §3.2.1, RFC 7592 §3) ----------------------------------------------
def client_information(request: HttpRequest, client: AbstractClient, *, registration_access_token: str | None,
                       client_secret: str | None = None) -> dict[str, Any]:
    """Every registered metadata value (with server defaults) plus the server-assigned ones."""
    info: dict[str, Any] = dict(client_metadata.to_dict(client))
    info["client_id"] = client.client_id
    info["client_id_issued_at"] = int(client.created_at.timestamp())
    if client_secret is not None:
        info["client_secret"] = client_secret
        info["client_secret_expires_at"] = 0  # §3.2.1: required with a secret; 0 = never
    if registration_access_token is not None:
        info["registration_access_token"] = registration_access_token
    info["registration_client_uri"] = configuration_url(request, client)
    return info


def configuration_url(request: HttpRequest | None, client: AbstractClient) -> str:
    """The client's ``registration_client_uri`` (RFC 7592 §1)."""
    return endpoint_url(request, "registration") + client.client_id

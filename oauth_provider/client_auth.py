"""Client authentication at the token endpoint (RFC 6749 §2.3, OAuth 2.1 §2.4).

One small class per ``token_endpoint_auth_method``, in a registry built from
``OAUTH_PROVIDER["CLIENT_AUTH_METHODS"]``. :func:`authenticate` finds the one method the
request uses (more than one is ``invalid_request``, OAuth 2.1 §3.2.4), loads the client in
one query, checks that the method is the one the client registered, and verifies the secret
in constant time (the hash is computed for unknown clients too, so timing does not tell
whether a client_id exists, OIDC Core §16.12). Failures are counted, and a client_id or
address with too many of them is refused before its credentials are checked
(:mod:`oauth_provider.throttling`, OAuth 2.1 §2.4.1).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote_plus

from django.http import HttpRequest

from . import secrets, throttling
from .errors import InvalidClient, InvalidRequest
from .models import get_client_model
from .models.store import client_by_id
from .registry import client_auth_methods
from .signals import client_authentication_failed


class ClientAuthenticationFailed(InvalidClient):
    """:class:`InvalidClient` raised by :func:`authenticate`; ``challenge`` is the
    ``WWW-Authenticate`` value of the method the client tried (None for a method without
    one). The endpoint's renderer decides whether to send it."""

    def __init__(self, description: str | None = None, *, challenge: str | None = None) -> None:
        self.challenge = challenge
        super().__init__(description)


# Compared against when the client is unknown, so that path costs the same hash + compare.
_DUMMY_HASH = secrets.hash_token("unknown-client")


class ClientAuthMethod:
    """Contract for one client-authentication method.

    ``attempted`` says whether the request carries this method's credentials;
    ``credentials`` returns ``(client_id, secret)`` (secret None for methods without one)
    or raises :class:`InvalidClient`; ``challenge`` is the WWW-Authenticate value for a
    401 when this method was tried, or None."""

    name: str = ""
    challenge: str | None = None

    def attempted(self, request: HttpRequest, params: dict[str, str]) -> bool:
        raise NotImplementedError

    def credentials(self, request: HttpRequest, params: dict[str, str]) -> tuple[str, str | None]:
        raise NotImplementedError


class ClientSecretBasic(ClientAuthMethod):
    """HTTP Basic with the form-urlencoded client_id and secret (RFC 6749 §2.3.1)."""

    name = "client_secret_basic"
    challenge = 'Basic realm="oauth"'

    def attempted(self, request: HttpRequest, params: dict[str, str]) -> bool:
        return request.META.get("HTTP_AUTHORIZATION", "")[:6].lower() == "basic "

    def credentials(self, request: HttpRequest, params: dict[str, str]) -> tuple[str, str | None]:
        encoded = request.META.get("HTTP_AUTHORIZATION", "")[6:].strip()
        try:
            decoded = base64.b64decode(encoded.encode("ascii"), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeError, ValueError):
            raise InvalidClient("Malformed HTTP Basic credentials.") from None
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise InvalidClient("Malformed HTTP Basic credentials.")
        client_id, secret = unquote_plus(client_id), unquote_plus(secret)
        if params.get("client_id", client_id) != client_id:
            raise InvalidClient("client_id in the body differs from the one in the Authorization header.")
        return client_id, secret


class ClientSecretPost(ClientAuthMethod):
    """client_id and client_secret in the form body (RFC 6749 §2.3.1)."""

    name = "client_secret_post"

    def attempted(self, request: HttpRequest, params: dict[str, str]) -> bool:
        return "client_secret" in params

    def credentials(self, request: HttpRequest, params: dict[str, str]) -> tuple[str, str | None]:
        if "client_id" not in params:
            raise InvalidClient("client_secret was sent without client_id.")
        return params["client_id"], params["client_secret"]


class NoClientAuthentication(ClientAuthMethod):
    """A public client identifies itself with client_id only (OAuth 2.1 §2.1)."""

    name = "none"

    def attempted(self, request: HttpRequest, params: dict[str, str]) -> bool:
        return "client_id" in params

    def credentials(self, request: HttpRequest, params: dict[str, str]) -> tuple[str, str | None]:
        return params["client_id"], None


def _chosen_method(request: HttpRequest, params: dict[str, str]) -> ClientAuthMethod:
    methods = client_auth_methods()
    tried = [m for m in methods.values() if m.attempted(request, params) and m.name != "none"]
    if len(tried) > 1:
        raise InvalidRequest("The client used more than one authentication method.")
    if tried:
        return tried[0]
    if "none" in methods and methods["none"].attempted(request, params):
        return methods["none"]
    raise InvalidClient("No client authentication was provided.")


def authenticate(request: HttpRequest, params: dict[str, str]) -> Any:
    """Return the authenticated, active client or raise :class:`ClientAuthenticationFailed`
    (an :class:`InvalidClient` naming the challenge of the method tried),
    :class:`InvalidRequest` or :class:`~oauth_provider.errors.ClientAuthThrottled`."""
    method = _chosen_method(request, params)
    client_id: str | None = None
    try:
        client_id, secret = method.credentials(request, params)
        throttling.check(request, client_id)
        client = client_by_id(client_id)
        if method.name == "none":
            ok = client is not None and client.is_public
        else:
            stored = client.client_secret_hash if client is not None else _DUMMY_HASH
            if client is None or "$" not in stored:
                ok = secrets.constant_time_equals(secrets.hash_token(secret or ""), stored)
                ok = ok and client is not None
            else:
                ok = client.check_secret(secret or "")
        if not ok or client is None:
            raise InvalidClient()
        if client.token_endpoint_auth_method != method.name:
            raise InvalidClient(f"This client must authenticate with {client.token_endpoint_auth_method}.")
        if not client.is_active:
            raise InvalidClient("This client is disabled.")
    except InvalidClient as exc:
        throttling.record_failure(request, client_id)
        client_authentication_failed.send(
            sender=get_client_model(), request=request, client_id=client_id, method=method.name
        )
        raise ClientAuthenticationFailed(exc.description, challenge=method.challenge) from None
    return client

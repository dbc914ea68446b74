"""Scope parsing and policy (RFC 6749 §3.3).

A scope string is a space-delimited list of case-sensitive tokens drawn from
``%x21 / %x23-5B / %x5D-7E``. Order carries no meaning, so scopes are kept as ordered,
de-duplicated tuples and written back space-joined.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .conf import provider_settings
from .errors import InvalidScope

if TYPE_CHECKING:
    from .models import AbstractClient

_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
#: OpenID Connect Core §11: asks for a refresh token usable while the user is away
OFFLINE_ACCESS = "offline_access"


def parse(value: str | None) -> tuple[str, ...]:
    """Split a scope parameter into tokens. Raises :class:`InvalidScope` for an illegal
    character. ``None`` and the empty string give an empty tuple (absent = empty)."""
    if not value:
        return ()
    tokens = value.split(" ")
    out: list[str] = []
    for token in tokens:
        if not token:
            continue  # tolerate doubled spaces; RFC 6749 clients sometimes send them
        if not _SCOPE_TOKEN.fullmatch(token):
            raise InvalidScope("The scope parameter contains an illegal character.")
        if token not in out:
            out.append(token)
    return tuple(out)


def join(scopes: Iterable[str]) -> str:
    return " ".join(scopes)


def registered() -> dict[str, str]:
    """Every scope the provider knows, name -> description: the OpenID Connect standard
    scopes when ``OIDC_ENABLED``, then ``OAUTH_PROVIDER["SCOPES"]`` (which may re-describe them)."""
    known: dict[str, str] = {}
    if provider_settings.OIDC_ENABLED:
        from .oidc.claims import STANDARD_SCOPES

        known.update(STANDARD_SCOPES)
    known.update(provider_settings.SCOPES)
    return known


def describe(scopes: Iterable[str]) -> list[tuple[str, str]]:
    """(name, description) pairs for the consent page."""
    known = registered()
    return [(s, str(known.get(s, s))) for s in scopes]


def resolve(requested: tuple[str, ...], allowed: tuple[str, ...] | None) -> tuple[str, ...]:
    """The scopes to grant for a request: the requested ones, or ``DEFAULT_SCOPES`` (limited
    to what the client may have) when none were requested.

    ``allowed`` is the client's allow-list (``None``: every registered scope). Raises
    :class:`InvalidScope` when a scope is unknown, outside the client's allow-list, or when
    nothing was requested and no default applies (RFC 6749 §3.3).
    """
    known = registered()
    permitted = set(known) if allowed is None else set(allowed) & set(known)
    if not requested:
        defaults = tuple(s for s in provider_settings.DEFAULT_SCOPES if s in permitted)
        if not defaults:
            raise InvalidScope("No scope was requested and no default scope applies.")
        return defaults
    if any(s not in permitted for s in requested):
        # Fixed text, never the scope names: the authorization endpoint redirects this to the
        # client, which may show it to its user, so a request must not choose what it says.
        raise InvalidScope("A requested scope is unknown or not allowed for this client.")
    return requested


def client_allowed(client: AbstractClient) -> tuple[str, ...] | None:
    """The scopes ``client`` may be granted, for :func:`resolve`: its allow-list (None: every
    registered scope), plus ``offline_access`` (OIDC Core §11) when the client may use the
    refresh_token grant: asking for a refresh token is what that grant is for, so the scope
    needs no separate registration."""
    allowed: tuple[str, ...] | None = client.allowed_scope_tuple
    if allowed is None or OFFLINE_ACCESS in allowed or OFFLINE_ACCESS not in registered():
        return allowed
    return (*allowed, OFFLINE_ACCESS) if client.allows_grant("refresh_token") else allowed


def without_unusable_offline_access(requested: tuple[str, ...], client: AbstractClient) -> tuple[str, ...]:
    """``requested`` without ``offline_access`` when ``client`` cannot have refresh tokens (no
    refresh_token grant): OIDC Core §11 has the provider ignore an offline_access request it
    will not honour, rather than fail it, and the consent page must not promise it."""
    if OFFLINE_ACCESS in requested and not client.allows_grant("refresh_token"):
        return tuple(s for s in requested if s != OFFLINE_ACCESS)
    return requested


def optional(scopes: Iterable[str]) -> tuple[str, ...]:
    """Those of ``scopes`` the user may untick on the consent page."""
    opt = set(provider_settings.OPTIONAL_SCOPES)
    return tuple(s for s in scopes if s in opt)

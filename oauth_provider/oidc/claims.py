"""Claims for a user, filtered by the granted scopes and the ``claims`` request parameter
(OpenID Connect Core §5.4 and §5.5).

The values come from the adapter (:meth:`oauth_provider.adapter.DefaultAdapter.user_claims`);
this module only decides which of them a client may see.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from django.utils.translation import gettext_lazy as _

from ..errors import InvalidRequest

#: OIDC Core §5.4: the claims each standard scope requests
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": (
        "name", "family_name", "given_name", "middle_name", "nickname", "preferred_username", "profile",
        "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at",
    ),
    "email": ("email", "email_verified"),
    "address": ("address",),
    "phone": ("phone_number", "phone_number_verified"),
}
#: the standard scopes, with the descriptions shown on the consent page unless SCOPES overrides
#: them (lazy: translated into the language of the page that shows them)
STANDARD_SCOPES: dict[str, Any] = {
    "openid": _("Sign you in with your account"),
    "profile": _("See your name and basic profile"),
    "email": _("See your email address"),
    "address": _("See your postal address"),
    "phone": _("See your phone number"),
    # OIDC Core §11. Accepted so relying parties that ask for it work; refresh tokens follow the
    # client's registered grant types (refresh_token) and the code flow in every case.
    "offline_access": _("Stay connected when you are not using the app"),
}
#: claims that are about the token, never taken from the user's claims
PROTOCOL_CLAIMS = frozenset({
    "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "c_hash", "sid", "jti",
})
def supported_claims() -> list[str]:
    """``claims_supported`` for discovery: ``sub`` and every claim a scope can release."""
    from ..registry import adapter

    return ["sub", *sorted({c for claims in adapter().scope_claims().values() for c in claims} - PROTOCOL_CLAIMS)]


def _refuse_constant(name: str) -> Any:
    """``NaN`` and ``Infinity`` are not JSON (RFC 8259 §6); Python's parser accepts them."""
    raise ValueError(f"{name} is not JSON")


def parse_claims_request(value: str | None) -> dict[str, dict[str, Any]] | None:
    """Validate the ``claims`` request parameter (OIDC Core §5.5). Returns None when absent;
    raises :class:`InvalidRequest` when it is not the JSON object the spec describes."""
    if not value:
        return None
    try:
        data = json.loads(value, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # RecursionError: hostile nesting within the length limit
        raise InvalidRequest("The claims parameter is not valid JSON.") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The claims parameter must be a JSON object.")
    out: dict[str, dict[str, Any]] = {}
    for target in ("userinfo", "id_token"):
        member = data.get(target)
        if member is None:
            continue
        if not isinstance(member, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, dict)) for k, v in member.items()
        ):
            raise InvalidRequest(f"claims.{target} must map claim names to null or an object.")
        out[target] = member
    return out


def requested_names(
    scopes: Iterable[str], claims_request: Mapping[str, Any] | None, target: str, *, scope_claims: bool = True
) -> set[str]:
    """Names of the claims to release to ``target`` (``"id_token"`` or ``"userinfo"``): those of
    the granted ``scopes`` (unless ``scope_claims`` is False), plus the ones
    ``claims_request[target]`` names **that a granted scope covers**. The ``claims`` parameter
    (OIDC Core §5.5) chooses where a consented claim appears; it never widens what the user
    consented to, nor what the client may ask for (its scopes are checked against its
    allow-list)."""
    from ..registry import adapter

    mapping = adapter().scope_claims()
    covered = {c for scope in scopes for c in mapping.get(scope, ())}
    names = set(covered) if scope_claims else set()
    if claims_request and isinstance(claims_request.get(target), dict):
        names |= set(claims_request[target]) & covered
    return names - PROTOCOL_CLAIMS


def select(available: Mapping[str, Any], names: set[str]) -> dict[str, Any]:
    """The subset of ``available`` claims whose names were requested, without empty values."""
    return {k: v for k, v in available.items() if k in names and v not in (None, "")}

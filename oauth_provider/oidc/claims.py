"""Claims for a user, filtered by the granted scopes and the ``claims`` request parameter
(OpenID Connect Core §5.4 and §5.5).

The values come from the adapter (:meth:`oauth_provider.adapter.DefaultAdapter.user_claims`);
this module only decides which of them a client may see.
"""

from __future__ import annotations

import json
import math
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


#: OIDC Core §5.5 bounds nothing; these bounds are ours. A claims request names a few claims,
#: each with at most a small object (``essential``, ``value``, ``values``): anything deeper or
#: larger is not a claims request, and would only cost work and storage.
MAX_CLAIMS_DEPTH = 6
MAX_CLAIMS_MEMBERS = 256
#: the widest integer every supported database stores in JSON exactly (signed 64-bit)
_INT_LIMIT = 2**63


class _Malformed(ValueError):
    """The ``claims`` value is not a claims request we can parse, keep and store."""


def _refuse_constant(name: str) -> Any:
    """``NaN`` and ``Infinity`` are not JSON (RFC 8259 §6); Python's parser accepts them."""
    raise _Malformed(f"{name} is not JSON")


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose member names are unique (RFC 8259 §4): with duplicates, which one a
    reader keeps differs between parsers."""
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Malformed("duplicate member")
    return out


def _check_text(text: str) -> None:
    """A string the databases store as it is: no NUL (PostgreSQL's ``jsonb`` refuses ``\\u0000``)
    and valid Unicode (a lone surrogate such as ``\\ud800`` cannot be encoded as UTF-8)."""
    if "\x00" in text:
        raise _Malformed("NUL")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Malformed("not Unicode text") from None


def _check_value(value: Any, depth: int, budget: list[int]) -> None:
    """Walk a parsed JSON value: finite numbers (RFC 8259 §6: ``1e999`` parses as infinity),
    integers a database keeps exactly, storable strings, bounded depth and member count."""
    if depth > MAX_CLAIMS_DEPTH:
        raise _Malformed("too deep")
    budget[0] -= 1
    if budget[0] < 0:
        raise _Malformed("too large")
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        if not -_INT_LIMIT <= value < _INT_LIMIT:
            raise _Malformed("integer out of range")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _Malformed("not a finite number")
    elif isinstance(value, dict):
        for key, member in value.items():
            _check_text(key)
            _check_value(member, depth + 1, budget)
    elif isinstance(value, list):
        for member in value:
            _check_value(member, depth + 1, budget)


def _valid_claim(request: Any) -> bool:
    """One claim's request (OIDC Core §5.5.1): ``null``, or an object whose ``essential`` is a
    boolean and whose ``values`` is an array; ``value`` and other members are free-form."""
    if request is None:
        return True
    if not isinstance(request, dict):
        return False
    if "essential" in request and not isinstance(request["essential"], bool):
        return False
    return "values" not in request or isinstance(request["values"], list)


def parse_claims_request(value: str | None) -> dict[str, dict[str, Any]] | None:
    """Validate the ``claims`` request parameter (OIDC Core §5.5). Returns None when absent;
    raises :class:`InvalidRequest` when it is not the JSON object the spec describes, or not one
    the provider can store: a non-finite or oversized number, a NUL, a lone surrogate, a
    duplicated member, or nesting and size beyond :data:`MAX_CLAIMS_DEPTH` and
    :data:`MAX_CLAIMS_MEMBERS`. Members other than ``userinfo`` and ``id_token`` are checked,
    then ignored (§5.5: members not understood are ignored). The descriptions are fixed text:
    they go back to the client in a redirect and never echo the value."""
    if not value:
        return None
    try:
        data = json.loads(value, parse_constant=_refuse_constant, object_pairs_hook=_unique_members)
        _check_value(data, 1, [MAX_CLAIMS_MEMBERS])
    except (ValueError, RecursionError):  # RecursionError: hostile nesting within the length limit
        raise InvalidRequest("The claims parameter is not a valid JSON claims request.") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The claims parameter must be a JSON object.")
    out: dict[str, dict[str, Any]] = {}
    for target in ("userinfo", "id_token"):
        member = data.get(target)
        if member is None:
            continue
        if not isinstance(member, dict) or not all(_valid_claim(v) for v in member.values()):
            raise InvalidRequest(f"claims.{target} must map claim names to null or a claim request object.")
        out[target] = member
    return out


def essential_acr_values(claims_request: Mapping[str, Any] | None) -> tuple[str, ...] | None:
    """The ``acr`` values a claims request demands (§5.5.1.1: ``acr`` requested as
    ``essential`` with ``values`` or ``value``), or None when it demands none. A demand that
    names no usable string is an empty tuple: nothing meets it."""
    wanted = ((claims_request or {}).get("id_token") or {}).get("acr")
    if not isinstance(wanted, dict) or wanted.get("essential") is not True:
        return None
    if "values" in wanted:
        values = wanted["values"]
    elif "value" in wanted:
        values = [wanted["value"]]
    else:
        return None
    return tuple(v for v in values if isinstance(v, str)) if isinstance(values, list) else ()


def acr_satisfied(claims_request: Mapping[str, Any] | None, context: Mapping[str, Any] | None) -> bool:
    """§5.5.1.1: when the client asks for ``acr`` as essential with values, the login must
    have been of one of them ("the Authorization Server MUST treat that as a failed
    authentication attempt" otherwise). ``context`` is the adapter's authentication context."""
    values = essential_acr_values(claims_request)
    return values is None or (context or {}).get("acr") in values


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

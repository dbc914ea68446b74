"""Security profiles: one setting (``OAUTH_PROVIDER["PROFILE"]``) that sets what a profile
requires.

Today there is one, ``"fapi2"``: the FAPI 2.0 Security Profile (Final, February 2025), its
authorization-server requirements §5.3.2.1 (general), §5.3.2.2 (authorization endpoint) and
§5.4 (cryptography). A profile is a layer of settings between :data:`~oauth_provider.conf.DEFAULTS`
and the host's ``OAUTH_PROVIDER`` dict (``DEFAULTS < profile < host``): ``provider_settings``
shows the profile's value of each setting the host did not set itself. A value the host sets
that contradicts the profile is a system-check error (``oauth_provider.E131``-``E139``): a
profile is a claim about the site, so it must not be quietly weakened.

Each :class:`Rule` names a setting, the value the profile gives it and the test a host's own
value must pass, with the requirement it serves. A rule may name a setting this version of the
library does not define yet (DPoP and PAR arrive separately): ``conf`` leaves such values out,
and the check reports the requirement as unmet (``W130``) rather than failing.

Besides settings, code reads :func:`fapi2` where the profile narrows a rule that no setting
holds: client assertions must name the issuer (§5.3.2.1-8, whatever
``CLIENT_ASSERTION_LEGACY_AUDIENCE`` says), JWTs use :data:`FAPI2_ALGORITHMS` only (§5.4.1),
registered clients are confidential, authenticate with ``private_key_jwt`` and use no plain
http redirect URI but a native app's loopback one (§5.3.2.1-3, -6; §5.3.2.2-8).

This is floor 1 (foundations): it imports nothing of the package at module level.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

FAPI2 = "fapi2"
#: FAPI 2.0 §5.4.1: the only JWS algorithms for JWTs created or processed (RFC 8725)
FAPI2_ALGORITHMS = ("PS256", "ES256", "EdDSA")
#: FAPI 2.0 §5.3.2.1-3 and -6: client authentication by a shared secret, or none at all
SECRET_OR_NO_AUTH_METHODS = frozenset({"client_secret_basic", "client_secret_post", "client_secret_jwt", "none"})
#: FAPI 2.0 §5.3.2.1-2 and §5.3.2.2-1: grants the profile forbids (RFC 9700 §2.4, §2.1.2)
FORBIDDEN_GRANTS = frozenset({"password", "implicit"})


@dataclass(frozen=True)
class Rule:
    """One setting a profile fixes.

    ``value`` is what the profile sets (``provider_settings`` shows it unless the host sets
    the key); ``keeps(value)`` says whether a value the host sets itself still meets
    ``requirement`` (the profile's section and words, shown in the check message); ``check``
    is the id of the error raised when it does not."""

    setting: str
    value: Any
    keeps: Callable[[Any], bool]
    requirement: str
    check: str


def _algorithms_ok(value: Any) -> bool:
    values = [value] if isinstance(value, str) else value
    return isinstance(values, (list, tuple)) and bool(values) and all(v in FAPI2_ALGORITHMS for v in values)


def _int_at_most(limit: int) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and value <= limit


#: the FAPI 2.0 Security Profile's settings, in section order
FAPI2_RULES: tuple[Rule, ...] = (
    Rule("CLIENT_AUTH_METHODS", {"private_key_jwt": "oauth_provider.client_assertions.PrivateKeyJWT"},
         lambda value: isinstance(value, Mapping) and not SECRET_OR_NO_AUTH_METHODS & set(value),
         "§5.3.2.1-3/-6: confidential clients only, authenticated with private_key_jwt (or mTLS)",
         "oauth_provider.E132"),
    Rule("REQUIRE_DPOP", True, lambda value: value is True,
         "§5.3.2.1-4/-5: only sender-constrained access tokens (DPoP, RFC 9449)", "oauth_provider.E135"),
    Rule("CLIENT_ASSERTION_LEGACY_AUDIENCE", False, lambda value: value is False,
         "§5.3.2.1-8: client assertions carry the issuer identifier as their only aud", "oauth_provider.E133"),
    Rule("REFRESH_TOKEN_ROTATION", "public_clients", lambda value: value != "always",
         "§5.3.2.1-9: refresh tokens are not rotated but in extraordinary circumstances", "oauth_provider.W131"),
    Rule("AUTHORIZATION_CODE_LIFETIME", 60, _int_at_most(60),
         "§5.3.2.1-11: authorization codes live at most 60 seconds", "oauth_provider.E131"),
    Rule("REQUIRE_PUSHED_AUTHORIZATION_REQUESTS", True, lambda value: value is True,
         "§5.3.2.2-2/-3: authorization requests only through PAR (RFC 9126)", "oauth_provider.E136"),
    Rule("PUSHED_AUTHORIZATION_REQUEST_LIFETIME", 60, _int_at_most(599),
         "§5.3.2.2-12: request_uri values expire in less than 600 seconds", "oauth_provider.E137"),
    Rule("SIGNING_KEY_ALGORITHM", "ES256", _algorithms_ok,
         "§5.4.1: JWTs are signed with PS256, ES256 or EdDSA", "oauth_provider.E134"),
    Rule("DPOP_SIGNING_ALGORITHMS", list(FAPI2_ALGORITHMS), _algorithms_ok,
         "§5.4.1: DPoP proofs are signed with PS256, ES256 or EdDSA", "oauth_provider.E134"),
    Rule("MULTI_AUDIENCE_TOKENS", False, lambda value: value is False,
         "§5.3.2.1-14: access tokens carry the least privilege (one audience)", "oauth_provider.W134"),
)

#: profile name -> its rules
PROFILES: dict[str, tuple[Rule, ...]] = {FAPI2: FAPI2_RULES}


def values(profile: Any) -> dict[str, Any]:
    """The settings ``profile`` sets (empty for None or an unknown name, which the E130
    check reports). Copies, so no caller can change the table."""
    rules = PROFILES.get(profile, ()) if isinstance(profile, str) else ()
    return {rule.setting: copy.deepcopy(rule.value) for rule in rules}


def active() -> str | None:
    """The profile in force (``OAUTH_PROVIDER["PROFILE"]``), None without one."""
    from .conf import provider_settings

    name = provider_settings.PROFILE
    return name if name in PROFILES else None


def fapi2() -> bool:
    """Is the FAPI 2.0 Security Profile in force?"""
    return active() == FAPI2


def fapi2_redirect_uri(uri: str, application_type: str) -> bool:
    """May ``uri`` receive authorization responses under the FAPI 2.0 profile? https (or a
    native app's private-use scheme), or a native app's http loopback IP literal (FAPI 2.0
    §5.3.2.2 item 8; RFC 8252 §7.3). The one rule registration, the W132 check and the
    authorization endpoint apply; a URI that does not parse fits nothing."""
    if uri.partition(":")[0].lower() != "http":
        return True
    try:
        host = urlsplit(uri).hostname or ""
    except ValueError:
        return False
    return application_type == "native" and host in ("127.0.0.1", "::1")


def allowed_algorithms(algorithms: tuple[str, ...]) -> tuple[str, ...]:
    """``algorithms`` narrowed to what the profile in force allows for JWTs (§5.4.1), in
    their order; all of them without a profile."""
    if not fapi2():
        return algorithms
    return tuple(a for a in algorithms if a in FAPI2_ALGORITHMS)


def contradictions(profile: str, host: Mapping[str, Any], known: Callable[[str], bool]) -> list[tuple[Rule, Any]]:
    """The rules of ``profile`` that the ``host``'s own settings break, as ``(rule, value)``;
    settings ``known`` says this version does not define are skipped (reported apart)."""
    return [(rule, host[rule.setting]) for rule in PROFILES.get(profile, ())
            if rule.setting in host and known(rule.setting) and not rule.keeps(host[rule.setting])]


def forbidden_grants(grant_types: Mapping[str, Any]) -> list[str]:
    """The grants of ``GRANT_TYPES`` the FAPI 2.0 profile forbids (§5.3.2.1-2, §5.3.2.2-1)."""
    return sorted(FORBIDDEN_GRANTS & set(grant_types))

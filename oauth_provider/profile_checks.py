"""System checks of a security profile (``OAUTH_PROVIDER["PROFILE"]``,
:mod:`oauth_provider.profiles`): ``oauth_provider.E130``-``E139`` and ``W130``-``W134``, listed
in :mod:`oauth_provider.checks`.

A profile is a promise about the site, so a setting the host sets itself that breaks it is an
error, not a silent downgrade; clients and signing keys already in the database that break it
are named when the check may read the database (``check --database default``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from . import profiles
from .checks import _type_ok
from .conf import DEFAULTS, provider_settings


def _host_settings() -> dict[str, Any] | None:
    """The host's ``OAUTH_PROVIDER`` when its profile can be checked (None: ``check_settings``
    reports what is wrong first)."""
    raw = getattr(settings, "OAUTH_PROVIDER", {})
    if not isinstance(raw, dict) or any(k in DEFAULTS and not _type_ok(k, v) for k, v in raw.items()):
        return None
    return raw


@register(Tags.security, "oauth_provider")
def check_profile(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E130-E139, W130, W131, W134: the profile exists and the host's settings keep it."""
    raw = _host_settings()
    if raw is None or raw.get("PROFILE") is None:
        return []
    name = raw["PROFILE"]
    if name not in profiles.PROFILES:
        return [Error(f"OAUTH_PROVIDER['PROFILE'] = {name!r} is not a known profile.",
                      hint="Known profiles: " + ", ".join(sorted(profiles.PROFILES)) + ", or None.",
                      id="oauth_provider.E130")]
    messages: list[CheckMessage] = []
    for rule, value in profiles.contradictions(name, raw, known=lambda key: key in DEFAULTS):
        kind = Warning if rule.check.rpartition(".")[2].startswith("W") else Error
        messages.append(kind(
            f"OAUTH_PROVIDER[{rule.setting!r}] = {value!r} breaks PROFILE {name!r}: {rule.requirement}.",
            hint=f"Leave {rule.setting} out to take the profile's value ({rule.value!r}).", id=rule.check,
        ))
    missing = [rule.setting for rule in profiles.PROFILES[name] if rule.setting not in DEFAULTS]
    if missing:
        messages.append(Warning(
            f"PROFILE {name!r} needs settings this version of oauth_provider does not have: {', '.join(missing)}.",
            hint="The requirements they serve are not met yet (see docs/how-to/fapi2.md): upgrade before "
                 "claiming the profile.", id="oauth_provider.W130",
        ))
    if name == profiles.FAPI2:
        messages += _fapi2_grants_and_rotation()
    return messages


def _fapi2_grants_and_rotation() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    forbidden = profiles.forbidden_grants(provider_settings.GRANT_TYPES)
    if forbidden:
        messages.append(Error(
            f"OAUTH_PROVIDER['GRANT_TYPES'] offers {', '.join(forbidden)}, which PROFILE 'fapi2' forbids "
            "(FAPI 2.0 §5.3.2.1-2, §5.3.2.2-1).", hint="Remove them from GRANT_TYPES.", id="oauth_provider.E138",
        ))
    if provider_settings.REFRESH_TOKEN_ROTATION == "always" and not provider_settings.REFRESH_TOKEN_GRACE_PERIOD:
        messages.append(Error(
            "REFRESH_TOKEN_ROTATION is 'always' without REFRESH_TOKEN_GRACE_PERIOD: FAPI 2.0 §5.3.2.1-9 wants "
            "a rotated refresh token to stay usable for a retry.",
            hint="Leave REFRESH_TOKEN_ROTATION out (the profile's 'public_clients'), or set a grace period.",
            id="oauth_provider.E139",
        ))
    return messages


@register(Tags.security, Tags.database, "oauth_provider")
def check_profile_database(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W132 clients, W133 signing keys that break the FAPI 2.0 profile. Reads the database only
    when asked to (``--database default``), as Django's own database checks do."""
    if "default" not in (kwargs.get("databases") or ()) or _host_settings() is None or not profiles.fapi2():
        return []
    from django.db import DatabaseError

    try:
        return _breaking_clients() + _breaking_keys()
    except DatabaseError:  # not migrated yet
        return []


def _breaking_clients() -> list[CheckMessage]:
    from .client_metadata import profile_problems
    from .models import get_client_model

    named = []
    for client in get_client_model()._default_manager.filter(is_active=True).iterator(chunk_size=500):
        method = "none" if client.is_public else client.token_endpoint_auth_method
        found = profile_problems(method, client.application_type or "web",
                                 client.redirect_uri_list, client.token_endpoint_auth_signing_alg)
        if found:
            named.append(f"{client.client_id} ({found[0][0]})")
    if not named:
        return []
    return [Warning(
        f"{len(named)} active client(s) break PROFILE 'fapi2': {', '.join(named[:10])}"
        + (", ..." if len(named) > 10 else "") + ".",
        hint="They cannot authenticate under the profile (public or secret-based clients), or use a redirect "
             "URI or algorithm it forbids: re-register them with private_key_jwt, or deactivate them.",
        id="oauth_provider.W132",
    )]


def _breaking_keys() -> list[CheckMessage]:
    from . import secrets
    from .models import SigningKey

    kids = [key.kid for key in SigningKey.objects.published(secrets.now())
            if key.algorithm not in profiles.FAPI2_ALGORITHMS]
    if not kids:
        return []
    return [Warning(
        f"Signing key(s) {', '.join(kids[:10])} use an algorithm outside FAPI 2.0 §5.4.1 (PS256, ES256, "
        "EdDSA): under PROFILE 'fapi2' they sign nothing.",
        hint="Run `manage.py rotatekeys --now` (SIGNING_KEY_ALGORITHM is ES256 under the profile).",
        id="oauth_provider.W133",
    )]

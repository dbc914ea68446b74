"""System checks (``manage.py check``; posture warnings with ``check --deploy``).

Errors (``oauth_provider.E0xx``) stop the site from starting with a broken configuration;
warnings (``oauth_provider.W0xx``) point at an insecure posture.

=====  =====================================================================
E001   ``OAUTH_PROVIDER`` is not a dict
E002   unknown key in ``OAUTH_PROVIDER``
E003   a setting has the wrong type
E004   ``ISSUER`` is missing while DEBUG is off
E005   ``ISSUER`` is not an absolute URL without query or fragment
E006   a lifetime is not a positive number of seconds
E007   ``SCOPES`` names an illegal scope token, or a default/optional scope is unknown
E008   a grant type, client-authentication method or the adapter cannot be imported
E009   ``CLIENT_AUTH_THROTTLE`` has an unknown key, a wrong type, a non-positive number or
       names a cache alias that is not in ``CACHES``
E010   ``SIGNING_KEY_ALGORITHM``, ``ACCESS_TOKEN_FORMAT`` or ``REFRESH_TOKEN_ROTATION`` is not one
       of its allowed values
E011   the JWT denylist is on but ``DENYLIST_CACHE`` is not an alias in ``CACHES``
E012   ``RESOURCE_IDENTIFIER`` is not an absolute URL without query or fragment
E013   a ``KEY_ENCRYPTION_KEYS`` entry is not a string of at least 32 characters
E014   no signing key signs now while DEBUG is off and something needs one (OpenID Connect, or
       JWT access tokens site-wide or for a client) (``check --deploy``; it reads the database
       when it can, with or without ``--database``): every ID token and JWT access token is
       refused until ``manage.py rotatekeys`` has run
E020   ``private_key_jwt`` is registered but ``REPLAY_CACHE`` is not an alias in ``CACHES``
E021   ``CLIENT_ASSERTION_MAX_LIFETIME`` is not 1 to 3600 seconds
E040   ``RESOURCES`` has a key that is not an absolute URI without fragment or query (RFC 8707 §2),
       or an entry that is not a dict of the known keys (``name``, ``scopes``)
E041   a ``RESOURCES`` entry's ``name`` is not a non-empty string, or its ``scopes`` is not a list of
       scopes of ``SCOPES`` (an OpenID Connect scope is the provider's own, never a resource's)
E042   two resources (``RESOURCES`` and the default ``RESOURCE_IDENTIFIER``) would be described at
       the same RFC 9728 metadata URL
W040   a ``RESOURCES`` identifier is not https: RFC 9728 §1.2 wants https for protected-resource
       metadata (deploy)
E060   ``DEVICE_USER_CODE_THROTTLE`` has an unknown key, a wrong type, a non-positive number
       or names a cache alias that is not in ``CACHES``
E061   ``DEVICE_VERIFICATION_URI`` is not an absolute http(s) URL without fragment
E062   ``DEVICE_CODE_INTERVAL`` is not below ``DEVICE_CODE_LIFETIME``
W001   ``ISSUER`` is not https (deploy)
W002   access-token lifetime above 1 hour / code lifetime above 10 minutes (deploy)
W003   refresh-token lifetime above 90 days without an idle timeout (deploy)
W004   OpenID Connect or JWT access tokens are on but no signing key signs now
       (``check --deploy --database default``):
       DEBUG would create one on first need; production refuses to sign until
       ``manage.py rotatekeys`` has run
W005   a client registers an ``http://localhost`` redirect URI (``check --deploy --database
       default``): RFC 8252 §8.3 recommends the loopback IP literal, which a hosts file or DNS
       cannot re-point
W006   the login page users are sent to (``OAUTH_PROVIDER['LOGIN_URL']``, else Django's
       ``LOGIN_URL``) is not a URL of this site's URLconf: the authorization endpoint would
       send them to a 404
E015   ``oauth_provider.urls`` is not included (namespace ``oauth_provider``) while something
       needs its addresses: the issuer derived in DEBUG, or ``oauth_provider.root_urls``'
       metadata document (each would answer 500)
W009   OpenID Connect is on and ``ISSUER``'s path does not end with the path
       ``oauth_provider.urls`` is included at: discovery at
       ``{ISSUER}/.well-known/openid-configuration`` would find nothing
W060   ``DEVICE_CODE_LIFETIME`` is above 30 minutes, or the user-code throttle is off (deploy):
       RFC 8628 §5.1 and §5.4
W007   a cache that must be shared by every worker is per-process (local memory or dummy):
       ``default`` (signing-key rotations reach other workers within a second through it;
       the client-authentication throttle by default, with the registration, metadata-document
       and public-client counts), the throttle's, when on, the JWT
       denylist's, and the ``REPLAY_CACHE`` (DPoP proofs, ``private_key_jwt``) (``check --deploy
       --database default``, the full pre-deploy check)
W008   one of those caches is the file cache, shared by a host's workers but whose ``add()``
       looks then writes: a DPoP proof or an assertion sent several times at once may be
       accepted more than once (``check --deploy --database default``)
E030   ``FETCH`` has an unknown key, a wrong type, a negative or zero limit, a port outside
       1-65535, a minimum cache time above the maximum, or names a cache alias not in ``CACHES``
W030   ``ALLOW_INSECURE_LOOPBACK_FETCH`` is on (deploy): the provider fetches plain-http URLs
       on this machine's loopback interface
E100   ``JWT_BEARER_ISSUERS`` has a key that is not a non-empty string, or an entry that is not a
       dict of the known keys (``jwks``, ``jwks_uri``, ``clients``)
E101   a ``JWT_BEARER_ISSUERS`` entry has not exactly one of ``jwks`` and ``jwks_uri``, its
       ``jwks`` is not a JWK Set of public signing keys, or its ``jwks_uri`` is not fetchable
E102   a ``JWT_BEARER_ISSUERS`` entry's ``clients`` is not a list of client_id strings
E103   ``JWT_BEARER_MAX_LIFETIME`` is not 1 to 3600 seconds
E104   the JWT bearer grant is registered but ``REPLAY_CACHE`` is not an alias in ``CACHES``
E110   ``DPOP_SIGNING_ALGORITHMS`` is empty or names an algorithm that is not an asymmetric JWS
       algorithm we verify (never ``none``, never an HMAC: RFC 9449 §11.6)
E111   ``DPOP_PROOF_MAX_AGE`` is not 1 to 300 seconds
E112   ``REPLAY_CACHE`` is not an alias in ``CACHES``, so no DPoP proof's ``jti`` can be remembered
W112   ``REQUIRE_DPOP`` (set, or by the FAPI 2.0 profile) and ``BEARER_FORM_BODY`` are both on: a
       token in a form body is a bearer token, which resources then refuse (RFC 9449 §7.2), so no
       form-body token is ever accepted
E090   ``BACKCHANNEL_LOGOUT`` has an unknown key, a wrong type, a non-positive number, a
       ``token_lifetime`` above 120 seconds, or a ``delivery`` that cannot be imported
E070   ``DYNAMIC_REGISTRATION`` is not None, False, "open", "token" or "adapter"
E071   ``REGISTRATION_THROTTLE`` has an unknown key, a wrong type or a non-positive number
E072   ``PUBLIC_CLIENT_THROTTLE`` has an unknown key, a wrong type or a non-positive number
W070   ``DYNAMIC_REGISTRATION`` is "adapter" but the adapter does not override
       ``allow_registration``: registration is open to anyone
W071   open dynamic registration without its throttle (deploy)
W073   Django is told it runs behind a proxy (``SECURE_PROXY_SSL_HEADER``,
       ``USE_X_FORWARDED_HOST`` or ``USE_X_FORWARDED_PORT``) but a per-address throttle reads
       ``REMOTE_ADDR`` (no ``ip_header``): every caller then has the proxy's address, and one
       of them can spend the count for all (deploy)
E130   ``PROFILE`` is not None or a known profile (``"fapi2"``)
E131   under ``fapi2``: ``AUTHORIZATION_CODE_LIFETIME`` above 60 seconds (FAPI 2.0 §5.3.2.1-11)
E132   under ``fapi2``: ``CLIENT_AUTH_METHODS`` offers a secret-based method or ``none``
       (§5.3.2.1-3, -6)
E133   under ``fapi2``: ``CLIENT_ASSERTION_LEGACY_AUDIENCE`` is on (§5.3.2.1-8)
E134   under ``fapi2``: ``SIGNING_KEY_ALGORITHM`` or ``DPOP_SIGNING_ALGORITHMS`` names an algorithm
       other than PS256, ES256, EdDSA (§5.4.1)
E135   under ``fapi2``: ``REQUIRE_DPOP`` is off (§5.3.2.1-4)
E136   under ``fapi2``: ``REQUIRE_PUSHED_AUTHORIZATION_REQUESTS`` is off (§5.3.2.2-3)
E137   under ``fapi2``: ``PUSHED_AUTHORIZATION_REQUEST_LIFETIME`` is 600 seconds or more (§5.3.2.2-12)
E138   under ``fapi2``: ``GRANT_TYPES`` offers the password or implicit grant (§5.3.2.1-2, §5.3.2.2-1)
E139   under ``fapi2``: ``REFRESH_TOKEN_ROTATION`` is ``"always"`` without a
       ``REFRESH_TOKEN_GRACE_PERIOD`` for the retry §5.3.2.1-9 requires
W130   under a profile: a setting it needs is not provided by this version (DPoP, PAR), so the
       site does not meet it yet
W131   under ``fapi2``: refresh tokens are rotated (``REFRESH_TOKEN_ROTATION = "always"``, with a
       grace period): §5.3.2.1-9 allows it only in extraordinary circumstances
W132   under ``fapi2``: clients in the database break the profile (public, secret-based
       authentication, plain http redirect URIs, an algorithm outside §5.4.1)
       (``check --database default``)
W133   under ``fapi2``: a published signing key uses an algorithm outside §5.4.1; it no longer
       signs (``check --database default``)
W134   under ``fapi2``: ``MULTI_AUDIENCE_TOKENS`` is on (§5.3.2.1-14, least privilege)
E140   ``FRONTCHANNEL_LOGOUT`` has an unknown key, a non-boolean ``enabled`` or a ``timeout``
       that is not 1 to 30 seconds
E141   ``FrontChannelLogoutMiddleware`` is listed before ``SessionMiddleware`` (or without it)
W140   front-channel logout is on but ``FrontChannelLogoutMiddleware`` is not installed (deploy):
       the site's own logout view does not reach the clients
W150   ``POSTGRESQL_PREPARED_STATEMENTS`` is a string other than "auto" (treated as "auto")
W151   ``POSTGRESQL_PREPARED_STATEMENTS`` is True for a PostgreSQL database that sets
       ``DISABLE_SERVER_SIDE_CURSORS`` (a transaction pooler in front): only PgBouncer 1.22+
       with ``max_prepared_statements`` keeps named statements apart
E120   ``PUSHED_AUTHORIZATION_REQUEST_LIFETIME`` is not 1 to 600 seconds (RFC 9126 §2.2: short;
       FAPI 2.0 §5.3.2.2: under 600 is required by that profile, 600 is the ceiling here)
E121   ``REQUIRE_PUSHED_AUTHORIZATION_REQUESTS`` is on while ``PUSHED_AUTHORIZATION_REQUESTS`` is off
       (no authorization request could ever succeed)
E122   ``REQUIRE_SIGNED_REQUEST_OBJECT`` is on while ``REQUEST_OBJECTS`` is off
=====  =====================================================================
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from django.utils.module_loading import import_string

from . import profiles, scopes
from .conf import DEFAULTS, provider_settings

_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
LIFETIMES = ("ACCESS_TOKEN_LIFETIME", "AUTHORIZATION_CODE_LIFETIME", "REFRESH_TOKEN_LIFETIME")


def _type_ok(name: str, value: Any) -> bool:
    spec = DEFAULTS[name]
    if value is None:
        return spec.nullable
    if isinstance(value, bool) and bool not in spec.types:
        return False
    return isinstance(value, spec.types)


@register(Tags.security, "oauth_provider")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    raw = getattr(settings, "OAUTH_PROVIDER", {})
    if not isinstance(raw, dict):
        return [Error("OAUTH_PROVIDER must be a dict.", id="oauth_provider.E001")]
    errors: list[Error] = []
    for key in raw:
        if key not in DEFAULTS:
            errors.append(Error(
                f"Unknown key OAUTH_PROVIDER[{key!r}].",
                hint="Known keys: " + ", ".join(sorted(DEFAULTS)), id="oauth_provider.E002",
            ))
    for key, value in raw.items():
        if key in DEFAULTS and not _type_ok(key, value):
            wanted = " or ".join(t.__name__ for t in DEFAULTS[key].types)
            errors.append(Error(
                f"OAUTH_PROVIDER[{key!r}] must be {wanted}, not {type(value).__name__}.",
                id="oauth_provider.E003",
            ))
    if errors:
        return errors
    errors += _check_issuer()
    errors += _check_lifetimes()
    errors += _check_choices()
    errors += _check_scopes()
    errors += _check_imports()
    errors += _check_throttle("CLIENT_AUTH_THROTTLE", id="oauth_provider.E009")
    errors += _check_fetch()
    errors += _check_device()
    errors += _check_backchannel_logout()
    errors += _check_frontchannel_logout()
    errors += _check_key_encryption_keys()
    errors += _check_resources()
    return errors


#: the keys a ``RESOURCES`` entry may hold
RESOURCE_KEYS = frozenset({"name", "scopes"})


def _resource_entry_problems(identifier: Any, entry: Any) -> list[Error]:
    from .resources import PROVIDER_SCOPES, is_valid_identifier

    label = f"OAUTH_PROVIDER['RESOURCES'][{identifier!r}]"
    if not isinstance(identifier, str) or not is_valid_identifier(identifier) or urlsplit(identifier).query:
        return [Error(
            f"{label}: the key must be an absolute URI without fragment or query (RFC 8707 §2).",
            hint="e.g. 'https://mcp.example.com/mcp'. It is compared as an exact string.",
            id="oauth_provider.E040",
        )]
    if not isinstance(entry, dict) or set(entry) - RESOURCE_KEYS:
        return [Error(f"{label} must be a dict with the keys 'name' and 'scopes'.", id="oauth_provider.E040")]
    errors = []
    name = entry.get("name")
    # a translatable name (gettext_lazy) is a Promise, shown in the user's language
    if name is not None and (not isinstance(name, (str, Promise)) or not str(name).strip()):
        errors.append(Error(f"{label}['name'] must be a non-empty string.", id="oauth_provider.E041"))
    listed = entry.get("scopes", [])
    if not isinstance(listed, (list, tuple)) or any(
        not isinstance(s, str) or s not in provider_settings.SCOPES or s in PROVIDER_SCOPES for s in listed
    ):
        errors.append(Error(
            f"{label}['scopes'] must be a list of scopes of OAUTH_PROVIDER['SCOPES'].",
            hint="The OpenID Connect scopes belong to the provider itself and are always kept.",
            id="oauth_provider.E041",
        ))
    return errors


def _check_resources() -> list[Error]:
    """E040-E042: the protected resources of RFC 8707 / RFC 9728."""
    from django.core.exceptions import ImproperlyConfigured

    from .issuer import resource_identifier
    from .resources import Resource

    table = provider_settings.RESOURCES
    errors = [e for identifier, entry in table.items() for e in _resource_entry_problems(identifier, entry)]
    if errors:
        return errors
    identifiers = list(table)
    try:
        default = resource_identifier()
    except ImproperlyConfigured:  # no ISSUER, in DEBUG: the default resource is known per request
        default = None
    if default is not None and default not in table:
        identifiers.insert(0, default)
    seen: dict[str, str] = {}
    for identifier in identifiers:
        url = Resource(identifier, identifier, None).metadata_url
        if url in seen:
            errors.append(Error(
                f"Resources {seen[url]!r} and {identifier!r} would share the metadata URL {url!r} (RFC 9728 §3.1).",
                hint="Give each resource its own identifier (RFC 9068 §5: distinct audiences).",
                id="oauth_provider.E042",
            ))
        seen[url] = identifier
    return errors


def _check_issuer() -> list[Error]:
    issuer = provider_settings.ISSUER
    if not issuer:
        if settings.DEBUG:
            return []
        return [Error(
            "OAUTH_PROVIDER['ISSUER'] must be set when DEBUG is off.",
            hint="The absolute https URL the provider is mounted at, e.g. 'https://example.com/o'. "
                 "It is never taken from the Host header.",
            id="oauth_provider.E004",
        )]
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        return [Error(
            f"OAUTH_PROVIDER['ISSUER'] = {issuer!r} is not an absolute URL without query or fragment "
            "(RFC 8414 §2).",
            id="oauth_provider.E005",
        )]
    return []


def _check_lifetimes() -> list[Error]:
    errors = []
    for name in (*LIFETIMES, "REFRESH_TOKEN_IDLE_TIMEOUT", "MAX_PARAMETER_LENGTH", "ID_TOKEN_LIFETIME",
                 "SIGNING_KEY_CACHE_SECONDS", "DEVICE_CODE_LIFETIME", "DEVICE_CODE_INTERVAL",
                 "DYNAMIC_CLIENT_IDLE_TIMEOUT"):
        value = getattr(provider_settings, name)
        if value is not None and value <= 0:
            errors.append(Error(f"OAUTH_PROVIDER[{name!r}] must be a positive number of seconds.",
                                id="oauth_provider.E006"))
    for name in ("REFRESH_TOKEN_GRACE_PERIOD", "SIGNING_KEY_PREPUBLICATION"):
        if getattr(provider_settings, name) < 0:
            errors.append(Error(f"OAUTH_PROVIDER[{name!r}] must be 0 or more.", id="oauth_provider.E006"))
    return errors


def _check_choices() -> list[Error]:
    """E010 values from a fixed set, E011 the denylist cache, E012 the resource identifier."""
    from .keys import ALGORITHMS

    errors = []
    for name, allowed in (("SIGNING_KEY_ALGORITHM", ALGORITHMS), ("ACCESS_TOKEN_FORMAT", ("opaque", "jwt")),
                          ("REFRESH_TOKEN_ROTATION", ("always", "public_clients"))):
        value = getattr(provider_settings, name)
        if value not in allowed:
            errors.append(Error(f"OAUTH_PROVIDER[{name!r}] = {value!r} is not one of {', '.join(allowed)}.",
                                id="oauth_provider.E010"))
    if provider_settings.JWT_ACCESS_TOKEN_DENYLIST and provider_settings.DENYLIST_CACHE not in settings.CACHES:
        errors.append(Error(
            f"OAUTH_PROVIDER['DENYLIST_CACHE'] = {provider_settings.DENYLIST_CACHE!r} is not an alias in CACHES.",
            hint="Use a cache every worker shares (Redis, Memcached).", id="oauth_provider.E011",
        ))
    resource = provider_settings.RESOURCE_IDENTIFIER
    if resource is not None:
        parts = urlsplit(resource)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            errors.append(Error(
                f"OAUTH_PROVIDER['RESOURCE_IDENTIFIER'] = {resource!r} is not an absolute URL without query or "
                "fragment (RFC 9728 §1.2).", id="oauth_provider.E012",
            ))
    return errors


@register("oauth_provider")
def check_client_assertions(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """E020: ``private_key_jwt`` is registered but ``REPLAY_CACHE`` names no cache, so no
    assertion's ``jti`` could be remembered (every client assertion would fail); E021:
    ``CLIENT_ASSERTION_MAX_LIFETIME`` is not 1 to 3600 seconds."""
    raw = getattr(settings, "OAUTH_PROVIDER", {})
    if not isinstance(raw, dict) or any(k in raw and not _type_ok(k, raw[k])
                                        for k in ("CLIENT_AUTH_METHODS", "REPLAY_CACHE",
                                                  "CLIENT_ASSERTION_MAX_LIFETIME")):
        return []
    errors = []
    if "private_key_jwt" in provider_settings.CLIENT_AUTH_METHODS \
            and provider_settings.REPLAY_CACHE not in settings.CACHES:
        errors.append(Error(
            f"OAUTH_PROVIDER['REPLAY_CACHE'] = {provider_settings.REPLAY_CACHE!r} is not an alias in CACHES.",
            hint="private_key_jwt remembers each assertion's jti there: name a cache every worker shares.",
            id="oauth_provider.E020",
        ))
    longest = raw.get("CLIENT_ASSERTION_MAX_LIFETIME", 300)
    if isinstance(longest, int) and not 0 < longest <= 3600:
        errors.append(Error(
            "OAUTH_PROVIDER['CLIENT_ASSERTION_MAX_LIFETIME'] must be 1 to 3600 seconds.",
            hint="A client assertion authenticates one request: minutes, not hours.", id="oauth_provider.E021",
        ))
    return errors


@register(Tags.security, "oauth_provider")
def check_dpop(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """E110-E112: DPoP (RFC 9449) proofs are always accepted at the token endpoint, so their
    algorithms, window and replay cache must be sound."""
    raw = getattr(settings, "OAUTH_PROVIDER", {})
    if not isinstance(raw, dict) or any(k in raw and not _type_ok(k, raw[k])
                                        for k in ("DPOP_SIGNING_ALGORITHMS", "DPOP_PROOF_MAX_AGE", "REPLAY_CACHE")):
        return []
    from .client_keys import SIGNING_ALGORITHMS

    errors: list[Error] = []
    algorithms = provider_settings.DPOP_SIGNING_ALGORITHMS
    if not algorithms or any(not isinstance(alg, str) or alg not in SIGNING_ALGORITHMS for alg in algorithms):
        errors.append(Error(
            f"OAUTH_PROVIDER['DPOP_SIGNING_ALGORITHMS'] = {list(algorithms)!r} must list asymmetric JWS algorithms.",
            hint="Choose among " + ", ".join(SIGNING_ALGORITHMS) + ": never none or an HMAC (RFC 9449 section 11.6).",
            id="oauth_provider.E110",
        ))
    if not 0 < provider_settings.DPOP_PROOF_MAX_AGE <= 300:
        errors.append(Error(
            "OAUTH_PROVIDER['DPOP_PROOF_MAX_AGE'] must be 1 to 300 seconds.",
            hint="A DPoP proof is made for one request, at once (RFC 9449 section 11.1).", id="oauth_provider.E111",
        ))
    if provider_settings.REPLAY_CACHE not in settings.CACHES:
        errors.append(Error(
            f"OAUTH_PROVIDER['REPLAY_CACHE'] = {provider_settings.REPLAY_CACHE!r} is not an alias in CACHES.",
            hint="DPoP proofs' jti values are remembered there: name a cache every worker shares.",
            id="oauth_provider.E112",
        ))
    return errors


@register("oauth_provider")
def check_pushed_requests(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """E120-E122: PAR (RFC 9126) and request objects (RFC 9101) configured so that they can work."""
    raw = getattr(settings, "OAUTH_PROVIDER", {})
    names = ("PUSHED_AUTHORIZATION_REQUESTS", "PUSHED_AUTHORIZATION_REQUEST_LIFETIME",
             "REQUIRE_PUSHED_AUTHORIZATION_REQUESTS", "REQUEST_OBJECTS", "REQUIRE_SIGNED_REQUEST_OBJECT")
    if not isinstance(raw, dict) or any(k in raw and not _type_ok(k, raw[k]) for k in names):
        return []  # E001 / E003 say so
    errors = []
    lifetime = provider_settings.PUSHED_AUTHORIZATION_REQUEST_LIFETIME
    if not 0 < lifetime <= 600:
        errors.append(Error(
            "OAUTH_PROVIDER['PUSHED_AUTHORIZATION_REQUEST_LIFETIME'] must be 1 to 600 seconds.",
            hint="A request_uri is used seconds after it is pushed (RFC 9126 section 2.2 suggests 5 to 600).",
            id="oauth_provider.E120",
        ))
    if provider_settings.REQUIRE_PUSHED_AUTHORIZATION_REQUESTS and not provider_settings.PUSHED_AUTHORIZATION_REQUESTS:
        errors.append(Error(
            "OAUTH_PROVIDER['REQUIRE_PUSHED_AUTHORIZATION_REQUESTS'] is on but PUSHED_AUTHORIZATION_REQUESTS is off.",
            hint="Every authorization request would be refused: turn the PAR endpoint on.",
            id="oauth_provider.E121",
        ))
    if provider_settings.REQUIRE_SIGNED_REQUEST_OBJECT and not provider_settings.REQUEST_OBJECTS:
        errors.append(Error(
            "OAUTH_PROVIDER['REQUIRE_SIGNED_REQUEST_OBJECT'] is on but REQUEST_OBJECTS is off.",
            hint="Every authorization request would be refused: turn request objects on.",
            id="oauth_provider.E122",
        ))
    return errors


_ISSUER_KEYS = frozenset({"jwks", "jwks_uri", "clients"})


@register("oauth_provider")
def check_jwt_bearer(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """E100-E104: the JWT bearer grant's trusted issuers, lifetime and replay cache."""
    raw = getattr(settings, "OAUTH_PROVIDER", {})
    if not isinstance(raw, dict) or any(k in raw and not _type_ok(k, raw[k])
                                        for k in ("JWT_BEARER_ISSUERS", "JWT_BEARER_MAX_LIFETIME", "GRANT_TYPES",
                                                  "REPLAY_CACHE")):
        return []
    errors: list[Error] = []
    for issuer, entry in (raw.get("JWT_BEARER_ISSUERS") or {}).items():
        errors.extend(_issuer_problems(issuer, entry))
    longest = raw.get("JWT_BEARER_MAX_LIFETIME", 300)
    if isinstance(longest, int) and not 0 < longest <= 3600:
        errors.append(Error(
            "OAUTH_PROVIDER['JWT_BEARER_MAX_LIFETIME'] must be 1 to 3600 seconds.",
            hint="An assertion is traded for a token at once: minutes, not hours.", id="oauth_provider.E103",
        ))
    from .grants.jwt_bearer import GRANT_TYPE

    if GRANT_TYPE in provider_settings.GRANT_TYPES and provider_settings.REPLAY_CACHE not in settings.CACHES:
        errors.append(Error(
            f"OAUTH_PROVIDER['REPLAY_CACHE'] = {provider_settings.REPLAY_CACHE!r} is not an alias in CACHES.",
            hint="The JWT bearer grant remembers each assertion's jti there: name a cache every worker shares.",
            id="oauth_provider.E104",
        ))
    return errors


def _issuer_problems(issuer: Any, entry: Any) -> list[Error]:
    from . import client_keys
    from .fetch import validate_fetchable_url

    name = f"OAUTH_PROVIDER['JWT_BEARER_ISSUERS'][{issuer!r}]"
    if not isinstance(issuer, str) or not issuer or not isinstance(entry, dict) or set(entry) - _ISSUER_KEYS:
        return [Error(f"{name} must be a non-empty issuer string mapped to a dict of jwks, jwks_uri, clients.",
                      id="oauth_provider.E100")]
    errors = []
    if ("jwks" in entry) == ("jwks_uri" in entry):
        errors.append(Error(f"{name} needs exactly one of jwks and jwks_uri.", id="oauth_provider.E101"))
    elif "jwks" in entry:
        try:
            client_keys.parse_jwks(entry["jwks"])
        except client_keys.InvalidKeySet as exc:
            errors.append(Error(f"{name}['jwks']: {exc}", id="oauth_provider.E101"))
    else:
        try:
            validate_fetchable_url(str(entry["jwks_uri"]))
        except ValidationError as exc:
            errors.append(Error(f"{name}['jwks_uri']: {' '.join(exc.messages)}", id="oauth_provider.E101"))
    clients = entry.get("clients")
    if clients is not None and (not isinstance(clients, list) or not all(isinstance(c, str) for c in clients)):
        errors.append(Error(f"{name}['clients'] must be a list of client_id strings.", id="oauth_provider.E102"))
    return errors


def _check_scopes() -> list[Error]:
    registered = provider_settings.SCOPES
    errors = [
        Error(f"Scope {name!r} in OAUTH_PROVIDER['SCOPES'] is not a legal scope token (RFC 6749 §3.3).",
              id="oauth_provider.E007")
        for name in registered
        if not isinstance(name, str) or not _SCOPE_TOKEN.fullmatch(name)
    ]
    # What requests may name: SCOPES plus the OpenID Connect scopes when OIDC is on.
    known = scopes.registered()
    for key in ("DEFAULT_SCOPES", "OPTIONAL_SCOPES", "SELF_REGISTERED_SCOPES"):
        for name in getattr(provider_settings, key) or ():
            if not isinstance(name, str) or name not in known:  # a list item would not hash
                errors.append(Error(f"OAUTH_PROVIDER[{key!r}] names {name!r}, which is not a registered "
                                    "scope (SCOPES, or an OpenID Connect scope).", id="oauth_provider.E007"))
    if provider_settings.SELF_REGISTERED_SCOPES is not None and not provider_settings.SELF_REGISTERED_SCOPES:
        # a client's empty allowed_scopes means every scope: an empty list cannot mean none
        errors.append(Error(
            "OAUTH_PROVIDER['SELF_REGISTERED_SCOPES'] is empty.",
            hint="Name at least one scope, or None for every scope; to let no client register itself, "
                 "leave DYNAMIC_REGISTRATION and CLIENT_ID_METADATA_DOCUMENTS off.",
            id="oauth_provider.E007"))
    return errors


def _check_imports() -> list[Error]:
    paths = [("GRANT_TYPES", p) for p in provider_settings.GRANT_TYPES.values()]
    paths += [("CLIENT_AUTH_METHODS", p) for p in provider_settings.CLIENT_AUTH_METHODS.values()]
    paths.append(("ADAPTER", provider_settings.ADAPTER))
    errors = []
    for key, dotted in paths:
        if not isinstance(dotted, str):  # import_string would crash the check run on it
            errors.append(Error(f"OAUTH_PROVIDER[{key!r}]: {dotted!r} is not a dotted import path.",
                                id="oauth_provider.E008"))
            continue
        try:
            import_string(dotted)
        except ImportError as exc:
            errors.append(Error(f"OAUTH_PROVIDER[{key!r}]: cannot import {dotted!r} ({exc}).",
                                id="oauth_provider.E008"))
    return errors


def _check_key_encryption_keys() -> list[Error]:
    # RFC 8725 §3.5: a symmetric key needs entropy; an empty or short string is a password.
    return [
        Error(
            f"OAUTH_PROVIDER['KEY_ENCRYPTION_KEYS'][{i}] is not a string of at least 32 characters.",
            hint="Generate one: python -c 'import secrets; print(secrets.token_urlsafe(32))'.",
            id="oauth_provider.E013",
        )
        for i, key in enumerate(provider_settings.KEY_ENCRYPTION_KEYS)
        if not isinstance(key, str) or len(key) < 32
    ]


def _check_throttle(setting: str, **check: str) -> list[Error]:
    """A throttle block: ``check`` is the ``id=`` of the errors (E009, E060)."""
    block = getattr(provider_settings, setting)
    defaults = DEFAULTS[setting].default
    problems = [f"unknown key {key!r}" for key in block if key not in defaults]
    if not isinstance(block.get("enabled", True), bool):
        problems.append("'enabled' must be True or False")
    for key in ("failures", "window", "address_failures"):
        if key not in defaults:
            continue
        value = block.get(key, defaults[key])
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            problems.append(f"{key!r} must be a positive integer")
    cache = block.get("cache", defaults["cache"])
    if not isinstance(cache, str) or cache not in settings.CACHES:
        problems.append(f"'cache' must name an alias in CACHES, not {cache!r}")
    header = block.get("ip_header")
    if header is not None and not (isinstance(header, str) and header):
        problems.append("'ip_header' must be None or a request.META key such as 'HTTP_X_REAL_IP'")
    return [Error(f"OAUTH_PROVIDER[{setting!r}]: {problem}.", **check) for problem in problems]


def _check_device() -> list[Error]:
    """E060 the user-code throttle, E061 the verification URI, E062 interval vs lifetime."""
    errors = _check_throttle("DEVICE_USER_CODE_THROTTLE", id="oauth_provider.E060")
    uri = provider_settings.DEVICE_VERIFICATION_URI
    if uri is not None:
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            errors.append(Error("OAUTH_PROVIDER['DEVICE_VERIFICATION_URI'] must be an absolute http(s) URL "
                                "without a fragment (RFC 8628 §3.2).", id="oauth_provider.E061"))
    lifetime, interval = provider_settings.DEVICE_CODE_LIFETIME, provider_settings.DEVICE_CODE_INTERVAL
    if 0 < lifetime <= interval:
        errors.append(Error("OAUTH_PROVIDER['DEVICE_CODE_INTERVAL'] must be shorter than DEVICE_CODE_LIFETIME: "
                            "the device could never poll.", id="oauth_provider.E062"))
    return errors


def _check_fetch() -> list[Error]:
    block = provider_settings.FETCH
    defaults = DEFAULTS["FETCH"].default
    merged = {**defaults, **block}
    problems = [f"unknown key {key!r}" for key in block if key not in defaults]
    for key in ("timeout", "connect_timeout"):
        value = merged[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            problems.append(f"{key!r} must be a positive number of seconds")
    for key in ("max_redirects", "cache_min_seconds", "cache_max_seconds", "error_cache_seconds"):
        value = merged[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            problems.append(f"{key!r} must be an integer, 0 or more")
    if not problems and merged["cache_min_seconds"] > merged["cache_max_seconds"]:
        problems.append("'cache_min_seconds' must not be above 'cache_max_seconds'")
    ports = merged["allowed_ports"]
    if not isinstance(ports, (list, tuple)) or not all(
        isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in ports
    ):
        problems.append("'allowed_ports' must be a list of port numbers (1-65535)")
    cache = merged["cache"]
    if not isinstance(cache, str) or cache not in settings.CACHES:
        problems.append(f"'cache' must name an alias in CACHES, not {cache!r}")
    return [Error(f"OAUTH_PROVIDER['FETCH']: {problem}.", id="oauth_provider.E030") for problem in problems]


def _check_backchannel_logout() -> list[Error]:
    block = provider_settings.BACKCHANNEL_LOGOUT
    defaults = DEFAULTS["BACKCHANNEL_LOGOUT"].default
    merged = {**defaults, **block}
    problems = [f"unknown key {key!r}" for key in block if key not in defaults]
    if not isinstance(merged["enabled"], bool):
        problems.append("'enabled' must be True or False")
    if isinstance(merged["timeout"], bool) or not isinstance(merged["timeout"], (int, float)) \
            or merged["timeout"] <= 0:
        problems.append("'timeout' must be a positive number of seconds")
    for key in ("token_lifetime", "max_attempts", "retry_delay"):
        value = merged[key]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            problems.append(f"{key!r} must be a positive integer")
    if not problems and merged["token_lifetime"] > 120:
        problems.append("'token_lifetime' must be at most 120 seconds (Back-Channel Logout 1.0 §4)")
    delivery = merged["delivery"]
    try:
        if not isinstance(delivery, str) or not callable(import_string(delivery)):
            raise ImportError
    except ImportError:
        problems.append(f"'delivery' must be the dotted path of a callable, not {delivery!r}")
    return [Error(f"OAUTH_PROVIDER['BACKCHANNEL_LOGOUT']: {problem}.", id="oauth_provider.E090")
            for problem in problems]


def _check_frontchannel_logout() -> list[Error]:
    """E140: the ``FRONTCHANNEL_LOGOUT`` block."""
    block = provider_settings.FRONTCHANNEL_LOGOUT
    defaults = DEFAULTS["FRONTCHANNEL_LOGOUT"].default
    merged = {**defaults, **block}
    problems = [f"unknown key {key!r}" for key in block if key not in defaults]
    if not isinstance(merged["enabled"], bool):
        problems.append("'enabled' must be True or False")
    timeout = merged["timeout"]
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 1 <= timeout <= 30:
        problems.append("'timeout' must be a number of seconds from 1 to 30")
    return [Error(f"OAUTH_PROVIDER['FRONTCHANNEL_LOGOUT']: {problem}.", id="oauth_provider.E140")
            for problem in problems]


FRONTCHANNEL_MIDDLEWARE = "oauth_provider.middleware.FrontChannelLogoutMiddleware"
SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"


@register(Tags.security, "oauth_provider")
def check_frontchannel_middleware(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E141: :class:`~oauth_provider.middleware.FrontChannelLogoutMiddleware` listed before
    ``SessionMiddleware`` (its answer must pass through the session middleware, which saves
    what it keeps in the session for the next page)."""
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    if FRONTCHANNEL_MIDDLEWARE not in middleware:
        return []
    if SESSION_MIDDLEWARE not in middleware or \
            middleware.index(FRONTCHANNEL_MIDDLEWARE) < middleware.index(SESSION_MIDDLEWARE):
        return [Error(
            f"{FRONTCHANNEL_MIDDLEWARE} must come after {SESSION_MIDDLEWARE} in MIDDLEWARE.",
            hint="Put it after SessionMiddleware and AuthenticationMiddleware.",
            id="oauth_provider.E141",
        )]
    return []


@register(Tags.security, "oauth_provider", deploy=True)
def check_frontchannel_site_logout(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W140 (deploy): front-channel logout is on, but the site's own logout view does not show
    the clients' logout iframes (no ``FrontChannelLogoutMiddleware``): a user signing out of the
    site stays signed in at those clients. Silence it when the site's logged-out page uses the
    ``{% frontchannel_logout %}`` tag, or sends users through the end-session endpoint."""
    raw = getattr(settings, "OAUTH_PROVIDER", {})
    if not isinstance(raw, dict) or not _type_ok("FRONTCHANNEL_LOGOUT", raw.get("FRONTCHANNEL_LOGOUT", {})):
        return []
    from .oidc import frontchannel

    if not frontchannel.enabled() or FRONTCHANNEL_MIDDLEWARE in (getattr(settings, "MIDDLEWARE", None) or []):
        return []
    return [Warning(
        "Front-channel logout is on, but the site's own logout view will not load the clients' "
        "front-channel logout URIs.",
        hint=f"Add {FRONTCHANNEL_MIDDLEWARE} to MIDDLEWARE (after SessionMiddleware), or put "
             "{% frontchannel_logout %} in your logged-out page and silence oauth_provider.W140.",
        id="oauth_provider.W140",
    )]


@register(Tags.urls, "oauth_provider")
def check_login_url(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W006: anonymous users are sent to a login page that this site does not have."""
    raw = getattr(settings, "OAUTH_PROVIDER", {})
    if not isinstance(raw, dict) or not _type_ok("LOGIN_URL", raw.get("LOGIN_URL")):
        return []  # check_settings reports it
    from django.shortcuts import resolve_url
    from django.urls import NoReverseMatch, is_valid_path

    setting = "OAUTH_PROVIDER['LOGIN_URL']" if provider_settings.LOGIN_URL else "LOGIN_URL"
    configured = provider_settings.LOGIN_URL or settings.LOGIN_URL
    try:
        # a URL name or a path, as redirect_to_login takes it; a name that does not reverse
        # and has no "/" stays as it is, and then does not resolve either
        url = str(resolve_url(configured))
    except NoReverseMatch:
        url = str(configured)
    except Exception:  # a broken URLconf is Django's own check (urls.E0xx)
        return []
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return []  # a login page on another host (single sign-on): not ours to resolve
    candidates = [parts.path]
    if settings.USE_I18N:  # i18n_patterns: LocaleMiddleware adds the language prefix
        candidates.append(f"/{settings.LANGUAGE_CODE}{parts.path}")
    try:
        if any(parts.path.startswith("/") and is_valid_path(path) for path in candidates):
            return []
    except Exception:  # as above
        return []
    return [Warning(
        f"{setting} = {configured!r} is not a URL of this site: users who are not logged in would be sent "
        f"from the authorization endpoint to a page that does not exist.",
        hint="Mount a login page there, e.g. path('accounts/', include('django.contrib.auth.urls')) for "
             "Django's LoginView at the default LOGIN_URL (this library ships a plain registration/login.html "
             "for it), or set LOGIN_URL to your login page's URL or URL name.",
        id="oauth_provider.W006",
    )]


@register(Tags.urls, "oauth_provider")
def check_mounted(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E015: the endpoints have no address while something needs one; W009: ``ISSUER`` is not
    where they are mounted, so OpenID Connect discovery (OIDC Discovery §4: the issuer plus
    ``/.well-known/openid-configuration``) finds nothing."""
    raw = getattr(settings, "OAUTH_PROVIDER", {})
    if not isinstance(raw, dict) or any(k not in DEFAULTS or not _type_ok(k, v) for k, v in raw.items()):
        return []  # check_settings reports it
    from django.urls import NoReverseMatch, reverse

    from .issuer import mount_path

    try:
        mounted = mount_path()
    except NoReverseMatch:
        try:
            reverse("oauth_provider_root:metadata")
            root_mounted = True
        except NoReverseMatch:
            root_mounted = False
        except Exception:  # a broken URLconf is Django's own check (urls.E0xx)
            return []
        if provider_settings.ISSUER and not root_mounted:
            return []  # nothing here needs the endpoints' addresses (a site using the resource side only)
        needs = ("oauth_provider.root_urls' authorization-server metadata" if root_mounted
                 else "the issuer, which DEBUG derives from where the endpoints are mounted")
        return [Error(
            f"oauth_provider.urls is not included in the URLconf, but {needs} needs its addresses: "
            "those requests would fail with a server error.",
            hint="Add path('o/', include('oauth_provider.urls')) to your ROOT_URLCONF (any prefix; "
                 "ISSUER then ends with it, e.g. https://example.com/o).",
            id="oauth_provider.E015",
        )]
    except Exception:  # as above
        return []
    issuer = provider_settings.ISSUER
    if not issuer or not provider_settings.OIDC_ENABLED:
        return []
    issuer_path, mount = urlsplit(str(issuer)).path.rstrip("/"), mounted.rstrip("/")
    # a prefix before the mount is the script name a server mounts the site at (SCRIPT_NAME);
    # mounted at the root, the issuer has no path of its own
    if issuer_path.endswith(mount) if mount else issuer_path == "":
        return []
    return [Warning(
        f"ISSUER is {issuer!r}, but oauth_provider.urls is included at {mounted!r}: OpenID Connect "
        f"discovery at {str(issuer).rstrip('/')}/.well-known/openid-configuration would find nothing, and "
        "relying parties that check the issuer against that address refuse the provider.",
        hint=f"Set ISSUER to the absolute URL of {mounted!r} (e.g. https://example.com{mounted.rstrip('/')}), "
             "or include oauth_provider.urls at the issuer's path.",
        id="oauth_provider.W009",
    )]


def _check_resources_https() -> list[Warning]:
    return [
        Warning(f"OAUTH_PROVIDER['RESOURCES'] names {identifier!r}, which is not an https URL.",
                hint="RFC 9728 §1.2: a protected resource's identifier is an https URL.", id="oauth_provider.W040")
        for identifier in provider_settings.RESOURCES
        if isinstance(identifier, str) and urlsplit(identifier).scheme != "https"
    ]


@register(Tags.security, "oauth_provider", deploy=True)
def check_deploy(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    raw = getattr(settings, "OAUTH_PROVIDER", {})
    if not isinstance(raw, dict) or any(k not in DEFAULTS or not _type_ok(k, v) for k, v in raw.items()):
        return []  # check_settings reports these
    warnings = []
    issuer = provider_settings.ISSUER
    if issuer and urlsplit(issuer).scheme != "https":
        warnings.append(Warning("OAUTH_PROVIDER['ISSUER'] is not https.",
                                hint="OAuth 2.1 §1.5: every endpoint must be served over TLS.",
                                id="oauth_provider.W001"))
    if provider_settings.ACCESS_TOKEN_LIFETIME > 3600:
        warnings.append(Warning("ACCESS_TOKEN_LIFETIME is above one hour.",
                                hint="RFC 9700 §4.10: keep access tokens short-lived.", id="oauth_provider.W002"))
    if provider_settings.AUTHORIZATION_CODE_LIFETIME > 600:
        warnings.append(Warning("AUTHORIZATION_CODE_LIFETIME is above 10 minutes.",
                                hint="OAuth 2.1 §4.1.2: a maximum of 10 minutes is recommended.",
                                id="oauth_provider.W002"))
    if provider_settings.REFRESH_TOKEN_LIFETIME > 90 * 86400 and not provider_settings.REFRESH_TOKEN_IDLE_TIMEOUT:
        warnings.append(Warning("REFRESH_TOKEN_LIFETIME is above 90 days and no idle timeout is set.",
                                hint="RFC 9700 §4.14.2: expire refresh tokens that go unused.",
                                id="oauth_provider.W003"))
    if provider_settings.ALLOW_INSECURE_LOOPBACK_FETCH:
        warnings.append(Warning(
            "OAUTH_PROVIDER['ALLOW_INSECURE_LOOPBACK_FETCH'] is on: the provider fetches plain-http URLs on "
            "127.0.0.1, [::1] and localhost (client ID metadata documents, JWK Sets).",
            hint="It exists for local development and tests on one machine; turn it off in production.",
            id="oauth_provider.W030"))
    warnings += _check_resources_https()
    if provider_settings.DEVICE_CODE_LIFETIME > 1800:
        warnings.append(Warning("DEVICE_CODE_LIFETIME is above 30 minutes.",
                                hint="RFC 8628 §5.4: a short-lived user code blunts remote phishing.",
                                id="oauth_provider.W060"))
    device_throttle = {**DEFAULTS["DEVICE_USER_CODE_THROTTLE"].default, **provider_settings.DEVICE_USER_CODE_THROTTLE}
    if device_throttle.get("enabled") is False:
        warnings.append(Warning("DEVICE_USER_CODE_THROTTLE is off: user codes can be guessed at line speed.",
                                hint="RFC 8628 §5.1: rate-limit user-code attempts.", id="oauth_provider.W060"))
    return warnings


@register(Tags.security, Tags.database, "oauth_provider", deploy=True)
def check_deploy_database(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """The deploy warnings that read the database: like Django's own database checks, they run
    only when asked to (``check --deploy --database default``). Tagged ``database`` because
    Django 6.1 passes every alias to every check, asked or not."""
    raw = getattr(settings, "OAUTH_PROVIDER", {})
    if not isinstance(raw, dict) or any(k not in DEFAULTS or not _type_ok(k, v) for k, v in raw.items()):
        return []  # check_settings reports these
    databases = kwargs.get("databases") or ()
    return _check_signing_keys(databases) + _check_localhost_redirects(databases)


def _check_localhost_redirects(databases: Any) -> list[Warning]:
    if "default" not in databases:
        return []
    from django.db import DatabaseError

    from .models import get_client_model

    try:
        # a superset (MariaDB compares case-insensitively); the hostname test below is exact
        clients = list(get_client_model()._default_manager.filter(redirect_uris__contains="localhost")[:100])
    except DatabaseError:
        return []
    named = [
        c.client_id for c in clients
        if any(urlsplit(uri).scheme == "http" and urlsplit(uri).hostname == "localhost" for uri in c.redirect_uri_list)
    ]
    if not named:
        return []
    return [Warning(
        f"Clients register http://localhost redirect URIs: {', '.join(named[:10])}.",
        hint="RFC 8252 §8.3: use http://127.0.0.1 (any port is accepted there); localhost is matched exactly.",
        id="oauth_provider.W005",
    )]


def _check_signing_keys(databases: Any) -> list[Warning]:
    # Checks touch the database only when asked to (``--database``), as Django's own do.
    if "default" not in databases:
        return []
    from django.db import DatabaseError

    try:
        missing = _signing_key_missing()
    except DatabaseError:  # not migrated yet: migrate will come first
        return []
    if not missing:
        return []
    return [Warning(
        "No signing key signs now. With DEBUG on, one is created the first time an ID token or JWT is "
        "signed; with DEBUG off, signing fails until a key exists.",
        hint="Run `python manage.py rotatekeys` once before deploying.", id="oauth_provider.W004",
    )]


def _signing_key_missing() -> bool:
    """Will something need signing (OpenID Connect, JWT access tokens site-wide or for one
    client) while no key signs now? Reads the database."""
    from . import secrets
    from .models import SigningKey, get_client_model

    needed = provider_settings.OIDC_ENABLED or provider_settings.ACCESS_TOKEN_FORMAT == "jwt"
    if not needed:
        needed = get_client_model()._default_manager.filter(access_token_format="jwt").exists()
    return needed and not SigningKey.objects.signing(secrets.now()).exists()


@register(Tags.security, "oauth_provider", deploy=True)
def check_signing_key_deploy(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """E014: a production site with nothing to sign with. Unlike W004 it does not wait for
    ``--database``: a plain ``check --deploy`` must say that every OpenID Connect sign-in will
    fail (RFC 6749 §4.1.2.1 ``temporarily_unavailable``) until ``rotatekeys`` runs."""
    raw = getattr(settings, "OAUTH_PROVIDER", {})
    if settings.DEBUG or not isinstance(raw, dict) or any(k not in DEFAULTS or not _type_ok(k, v)
                                                          for k, v in raw.items()):
        return []  # DEBUG creates a key on first need; check_settings reports broken settings
    try:
        missing = _signing_key_missing()
    except Exception:  # noqa: BLE001 - no database, unreachable or not migrated: never crash the check run
        return []
    if not missing:
        return []
    return [Error(
        "No signing key signs now and DEBUG is off: every OpenID Connect sign-in and every JWT access "
        "token is refused (temporarily_unavailable) until one exists.",
        hint="Run `python manage.py rotatekeys --now` once (then rotate on a schedule).",
        id="oauth_provider.E014",
    )]


#: cache backends whose entries no other process sees
PER_PROCESS_CACHES = frozenset({
    "django.core.cache.backends.locmem.LocMemCache", "django.core.cache.backends.dummy.DummyCache",
})
#: shared cache backends whose ``add()`` is a look then a write, not one atomic step: two
#: workers adding one key at once may both succeed (a DPoP proof or an assertion replayed in
#: parallel accepted twice, two first failures counted once)
NON_ATOMIC_CACHES = frozenset({"django.core.cache.backends.filebased.FileBasedCache"})


@register(Tags.caches, "oauth_provider", deploy=True)
def check_shared_caches(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """W007: state every worker must see kept in a cache only one process sees; W008: kept in
    a shared cache whose ``add()`` is not atomic (the file cache), which the single-use checks
    and the counters rely on. Like W004 and W005 it looks at the deployment rather than the
    settings' shape, so it runs with ``check --deploy --database default``, the command the
    deployment guide prescribes."""
    raw = getattr(settings, "OAUTH_PROVIDER", {})
    if "default" not in (kwargs.get("databases") or ()) or not isinstance(raw, dict) or any(
        k not in DEFAULTS or not _type_ok(k, v) for k, v in raw.items()
    ):
        return []
    from .keys import GENERATION_CACHE

    uses: dict[str, list[str]] = {GENERATION_CACHE: ["signing-key rotations reach the other workers only after "
                                                     "SIGNING_KEY_CACHE_SECONDS"]}
    throttle = {**DEFAULTS["CLIENT_AUTH_THROTTLE"].default, **provider_settings.CLIENT_AUTH_THROTTLE}
    if throttle.get("enabled", True) and isinstance(throttle.get("cache"), str):
        uses.setdefault(throttle["cache"], []).append("failed client authentications are counted per worker")
    # the per-address counts below keep their counts in the same cache, whatever its "enabled"
    if isinstance(throttle.get("cache"), str):
        for name, on, effect in (
            ("REGISTRATION_THROTTLE", bool(provider_settings.DYNAMIC_REGISTRATION),
             "dynamic registrations are counted per worker (each allows the limit)"),
            ("REGISTRATION_THROTTLE", bool(provider_settings.CLIENT_ID_METADATA_DOCUMENTS),
             "client ID metadata document fetches are counted per worker"),
            ("PUBLIC_CLIENT_THROTTLE", True, "public clients' device and pushed requests are counted per worker"),
        ):
            block = {**DEFAULTS[name].default, **getattr(provider_settings, name)}
            if on and block.get("enabled", True):
                uses.setdefault(throttle["cache"], []).append(effect)
    device = {**DEFAULTS["DEVICE_USER_CODE_THROTTLE"].default, **provider_settings.DEVICE_USER_CODE_THROTTLE}
    if device.get("enabled", True) and isinstance(device.get("cache"), str):
        uses.setdefault(device["cache"], []).append("wrong device user codes are counted per worker")
    if provider_settings.JWT_ACCESS_TOKEN_DENYLIST:
        uses.setdefault(provider_settings.DENYLIST_CACHE, []).append(
            "a revoked JWT access token is refused only by the worker that revoked it")
    uses.setdefault(provider_settings.REPLAY_CACHE, []).append(
        "a DPoP proof used once can be replayed on another worker")
    if "private_key_jwt" in provider_settings.CLIENT_AUTH_METHODS:
        uses.setdefault(provider_settings.REPLAY_CACHE, []).append(
            "a private_key_jwt assertion used once can be replayed on another worker")
    if "urn:ietf:params:oauth:grant-type:jwt-bearer" in provider_settings.GRANT_TYPES:
        uses.setdefault(provider_settings.REPLAY_CACHE, []).append(
            "a JWT bearer grant assertion used once can be replayed on another worker")
    warnings = []
    for alias, effects in uses.items():
        backend = settings.CACHES.get(alias, {}).get("BACKEND", "")
        if backend in PER_PROCESS_CACHES:
            warnings.append(Warning(
                f"CACHES[{alias!r}] is per-process ({backend.rsplit('.', 1)[-1]}): with several worker "
                f"processes, {'; '.join(effects)}.",
                hint="Point it at a cache every worker shares: Redis "
                     "(django.core.cache.backends.redis.RedisCache) or Memcached.",
                id="oauth_provider.W007",
            ))
        elif backend in NON_ATOMIC_CACHES:
            warnings.append(Warning(
                f"CACHES[{alias!r}] ({backend.rsplit('.', 1)[-1]}) adds a key by looking then writing, not "
                f"atomically: a DPoP proof or signed assertion sent several times at once can be accepted more "
                f"than once, and the throttles' counts can come out low.",
                hint="Point it at Redis (django.core.cache.backends.redis.RedisCache) or Memcached, whose add() is "
                     "atomic.",
                id="oauth_provider.W008",
            ))
    return warnings


# -- dynamic client registration (RFC 7591) -----------------------------------------------
@register(Tags.security, "oauth_provider")
def check_dynamic_registration(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E070, E071, W070."""
    raw = getattr(settings, "OAUTH_PROVIDER", {})
    if not isinstance(raw, dict):
        return []
    messages: list[CheckMessage] = []
    value = raw.get("DYNAMIC_REGISTRATION")
    if isinstance(value, (str, bool)) and value not in (False, "open", "token", "adapter"):  # other types: E003
        messages.append(Error(
            f"OAUTH_PROVIDER['DYNAMIC_REGISTRATION'] must be None, False, 'open', 'token' or 'adapter', "
            f"not {value!r}.", id="oauth_provider.E070",
        ))
    messages += _counter_errors(raw, "REGISTRATION_THROTTLE", check_id="oauth_provider.E071")
    if value == "adapter":
        from .adapter import DefaultAdapter
        try:
            adapter_class = import_string(str(raw.get("ADAPTER", DEFAULTS["ADAPTER"].default)))
        except ImportError:
            adapter_class = DefaultAdapter  # E008 reports it
        if getattr(adapter_class, "allow_registration", None) is DefaultAdapter.allow_registration:
            messages.append(Warning(
                "DYNAMIC_REGISTRATION is 'adapter' but the adapter does not override allow_registration: "
                "anyone can register a client.",
                hint="Implement allow_registration(request, metadata) in your adapter, or use 'open' to say so.",
                id="oauth_provider.W070",
            ))
    return messages


def _counter_errors(raw: dict[str, Any], name: str, *, check_id: str) -> list[CheckMessage]:
    """The problems of a per-address counter block (``REGISTRATION_THROTTLE``,
    ``PUBLIC_CLIENT_THROTTLE``): its keys, ``enabled`` a bool, its numbers positive integers."""
    block = raw.get(name, {})
    if not isinstance(block, dict):  # E003 reports the type
        return []
    defaults = DEFAULTS[name].default
    problems = [f"unknown key {key!r}" for key in block if key not in defaults]
    if not isinstance(block.get("enabled", True), bool):
        problems.append("'enabled' must be True or False")
    for key in defaults:
        number = block.get(key, defaults[key])
        if key != "enabled" and (isinstance(number, bool) or not isinstance(number, int) or number <= 0):
            problems.append(f"{key!r} must be a positive integer")
    return [Error(f"OAUTH_PROVIDER[{name!r}]: {problem}.", id=check_id) for problem in problems]


@register(Tags.security, "oauth_provider")
def check_public_client_throttle(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E072."""
    raw = getattr(settings, "OAUTH_PROVIDER", {})
    if not isinstance(raw, dict):
        return []
    return _counter_errors(raw, "PUBLIC_CLIENT_THROTTLE", check_id="oauth_provider.E072")


@register(Tags.security, "oauth_provider", deploy=True)
def check_dynamic_registration_deploy(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """W071: anyone may register, as fast as they like."""
    raw = getattr(settings, "OAUTH_PROVIDER", {})
    if not isinstance(raw, dict) or raw.get("DYNAMIC_REGISTRATION") != "open":
        return []
    block = raw.get("REGISTRATION_THROTTLE", {})
    if isinstance(block, dict) and block.get("enabled", True) is False:
        return [Warning(
            "Open dynamic registration is not throttled: one address can fill the client table.",
            hint="Leave OAUTH_PROVIDER['REGISTRATION_THROTTLE'] enabled.", id="oauth_provider.W071",
        )]
    return []


_DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: the settings whose ``ip_header`` names the caller, the throttles that read it, what they count
_ADDRESS_THROTTLES = (
    ("CLIENT_AUTH_THROTTLE", ("CLIENT_AUTH_THROTTLE", "REGISTRATION_THROTTLE", "PUBLIC_CLIENT_THROTTLE"),
     "failed client authentications, registrations and public clients' device and pushed requests"),
    ("DEVICE_USER_CODE_THROTTLE", ("DEVICE_USER_CODE_THROTTLE",), "wrong user codes on the device page"),
)


@register(Tags.security, "oauth_provider", deploy=True)
def check_throttles_behind_a_proxy(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """W073: behind a reverse proxy ``REMOTE_ADDR`` is the proxy's address. A throttle that
    counts per address without ``ip_header`` then counts every caller as one, so one caller
    can spend the count and hold everyone back (a lockout anyone can trigger). Django's own
    proxy settings say a proxy is there."""
    raw = getattr(settings, "OAUTH_PROVIDER", {})
    if not isinstance(raw, dict) or any(k not in DEFAULTS or not _type_ok(k, v) for k, v in raw.items()):
        return []  # check_settings reports these
    proxied = [name for name in ("SECURE_PROXY_SSL_HEADER", "USE_X_FORWARDED_HOST", "USE_X_FORWARDED_PORT")
               if getattr(settings, name, None)]
    warnings = []
    for header_setting, throttles, counts in _ADDRESS_THROTTLES if proxied else ():
        blocks = [raw.get(name, {}) for name in throttles]
        if all(isinstance(block, dict) and block.get("enabled", True) is False for block in blocks):
            continue  # nothing counts per address
        if header_setting == "DEVICE_USER_CODE_THROTTLE" and _DEVICE_GRANT not in raw.get(
            "GRANT_TYPES", DEFAULTS["GRANT_TYPES"].default
        ):
            continue  # no device flow, no device page
        header = raw.get(header_setting, {})
        if isinstance(header, dict) and header.get("ip_header"):
            continue
        warnings.append(Warning(
            f"Django is set up behind a proxy ({', '.join(proxied)}), but {header_setting} has no "
            f"'ip_header': the throttles of {counts} see the proxy's address for every caller, so one "
            "caller can use up the count for all.",
            hint=f"Set OAUTH_PROVIDER['{header_setting}']['ip_header'] to the request.META key of the header "
                 "your proxy sets to the client's address (e.g. 'HTTP_X_REAL_IP'); see docs/how-to/deployment.md.",
            id="oauth_provider.W073",
        ))
    return warnings


@register(Tags.security, "oauth_provider")
def check_dpop_resources(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """W112: with ``REQUIRE_DPOP`` (set, or the FAPI 2.0 profile's) the resources take
    DPoP-bound tokens only, sent with the DPoP scheme (RFC 9449 §7.1-7.2); a form body can
    only carry a bearer token."""
    raw = getattr(settings, "OAUTH_PROVIDER", {})
    if not isinstance(raw, dict) or raw.get("BEARER_FORM_BODY") is not True:
        return []
    required = raw.get("REQUIRE_DPOP", profiles.values(raw.get("PROFILE")).get("REQUIRE_DPOP"))
    if required is not True:
        return []
    return [Warning(
        "OAUTH_PROVIDER['BEARER_FORM_BODY'] is on but REQUIRE_DPOP refuses every bearer token: no token sent "
        "in a form body is ever accepted.",
        hint="Turn BEARER_FORM_BODY off: DPoP-bound tokens go in the Authorization header (DPoP scheme).",
        id="oauth_provider.W112",
    )]


@register("oauth_provider")
def check_prepared_statements(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """W150: an unknown ``POSTGRESQL_PREPARED_STATEMENTS``; W151: prepared statements forced on
    for a PostgreSQL database that says a transaction pooler sits in front of it."""
    raw = getattr(settings, "OAUTH_PROVIDER", {})
    value = raw.get("POSTGRESQL_PREPARED_STATEMENTS", "auto") if isinstance(raw, dict) else "auto"
    if isinstance(value, str) and value != "auto":
        return [Warning(
            f"OAUTH_PROVIDER['POSTGRESQL_PREPARED_STATEMENTS'] is {value!r}: statements are prepared "
            "as for 'auto'.", hint="Use 'auto', True or False.", id="oauth_provider.W150",
        )]
    if value is not True:
        return []
    pooled = [
        alias for alias, db in settings.DATABASES.items()
        if str(db.get("ENGINE", "")).endswith("postgresql") and db.get("DISABLE_SERVER_SIDE_CURSORS")
    ]
    return [Warning(
        f"Prepared statements are forced on for database {alias!r}, which sets DISABLE_SERVER_SIDE_CURSORS "
        "(a transaction-pooling PgBouncer).",
        hint="Only PgBouncer 1.22+ with max_prepared_statements > 0 keeps named prepared statements "
             "apart; otherwise set POSTGRESQL_PREPARED_STATEMENTS to 'auto' or False.",
        id="oauth_provider.W151",
    ) for alias in pooled]

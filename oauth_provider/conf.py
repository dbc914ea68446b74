"""The one place settings are read.

A host configures the library with one dict in its settings module::

    OAUTH_PROVIDER = {
        "ISSUER": "https://example.com/o",
        "SCOPES": {"read": "Read your notes", "write": "Change your notes"},
    }

``provider_settings`` merges that dict over :data:`DEFAULTS` lazily, on first attribute
access, and forgets the merge when Django's ``setting_changed`` signal fires, so
``override_settings(OAUTH_PROVIDER=...)`` works everywhere. A security profile
(``PROFILE``, :mod:`oauth_provider.profiles`) is a layer in between: ``DEFAULTS < profile <
the host's dict``; a profile's value for a setting not in :data:`DEFAULTS` (a feature of a later
version) is left out. Nothing copies a value into a
module global. Types and unknown keys are validated by :mod:`oauth_provider.checks`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from . import profiles

DAY = 24 * 3600


@dataclass(frozen=True)
class Setting:
    """One documented setting: its default, the types it accepts and what it does."""

    default: Any
    types: tuple[type, ...]
    doc: str
    nullable: bool = False


#: Every setting the library reads. The settings reference in docs/ is generated from this.
DEFAULTS: dict[str, Setting] = {
    "ISSUER": Setting(
        None, (str,),
        "The issuer identifier (RFC 8414 §2, RFC 9207): the absolute https URL the provider is "
        "mounted at, e.g. ``https://example.com/o``. Required when DEBUG is off; in DEBUG the "
        "absolute URL of the mount is used. Never derived from the Host header in production.",
        nullable=True,
    ),
    "SCOPES": Setting(
        {}, (dict,),
        "Scope name -> human description shown on the consent page. Only these scopes can be "
        "requested.",
    ),
    "DEFAULT_SCOPES": Setting(
        [], (list, tuple),
        "Scopes granted when an authorization or client_credentials request names none "
        "(RFC 6749 §3.3). Empty: a request without scope is refused with invalid_scope.",
    ),
    "OPTIONAL_SCOPES": Setting(
        [], (list, tuple),
        "Scopes the user may untick on the consent page. The others are granted all or nothing.",
    ),
    "ACCESS_TOKEN_LIFETIME": Setting(3600, (int,), "Access-token lifetime in seconds."),
    "AUTHORIZATION_CODE_LIFETIME": Setting(
        60, (int,), "Authorization-code lifetime in seconds (RFC 9700 §4.2: keep it short)."
    ),
    "REFRESH_TOKEN_LIFETIME": Setting(
        30 * DAY, (int,),
        "Absolute refresh-token lifetime in seconds, counted from the original grant: rotation "
        "never extends it.",
    ),
    "REFRESH_TOKEN_IDLE_TIMEOUT": Setting(
        None, (int,),
        "If set, a refresh token unused for this many seconds expires (RFC 9700 §4.14.2).",
        nullable=True,
    ),
    "REFRESH_TOKEN_GRACE_PERIOD": Setting(
        0, (int,),
        "Seconds during which a just-rotated refresh token may be presented once more (for clients "
        "that refresh concurrently): that one retry gets the same successor refresh token and a new "
        "access token; a second retry, or one after the successor was used, is reuse and revokes the "
        "grant. A successor handed out twice that way gets no grace of its own: once it is used, "
        "the other holder's use is reuse (a thief replaying inside the window cannot share the chain). "
        "0 turns it off.",
    ),
    "REFRESH_TOKEN_ROTATION": Setting(
        "always", (str,),
        "Which clients get a new refresh token each time they use one: ``\"always\"`` (every client; "
        "a rotated token presented again revokes the grant, RFC 9700 §4.14.2) or ``\"public_clients\"`` "
        "(public clients only, with the same reuse detection; a confidential client keeps its refresh "
        "token, which the response returns unchanged: it cannot be used without the client's "
        "credentials, and FAPI 2.0 §5.3.2.1-9 forbids rotating it). The ``fapi2`` profile sets "
        "``\"public_clients\"``.",
    ),
    "REMEMBER_CONSENT": Setting(
        True, (bool,),
        "Offer a ticked \"Remember my decision\" box on the consent page of confidential "
        "clients an operator registered, for requests to the default resource; while the "
        "decision the user asked to be remembered covers the requested scopes, the page is "
        "skipped. Public clients (RFC 8252 §8.6), clients that registered themselves and "
        "requests naming another resource (RFC 8707) are always asked again.",
    ),
    "GRANT_TYPES": Setting(
        {
            "authorization_code": "oauth_provider.grants.authorization_code.AuthorizationCodeGrant",
            "refresh_token": "oauth_provider.grants.refresh_token.RefreshTokenGrant",
            "client_credentials": "oauth_provider.grants.client_credentials.ClientCredentialsGrant",
            "urn:ietf:params:oauth:grant-type:device_code": "oauth_provider.grants.device_code.DeviceCodeGrant",
            "urn:ietf:params:oauth:grant-type:token-exchange":
                "oauth_provider.grants.token_exchange.TokenExchangeGrant",
            "urn:ietf:params:oauth:grant-type:jwt-bearer": "oauth_provider.grants.jwt_bearer.JWTBearerGrant",
        },
        (dict,),
        "grant_type -> dotted path of its grant class. Remove an entry to turn the grant off "
        "everywhere; add one to plug in an extension grant. The device authorization grant "
        "(RFC 8628), token exchange (RFC 8693) and the JWT bearer grant (RFC 7523) are listed but "
        "used only by clients registered for them, and advertised in the metadata only while an "
        "active client is.",
    ),
    "DEVICE_CODE_LIFETIME": Setting(
        600, (int,),
        "Seconds a device code and its user code stay valid (RFC 8628 §3.2 ``expires_in``): long "
        "enough to type the code, short enough that a code sent in a phishing message goes stale "
        "(§5.4).",
    ),
    "DEVICE_CODE_INTERVAL": Setting(
        5, (int,),
        "Seconds a device must wait between polls of the token endpoint (RFC 8628 §3.2 "
        "``interval``). A poll sooner gets ``slow_down`` and adds 5 seconds to that device "
        "code's interval for good (§3.5).",
    ),
    "DEVICE_VERIFICATION_URI": Setting(
        None, (str,),
        "The ``verification_uri`` shown to users (RFC 8628 §3.2), when it should be shorter than "
        "the verification page's own URL, e.g. ``https://example.com/device`` redirecting there. "
        "None: the absolute URL of the verification page under the issuer's origin.",
        nullable=True,
    ),
    "DEVICE_USER_CODE_THROTTLE": Setting(
        {"enabled": True, "failures": 5, "address_failures": 20, "window": 300, "cache": "default",
         "ip_header": None},
        (dict,),
        "Throttling of wrong user codes on the device verification page (RFC 8628 §5.1), per user "
        "and per IP address, in Django's cache: after ``failures`` wrong codes of one user, or "
        "``address_failures`` from one address (several accounts), within ``window`` seconds, every "
        "code they enter, right or wrong, is refused (429) until the window ends. The defaults allow "
        "a user 10 guesses in a code's 10 minutes, an address 40, against 20^10 (2^43) possible codes; "
        "the higher address count keeps one account at a shared address (an office, a campus, a "
        "carrier's NAT) from locking everyone else there out. The other keys mean what they mean in "
        "``CLIENT_AUTH_THROTTLE``.",
    ),
    "JWT_BEARER_ISSUERS": Setting(
        {}, (dict,),
        "Issuers whose signed assertions clients may trade for tokens with the JWT bearer grant "
        "(RFC 7523 §2.1): issuer (the ``iss`` claim, compared exactly) -> ``{\"jwks_uri\": ...}`` "
        "(fetched through the provider's fetcher and cached) or ``{\"jwks\": {\"keys\": [...]}}`` "
        "(public keys), and optionally ``\"clients\": [client_id, ...]`` limiting which clients may "
        "present them (default: every client registered for the grant). A client's own registered "
        "keys are trusted for assertions it signs itself (``iss`` = its client_id). The adapter's "
        "``user_for_assertion`` maps each subject to a user; by default none is. See "
        "docs/how-to/jwt-bearer.md.",
    ),
    "JWT_BEARER_MAX_LIFETIME": Setting(
        300, (int,),
        "The longest a JWT bearer grant assertion may live, in seconds, from its ``iat`` (or from now "
        "without one) to its ``exp``; an older ``iat`` is refused too (RFC 7523 §3 lets the server "
        "bound it), so a leaked assertion is useless soon, and its ``jti`` is remembered that long.",
    ),
    "CLIENT_AUTH_METHODS": Setting(
        {
            "client_secret_basic": "oauth_provider.client_auth.ClientSecretBasic",
            "client_secret_post": "oauth_provider.client_auth.ClientSecretPost",
            "private_key_jwt": "oauth_provider.client_assertions.PrivateKeyJWT",
            "none": "oauth_provider.client_auth.NoClientAuthentication",
        },
        (dict,),
        "token_endpoint_auth_method -> dotted path of its authentication class. Every method listed "
        "may be assigned to clients (admin, ``createclient``, registration) and is advertised in "
        "metadata. ``client_secret_jwt`` is not offered: its key is the client secret, which the "
        "server would have to store recoverably (only digests of secrets are stored).",
    ),
    "CLIENT_ASSERTION_LEGACY_AUDIENCE": Setting(
        False, (bool,),
        "Also accept ``private_key_jwt`` assertions whose ``aud`` is the token endpoint URL or the URL "
        "of the endpoint called (alone or in an array), as RFC 7523 §3 allowed. Off: ``aud`` must be "
        "exactly the issuer identifier, as a string (draft-ietf-oauth-rfc7523bis §4), so an assertion "
        "made for another endpoint or server cannot be replayed here. Turn on only for clients that "
        "cannot be configured to send the issuer.",
    ),
    "CLIENT_ASSERTION_MAX_LIFETIME": Setting(
        300, (int,),
        "The longest a ``private_key_jwt`` assertion may live, in seconds, from its ``iat`` (or from now "
        "without one) to its ``exp`` (RFC 7523 §3 lets the server bound it): a longer-lived assertion "
        "is refused, so a leaked one is useless soon. Some libraries default to an hour (Authlib): "
        "have them sign for less rather than raising this.",
    ),
    "REPLAY_CACHE": Setting(
        "default", (str,),
        "The cache alias (``CACHES``) that remembers single-use values until they expire: the ``jti`` "
        "of each ``private_key_jwt`` assertion, and when a client's ``jwks_uri`` was last fetched "
        "afresh; and the ``jti`` of each DPoP proof (RFC 9449 §11.1). Every worker must share it "
        "(Redis, Memcached), or a replay on another worker is not seen.",
    ),
    "DPOP_SIGNING_ALGORITHMS": Setting(
        ["ES256", "PS256", "EdDSA", "RS256"], (list, tuple),
        "The JWS algorithms (RFC 7518 names) a DPoP proof may be signed with (RFC 9449 §4.3, §5.1), "
        "advertised as ``dpop_signing_alg_values_supported``. Asymmetric only: ``none`` and the HMAC "
        "algorithms are refused by the system check. FAPI 2.0 wants ``PS256``, ``ES256`` and "
        "``EdDSA`` only.",
    ),
    "DPOP_PROOF_MAX_AGE": Setting(
        60, (int,),
        "How many seconds after its ``iat`` a DPoP proof is accepted (RFC 9449 §11.1); a proof "
        "dated more than 10 seconds in the future is refused whatever this says. Its ``jti`` is "
        "remembered in ``REPLAY_CACHE`` that long, so a replay is refused.",
    ),
    "DPOP_NONCE": Setting(
        False, (bool,),
        "Require a server-provided nonce in every DPoP proof (RFC 9449 §8, §9): a proof without "
        "one, or with a stale or wrong one, is answered ``use_dpop_nonce`` with a fresh nonce in "
        "the ``DPoP-Nonce`` header, and the client retries. Nonces are stateless (an HMAC under a "
        "key derived from ``SECRET_KEY``), valid for 5 minutes, and accepted only by the server "
        "(token endpoint or resource) that issued them. Limits proofs pre-computed by a thief of "
        "the client's key to minutes.",
    ),
    "REQUIRE_DPOP": Setting(
        False, (bool,),
        "Every access token must be DPoP-bound (RFC 9449): a token request without a DPoP proof is "
        "refused, for every client, as if each had ``dpop_bound_access_tokens`` (RFC 9449 §5.2); and "
        "the protected resources refuse every token sent as a bearer token (tokens issued before "
        "included), their challenges naming ``DPoP`` alone (§7.2).",
    ),
    "NATIVE_HTTPS_REDIRECT_URIS": Setting(
        False, (bool,),
        "Let native apps that register themselves (dynamic registration, client ID metadata "
        "documents) use claimed https redirect URIs (RFC 8252 §7.2). Off: such a client registers a "
        "private-use scheme or an http loopback URI. An operator may always register claimed https "
        "URIs for a native app in the admin or with ``createclient``.",
    ),
    "PROFILE": Setting(
        None, (str,),
        "A security profile that sets the settings it requires, between the defaults and your own "
        "values: ``\"fapi2\"``, the FAPI 2.0 Security Profile (private_key_jwt only, confidential "
        "clients only, DPoP and PAR required, 60-second codes, PS256/ES256/EdDSA, no refresh-token "
        "rotation for confidential clients). A setting you set yourself that contradicts it fails a "
        "system check. See docs/how-to/fapi2.md.",
        nullable=True,
    ),
    "PUSHED_AUTHORIZATION_REQUESTS": Setting(
        True, (bool,),
        "The pushed authorization request endpoint (RFC 9126) at ``{issuer}/par/``: a client "
        "POSTs its authorization request there, authenticated as at the token endpoint, and sends "
        "the browser to the authorization endpoint with only ``client_id`` and the ``request_uri`` it "
        "got back. Advertised as ``pushed_authorization_request_endpoint``. Off: the endpoint answers "
        "404 and a ``request_uri`` is ``request_uri_not_supported``. A ``request_uri`` is never "
        "fetched from a URL. See docs/how-to/par-and-jar.md.",
    ),
    "PUSHED_AUTHORIZATION_REQUEST_LIFETIME": Setting(
        60, (int,),
        "Seconds a pushed request's ``request_uri`` stays usable (RFC 9126 §2.2 ``expires_in``; "
        "FAPI 2.0 requires less than 600). It is single use, spent when the authorization completes "
        "(approval or a remembered consent), not when the consent page is shown.",
    ),
    "REQUIRE_PUSHED_AUTHORIZATION_REQUESTS": Setting(
        False, (bool,),
        "Refuse every authorization request that does not come through the PAR endpoint "
        "(``invalid_request``), for all clients; advertised as ``require_pushed_authorization_requests`` "
        "(RFC 9126 §5). A client's own ``require_pushed_authorization_requests`` does the same for it "
        "alone (RFC 9126 §6).",
    ),
    "REQUEST_OBJECTS": Setting(
        True, (bool,),
        "Accept signed request objects (JAR, RFC 9101): the ``request`` parameter at the "
        "authorization endpoint and at the PAR endpoint, from clients that registered keys (``jwks`` or "
        "``jwks_uri``), verified with the RFC 8725 rules and the client's ``request_object_signing_alg``. "
        "Unsigned request objects (``alg: none``) are always refused. Off: ``request`` is "
        "``request_not_supported``.",
    ),
    "REQUIRE_SIGNED_REQUEST_OBJECT": Setting(
        False, (bool,),
        "Refuse every authorization request whose parameters are not in a signed request object "
        "(RFC 9101 §10.5 ``require_signed_request_object``, advertised in the metadata): by value at "
        "the authorization endpoint or pushed to the PAR endpoint. A client's own "
        "``require_signed_request_object`` does the same for it alone.",
    ),
    "ADAPTER": Setting(
        "oauth_provider.adapter.DefaultAdapter", (str,),
        "Dotted path of the adapter class holding the host's policy hooks.",
    ),
    "LOGIN_URL": Setting(
        None, (str,),
        "Where anonymous users are sent to log in. Default: Django's ``settings.LOGIN_URL``.",
        nullable=True,
    ),
    "OIDC_ENABLED": Setting(
        True, (bool,),
        "Act as an OpenID Provider: the standard scopes (openid, profile, email, address, phone), ID tokens, "
        "UserInfo, JWKS, discovery and RP-initiated logout.",
    ),
    "ID_TOKEN_LIFETIME": Setting(3600, (int,), "ID-token lifetime in seconds (OIDC Core §2 ``exp``)."),
    "ID_TOKEN_SCOPE_CLAIMS": Setting(
        True, (bool,),
        "Put the claims of the granted profile/email/address/phone scopes in the ID token as well as at "
        "UserInfo (many relying parties read them there). Off: only claims asked for with the claims parameter.",
    ),
    "LOGOUT_REVOKES_SESSION_GRANTS": Setting(
        True, (bool,),
        "When a user's login session ends (Django's ``user_logged_out``: the site's logout view, "
        "RP-initiated logout), revoke the grants made in it with ``openid`` and without "
        "``offline_access``, their refresh and access tokens (OpenID Connect Back-Channel Logout 1.0 "
        "§2.7, OIDC Core §11), after the clients are told. Grants with ``offline_access``, grants "
        "without ``openid`` and other sessions' grants are kept. With ``OIDC_ENABLED`` only.",
    ),
    "BACKCHANNEL_LOGOUT": Setting(
        {"enabled": True, "delivery": "oauth_provider.oidc.logout.deliver_in_background", "timeout": 5,
         "token_lifetime": 120, "max_attempts": 8, "retry_delay": 60},
        (dict,),
        "OpenID Connect Back-Channel Logout 1.0 (keys left out keep their defaults): ``enabled`` "
        "(with ``OIDC_ENABLED``: advertised in discovery, logout tokens sent); ``delivery`` the dotted "
        "path of a callable receiving the list of pending ``LogoutDelivery`` ids once the transaction "
        "that created them commits: ``oauth_provider.oidc.logout.deliver_in_background`` (default: a "
        "thread of the web process, so the user's page never waits) or ``...deliver_now`` (in the "
        "request: simple, but the page waits up to ``timeout`` per client), or your own function "
        "handing the ids to Celery/RQ (which calls ``oauth_provider.oidc.logout.deliver(ids)``); "
        "``timeout`` total seconds for one POST; ``token_lifetime`` seconds a logout token stays valid "
        "(at most 120 as §4 encourages); ``max_attempts`` before a delivery is given up; "
        "``retry_delay`` seconds before the first retry, doubled after each failure (at most 6 hours). "
        "Run ``manage.py sendlogouts`` periodically: it retries what is due.",
    ),
    "FRONTCHANNEL_LOGOUT": Setting(
        {"enabled": True, "timeout": 3},
        (dict,),
        "OpenID Connect Front-Channel Logout 1.0 (keys left out keep their defaults): ``enabled`` (with "
        "``OIDC_ENABLED``: advertised in discovery, and the page a user sees after logging out loads "
        "each client's ``frontchannel_logout_uri`` in an invisible iframe); ``timeout`` the seconds "
        "(1 to 30) that page waits for those iframes before it goes on to the ``post_logout_redirect_uri`` "
        "(sooner once they have all loaded, when JavaScript runs). The site's own logout view is covered "
        "by ``oauth_provider.middleware.FrontChannelLogoutMiddleware`` or the "
        "``{% frontchannel_logout %}`` template tag: see docs/how-to/frontchannel-logout.md.",
    ),
    "SIGNING_KEY_ALGORITHM": Setting(
        "RS256", (str,),
        "Algorithm of keys made by ``rotatekeys``: RS256 (default; OIDC Core §15.1 requires it), ES256 or EdDSA.",
    ),
    "SIGNING_KEY_PREPUBLICATION": Setting(
        86400, (int,),
        "Seconds a rotated-in key is published in the JWKS before it signs anything, so relying parties that "
        "cache the JWKS learn it first (OIDC Core §10.1.1).",
    ),
    "SIGNING_KEY_CACHE_SECONDS": Setting(
        60, (int,),
        "How long a worker keeps the key set in memory before re-reading it from the database.",
    ),
    "KEY_ENCRYPTION_KEYS": Setting(
        [], (list, tuple),
        "Secrets that encrypt private signing keys at rest; the first encrypts, all decrypt (rotate by "
        "prepending). Empty: derived from SECRET_KEY and SECRET_KEY_FALLBACKS.",
    ),
    "ACCESS_TOKEN_FORMAT": Setting(
        "opaque", (str,),
        "``opaque`` (random, checked against the database: revocation is instant) or ``jwt`` (RFC 9068, "
        "verified by the resource layer without a query: revocation waits for expiry unless the denylist is "
        "on). A client's own ``access_token_format`` overrides it.",
    ),
    "JWT_ACCESS_TOKEN_DENYLIST": Setting(
        False, (bool,),
        "Refuse revoked JWT access tokens through a denylist in Django's cache (one cache read per request).",
    ),
    "DENYLIST_CACHE": Setting("default", (str,), "The cache alias (``CACHES``) that holds the JWT denylist."),
    "MAX_PARAMETER_LENGTH": Setting(
        4096, (int,),
        "Longest value accepted for any single protocol parameter; longer ones are "
        "invalid_request (bounded work for hostile input). Parameters carrying a token or a JWT "
        "(``token``, ``subject_token``, ``actor_token``, ``client_assertion``, ``assertion``, "
        "``request``, ``id_token_hint``) may be as long as the longest JWT read, 8,192, if that is more.",
    ),
    "CLIENT_AUTH_THROTTLE": Setting(
        {"enabled": True, "failures": 10, "window": 60, "cache": "default", "ip_header": None},
        (dict,),
        "Throttling of failed client authentication at the token, introspection and revocation "
        "endpoints (OAuth 2.1 §2.4.1), per confidential client_id and per IP address, in Django's cache: "
        "after ``failures`` wrong credentials within ``window`` seconds, further wrong ones get 429 "
        "``invalid_client`` with ``Retry-After`` until the window ends. Correct credentials are always "
        "accepted and never counted, so nobody can lock a client out; the one exception is a secret "
        "imported from django-oauth-toolkit as a password hash, not checked at all (429) from an "
        "address past its failures until the client's first success re-stores it as a digest "
        "(docs/migrating-from-dot.md). ``cache`` is the CACHES alias "
        "(shared by all workers); ``ip_header`` the ``request.META`` key of a header your proxy sets "
        "to the client address (None: ``REMOTE_ADDR`` only). Keys left out keep their defaults; "
        "see :mod:`oauth_provider.throttling`.",
    ),
    "STRICT_CLIENT_AUTH_METHOD": Setting(
        False, (bool,),
        "Accept a confidential client's secret only in the place its ``token_endpoint_auth_method`` "
        "names. Off: the secret is accepted in either standard place, the Authorization header "
        "(``client_secret_basic``) or the form body (``client_secret_post``), whichever the client "
        "registered (never both in one request), since client libraries differ in their default. "
        "On: the other place is ``invalid_client`` with a description saying where to send it.",
    ),
    "RESOURCE_IDENTIFIER": Setting(
        None, (str,),
        "The resource identifier of the host's API (RFC 9728 §1.2): an https URL, e.g. "
        "``https://example.com/api``. It is the ``resource`` of the protected-resource metadata "
        "at ``/.well-known/oauth-protected-resource`` (plus this URL's path, RFC 9728 §3.1), the "
        "``realm`` and ``resource_metadata`` of Bearer challenges, and the ``aud`` reported by "
        "introspection. Default: the issuer's origin (scheme and host).",
        nullable=True,
    ),
    "RESOURCES": Setting(
        {}, (dict,),
        "Protected resources besides the host's own views (RFC 8707 resource indicators): absolute "
        "resource identifier (an https URL without fragment or query, compared as an exact string) -> "
        "``{\"name\": ..., \"scopes\": [...]}``. ``name`` is shown on the consent page; ``scopes`` lists "
        "the scopes of ``SCOPES`` the resource accepts (a token for it never carries others; the "
        "OpenID Connect scopes are the provider's own and always kept). A client names the resources "
        "it wants a token for with ``resource`` at the authorization and token endpoints; the token's "
        "audience is those resources (JWT ``aud``, introspection ``aud``), and each is served RFC 9728 "
        "metadata at its well-known URL. The default resource (``RESOURCE_IDENTIFIER``) is always "
        "known; list it here too to give it a name or limit its scopes (unlisted: every scope); then a "
        "request naming no resource gets a token for the one resource accepting its scopes. See "
        "docs/how-to/resource-indicators.md.",
    ),
    "MULTI_AUDIENCE_TOKENS": Setting(
        False, (bool,),
        "Allow one token request to name several resources (``resource`` repeated), giving a token "
        "whose audience is all of them (JWT ``aud`` a list). Off: a second distinct resource is "
        "``invalid_target`` (RFC 8707 §3 favours one audience per token; a token good at several "
        "resources lets each of them replay it at the others). The adapter's "
        "``allows_multiple_resources(client)`` decides per client; by default it returns this setting.",
    ),
    "REQUIRE_RESOURCE": Setting(
        False, (bool,),
        "Refuse an authorization or token request that names no ``resource`` with ``invalid_target`` "
        "(RFC 8707 §2 allows a server to require it). Off: such a request gets a token for the default "
        "resource (``RESOURCE_IDENTIFIER``).",
    ),
    "DYNAMIC_REGISTRATION": Setting(
        None, (str, bool),
        "Dynamic client registration (RFC 7591) and client configuration (RFC 7592) at "
        "``{issuer}/register/``. None or False: off (the endpoint answers 404 and is not advertised). "
        "``\"open\"``: anyone may register a client. ``\"token\"``: a registration needs an initial "
        "access token made by ``manage.py createregistrationtoken``. ``\"adapter\"``: the adapter's "
        "``allow_registration(request, metadata)`` decides alone (implement it). In every mode the "
        "adapter may still refuse, registrations are throttled per address (``REGISTRATION_THROTTLE``), "
        "registered clients never skip the consent page and the consent page marks them unverified. "
        "MCP's 2026-07-28 revision prefers client ID metadata documents; DCR is its fallback. See "
        "docs/how-to/dynamic-registration.md.",
        nullable=True,
    ),
    "SELF_REGISTERED_SCOPES": Setting(
        None, (list, tuple),
        "The scopes a client that registered itself (dynamic registration, a client ID metadata "
        "document) may have. None: every registered scope. A registration naming another scope is "
        "``invalid_client_metadata``; one naming none gets these (RFC 7591 §2: the server's default "
        "set). Keep scopes only trusted applications should ask users for (an admin API, "
        "``offline_access``) out of it: every scope a client may have is one a user can be talked "
        "into approving. Clients registered in the admin or by ``createclient`` are not limited.",
        nullable=True,
    ),
    "REGISTRATION_THROTTLE": Setting(
        {"enabled": True, "registrations": 60, "window": 600},
        (dict,),
        "Registrations accepted per address (``CLIENT_AUTH_THROTTLE``'s ``cache`` and ``ip_header`` "
        "say where counts live and who the caller is) within ``window`` seconds; more get 429 with "
        "``Retry-After``. Every attempt counts, successful or not, so the endpoint cannot be used to "
        "fill the client table. Client ID metadata documents fetched for requests are counted the same "
        "way, apart (a document fresh in the cache costs nothing), and those fetched for a logged-in "
        "user's request apart again; the authorization endpoint fetches none for a browser that is not "
        "logged in. Requests browsers send (with ``Origin`` or ``Sec-Fetch-Site``) have counts apart from "
        "those of native apps and servers, so a web page making its visitors' browsers register cannot "
        "lock out the apps at their address. Clients that run in a vendor's cloud (Claude, ChatGPT) "
        "register from the vendor's few addresses, often once per connection: size the limit for them. "
        "Keys left out keep these defaults.",
    ),
    "DYNAMIC_CLIENT_IDLE_TIMEOUT": Setting(
        None, (int,),
        "If set, ``cleartokens`` deletes a dynamically registered client (RFC 7591) nothing has used "
        "for this many seconds: no grant, code, token, device code, pushed request or pending logout "
        "delivery left, none made within this time, and neither the client nor its registration "
        "changed within it. MCP clients often register once per connection, so an open endpoint "
        "otherwise collects clients for ever; but a client that kept its registration (the MCP Python "
        "SDK does) and comes back after the deletion meets an unknown ``client_id`` until its user "
        "clears it. A deactivated client is kept (deactivating is how an admin blocks one), and so are "
        "a resource server and one whose dynamic registration row an admin deleted. None (the "
        "default): keep every client. See docs/how-to/dynamic-registration.md.",
        nullable=True,
    ),
    "PUBLIC_CLIENT_THROTTLE": Setting(
        {"enabled": True, "requests": 120, "window": 60},
        (dict,),
        "Device authorization requests (RFC 8628 §3.1) and pushed authorization requests (RFC 9126 §2) "
        "of public clients accepted per address (``CLIENT_AUTH_THROTTLE``'s ``cache`` and ``ip_header`` say "
        "where counts live and who the caller is) within ``window`` seconds; more get 429 with "
        "``Retry-After``. A public client proves only its ``client_id``, so each such request stores a row "
        "for anyone who sends it: the count keeps one address from filling those tables. Per address only, "
        "never per client, so nobody can lock a public client's users out; confidential clients "
        "authenticate and are not counted. Requests browsers send (with ``Origin`` or ``Sec-Fetch-Site``) "
        "are counted apart from those of devices and apps, so a web page making its visitors' browsers "
        "post forms here cannot lock out the TV behind their router. Keys left out keep these defaults.",
    ),
    "BEARER_FORM_BODY": Setting(
        False, (bool,),
        "Also accept an access token in the ``access_token`` field of a form-encoded POST body "
        "(RFC 6750 §2.2) at the host's protected views. Off by default: the Authorization header is the "
        "method every client supports. UserInfo accepts the body token either way (relying parties such "
        "as pyoidc send it there). The URI query (§2.3) is never accepted (OAuth 2.1 §5.1.1).",
    ),
    "CLIENT_ID_METADATA_DOCUMENTS": Setting(
        False, (bool,),
        "Accept client ID metadata documents (draft-ietf-oauth-client-id-metadata-document): a "
        "``client_id`` that is an https URL names the client whose metadata is published there, "
        "fetched through :mod:`oauth_provider.fetch`, validated, cached and stored as a client row. "
        "Advertised as ``client_id_metadata_document_supported``. The adapter's "
        "``allow_client_id_metadata_document`` may refuse URLs. Off: a URL ``client_id`` is an unknown "
        "client unless registered by the site, and nothing is fetched; clients a document made stay "
        "stored, unknown while it is off (no new authorization, no refresh; their access tokens live "
        "until they expire).",
    ),
    "CLIENT_ID_METADATA_DOCUMENT_SAME_ORIGIN": Setting(
        False, (bool,),
        "Accept a client ID metadata document only if each of its redirect URIs is on the origin "
        "(scheme, host and port) of its ``client_id`` URL or on the user's own machine (``http`` on "
        "127.0.0.1, [::1] or localhost: native apps); private-use schemes are then refused "
        "(draft-ietf-oauth-client-id-metadata-document §6.1). Its post-logout redirect URIs follow "
        "the same rule; its ``jwks_uri`` and ``backchannel_logout_uri``, which the "
        "provider itself contacts, must be on the origin. Off (the default, as the draft's): any "
        "URL the usual rules allow, and the consent page shows where the user is sent.",
    ),
    "ALLOW_INSECURE_LOOPBACK_FETCH": Setting(
        False, (bool,),
        "Let the provider fetch ``http`` (and ``https``) URLs whose host is exactly ``127.0.0.1``, "
        "``[::1]`` or ``localhost``, on any port: client ID metadata documents, JWK Sets and the like "
        "served on the same machine, for local development and black-box tests. Never in production: "
        "``check --deploy`` warns (W030). Other names resolving to loopback stay refused. See "
        ":mod:`oauth_provider.fetch`.",
    ),
    "POSTGRESQL_PREPARED_STATEMENTS": Setting(
        "auto", (str, bool),
        "Whether the hot statements (a token, code or client by its value, the single-use UPDATEs, "
        "the token INSERTs) are prepared on PostgreSQL (psycopg 3), so the server parses and plans "
        "each once per connection instead of on every request; Django's own queries are untouched. "
        "``\"auto\"``: prepared from a statement's second run on a connection, unless a pooler sits "
        "between (the server process answering is not the one the connection opened, or the "
        "database sets ``DISABLE_SERVER_SIDE_CURSORS``, as Django asks of transaction-pooling "
        "PgBouncer users). ``True``: prepared behind a pooler too, for PgBouncer 1.22+ in "
        "transaction mode with ``max_prepared_statements`` (older PgBouncer mixes up named "
        "statements: a statement that meets such an error turns preparing off, with a warning). "
        "``False``: never. See docs/performance.md.",
    ),
    "FETCH": Setting(
        {"timeout": 5, "connect_timeout": 2, "max_redirects": 0, "allowed_ports": [443], "cache": "default",
         "cache_min_seconds": 60, "cache_max_seconds": 86400, "error_cache_seconds": 10},
        (dict,),
        "Limits of every URL the provider fetches (:mod:`oauth_provider.fetch`; keys left out keep "
        "their defaults): ``timeout`` total seconds for one fetch, however slowly the server answers; "
        "``connect_timeout`` seconds to connect; ``max_redirects`` redirects followed, each checked "
        "again (0: none, as draft-ietf-oauth-client-id-metadata-document §4 requires for metadata "
        "documents, which never follow any); ``allowed_ports`` the https ports a URL may name besides "
        "the default; ``cache`` the CACHES alias holding fetched documents; ``cache_min_seconds`` and "
        "``cache_max_seconds`` the bounds of a response's ``Cache-Control: max-age`` (``no-store`` or "
        "no max-age: the minimum); ``error_cache_seconds`` how long a timed-out URL is answered with "
        "an error without being fetched again (0: never).",
    ),
}


class ProviderSettings:
    """Attribute access to ``OAUTH_PROVIDER`` merged over :data:`DEFAULTS`."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] | None = None

    @property
    def user_settings(self) -> dict[str, Any]:
        value = getattr(settings, "OAUTH_PROVIDER", None) or {}
        return value if isinstance(value, dict) else {}

    def _merged(self) -> dict[str, Any]:
        if self._cache is None:
            host = self.user_settings
            merged = {name: s.default for name, s in DEFAULTS.items()}
            merged.update({k: v for k, v in profiles.values(host.get("PROFILE")).items() if k in DEFAULTS})
            merged.update({k: v for k, v in host.items() if k in DEFAULTS})
            self._cache = merged
        return self._cache

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._merged()[name]
        except KeyError:
            raise AttributeError(f"Unknown oauth_provider setting: {name!r}") from None

    def reload(self) -> None:
        self._cache = None


provider_settings = ProviderSettings()


@receiver(setting_changed)
def _reload_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == "OAUTH_PROVIDER":
        provider_settings.reload()

"""Protocol errors as exceptions.

Every failure below a view is raised as one of these and rendered once, by
:mod:`oauth_provider.responses`, on the channel the view speaks (JSON, redirect or HTML
page). Views never choose status codes. The hierarchy::

    OAuthError                      RFC 6749 §5.2 / §4.1.2.1 error codes
    ├── InvalidRequest              400
    ├── InvalidClient               401 (WWW-Authenticate when a scheme was tried)
    ├── Throttled                   429 with Retry-After (RFC 6585 §4), from a throttle:
    │   ├── ClientAuthThrottled     invalid_client, too many failed client authentications
    │   ├── RegistrationThrottled   invalid_request, too many registrations from an address
    │   └── PublicClientThrottled   invalid_request, too many device authorization or pushed
    │                               requests of public clients from an address
    ├── InvalidGrant                400
    ├── UnauthorizedClient          400
    ├── UnsupportedGrantType        400
    ├── UnsupportedResponseType     400
    ├── InvalidScope                400
    ├── InvalidTarget               400 (RFC 8707 §2: a resource unknown, malformed or refused)
    ├── AccessDenied                403 (redirected)
    ├── LoginRequired, ConsentRequired, InteractionRequired   OIDC prompt=none answers
    ├── RequestNotSupported, RequestUriNotSupported, RegistrationNotSupported   OIDC §6
    ├── InvalidRequestObject        400 (RFC 9101 §6.3: a request object that fails its checks)
    ├── InvalidRequestUri           400 (RFC 9101 §7: a request_uri unknown, used or expired)
    ├── ServerError                 500
    ├── TemporarilyUnavailable      503
    ├── AuthorizationPending, SlowDown, ExpiredToken, DeviceAccessDenied
    │                               400, device-code polling (RFC 8628 §3.5)
    ├── InvalidDPoPProof            400 invalid_dpop_proof (RFC 9449 §5, §7.1: 401 at a resource)
    └── UseDPoPNonce                400 use_dpop_nonce with a fresh ``DPoP-Nonce`` (RFC 9449 §8, §9)
    UntrustedRedirect               the client or redirect_uri is not established: the error
                                    is shown to the user, never redirected (RFC 6749 §4.1.2.1)
    UnsupportedTokenType            400, revocation of an unsupported token type (RFC 7009 §2.2.1)
    MissingToken                    401, a protected resource request without any access
                                    token: a bare Bearer challenge (RFC 6750 §3.1)
    InvalidToken                    401 invalid_token (RFC 6750 §3.1)
    InsufficientScope               403 insufficient_scope, knows the scope required
    ClientMetadataError             400, a refused registration (RFC 7591 §3.2.2): its ``error``
                                    is invalid_redirect_uri, invalid_client_metadata,
                                    invalid_software_statement or unapproved_software_statement
    RegistrationRefused             403, the host's policy (adapter) refused a registration
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E (no '"' and no '\').
_DESCRIPTION_UNSAFE = re.compile(r'[^\x20-\x21\x23-\x5b\x5d-\x7e]')


# Characters our own messages use, spelt in the ASCII error_description allows (RFC 7591 §3.2.2
# cites section signs, as this module's messages do; RFC 6749 §5.2 forbids the sign itself).
_SPELT = str.maketrans({"§": "section ", "\u2019": "'", "\u2018": "'", "\u2013": "-", "\u2014": "-"})


#: what a log line or a terminal must not receive raw: C0 and C1 controls (escape sequences,
#: carriage returns that overwrite a line, OSC 52 clipboard writes), line and paragraph
#: separators, and the bidirectional controls that reorder what is shown (CVE-2021-42574)
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` from outside (a peer's answer, a name from another database) as it may go into
    a log line or a terminal: each character of :data:`_UNPRINTABLE` written as a ``\\xNN`` /
    ``\\uNNNN`` escape; everything else, non-ASCII letters included, kept as it is."""
    return _UNPRINTABLE.sub(lambda m: ascii(m.group())[1:-1], text)


def safe_description(text: str) -> str:
    """Reduce ``text`` to the characters RFC 6749 §5.2 allows in error_description: a section
    sign, typographic apostrophe or dash spelt in ASCII, anything else outside the set "?"."""
    return _DESCRIPTION_UNSAFE.sub("?", text.translate(_SPELT))[:400]


class OAuthError(Exception):
    """A protocol error. ``error`` is the RFC code, ``status`` the HTTP status it answers
    with on the JSON channel, ``description`` a human sentence (made RFC-safe)."""

    error: str = "invalid_request"
    status: int = 400
    #: may this error be sent to the client's redirect_uri (once it is verified)?
    redirectable: bool = True
    default_description: str = ""

    def __init__(self, description: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        self.description = safe_description(description or self.default_description)
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(f"{self.error}: {self.description}")

    def as_dict(self) -> dict[str, str]:
        data = {"error": self.error}
        if self.description:
            data["error_description"] = self.description
        return data


class InvalidRequest(OAuthError):
    error = "invalid_request"
    default_description = "The request is missing a parameter or is malformed."


class InvalidClient(OAuthError):
    """Client authentication failed (RFC 6749 §5.2). 401; the token view adds
    ``WWW-Authenticate: Basic`` when the client tried HTTP Basic."""

    error = "invalid_client"
    status = 401
    redirectable = False
    default_description = "Client authentication failed."


class Throttled(OAuthError):
    """A throttle's answer: 429 with ``Retry-After``, the seconds until its window ends
    (RFC 6585 §4); never redirected. Subclasses name the throttle and the error code."""

    status = 429
    redirectable = False

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(headers={"Retry-After": str(retry_after)})


class ClientAuthThrottled(Throttled):
    """Too many failed client authentications for this client_id or from this address
    (:mod:`oauth_provider.throttling`): 429 with ``Retry-After`` (RFC 6585 §4). The code stays
    ``invalid_client``, the RFC 6749 §5.2 code for a request whose client authentication was
    not accepted. Deliberately not an :class:`InvalidClient`: it is neither counted as one more
    failure nor answered with a ``WWW-Authenticate`` challenge (no credentials should be
    retried now)."""

    error = "invalid_client"
    default_description = "Too many failed client authentications. Retry after the time in Retry-After."


class InvalidGrant(OAuthError):
    error = "invalid_grant"
    default_description = "The grant is invalid, expired, revoked or was issued to another client."


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"
    default_description = "The client is not allowed to use this grant type."


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"
    default_description = "The grant type is not supported."


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"
    default_description = "Only response_type=code is supported."


class InvalidScope(OAuthError):
    error = "invalid_scope"
    default_description = "The requested scope is invalid, unknown, or not allowed for this client."


class InvalidTarget(OAuthError):
    """RFC 8707 §2: the requested ``resource`` is invalid, unknown, or not one this client may
    have a token for. Redirected from the authorization endpoint like any request error."""

    error = "invalid_target"
    default_description = "The requested resource is invalid, unknown or not allowed."


class AccessDenied(OAuthError):
    error = "access_denied"
    status = 403
    default_description = "The resource owner denied the request."


class AuthorizationPending(OAuthError):
    """RFC 8628 §3.5: the user has not decided yet; keep polling at the interval."""

    error = "authorization_pending"
    redirectable = False
    default_description = "The user has not yet approved or denied the request."


class SlowDown(OAuthError):
    """RFC 8628 §3.5: polled sooner than the interval; the interval has grown by 5 seconds for
    this and every later request. ``interval`` (seconds) is the new one; RFC 8628 defines no
    member to send it in, so the client adds the 5 seconds itself."""

    error = "slow_down"
    redirectable = False
    default_description = "Polling too fast: wait the interval (raised by 5 seconds) between requests."

    def __init__(self, interval: int) -> None:
        self.interval = interval
        super().__init__()


class ExpiredToken(OAuthError):
    """RFC 8628 §3.5: the device code expired before it was approved and redeemed."""

    error = "expired_token"
    redirectable = False
    default_description = "The device code has expired. Start a new device authorization."


class DeviceAccessDenied(OAuthError):
    """RFC 8628 §3.5 ``access_denied`` at the token endpoint: HTTP 400 like every error
    there (RFC 6749 §5.2), unlike the authorization endpoint's :class:`AccessDenied`."""

    error = "access_denied"
    redirectable = False
    default_description = "The user denied the authorization request."


class InvalidDPoPProof(OAuthError):
    """RFC 9449 §5 and §7.1: the ``DPoP`` proof is missing where it is required, malformed, or
    fails a check of §4.3 (or is for another key than the token's). 400 at the token endpoint;
    a resource answers it with 401 and a ``DPoP`` challenge."""

    error = "invalid_dpop_proof"
    redirectable = False
    default_description = "The DPoP proof is missing or invalid."


class UseDPoPNonce(OAuthError):
    """RFC 9449 §8 (token endpoint, 400) and §9 (resource, 401): the proof must carry the nonce
    this server provides. ``nonce`` is a fresh one, sent in the ``DPoP-Nonce`` header; the answer
    is not cacheable (§8.2)."""

    error = "use_dpop_nonce"
    redirectable = False
    default_description = "Resend the request with a DPoP proof carrying the nonce in the DPoP-Nonce header."

    def __init__(self, nonce: str, description: str | None = None) -> None:
        self.nonce = nonce
        super().__init__(description, headers={"DPoP-Nonce": nonce, "Cache-Control": "no-store"})


class ServerError(OAuthError):
    error = "server_error"
    status = 500
    default_description = "The server could not complete the request."


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status = 503
    default_description = "The server is temporarily unable to handle the request."


class LoginRequired(OAuthError):
    """OIDC Core §3.1.2.6: ``prompt=none`` and the user is not logged in."""

    error = "login_required"
    default_description = "The user must log in."


class ConsentRequired(OAuthError):
    """OIDC Core §3.1.2.6: ``prompt=none`` and the user has not consented."""

    error = "consent_required"
    default_description = "The user must grant consent."


class InteractionRequired(OAuthError):
    """OIDC Core §3.1.2.6: ``prompt=none`` but the request needs the user."""

    error = "interaction_required"
    default_description = "The user must interact with the authorization server."


class RequestNotSupported(OAuthError):
    """OIDC Core §3.1.2.6 / §6: request objects are not supported."""

    error = "request_not_supported"
    default_description = "The request parameter is not supported."


class RequestUriNotSupported(OAuthError):
    """OIDC Core §3.1.2.6 / §6: request_uri is not supported (and never fetched)."""

    error = "request_uri_not_supported"
    default_description = "The request_uri parameter is not supported."


class InvalidRequestObject(OAuthError):
    """RFC 9101 §6.3 / OIDC Core §3.1.2.6 ``invalid_request_object``: the request object (JAR)
    is unsigned, signed with a key or algorithm not the client's, mistyped, expired, for another
    server, or names another client. At the authorization endpoint the redirect URI it carries
    is not trusted, so the error is shown as a page; at the PAR endpoint it is JSON."""

    error = "invalid_request_object"
    redirectable = False
    default_description = "The request object is invalid."


class InvalidRequestUri(OAuthError):
    """RFC 9101 §7 / RFC 9126 §4 ``invalid_request_uri``: the ``request_uri`` is unknown,
    already used, expired, pushed by another client, or not one of ours (we never fetch a URL).
    Never redirected: the redirect URI would have come from the pushed request."""

    error = "invalid_request_uri"
    redirectable = False
    default_description = "The request_uri is unknown, expired or already used."


class RegistrationNotSupported(OAuthError):
    """OIDC Core §3.1.2.6 / §7.2.1: the registration parameter is not supported."""

    error = "registration_not_supported"
    default_description = "The registration parameter is not supported."


class UntrustedRedirect(OAuthError):
    """The authorization request cannot be answered by redirect because the client or the
    redirect_uri is not established (RFC 6749 §4.1.2.1): the user sees an error page."""

    error = "invalid_request"
    redirectable = False


class MethodNotAllowed(InvalidRequest):
    """An endpoint that takes POST only (RFC 6749 §3.2, RFC 7009 §2.1, RFC 7662 §2.1) was called
    with another method: ``invalid_request`` with HTTP 405 and an ``Allow`` header."""

    status = 405
    redirectable = False

    def __init__(self, endpoint: str, allow: str = "POST, OPTIONS") -> None:
        super().__init__(f"The {endpoint} endpoint accepts POST only.", headers={"Allow": allow})


class UnsupportedTokenType(OAuthError):
    """RFC 7009 §2.2.1: the ``token_type_hint`` names a token type the server cannot revoke."""

    error = "unsupported_token_type"
    redirectable = False
    default_description = "token_type_hint must be access_token or refresh_token."


class MissingToken(OAuthError):
    """A protected resource was requested without any access token. RFC 6750 §3.1: the 401
    challenge then carries no error code (the body neither)."""

    error = ""
    status = 401
    redirectable = False

    def as_dict(self) -> dict[str, str]:
        return {}


class InvalidToken(OAuthError):
    """RFC 6750 §3.1 ``invalid_token``: the access token is expired, revoked, malformed or
    otherwise invalid. 401."""

    error = "invalid_token"
    status = 401
    redirectable = False
    default_description = "The access token is invalid, expired or revoked."


class InsufficientScope(OAuthError):
    """RFC 6750 §3.1 ``insufficient_scope``: the token is valid but lacks a scope the
    resource requires. 403; ``scope`` holds the required scopes, space-separated, for the
    challenge's ``scope`` attribute."""

    error = "insufficient_scope"
    status = 403
    redirectable = False
    default_description = "The access token does not carry the scope this resource requires."

    def __init__(
        self, description: str | None = None, *, scopes: Iterable[str] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        self.scope = " ".join(dict.fromkeys(scopes))
        super().__init__(description, headers=headers)


class ClientMetadataError(OAuthError):
    """A registration or client update refused (RFC 7591 §3.2.2, RFC 7592 §2.2): 400 with
    ``error`` one of ``invalid_redirect_uri``, ``invalid_client_metadata``,
    ``invalid_software_statement``, ``unapproved_software_statement``."""

    error = "invalid_client_metadata"
    redirectable = False
    default_description = "The client metadata is invalid."

    def __init__(self, description: str | None = None, *, error: str | None = None) -> None:
        if error:
            self.error = error
        super().__init__(description)


class RegistrationThrottled(Throttled):
    """Too many registrations from this address (``REGISTRATION_THROTTLE``): 429 with
    ``Retry-After`` (RFC 6585 §4)."""

    error = "invalid_request"
    default_description = "Too many client registrations from this address. Retry after the time in Retry-After."


class MetadataDocumentThrottled(Throttled):
    """Too many client ID metadata documents fetched for this address's requests: a fetch is
    a registration, counted in ``REGISTRATION_THROTTLE`` (429 with ``Retry-After``, RFC 6585
    §4), or anyone could make this server fetch URLs of their choosing as fast as it answers
    (draft-ietf-oauth-client-id-metadata-document §6.5)."""

    error = "invalid_request"
    default_description = ("Too many new clients from this address. Retry after the time in Retry-After.")


class PublicClientThrottled(Throttled):
    """Too many device authorization or pushed authorization requests of public clients from
    this address (``PUBLIC_CLIENT_THROTTLE``): 429 with ``Retry-After`` (RFC 6585 §4; RFC 9126
    §2.3 names 429 for a PAR client that sends too many)."""

    error = "invalid_request"
    default_description = "Too many requests from this address. Retry after the time in Retry-After."


class RegistrationRefused(OAuthError):
    """The host's policy (``adapter.allow_registration``) refused a registration: 403."""

    error = "access_denied"
    status = 403
    redirectable = False
    default_description = "This server does not accept this registration."

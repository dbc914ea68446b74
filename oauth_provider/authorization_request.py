"""Validation of an authorization request (RFC 6749 §4.1.1, OAuth 2.1 §4.1.1, RFC 7636 §4.3).

Two stages, because where an error may be sent depends on how far validation got
(RFC 6749 §4.1.2.1):

1. :func:`establish_client` -- ``client_id`` and ``redirect_uri``. Until both are verified
   every error is an :class:`~oauth_provider.errors.UntrustedRedirect`: the user sees an
   error page and nothing is redirected.
2. :func:`validate` -- an ordered tuple of small checks (:data:`CHECKS`), each raising one
   protocol error, which from here on is redirected to the verified URI with ``state`` and
   ``iss``.

Every description raised from stage 2 is fixed text (at most a parameter *name* from
:data:`PARAMETERS`), never a parameter's value: the client may show ``error_description`` to
its user, and a ``prompt=none`` request is answered before anyone logs in, so a value echoed
there would let anyone put words in the client's mouth (OAuth 2.1 §7.12).

Then consent: :func:`consent_needed` (is the page shown?), :func:`granted_scopes` (what the
user's ticks grant) and :func:`record_decision` (what is remembered; the rules of the stored
row are the model's, :mod:`oauth_provider.models.consents`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, QueryDict

from . import dpop, jwt, metadata_documents, profiles, redirect_uris, resources, scopes
from .conf import provider_settings
from .errors import (
    AccessDenied,
    InvalidRequest,
    InvalidRequestObject,
    RegistrationNotSupported,
    RequestNotSupported,
    RequestUriNotSupported,
    UnauthorizedClient,
    UnsupportedResponseType,
    UntrustedRedirect,
)
from .issuer import get_issuer
from .models import Consent
from .models.store import CLIENT_ID_MAX_LENGTH, consent_of
from .oidc.claims import parse_claims_request
from .params import Params, flatten
from .registry import adapter, client_auth_method_names, grant_types

if TYPE_CHECKING:
    from .models import AbstractClient

#: set on the request the login page sends the user back to after a forced login: a signed
#: timestamp the new login must be later than (see :mod:`oauth_provider.oidc.reauthentication`)
LOGIN_AFTER = "login_after"

#: Parameters this endpoint understands; others are ignored (RFC 6749 §3.1).
PARAMETERS = (
    "response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge",
    "code_challenge_method", "prompt", "response_mode",
    # OpenID Connect Core §3.1.2.1 (display, ui_locales, claims_locales, login_hint and
    # acr_values are accepted and passed on, never an error: OIDC-15.1-tolerated-params)
    "nonce", "max_age", "id_token_hint", "login_hint", "display", "ui_locales", "claims_locales",
    "acr_values", "claims", "request", "request_uri", "registration", LOGIN_AFTER,
    # RFC 8707 §2 (repeatable: one per resource)
    "resource",
    # RFC 9449 §10: the thumbprint of the DPoP key the code is bound to
    "dpop_jkt",
)
PROMPT_VALUES = frozenset({"none", "login", "consent", "select_account"})
# ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
MAX_AGE = re.compile(r"[0-9]{1,10}")
# An S256 challenge is the 43-character base64url encoding of a SHA-256 digest.
S256_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")


@dataclass
class AuthorizationRequest:
    """A request whose client and redirect URI are verified. ``params`` keeps the flattened
    parameters so the consent form can carry them, signed, to the POST that decides."""

    client: AbstractClient
    redirect_uri: str
    redirect_uri_sent: str
    state: str | None
    params: Params = field(default_factory=Params)
    scopes: tuple[str, ...] = ()
    #: the resources the token is requested for (RFC 8707); empty: the default resource
    resources: tuple[str, ...] = ()
    prompt: frozenset[str] = frozenset()
    #: OpenID Connect: set when ``openid`` is among the scopes
    openid: bool = False
    max_age: int | None = None
    claims: dict[str, Any] | None = None
    hint_subject: str | None = None
    #: the issuer identifier, set by the view (DEBUG derives it from the request)
    issuer: str = ""
    #: the HTTP request, set by the view: the default resource's identifier may come from it
    #: (DEBUG without ``ISSUER``)
    request: HttpRequest | None = None
    # -- where the parameters came from (RFC 9126, RFC 9101; :mod:`oauth_provider.request_objects`)
    #: the PushedAuthorization row whose parameters these are (None: not pushed)
    pushed: Any = None
    #: the ``request_uri`` the browser brought (with :attr:`pushed`)
    request_uri: str = ""
    #: the parameters came from a request object whose signature was verified
    signed: bool = False
    #: that request object as sent by value (RFC 9101 §6.1), carried instead of its
    #: parameters wherever the request goes back to the front channel (the consent form, a login)
    request_object: str = ""
    #: validated at the PAR endpoint, to be stored (not answered yet)
    pushing: bool = False


def _single(data: QueryDict, name: str) -> str | None:
    """One value of a parameter that decides where errors may go. Hostile values are refused
    here, before any lookup: PostgreSQL rejects a NUL in a query parameter with an error,
    which would otherwise surface as a 500 (OAuth 2.1 §7.12)."""
    values = data.getlist(name)
    if len(values) > 1:
        raise UntrustedRedirect(f"The {name} parameter was sent more than once.")
    value = values[0] if values else ""
    if "\x00" in value or len(value) > provider_settings.MAX_PARAMETER_LENGTH:
        raise UntrustedRedirect(f"The {name} parameter is malformed.")
    return value or None


def _asks_openid(data: QueryDict) -> bool:
    """Is this an OpenID Connect request? OIDC Core §3.1.2.1 makes ``redirect_uri`` REQUIRED
    there, even when the client registered only one."""
    return bool(provider_settings.OIDC_ENABLED) and any("openid" in v.split(" ") for v in data.getlist("scope"))


def _echoable_state(data: QueryDict) -> str | None:
    """The ``state`` to send back with an error: never one that failed validation itself
    (repeated, oversized, NUL), which would make us reflect hostile input (OAuth 2.1 §7.12)."""
    values = data.getlist("state")
    if len(values) != 1:
        return None
    value = values[0]
    if not value or "\x00" in value or len(value) > provider_settings.MAX_PARAMETER_LENGTH:
        return None
    return value


def establish_client(
    data: QueryDict, client: AbstractClient | None = None, request: HttpRequest | None = None, *,
    may_fetch: bool = True,
) -> AuthorizationRequest:
    """Verify ``client_id`` and ``redirect_uri`` (exact match, loopback ports aside,
    RFC 9700 §2.1 and RFC 8252 §7.3). Raises :class:`UntrustedRedirect`. A URL ``client_id``
    is a client ID metadata document when that feature is on (:mod:`.metadata_documents`);
    a document that cannot be used stops here too (draft-ietf-oauth-client-id-metadata-document
    §4.3: no redirect URI is known). ``client``, when the caller already holds the client
    ``client_id`` names (authenticated at the PAR endpoint, or loaded with a pushed request),
    is used instead of a second lookup. ``request``: the HTTP request, whose address a
    metadata document's fetch is counted against (:func:`.metadata_documents.lookup`); with
    ``may_fetch`` False a document that would need fetching raises
    :class:`~.metadata_documents.NotFetched`."""
    client_id = _single(data, "client_id")
    sent = _single(data, "redirect_uri")
    state = _echoable_state(data)
    if client_id is None:
        raise UntrustedRedirect("The client_id parameter is missing.")
    if len(client_id) > CLIENT_ID_MAX_LENGTH or (sent is not None and len(sent) > redirect_uris.MAX_LENGTH):
        raise UntrustedRedirect("The client_id or redirect_uri parameter is too long.")
    if client is None or client.client_id != client_id:
        try:
            client = metadata_documents.lookup(client_id, request, may_fetch=may_fetch)
        except metadata_documents.DocumentError as exc:
            raise UntrustedRedirect(str(exc)) from None
    if client is None or not client.is_active:
        raise UntrustedRedirect("The client is unknown or disabled.")
    registered = client.redirect_uri_list
    if sent is not None:
        if redirect_uris.find_match(sent, registered) is None:
            raise UntrustedRedirect("The redirect_uri is not registered for this client." + _mismatch(sent, registered))
        redirect_uri = sent
    elif len(registered) == 1 and not _asks_openid(data):
        redirect_uri = registered[0]
    else:
        raise UntrustedRedirect("The redirect_uri parameter is required for this request.")
    # registration refuses such a URI under the profile; one stored before it was switched on
    # (or past validation) must not receive a code either
    if profiles.fapi2() and not profiles.fapi2_redirect_uri(
            redirect_uri, client.application_type or "web"):
        raise UntrustedRedirect("Under the FAPI 2.0 profile this redirect URI cannot receive an authorization "
                                "response: https, or a native app's loopback IP address (FAPI 2.0 section 5.3.2.2).")
    return AuthorizationRequest(
        client=client, redirect_uri=redirect_uri, redirect_uri_sent=sent or "", state=state
    )


def _mismatch(sent: str, registered: Iterable[str]) -> str:
    """With DEBUG on, what was sent beside what is registered, so a developer sees the trailing
    slash or port that differs; never in production, where the page is anyone's to open and the
    registered URIs are the client's business."""
    from django.conf import settings

    if not settings.DEBUG:
        return ""
    listed = ", ".join(repr(uri) for uri in registered) or "none"
    return f" (DEBUG: sent {sent!r}; registered {listed}.)"


# -- the ordered checks that run once the redirect URI is trusted ----------------------------
def check_params(req: AuthorizationRequest, data: QueryDict) -> None:
    """No repeated parameters, none oversized (OAuth 2.1 §3.1)."""
    req.params = flatten(data, known=PARAMETERS)


def check_grant_allowed(req: AuthorizationRequest, data: QueryDict) -> None:
    if "authorization_code" not in grant_types() or not req.client.allows_grant("authorization_code"):
        raise UnauthorizedClient("This client may not use the authorization code grant.")


def check_client_method(req: AuthorizationRequest, data: QueryDict) -> None:
    """A client whose ``token_endpoint_auth_method`` the site does not offer
    (``CLIENT_AUTH_METHODS``) could never redeem the code: refused before the user is asked.
    Under the FAPI 2.0 profile this is every public or secret-based client (§5.3.2.1-3, -6)."""
    method = "none" if req.client.is_public else req.client.token_endpoint_auth_method
    if method not in client_auth_method_names():
        raise UnauthorizedClient("This client's authentication method is not accepted by this server.")


def check_response_type(req: AuthorizationRequest, data: QueryDict) -> None:
    """Only ``code`` (OAuth 2.1 §4.1.1; implicit is gone, RFC 9700 §2.1.2)."""
    response_type = req.params.get("response_type")
    if response_type is None:
        raise InvalidRequest("The response_type parameter is required.")
    if response_type != "code":
        raise UnsupportedResponseType()
    if req.params.get("response_mode", "query") != "query":
        raise InvalidRequest("Only response_mode=query is supported.")


def check_pkce(req: AuthorizationRequest, data: QueryDict) -> None:
    """PKCE with S256 for every client (OAuth 2.1 §4.1.1, RFC 9700 §2.1.1); ``plain``
    and a missing method (which RFC 7636 §4.3 reads as plain) are refused."""
    challenge = req.params.get("code_challenge")
    if challenge is None:
        raise InvalidRequest("code_challenge is required (PKCE with S256).")
    if req.params.get("code_challenge_method") != "S256":
        raise InvalidRequest("code_challenge_method must be S256.")
    if not S256_CHALLENGE.fullmatch(challenge):
        raise InvalidRequest("code_challenge is not a valid S256 challenge.")


def check_dpop_jkt(req: AuthorizationRequest, data: QueryDict) -> None:
    """RFC 9449 §10: ``dpop_jkt``, when sent, is a JWK SHA-256 thumbprint (RFC 7638); the code
    is then bound to that key (:func:`oauth_provider.issuing.start_grant`)."""
    value = req.params.get("dpop_jkt")
    if value is not None and not dpop.is_thumbprint(value):
        raise InvalidRequest("dpop_jkt must be the base64url SHA-256 JWK thumbprint of a key (RFC 9449 section 10).")


def check_prompt(req: AuthorizationRequest, data: QueryDict) -> None:
    """OIDC Core §3.1.2.1: known values only; ``none`` alone."""
    values = frozenset(req.params.get("prompt", "").split())
    if values - PROMPT_VALUES:
        raise InvalidRequest("Unknown prompt value.")
    if "none" in values and len(values) > 1:
        raise InvalidRequest("prompt=none cannot be combined with other values.")
    req.prompt = values


def check_resource(req: AuthorizationRequest, data: QueryDict) -> None:
    """RFC 8707 §2: each ``resource`` an absolute URI without fragment, known, allowed for
    the client; else ``invalid_target`` (:func:`oauth_provider.resources.requested`)."""
    req.resources = resources.requested(req.params.getlist("resource"), req.client, req.request)


def check_scope(req: AuthorizationRequest, data: QueryDict) -> None:
    """Known scopes within the client's allow-list (RFC 6749 §3.3). ``offline_access`` (OIDC
    Core §11) is allowed to every client with the refresh_token grant and ignored for others;
    like any scope, it is granted only with the user's consent to it (the page, or a remembered
    decision that named it). Without ``resource``, the audience is inferred from the scopes
    (:func:`oauth_provider.resources.inferred`); scopes the resources do not accept are
    dropped (RFC 8707 §2.2, :func:`oauth_provider.resources.downscope`)."""
    requested = scopes.without_unusable_offline_access(scopes.parse(req.params.get("scope")), req.client)
    resolved = scopes.resolve(requested, scopes.client_allowed(req.client))
    if not req.resources:
        req.resources = resources.inferred(resolved, req.client, req.request)
    req.scopes = resources.downscope(resolved, resources.store(req.resources), req.request)


def check_unsupported(req: AuthorizationRequest, data: QueryDict) -> None:
    """``request`` and ``request_uri`` left here were not resolved by
    :func:`oauth_provider.request_objects.expand`: the feature is off (say so, OIDC Core §6.1,
    §6.2, rather than ignore them), or they were nested in a request object or a pushed
    request (RFC 9101 §4: MUST NOT; RFC 9126 §2.1: a pushed request has no ``request_uri``).
    ``registration`` is not supported (OIDC Core §7.2.1). A ``request_uri`` is never fetched."""
    nested = "A request object must not contain request or request_uri (RFC 9101 section 4)."
    if "request" in req.params:
        if not provider_settings.REQUEST_OBJECTS:
            raise RequestNotSupported()
        raise InvalidRequestObject(nested)
    if "request_uri" in req.params:
        if req.pushing:
            raise InvalidRequest("A pushed authorization request cannot carry request_uri (RFC 9126 section 2.1).")
        if not provider_settings.PUSHED_AUTHORIZATION_REQUESTS:
            raise RequestUriNotSupported()
        if req.pushed is None and not req.signed:
            # sent in the query, not a URN of our PAR endpoint: a URL, which is never fetched
            raise RequestUriNotSupported(
                "Only a request_uri returned by this server's pushed authorization request endpoint is "
                "accepted; a request_uri URL is never fetched."
            )
        raise InvalidRequestObject(nested)
    if "registration" in req.params:
        raise RegistrationNotSupported()


def check_request_channel(req: AuthorizationRequest, data: QueryDict) -> None:
    """A request must come through the PAR endpoint when the server or the client says so
    (``REQUIRE_PUSHED_AUTHORIZATION_REQUESTS``, the client's
    ``require_pushed_authorization_requests``: RFC 9126 §5-6), and as a signed request object
    when either says so (RFC 9101 §10.5 ``require_signed_request_object``)."""
    if not req.pushing and req.pushed is None and (
            provider_settings.REQUIRE_PUSHED_AUTHORIZATION_REQUESTS
            or getattr(req.client, "require_pushed_authorization_requests", False)):
        raise InvalidRequest("This authorization request must be pushed to the PAR endpoint first (RFC 9126).")
    if not req.signed and (provider_settings.REQUIRE_SIGNED_REQUEST_OBJECT
                           or getattr(req.client, "require_signed_request_object", False)):
        raise InvalidRequest("This authorization request must be a signed request object (RFC 9101).")


def check_openid(req: AuthorizationRequest, data: QueryDict) -> None:
    """OIDC Core §3.1.2.1: ``max_age``, ``claims`` (§5.5) and ``id_token_hint``. Without
    ``openid`` in scope this is plain OAuth and these parameters mean nothing."""
    req.openid = provider_settings.OIDC_ENABLED and "openid" in req.scopes
    if not req.openid:
        return
    raw_max_age = req.params.get("max_age")
    if raw_max_age is not None:
        if not MAX_AGE.fullmatch(raw_max_age):
            raise InvalidRequest("max_age must be a non-negative integer.")
        req.max_age = int(raw_max_age)
    req.claims = parse_claims_request(req.params.get("claims"))
    hint = req.params.get("id_token_hint")
    if hint is not None:
        try:
            claims = jwt.decode(
                hint, typ=None, issuer=req.issuer or get_issuer(), verify_exp=False, require=("iss", "sub")
            )
        except jwt.InvalidJWT:
            raise InvalidRequest("id_token_hint is not an ID token issued here.") from None
        req.hint_subject = str(claims["sub"])
    # §5.5.1: a claims request naming a sub value asks for that user's ID token, and the
    # server "MUST NOT reply with an ID Token or Access Token for a different user": like a
    # hint, it sends anyone else to log in (prompt=none: login_required)
    wanted = (req.claims or {}).get("id_token", {}).get("sub")
    if isinstance(wanted, dict) and "value" in wanted:
        value = wanted["value"]
        if not isinstance(value, str) or (req.hint_subject is not None and req.hint_subject != value):
            raise InvalidRequest("claims.id_token.sub does not name one user.")
        req.hint_subject = value


CHECKS: tuple[Callable[[AuthorizationRequest, QueryDict], None], ...] = (
    check_params,
    check_unsupported,
    check_request_channel,
    check_grant_allowed,
    check_client_method,
    check_response_type,
    check_pkce,
    check_dpop_jkt,
    check_prompt,
    check_resource,
    check_scope,
    check_openid,
)


def validate(req: AuthorizationRequest, data: QueryDict) -> AuthorizationRequest:
    """Run :data:`CHECKS` in order; the first failure raises its protocol error."""
    for check in CHECKS:
        check(req, data)
    return req


# -- consent: when the page is needed, what the user granted, what is remembered -----------
def consent_needed(request: HttpRequest, req: AuthorizationRequest, user: Any) -> bool:
    """Must ``user`` see the consent page for this request? Not when the adapter skips it
    for a confidential first-party client (unless ``prompt=consent``), nor when a decision the
    user asked to be remembered covers every requested scope. Always for a public client
    that is not remembered: any app can claim its client_id (RFC 8252 §8.6). Always when the
    request names a resource other than the default one."""
    policy = adapter()
    if not req.client.is_public and policy.should_skip_consent(request, req.client, user, req.scopes):
        return "consent" in req.prompt
    if "consent" in req.prompt or not may_remember(request, req):
        return True
    consent = consent_of(user, req.client)
    return consent is None or not consent.covers(req.scopes)


def may_remember(request: HttpRequest, req: AuthorizationRequest) -> bool:
    """May a remembered consent stand in for the page for this request, and may this
    decision be remembered? Only where the adapter remembers the client at all
    (:meth:`~oauth_provider.adapter.DefaultAdapter.can_remember_consent`) and the request is
    for the default resource: a remembered consent names scopes, not resources, so it never
    stands in for a grant to another resource, whose scopes may be spelled alike, and a
    decision about another resource is never remembered, or it would later stand in for the
    default resource the user was never asked about (RFC 8707 §2)."""
    if not adapter().can_remember_consent(req.client):
        return False
    if not req.resources:
        return True
    default = resources.default_identifier(request)
    return all(target == default for target in req.resources)


def granted_scopes(req: AuthorizationRequest, ticked: Iterable[str]) -> tuple[str, ...]:
    """The requested scopes minus the optional ones the user left unticked (a ticked box can
    never add a scope that was not requested). Raises :class:`AccessDenied` when nothing is
    left."""
    return choose_scopes(req.scopes, ticked)


def choose_scopes(requested: tuple[str, ...], ticked: Iterable[str]) -> tuple[str, ...]:
    """The consent page's rule for any request (the code flow's, a device's): ``requested``
    minus the optional scopes left unticked. Raises :class:`AccessDenied` when nothing is left."""
    optional = set(scopes.optional(requested))
    chosen = set(ticked)
    granted = tuple(s for s in requested if s not in optional or s in chosen)
    if not granted:
        raise AccessDenied("No scope was granted.")
    return granted


def consent_scopes(requested: tuple[str, ...]) -> list[dict[str, Any]]:
    """The consent page's list of scopes: name, description, and whether it may be unticked."""
    optional = scopes.optional(requested)
    return [
        {"name": name, "description": text, "optional": name in optional}
        for name, text in scopes.describe(requested)
    ]


def record_decision(
    req: AuthorizationRequest, user: Any, granted: tuple[str, ...] | None, remember: bool | None
) -> None:
    """Make the remembered consent what ``user`` just decided (``granted`` None: denied).
    Remembered only when the user asked and the client may be remembered at all; otherwise,
    and after a denial, nothing is granted silently any more (the rules are the model's:
    :class:`oauth_provider.models.ConsentQuerySet`). ``remember`` None: remembering was not
    offered for this request (:func:`may_remember`: another resource): an approval leaves the
    remembered consent as it is, a denial still forgets it."""
    if not adapter().can_remember_consent(req.client):
        return
    if remember is None and granted is not None:
        return
    if granted is None or not remember:
        Consent.objects.forget(user, req.client)
        return
    declined = [s for s in req.scopes if s not in granted]
    Consent.objects.remember(user, req.client, granted, declined, current=consent_of(user, req.client))

"""Client metadata (RFC 7591 §2): one validator for every way a client is registered.

The admin form (through the model's ``clean()``), ``manage.py createclient``, dynamic client
registration (RFC 7591 §3) and client ID metadata documents all call :func:`validate`, so a
client meets the same rules, with the same messages, however it arrives. ``validate`` takes
the metadata as RFC 7591 names it (JSON values: lists of strings, a ``jwks`` object) and
returns a :class:`ClientMetadata` of cleaned values, or raises :class:`InvalidClientMetadata`
carrying the RFC 7591 §3.2.2 error code, a description a client can act on, and the metadata
field at fault (``errors`` lists every problem found, for forms).

``source`` says who registers the client: ``"admin"`` and ``"command"`` are the site's
operators; ``"dynamic"`` and ``"metadata_document"`` are clients registering themselves.
The rules that differ:

=====================  =========================================  =====================================
rule                   operators (admin, createclient)            self-registered clients
=====================  =========================================  =====================================
``web`` redirect URIs  https; http on a loopback host (local      https only, never ``localhost``
                       development, as before)                    (OIDC Registration §2)
``native`` redirects   private-use schemes, http loopback,        private-use schemes, http loopback
                       claimed https (RFC 8252 §7.1-7.3)          (RFC 8252 §7.1, §7.3); claimed https
                                                                  only with ``NATIVE_HTTPS_REDIRECT_URIS``
display URIs           links http(s), logo https or loopback      https, or http on a loopback host
secret auth methods    allowed                                    not in metadata documents (CIMD §4.1)
=====================  =========================================  =====================================

Common rules: redirect URIs are registered exactly (:mod:`oauth_provider.redirect_uris`);
``grant_types`` and ``token_endpoint_auth_method`` must be registered (the ``GRANT_TYPES`` and
``CLIENT_AUTH_METHODS`` settings), and ``response_types`` must agree with ``grant_types``
(RFC 7591 §2.1); a public client (``none``) may not use ``client_credentials`` (OAuth 2.1
§4.2), token exchange (RFC 8693 §2.1) or the JWT bearer grant; ``jwks`` and ``jwks_uri`` are
never both given (RFC 7591 §2), a JWK Set holds public
asymmetric keys only (no ``d``, no ``oct`` keys: OIDC Registration §2) and ``jwks_uri`` must be
fetchable (https; :func:`oauth_provider.fetch.validate_fetchable_url`); ``private_key_jwt``
needs one of them (RFC 7523 §2.2); ``scope`` names registered scopes; ``contacts`` are e-mail
addresses; ``backchannel_logout_uri`` is a URL the provider's fetcher accepts (https, no
fragment, no private host; OpenID Connect Back-Channel Logout 1.0 §2.2), plain http (loopback,
with ``ALLOW_INSECURE_LOOPBACK_FETCH``) only for a confidential client, and
``backchannel_logout_session_required`` is a boolean; ``frontchannel_logout_uri`` is an absolute
http(s) URI with no fragment whose scheme, host and port are those of one of the client's
registered redirect URIs (OpenID Connect Front-Channel Logout 1.0 §2; so it follows the redirect
URIs' https and loopback rules); ``frontchannel_logout_session_required``,
``dpop_bound_access_tokens`` (RFC 9449 §5.2), ``require_pushed_authorization_requests`` (RFC
9126 §6) and ``require_signed_request_object`` (RFC 9101 §10.5) are booleans, and
``request_object_signing_alg`` (OIDC Registration §2) is an asymmetric algorithm, never ``none``.
OpenID Connect metadata asking for what the provider does not do is refused, not dropped: a
``subject_type`` other than ``public``, any encryption (``*_encrypted_response_*``,
``request_object_encryption_*``), an ``id_token_signed_response_alg`` other than the
algorithm ID tokens are signed with, a signed UserInfo.

Under the FAPI 2.0 profile (``PROFILE = "fapi2"``, :mod:`oauth_provider.profiles`), whoever
registers it, a client must be confidential and authenticate with ``private_key_jwt``
(§5.3.2.1-3, -6; the default method then), sign its assertions with PS256, ES256 or EdDSA
(§5.4.1), and use no plain http redirect URI except a native app's loopback one (§5.3.2.2-8,
RFC 8252 §7.3): :func:`profile_problems`.

This is floor 2 (protocol helpers): the model layer imports it, never the other way round.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeGuard
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import profiles
from . import scopes as _scopes
from .client_keys import SIGNING_ALGORITHMS, InvalidKeySet, load_jwks
from .conf import provider_settings
from .fetch import validate_fetchable_url
from .redirect_uris import origin, validate_redirect_uri

if TYPE_CHECKING:
    from .models import AbstractClient

#: who registers a client: the site's operators, or the client itself
OPERATOR_SOURCES = frozenset({"admin", "command"})
SELF_REGISTERED_SOURCES = frozenset({"dynamic", "metadata_document"})
SOURCES = OPERATOR_SOURCES | SELF_REGISTERED_SOURCES


def is_self_registered(client: AbstractClient | None) -> TypeGuard[AbstractClient]:
    """Did ``client`` register itself (dynamic registration, a client ID metadata document)?
    Its URIs are then whatever anyone chose: nobody vouches for them (RFC 9700 §4.11.2)."""
    return client is not None and client.registration_method in SELF_REGISTERED_SOURCES

#: the grants a client that registers itself may ask for: those where a user approves on the
#: consent page. client_credentials, token exchange and the JWT bearer grant obtain tokens no
#: user approved, so only an operator can give them (RFC 7591 §2.1: the server may refuse grants
#: its policy forbids; RFC 7591 §5 and security checklist 7591-2.1)
SELF_REGISTERED_GRANT_TYPES = frozenset({
    "authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code",
})
APPLICATION_TYPES = ("web", "native")
#: secret-based methods: refused in client ID metadata documents (CIMD §4.1)
SHARED_SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post", "client_secret_jwt"})
MAX_CONTACTS = 20
MAX_NAME_LENGTH = 255
MAX_SOFTWARE_LENGTH = 255
MAX_REDIRECT_URIS = 50
#: control characters, and the bidirectional controls (embeddings, overrides, isolates, marks):
#: in a client's self-chosen name these would reorder the page's words around it, and the host
#: shown after it (Unicode Technical Report 36 §2.1)
_CONTROL = re.compile("[\x00-\x1f\x7f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
#: hosts whose plain-http URLs browsers treat as secure (Mixed Content §4.3: potentially
#: trustworthy), and which nothing outside the machine can see: local development
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})

#: Links shown to users (RFC 7591 §2 client metadata) are web pages or images: http(s) only,
#: so a stored ``javascript:`` or ``data:`` URL can never reach an ``href`` or ``src``.
validate_http_url = URLValidator(schemes=["http", "https"], message=_("Enter an http:// or https:// URL."))
DISPLAY_URIS = ("logo_uri", "client_uri", "policy_uri", "tos_uri")
#: the column size of every stored single URL (display URIs, ``jwks_uri``, logout URI): a longer
#: one is the client's mistake (invalid_client_metadata), never a database error
MAX_URL_LENGTH = 500


def is_secure_image_url(value: str) -> bool:
    """May a page of ours load an image from ``value``? https, or http on a loopback host. An
    http logo on the consent page is mixed content, and lets anyone on the path see who is
    consenting to what, and change the picture."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    return scheme == "https" or (scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS)


def validate_logo_url(value: str) -> None:
    """The logo is loaded by the consent page itself: https only (http on a loopback host, for
    local development)."""
    validate_http_url(value)
    if not is_secure_image_url(value):
        raise ValidationError(_("Enter an https:// URL (http only on 127.0.0.1, [::1] or localhost)."),
                              code="invalid")


class InvalidClientMetadata(Exception):
    """Client metadata that cannot be registered (RFC 7591 §3.2.2).

    ``error`` is the RFC code (``invalid_redirect_uri``, ``invalid_client_metadata``...),
    ``description`` a human-readable sentence safe to show the client, ``field`` the metadata
    name at fault (None when no single field is). ``errors`` lists every problem found, this
    one first (a form shows them all; a protocol response shows the first)."""

    def __init__(self, error: str, description: str, field: str | None = None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.field = field
        self.errors: list[InvalidClientMetadata] = [self]


@dataclass
class ClientMetadata:
    """Cleaned client metadata (RFC 7591 §2 names). Lists are de-duplicated, in order."""

    redirect_uris: list[str] = field(default_factory=list)
    token_endpoint_auth_method: str = "client_secret_basic"
    grant_types: list[str] = field(default_factory=list)
    response_types: list[str] = field(default_factory=list)
    application_type: str = "web"
    client_name: str = ""
    client_uri: str = ""
    logo_uri: str = ""
    policy_uri: str = ""
    tos_uri: str = ""
    #: None: every registered scope
    scope: tuple[str, ...] | None = None
    contacts: list[str] = field(default_factory=list)
    jwks: dict[str, Any] | None = None
    jwks_uri: str = ""
    software_id: str = ""
    software_version: str = ""
    token_endpoint_auth_signing_alg: str = ""
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    backchannel_logout_uri: str = ""
    backchannel_logout_session_required: bool = False
    frontchannel_logout_uri: str = ""
    frontchannel_logout_session_required: bool = False
    #: RFC 9449 §5.2: the client always uses DPoP; a token request without a proof is refused
    dpop_bound_access_tokens: bool = False
    require_pushed_authorization_requests: bool = False
    request_object_signing_alg: str = ""
    require_signed_request_object: bool = False

    @property
    def is_public(self) -> bool:
        """A client authenticating with ``none`` cannot keep a secret (OAuth 2.1 §2.1)."""
        return self.token_endpoint_auth_method == "none"

    def apply(self, client: AbstractClient) -> None:
        """Set ``client``'s model fields from this metadata (not its secret, client_id or
        ``registration_method``, which the caller owns). The name falls back to the client's
        current name, then its client_id."""
        client.name = self.client_name or client.name or client.client_id
        client.client_type = "public" if self.is_public else "confidential"
        client.token_endpoint_auth_method = self.token_endpoint_auth_method
        client.application_type = self.application_type
        client.redirect_uris = "\n".join(self.redirect_uris)
        client.post_logout_redirect_uris = "\n".join(self.post_logout_redirect_uris)
        client.grant_types = " ".join(self.grant_types)
        client.allowed_scopes = " ".join(self.scope or ())
        for name in DISPLAY_URIS:
            setattr(client, name, getattr(self, name))
        client.contacts = "\n".join(self.contacts)
        client.jwks = json.dumps(self.jwks) if self.jwks is not None else ""
        client.jwks_uri = self.jwks_uri
        client.software_id = self.software_id
        client.software_version = self.software_version
        client.token_endpoint_auth_signing_alg = self.token_endpoint_auth_signing_alg
        client.backchannel_logout_uri = self.backchannel_logout_uri
        client.backchannel_logout_session_required = self.backchannel_logout_session_required
        client.frontchannel_logout_uri = self.frontchannel_logout_uri
        client.frontchannel_logout_session_required = self.frontchannel_logout_session_required
        client.dpop_bound_access_tokens = self.dpop_bound_access_tokens
        client.require_pushed_authorization_requests = self.require_pushed_authorization_requests
        client.request_object_signing_alg = self.request_object_signing_alg
        client.require_signed_request_object = self.require_signed_request_object


def to_dict(client: AbstractClient) -> dict[str, Any]:
    """The registered metadata of ``client`` as RFC 7591 §3.2.1 returns it (and RFC 7592 reads
    it): every value the server holds, defaults included; empty optional values left out."""
    grants = client.grant_type_list
    data: dict[str, Any] = {
        "client_id": client.client_id,
        "client_name": client.name,
        "application_type": client.application_type or "web",
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "grant_types": grants,
        "response_types": ["code"] if "authorization_code" in grants else [],
        "redirect_uris": client.redirect_uri_list,
        "scope": _scopes.join(client.allowed_scope_tuple or _scopes.registered()),
    }
    optional: dict[str, Any] = {
        "post_logout_redirect_uris": client.post_logout_redirect_uri_list,
        "contacts": client.contact_list,
        "jwks": client.jwks_dict if client.jwks else None,
        "jwks_uri": client.jwks_uri,
        "software_id": client.software_id,
        "software_version": client.software_version,
        "token_endpoint_auth_signing_alg": client.token_endpoint_auth_signing_alg,
        "request_object_signing_alg": client.request_object_signing_alg,
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
        "require_signed_request_object": client.require_signed_request_object,
        **{name: getattr(client, name) for name in DISPLAY_URIS},
    }
    data.update({name: value for name, value in optional.items() if value})
    if client.backchannel_logout_uri:
        data["backchannel_logout_uri"] = client.backchannel_logout_uri
        data["backchannel_logout_session_required"] = bool(client.backchannel_logout_session_required)
    if client.frontchannel_logout_uri:
        data["frontchannel_logout_uri"] = client.frontchannel_logout_uri
        data["frontchannel_logout_session_required"] = bool(client.frontchannel_logout_session_required)
    if client.dpop_bound_access_tokens:
        data["dpop_bound_access_tokens"] = True
    return data


# -- the validator -----------------------------------------------------------------------

class _Problems:
    """Collects every problem; the first decides the protocol error."""

    def __init__(self) -> None:
        self.found: list[InvalidClientMetadata] = []

    def add(self, field_name: str | None, description: Any, error: str = "invalid_client_metadata") -> None:
        self.found.append(InvalidClientMetadata(error, str(description), field_name))

    def raise_any(self) -> None:
        if self.found:
            first = self.found[0]
            first.errors = list(self.found)
            raise first


def validate(data: Mapping[str, Any], *, source: str, client_id: str | None = None) -> ClientMetadata:
    """Check ``data`` (RFC 7591 §2 metadata) for a client registered by ``source`` (``admin``,
    ``command``, ``dynamic`` or ``metadata_document``) and return the cleaned values; raise
    :class:`InvalidClientMetadata` otherwise. ``client_id``, when given, is the identifier the
    metadata must name if it carries a ``client_id`` (RFC 7592 §2.2; for a metadata document it
    must, CIMD §4.1). Unknown members are ignored (RFC 7591 §2)."""
    if source not in SOURCES:
        raise ValueError(f"unknown registration source: {source!r}")
    if not isinstance(data, Mapping):
        raise InvalidClientMetadata("invalid_client_metadata", gettext("The client metadata must be a JSON object."))
    unstorable = _unstorable_member(data)
    if unstorable is not None:
        raise InvalidClientMetadata("invalid_client_metadata", gettext(
            "%(name)s must be valid Unicode text without NUL characters: no lone surrogates "
            "(RFC 7493 section 2.1).") % {"name": unstorable}, unstorable)
    problems = _Problems()
    out = ClientMetadata()
    self_registered = source in SELF_REGISTERED_SOURCES
    _check_client_id(data, source, client_id, problems)
    out.application_type = _application_type(data, problems)
    out.redirect_uris = _redirect_uris(data, "redirect_uris", out.application_type, self_registered, problems)
    out.post_logout_redirect_uris = _redirect_uris(
        data, "post_logout_redirect_uris", out.application_type, self_registered, problems)
    out.token_endpoint_auth_method = _auth_method(data, source, problems)
    out.grant_types = _grant_types(data, problems)
    if self_registered:
        _check_self_registered_grants(out.grant_types, problems)
    out.response_types = _response_types(data, out.grant_types, problems)
    _check_grant_consistency(out, problems)
    out.client_name = _text(data, "client_name", MAX_NAME_LENGTH, problems)
    for name in DISPLAY_URIS:
        setattr(out, name, _display_uri(data, name, self_registered, problems))
    out.scope = _scope(data, self_registered, problems)
    out.contacts = _contacts(data, problems)
    out.software_id = _text(data, "software_id", MAX_SOFTWARE_LENGTH, problems)
    out.software_version = _text(data, "software_version", MAX_SOFTWARE_LENGTH, problems)
    out.jwks, out.jwks_uri = _keys(data, problems)
    out.token_endpoint_auth_signing_alg = _signing_alg(data, problems)
    out.request_object_signing_alg = _signing_alg(data, problems, "request_object_signing_alg")
    out.require_pushed_authorization_requests = _boolean(data, "require_pushed_authorization_requests", problems)
    out.require_signed_request_object = _boolean(data, "require_signed_request_object", problems)
    out.backchannel_logout_uri, out.backchannel_logout_session_required = _backchannel_logout(
        data, public=out.is_public, problems=problems)
    out.frontchannel_logout_uri, out.frontchannel_logout_session_required = _frontchannel_logout(
        data, out.redirect_uris, problems)
    out.dpop_bound_access_tokens = _boolean(data, "dpop_bound_access_tokens", problems)
    _check_offered_oidc(data, problems)
    if out.token_endpoint_auth_method == "private_key_jwt" and out.jwks is None and not out.jwks_uri:
        problems.add("jwks", gettext(
            "private_key_jwt needs the client's public keys: register jwks or jwks_uri (RFC 7523 §2.2)."))
    if profiles.fapi2():
        for name, description, error in profile_problems(
            out.token_endpoint_auth_method, out.application_type, out.redirect_uris,
            out.token_endpoint_auth_signing_alg,
        ):
            problems.add(name, description, error)
    problems.raise_any()
    return out


def _storable(text: str) -> bool:
    """Can every database keep ``text`` as it is? Not with a NUL (PostgreSQL refuses it) nor a
    lone surrogate (JSON's ``\\ud800`` escape makes one; it has no UTF-8 encoding)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


#: the members this module reads (the rest are ignored, RFC 7591 §2)
_KNOWN_MEMBERS = frozenset({f.name for f in fields(ClientMetadata)} | {
    "client_id", "client_secret", "client_secret_expires_at"})


def _unstorable_member(data: Mapping[str, Any]) -> str | None:
    """The name of the first member we read that holds a string no database can store, anywhere
    inside it; None when there is none. Walked without recursion: a document nested as deep as
    the JSON parser allows cannot exhaust the stack."""
    for name in sorted(_KNOWN_MEMBERS & set(data)):
        stack = [data[name]]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                if not _storable(item):
                    return name
            elif isinstance(item, Mapping):
                if not all(isinstance(key, str) and _storable(key) for key in item):
                    return name
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
    return None


def profile_problems(auth_method: str, application_type: str, redirect_uris: list[str],
                     signing_alg: str) -> list[tuple[str, str, str]]:
    """What keeps a client from the FAPI 2.0 Security Profile, as ``(field, description, RFC
    7591 error)``; empty when nothing does. Registration refuses such a client under the
    profile, and the W132 check names those already in the database."""
    found = []
    if auth_method in profiles.SECRET_OR_NO_AUTH_METHODS:
        found.append(("token_endpoint_auth_method", gettext(
            "Under the FAPI 2.0 profile a client is confidential and authenticates with private_key_jwt "
            "(FAPI 2.0 section 5.3.2.1), not %(method)s.") % {"method": auth_method}, "invalid_client_metadata"))
    if signing_alg and signing_alg not in profiles.FAPI2_ALGORITHMS:
        found.append(("token_endpoint_auth_signing_alg", gettext(
            "Under the FAPI 2.0 profile client assertions are signed with %(algs)s (FAPI 2.0 section 5.4.1)."
        ) % {"algs": ", ".join(profiles.FAPI2_ALGORITHMS)}, "invalid_client_metadata"))
    for uri in redirect_uris:
        if not profiles.fapi2_redirect_uri(uri, application_type):
            found.append(("redirect_uris", gettext(
                "%(uri)s: under the FAPI 2.0 profile a redirect URI is https, except a native app's "
                "loopback IP (FAPI 2.0 section 5.3.2.2, RFC 8252 section 7.3).") % {"uri": uri},
                "invalid_redirect_uri"))
    return found


def _backchannel_logout(data: Mapping[str, Any], *, public: bool, problems: _Problems) -> tuple[str, bool]:
    """OpenID Connect Back-Channel Logout 1.0 §2.2: the URI the provider will POST logout tokens
    to, checked by the fetcher's rules (:func:`oauth_provider.fetch.validate_fetchable_url`: an
    absolute https URL without fragment or userinfo, no private or metadata host; its query is
    kept); §2.2 allows http only for confidential clients, so a public client's is https even
    when ``ALLOW_INSECURE_LOOPBACK_FETCH`` lets loopback http through."""
    uri = data.get("backchannel_logout_uri")
    required = _boolean(data, "backchannel_logout_session_required", problems)
    if uri in (None, ""):
        return "", required
    if not isinstance(uri, str) or len(uri) > 500:
        problems.add("backchannel_logout_uri",
                     gettext("backchannel_logout_uri must be a URL of at most 500 characters."))
        return "", required
    try:
        validate_fetchable_url(uri)
    except ValidationError as exc:
        for message in exc.messages:
            problems.add("backchannel_logout_uri", message)
        return "", required
    if public and uri.lower().startswith("http:"):
        problems.add("backchannel_logout_uri", gettext("A public client's back-channel logout URI must use https."))
        return "", required
    return uri, required


def _frontchannel_logout(data: Mapping[str, Any], redirect_uris: list[str],
                         problems: _Problems) -> tuple[str, bool]:
    """``frontchannel_logout_uri`` (OpenID Connect Front-Channel Logout 1.0 §2): absolute, no
    fragment, and its scheme, host and port MUST be those of a registered redirect URI. The
    provider's logout page loads it in an iframe, so only http(s) makes sense; it follows the
    redirect URIs' rules (https; http only on a loopback host, and for a self-registered web
    client never, since its redirect URIs cannot be), and a client can only make that page load
    a URL of its own site."""
    uri = data.get("frontchannel_logout_uri")
    required = _boolean(data, "frontchannel_logout_session_required", problems)
    if uri in (None, ""):
        return "", required
    if not isinstance(uri, str) or len(uri) > MAX_URL_LENGTH:
        problems.add("frontchannel_logout_uri", gettext(
            "frontchannel_logout_uri must be a URL of at most %(max)d characters.") % {"max": MAX_URL_LENGTH})
        return "", required
    try:
        # the redirect-URI registration rules: absolute, no fragment, no user-info, no
        # javascript:/data:, http only on a loopback host; public=False: no private-use scheme
        validate_redirect_uri(uri, public=False)
    except ValidationError as exc:
        for message in exc.messages:
            problems.add("frontchannel_logout_uri", "frontchannel_logout_uri: " + message)
        return "", required
    wanted = origin(uri)
    if wanted is None or wanted not in {origin(redirect) for redirect in redirect_uris}:
        problems.add("frontchannel_logout_uri", gettext(
            "frontchannel_logout_uri must have the scheme, host and port of one of the client's redirect "
            "URIs (Front-Channel Logout 1.0 §2)."))
        return "", required
    return uri, required


def _boolean(data: Mapping[str, Any], name: str, problems: _Problems) -> bool:
    """``data[name]`` as a JSON boolean; absent or null: false."""
    value = data.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        problems.add(name, gettext("%(name)s must be true or false.") % {"name": name})
        return False
    return value


def _present(data: Mapping[str, Any], name: str) -> bool:
    """Is ``name`` given? An absent member, null and the empty string all mean "not given"."""
    return data.get(name) not in (None, "")


def _check_client_id(data: Mapping[str, Any], source: str, client_id: str | None, problems: _Problems) -> None:
    given = data.get("client_id")
    if source == "metadata_document" and client_id is not None and given != client_id:
        problems.add("client_id", gettext(
            "The document's client_id must be exactly the URL it was fetched from."))
    elif client_id is not None and given is not None and given != client_id:
        problems.add("client_id", gettext("The client_id in the metadata does not name this client."))
    if source == "metadata_document":
        for member in ("client_secret", "client_secret_expires_at"):
            if member in data:
                problems.add(member, gettext(
                    "A client ID metadata document cannot carry a shared secret (%(member)s).") % {"member": member})


def _string_list(data: Mapping[str, Any], name: str, problems: _Problems, *,
                 error: str = "invalid_client_metadata") -> list[str] | None:
    """``data[name]`` as a de-duplicated list of strings (None when absent)."""
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.add(name, gettext("%(name)s must be an array of strings.") % {"name": name}, error)
        return None
    return list(dict.fromkeys(value))


def _application_type(data: Mapping[str, Any], problems: _Problems) -> str:
    """OIDC Registration §2: ``web`` (the default) or ``native``."""
    value = data.get("application_type") or "web"
    if value not in APPLICATION_TYPES:
        problems.add("application_type", gettext("application_type must be web or native."))
        return "web"
    return str(value)


def _redirect_kind(uri: str) -> str:
    """``https``, ``loopback`` (http on a loopback host) or ``private`` (a private-use scheme)."""
    scheme = uri.partition(":")[0].lower()
    if scheme == "https":
        return "https"
    return "loopback" if scheme == "http" else "private"


def _redirect_uris(data: Mapping[str, Any], name: str, application_type: str, self_registered: bool,
                   problems: _Problems) -> list[str]:
    uris = _string_list(data, name, problems, error="invalid_redirect_uri") or []
    if len(uris) > MAX_REDIRECT_URIS:
        problems.add(name, gettext("At most %(max)d redirect URIs.") % {"max": MAX_REDIRECT_URIS},
                     "invalid_redirect_uri")
        return []
    for uri in uris:
        try:
            validate_redirect_uri(uri, public=True)
        except ValidationError as exc:
            for message in exc.messages:
                problems.add(name, message, "invalid_redirect_uri")
            continue
        problem = _application_type_problem(uri, application_type, self_registered)
        if problem:
            problems.add(name, problem, "invalid_redirect_uri")
    return uris


def _application_type_problem(uri: str, application_type: str, self_registered: bool) -> str | None:
    """What is wrong with ``uri`` for an ``application_type`` client (OIDC Registration §2,
    RFC 8252 §7), or None."""
    kind = _redirect_kind(uri)
    if application_type == "native":
        if kind == "https" and self_registered and not provider_settings.NATIVE_HTTPS_REDIRECT_URIS:
            return gettext(
                "%(uri)s: a client with application_type native registers a private-use scheme "
                "(com.example.app:/callback) or an http loopback URI (http://127.0.0.1/callback); "
                "claimed https redirect URIs are not accepted here (RFC 8252 §7)."
            ) % {"uri": uri}
        return None
    if kind == "private":
        return gettext(
            "%(uri)s: private-use URI schemes are for native apps: register the client with "
            "application_type native (RFC 8252 §7.1)."
        ) % {"uri": uri}
    host = (urlsplit(uri).hostname or "").lower()
    if self_registered and (kind == "loopback" or host == "localhost"):
        return gettext(
            "%(uri)s: a client with application_type web registers https redirect URIs on a real "
            "host; loopback redirect URIs are for native apps: register with application_type native."
        ) % {"uri": uri}
    return None


def _auth_method(data: Mapping[str, Any], source: str, problems: _Problems) -> str:
    """``token_endpoint_auth_method``: a registered method (RFC 7591 §2; default
    ``client_secret_basic``, or ``none`` for a metadata document, which holds no secret)."""
    from .registry import client_auth_method_names

    default = "none" if source == "metadata_document" else "client_secret_basic"
    if profiles.fapi2():
        default = "private_key_jwt"  # FAPI 2.0 §5.3.2.1-6: the only method the profile keeps
    value = data.get("token_endpoint_auth_method") or default
    registered = client_auth_method_names()
    if not isinstance(value, str) or value not in registered:
        problems.add("token_endpoint_auth_method", gettext(
            "Unsupported token_endpoint_auth_method. Supported: %(methods)s."
        ) % {"methods": ", ".join(registered)})
        return default  # refused anyway: the default only lets the other members be checked
    if source == "metadata_document" and value in SHARED_SECRET_METHODS:
        problems.add("token_endpoint_auth_method", gettext(
            "A client ID metadata document cannot use a shared secret: use none or private_key_jwt."))
    return value


def _grant_types(data: Mapping[str, Any], problems: _Problems) -> list[str]:
    """``grant_types``: registered grant types only (default ``authorization_code``, RFC 7591 §2)."""
    from .registry import grant_type_names

    if data.get("grant_types") is None:  # absent, or null as for every other member
        grants = ["authorization_code"]
    else:
        listed = _string_list(data, "grant_types", problems)
        if listed is None:  # not an array of strings: reported
            return []
        grants = listed
    if not grants:
        problems.add("grant_types", gettext("Choose at least one grant type."))
        return []
    registered = grant_type_names()
    unknown = [g for g in grants if g not in registered]
    if unknown:
        problems.add("grant_types", gettext("Unknown grant type: %(g)s. Supported: %(known)s.") % {
            "g": " ".join(unknown), "known": ", ".join(registered)})
    return [g for g in grants if g in registered]


def _check_self_registered_grants(grants: list[str], problems: _Problems) -> None:
    """A self-registered client (dynamic registration, metadata document) may not obtain tokens
    that no user approved: anyone could otherwise register a service account with every scope."""
    forbidden = [g for g in grants if g not in SELF_REGISTERED_GRANT_TYPES]
    if forbidden:
        problems.add("grant_types", gettext(
            "A client that registers itself may only use grants a user approves (%(allowed)s); "
            "ask the site's operators for %(g)s.") % {
            "allowed": ", ".join(sorted(SELF_REGISTERED_GRANT_TYPES)), "g": " ".join(forbidden)})


def _response_types(data: Mapping[str, Any], grants: list[str], problems: _Problems) -> list[str]:
    """``response_types`` agree with ``grant_types`` (RFC 7591 §2.1): ``code`` if and only if
    ``authorization_code``; nothing else is supported (no implicit flow, OAuth 2.1 §10.1)."""
    default = ["code"] if "authorization_code" in grants else []
    given = _string_list(data, "response_types", problems)
    if given is None:
        return default
    unsupported = [r for r in given if r != "code"]
    if unsupported:
        problems.add("response_types", gettext("Unsupported response type: %(r)s. Supported: code.") % {
            "r": " ".join(unsupported)})
    elif given != default:
        problems.add("response_types", gettext(
            "response_types and grant_types disagree: the code response type goes with the "
            "authorization_code grant type (RFC 7591 §2.1)."))
    return default


def _check_grant_consistency(out: ClientMetadata, problems: _Problems) -> None:
    if "authorization_code" in out.grant_types and not out.redirect_uris:
        problems.add("redirect_uris", gettext("The authorization_code grant needs at least one redirect URI."),
                     "invalid_redirect_uri")
    if out.is_public and "client_credentials" in out.grant_types:
        problems.add("grant_types", gettext("client_credentials needs a confidential client (OAuth 2.1 §4.2)."))
    # RFC 8693 §2.1 / RFC 7523 §3.1: the grant trades a token or assertion that could have been
    # stolen; only an authenticated client may do so here (a public client's id proves nothing)
    for grant, name in (("urn:ietf:params:oauth:grant-type:token-exchange", "Token exchange"),
                        ("urn:ietf:params:oauth:grant-type:jwt-bearer", "The JWT bearer grant")):
        if out.is_public and grant in out.grant_types:
            problems.add("grant_types", gettext("%(name)s needs a confidential client.") % {"name": name})


def _text(data: Mapping[str, Any], name: str, max_length: int, problems: _Problems) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > max_length or _CONTROL.search(value):
        problems.add(name, gettext("%(name)s must be a string of at most %(max)d characters, without "
                                   "control characters.") % {"name": name, "max": max_length})
        return ""
    return value.strip()


def _display_uri(data: Mapping[str, Any], name: str, self_registered: bool, problems: _Problems) -> str:
    """Display URIs (RFC 7591 §2) reach an ``href`` or ``src``: http(s) only, the logo https
    (or loopback http); a self-registered client's links must be https (or loopback http) too."""
    value = data.get(name)
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH:
        problems.add(name, gettext("%(name)s must be a URL of at most %(max)d characters.")
                     % {"name": name, "max": MAX_URL_LENGTH})
        return ""
    try:
        validate_logo_url(value) if name == "logo_uri" or self_registered else validate_http_url(value)
    except ValidationError as exc:
        problems.add(name, " ".join(exc.messages))
        return ""
    return value


def _scope(data: Mapping[str, Any], self_registered: bool, problems: _Problems) -> tuple[str, ...] | None:
    """``scope``: space-separated registered scopes (RFC 7591 §2); absent or empty = every one
    (None). A self-registered client only among ``SELF_REGISTERED_SCOPES``, all of them when
    it names none."""
    limit = provider_settings.SELF_REGISTERED_SCOPES if self_registered else None
    value = data.get("scope")
    if value in (None, ""):
        return None if limit is None else tuple(limit)
    if not isinstance(value, str):
        problems.add("scope", gettext("scope must be a space-separated string."))
        return None
    try:
        requested = _scopes.parse(value)
    except Exception:  # InvalidScope: an illegal character
        problems.add("scope", gettext("scope contains an illegal character."))
        return None
    known = _scopes.registered() if limit is None else tuple(s for s in _scopes.registered() if s in limit)
    unknown = [s for s in requested if s not in known]
    if unknown:
        problems.add("scope", gettext("Unknown scope: %(s)s. Known scopes: %(known)s.") % {
            "s": " ".join(unknown), "known": " ".join(known) or "-"})
    return tuple(s for s in requested if s in known) or (None if limit is None else tuple(limit))


_validate_email = EmailValidator()


def _contacts(data: Mapping[str, Any], problems: _Problems) -> list[str]:
    contacts = _string_list(data, "contacts", problems) or []
    if len(contacts) > MAX_CONTACTS:
        problems.add("contacts", gettext("At most %(max)d contacts.") % {"max": MAX_CONTACTS})
        return []
    for contact in contacts:
        try:
            _validate_email(contact)
        except ValidationError:
            problems.add("contacts", gettext("%(c)s is not an e-mail address.") % {"c": contact})
    return contacts


def _keys(data: Mapping[str, Any], problems: _Problems) -> tuple[dict[str, Any] | None, str]:
    """``jwks`` or ``jwks_uri``, never both (RFC 7591 §2)."""
    jwks, uri = data.get("jwks"), data.get("jwks_uri")
    if _present(data, "jwks") and _present(data, "jwks_uri"):
        problems.add("jwks", gettext("Give jwks or jwks_uri, not both (RFC 7591 §2)."))
        return None, ""
    if _present(data, "jwks_uri"):
        if not isinstance(uri, str) or len(uri) > MAX_URL_LENGTH:
            problems.add("jwks_uri", gettext("jwks_uri must be a URL of at most %(max)d characters.")
                         % {"max": MAX_URL_LENGTH})
            return None, ""
        try:
            validate_fetchable_url(uri)
        except ValidationError as exc:
            problems.add("jwks_uri", "jwks_uri: " + " ".join(exc.messages))
            return None, ""
        return None, uri
    if not _present(data, "jwks"):
        return None, ""
    try:
        parsed = load_jwks(jwks)
    except InvalidKeySet as exc:
        problems.add("jwks", str(exc))
        return None, ""
    return parsed, ""


#: OIDC Registration §2, JARM and RFC 9701 members asking for encryption, which
#: this provider does not do
ENCRYPTION_MEMBERS = (
    "id_token_encrypted_response_alg", "id_token_encrypted_response_enc",
    "userinfo_encrypted_response_alg", "userinfo_encrypted_response_enc",
    "request_object_encryption_alg", "request_object_encryption_enc",
    "authorization_encrypted_response_alg", "authorization_encrypted_response_enc",
    "introspection_encrypted_response_alg", "introspection_encrypted_response_enc",
)


def _check_offered_oidc(data: Mapping[str, Any], problems: _Problems) -> None:
    """OpenID Connect metadata asking for what this provider does not do is refused, never
    dropped: a relying party that asked for pairwise subjects or encrypted ID tokens (for its
    users' privacy) and got a 201 would otherwise get public subjects and plain signed tokens
    without a word (OIDC Registration 1.0 §2, §3.2). Public subjects only
    (``subject_types_supported``), no encryption, ID tokens signed with the provider's key's
    algorithm, UserInfo answered as plain JSON."""
    subject_type = data.get("subject_type")
    if subject_type not in (None, "", "public"):
        problems.add("subject_type", gettext(
            "subject_type: only public subject identifiers are offered (subject_types_supported)."))
    for name in ENCRYPTION_MEMBERS:
        if data.get(name) not in (None, ""):
            problems.add(name, gettext("%(name)s: this server does not encrypt or decrypt tokens.") % {"name": name})
    signed = data.get("id_token_signed_response_alg")
    if signed not in (None, "") and signed != provider_settings.SIGNING_KEY_ALGORITHM:
        problems.add("id_token_signed_response_alg", gettext(
            "id_token_signed_response_alg: ID tokens are signed with %(alg)s here."
        ) % {"alg": provider_settings.SIGNING_KEY_ALGORITHM})
    if data.get("userinfo_signed_response_alg") not in (None, ""):
        problems.add("userinfo_signed_response_alg", gettext(
            "userinfo_signed_response_alg: UserInfo is answered as plain JSON, not signed."))


def _signing_alg(data: Mapping[str, Any], problems: _Problems, name: str = "token_endpoint_auth_signing_alg") -> str:
    """``token_endpoint_auth_signing_alg`` or ``request_object_signing_alg`` (OIDC Registration
    §2): an asymmetric algorithm, never ``none`` (RFC 9101 §10.1: request objects are signed
    here); empty means any of :data:`SIGNING_ALGORITHMS`."""
    value = data.get(name)
    if value in (None, ""):
        return ""
    if value not in SIGNING_ALGORITHMS:
        problems.add(name, gettext(
            "Unsupported %(name)s. Supported: %(algs)s."
        ) % {"name": name, "algs": ", ".join(SIGNING_ALGORITHMS)})
        return ""
    return str(value)



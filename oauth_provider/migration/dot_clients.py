"""django-oauth-toolkit applications as our clients: the mapping rules.

An ``Application`` keeps its ``client_id``, secret, type, owner and redirect URIs, under this
library's stricter rules; what cannot be carried is refused or dropped with a report line:

* **one grant type per application** in DOT, mapped (OAuth 2.1 §10 removes the rest):
  ``authorization-code`` -> ``authorization_code refresh_token``; ``client-credentials`` ->
  ``client_credentials``; ``openid-hybrid`` -> ``authorization_code refresh_token`` (the hybrid
  response types are not offered: the client must ask for ``response_type=code``);
  ``password`` and ``implicit`` are refused (OAuth 2.1 §10.1, §10.2; RFC 9700 §2.1.2, §2.4);
  anything else (the device grant) only when a grant of that name is enabled here.
* **Secrets**: a Django password hash (DOT's ``hash_client_secret``, the default since 2.0) is
  kept as it is, so the client's secret keeps working: ``Client.check_secret`` verifies it once
  with Django's hashers and stores it as SHA-256. A secret DOT kept in the clear is hashed now.
* **Redirect URIs** (space-separated in DOT): each is checked by
  :func:`~oauth_provider.redirect_uris.validate_redirect_uri` (OAuth 2.1 §2.3.1, RFC 8252 §7);
  one we refuse (http on a non-loopback host, a wildcard, a fragment) is dropped and reported,
  never imported silently; a client left without any for the code grant is refused.
* ``skip_authorization`` becomes ``skip_consent`` for confidential clients only: a public
  client always shows its users the consent page (RFC 8252 §8.6), and the report says so.
* ``algorithm``: RS256 ID tokens are signed with the site's key (DOT's, once imported: same
  ``kid``); HS256 (signed with the client secret) is not offered and is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.hashers import identify_hasher
from django.core.exceptions import ValidationError

from .. import registry
from .. import secrets as _secrets
from ..models import AuthMethod, ClientType, GrantType, get_client_model
from ..models.store import CLIENT_ID_MAX_LENGTH
from ..redirect_uris import validate_redirect_uri

KIND = "application"

#: DOT's ``authorization_grant_type`` -> our grant types, or the reason it is refused
GRANT_TYPES: dict[str, str] = {
    "authorization-code": "authorization_code refresh_token",
    "client-credentials": "client_credentials",
    "openid-hybrid": "authorization_code refresh_token",
}
REFUSED_GRANTS: dict[str, str] = {
    "password": "the password grant is not offered (OAuth 2.1 §10.1, RFC 9700 §2.4): move the client to the "
                "authorization code flow with PKCE, or client_credentials for a service",
    "implicit": "the implicit grant is not offered (OAuth 2.1 §10.2, RFC 9700 §2.1.2): move the client to the "
                "authorization code flow with PKCE",
}


class Refused(Exception):
    """The application cannot become a client; the message says why."""


@dataclass
class ClientPlan:
    """The client an application becomes: its model fields, and the report's notes."""

    fields: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def public(self) -> bool:
        return bool(self.fields["client_type"] == ClientType.PUBLIC)


def grant_types(app: Any) -> tuple[str, list[str]]:
    """Our grant types for the application's one DOT grant type, with notes; raises
    :class:`Refused` when it has no equivalent."""
    dot = app.authorization_grant_type
    if dot in REFUSED_GRANTS:
        raise Refused(REFUSED_GRANTS[dot])
    if dot in GRANT_TYPES:
        notes = []
        if dot == "openid-hybrid":
            notes.append("DOT's openid-hybrid becomes the authorization code flow: the client must ask for "
                         "response_type=code (the hybrid response types are not offered)")
        return GRANT_TYPES[dot], notes
    if dot in registry.grant_types():  # an extension grant enabled here, by the same name
        return str(dot), []
    raise Refused(f"the grant type {dot!r} is not enabled here (OAUTH_PROVIDER['GRANT_TYPES'])")


def secret_hash(app: Any) -> tuple[str, list[str]]:
    """The stored form of a confidential application's secret. A Django password hash is kept
    (checked once with its hasher at the client's next authentication, then stored as SHA-256);
    a plaintext secret is hashed now (RFC 6819 §5.1.4.1.3: no clear-text credentials at rest)."""
    stored = app.client_secret or ""
    if not stored:
        raise Refused("a confidential application without a secret cannot authenticate")
    if getattr(app, "hash_client_secret", True):
        try:
            hasher = identify_hasher(stored)
        except ValueError:
            # DOT hashes on save unless told not to; an unidentifiable value is a secret kept in
            # the clear by an older version, or a hash whose hasher left PASSWORD_HASHERS
            if "$" in stored:
                raise Refused(
                    "the secret is hashed with a hasher that is not in PASSWORD_HASHERS: add it back "
                    "until every client has authenticated once"
                ) from None
            return _secrets.hash_token(stored), ["its secret was stored in the clear: now only its hash is"]
        return stored, [f"its {hasher.algorithm} secret is checked once at its next authentication, "
                        "then stored as SHA-256"]
    return _secrets.hash_token(stored), ["its secret was stored in the clear: now only its hash is"]


def uris(value: str, *, public: bool, what: str) -> tuple[list[str], list[str]]:
    """The URIs of a space-separated DOT list that our rules accept, and a note for each one
    refused (OAuth 2.1 §2.3.1, RFC 9700 §2.1, RFC 8252 §7)."""
    kept, notes = [], []
    for uri in dict.fromkeys(value.split()):
        try:
            validate_redirect_uri(uri, public=public)
        except ValidationError as exc:
            notes.append(f"{what} {uri} dropped: {' '.join(exc.messages)}")
        else:
            kept.append(uri)
    return kept, notes


def plan_client(app: Any) -> ClientPlan:
    """What ``app`` (a DOT ``Application``) becomes here; raises :class:`Refused`."""
    if len(app.client_id) > CLIENT_ID_MAX_LENGTH:
        raise Refused(f"its client_id is longer than {CLIENT_ID_MAX_LENGTH} characters")
    source = getattr(app, "registration_source", "manual")
    if source == "cimd":
        raise Refused("a client ID metadata document client: it is not stored, it presents its document again "
                      "(see CLIENT_ID_METADATA_DOCUMENTS)")
    public = app.client_type == ClientType.PUBLIC
    if app.client_type not in ClientType.values:
        raise Refused(f"unknown client type {app.client_type!r}")
    grants, notes = grant_types(app)
    if public and GrantType.CLIENT_CREDENTIALS in grants.split():
        raise Refused("client_credentials needs a confidential client (OAuth 2.1 §4.2)")
    secret = ""
    if not public:
        secret, secret_notes = secret_hash(app)
        notes += secret_notes
    redirect_uris, dropped = uris(app.redirect_uris, public=public, what="redirect URI")
    notes += dropped
    if GrantType.AUTHORIZATION_CODE in grants.split() and not redirect_uris:
        raise Refused("no redirect URI left that our rules accept: " + "; ".join(dropped or ["none registered"]))
    logout_uris, dropped = uris(getattr(app, "post_logout_redirect_uris", ""), public=public,
                                what="post-logout redirect URI")
    notes += dropped
    skip = bool(app.skip_authorization)
    if skip and public:
        notes.append("skip_authorization is not carried over for a public client: its users see the consent "
                     "page (any app can claim a public client_id, RFC 8252 §8.6)")
    notes += _algorithm_notes(app)
    if source == "dcr":
        notes.append("registered dynamically at DOT: its registration access token (RFC 7592) is not carried over, "
                     "so it is managed by the site's operators here")
    if getattr(app, "allowed_origins", "").strip():
        notes.append("allowed_origins is not needed: the token endpoint answers any origin (CORS)")
    # RFC 8252 §7.1: a private-use scheme marks a native app (OIDC Registration §2), as createclient decides
    native = any(uri.partition(":")[0].lower() not in ("http", "https") for uri in redirect_uris)
    return ClientPlan(
        fields={
            "client_id": app.client_id,
            "name": (app.name or app.client_id)[:255],
            "client_type": ClientType.PUBLIC if public else ClientType.CONFIDENTIAL,
            "application_type": "native" if native else "web",
            "registration_method": "command",
            "token_endpoint_auth_method": AuthMethod.NONE if public else AuthMethod.CLIENT_SECRET_BASIC,
            "client_secret_hash": secret,
            "grant_types": grants,
            "redirect_uris": "\n".join(redirect_uris),
            "post_logout_redirect_uris": "\n".join(logout_uris),
            "skip_consent": skip and not public,
            "owner_id": app.user_id,
        },
        notes=notes,
    )


def _algorithm_notes(app: Any) -> list[str]:
    algorithm = getattr(app, "algorithm", "")
    if algorithm == "RS256":
        return ["its RS256 ID tokens are signed with the site's key: DOT's OIDC_RSA_PRIVATE_KEY once imported, "
                "under the same kid"]
    if algorithm == "HS256":
        return ["its ID tokens were signed with HS256 and its secret; here they are signed with the site's key "
                "(published in the JWKS): the client must verify them with it"]
    return []


def build_client(plan: ClientPlan) -> Any:
    """An unsaved client for ``plan``, validated by the model's own rules (the admin's and
    ``createclient``'s); raises :class:`Refused` with their messages."""
    client = get_client_model()(**plan.fields)
    try:
        client.full_clean(exclude=["client_secret_hash"], validate_unique=False)
    except ValidationError as exc:
        raise Refused("; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in exc.message_dict.items())) from None
    return client

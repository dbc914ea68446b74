"""The one place that mints and stores tokens, codes and their families.

Each value is fresh 256-bit randomness (a refresh token's successor under a grace period is
derived from it, see :func:`successor_of`); only its SHA-256 digest is written. The raw value
exists in memory just long enough to be put in the response. Rows are written with
:func:`oauth_provider.models.store.insert`: ``save()``'s INSERT, compiled once.

A token request that carried a verified DPoP proof (:func:`oauth_provider.dpop.verified_proof`)
gets tokens bound to the proof's key (RFC 9449 §5, §6): ``dpop_jkt`` on the access token row,
``cnf.jkt`` in a JWT access token, ``token_type`` ``DPoP``; a public client's refresh token is
bound too (§5), a confidential client's is not (it is bound to the client's authentication).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.crypto import salted_hmac

from . import dpop, jwt, resources, scopes, secrets
from .adapter import subject_for
from .conf import provider_settings
from .issuer import get_issuer
from .models import AccessToken, Authorization, AuthorizationCode, DeviceCode, RefreshToken, get_client_model
from .models.store import Condition, insert, insert_both, insert_if, insert_with_parent
from .registry import adapter
from .session import session_id
from .signals import token_issued

if TYPE_CHECKING:
    from .authorization_request import AuthorizationRequest
    from .models import AbstractClient


class NotStored(Exception):
    """The condition the tokens were to be stored under did not hold (another request consumed
    the code or rotated the refresh token first): nothing was stored or announced."""


@dataclass
class IssuedTokens:
    """What a grant returns: the raw values (for the response) and the stored rows."""

    access_token: str
    access: AccessToken
    expires_in: int
    scope: str
    refresh_token: str | None = None
    refresh: RefreshToken | None = None
    id_token: str | None = None
    #: RFC 8693 §2.2.1: the type of the token issued by a token exchange (None: not an exchange)
    issued_token_type: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The RFC 6749 §5.1 success body (with RFC 8693 §2.2.1's ``issued_token_type``)."""
        data: dict[str, Any] = {
            "access_token": self.access_token,
            # RFC 9449 §5.1: a token bound to a DPoP key is of type DPoP
            "token_type": "DPoP" if self.access.dpop_jkt else "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }
        if self.issued_token_type:
            data["issued_token_type"] = self.issued_token_type
        if self.refresh_token:
            data["refresh_token"] = self.refresh_token
        if self.id_token:
            data["id_token"] = self.id_token
        return data


def successor_of(raw_refresh: str) -> str:
    """The value of the refresh token that replaces ``raw_refresh`` when a grace period is on:
    HMAC-SHA256 of it under a key derived from ``SECRET_KEY``, base64url like any token. Being
    derived, a retry inside ``REFRESH_TOKEN_GRACE_PERIOD`` hands back the same successor
    instead of starting a second chain (RFC 9700 §4.14.2: a family never forks), and only the
    holder of ``raw_refresh`` can be given it; it is as unguessable as a random token."""
    digest = salted_hmac("oauth_provider.refresh-successor", raw_refresh, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def refresh_expiry(authorization: Authorization, now: datetime) -> datetime:
    """When a refresh token minted now for ``authorization`` expires: the family's absolute
    deadline, brought forward by the idle timeout when one is set (RFC 9700 §4.14.2)."""
    deadline = authorization.created_at + timedelta(seconds=provider_settings.REFRESH_TOKEN_LIFETIME)
    idle = provider_settings.REFRESH_TOKEN_IDLE_TIMEOUT
    if idle:
        deadline = min(deadline, now + timedelta(seconds=idle))
    return deadline


def jwt_access_token(
    request: HttpRequest, *, client: AbstractClient, user: Any, scope: str, authorization: Authorization | None,
    now: datetime, lifetime: int, audience: str = "", act: dict[str, Any] | None = None, dpop_jkt: str = "",
) -> str:
    """An RFC 9068 access token: ``typ: at+jwt``; ``sub`` is the user's subject, or the
    client_id when the client acts for itself (§2.2), which :data:`jwt.CLIENT_TOKEN_CLAIM` then
    marks (§5: a user's subject may equal a client_id); ``aud`` the audience's resource
    identifiers (RFC 9068 §3, RFC 8707 §2: a string for one, a list for several; ``audience``
    is the stored form, empty for the default resource); ``act`` the actor of a token obtained
    by token exchange (RFC 8693 §4.1); ``cnf.jkt`` the thumbprint of the DPoP key it is bound to
    (RFC 9449 §6.1)."""
    issued_at = int(now.timestamp())
    targets = resources.audience(audience, request)
    claims: dict[str, Any] = {
        "iss": get_issuer(request),
        "sub": subject_for(user, client) if user is not None else client.client_id,
        "aud": targets[0] if len(targets) == 1 else list(targets),
        "client_id": client.client_id,
        "iat": issued_at,
        "exp": issued_at + lifetime,
        "jti": secrets.generate_token(),
        "scope": scope,
    }
    if user is None:
        claims[jwt.CLIENT_TOKEN_CLAIM] = True
    if act:
        claims["act"] = act
    if dpop_jkt:
        claims["cnf"] = {"jkt": dpop_jkt}
    if authorization is not None and authorization.auth_time is not None:
        claims["auth_time"] = int(authorization.auth_time.timestamp())
    return jwt.encode(claims, typ=jwt.ACCESS_TOKEN_TYP)


def issue_tokens(
    request: HttpRequest,
    *,
    grant_type: str,
    client: AbstractClient,
    user: Any,
    scope: str,
    authorization: Authorization | None,
    refresh_scope: str | None = None,
    refresh_value: str | None = None,
    stored_refresh: RefreshToken | None = None,
    nonce: str | None = None,
    audience: str = "",
    subject_token: AccessToken | None = None,
    actor_token: AccessToken | None = None,
    act: dict[str, Any] | None = None,
    exchange_depth: int = 0,
    not_after: datetime | None = None,
    with_id_token: bool = True,
    condition: Condition | None = None,
) -> IssuedTokens:
    """Store a new access token (and a refresh token when ``refresh_scope`` is given, which
    needs ``authorization``), sign an ID token when the grant is an OpenID Connect one
    (``openid`` in its scope, OIDC Core §3.1.3.3, §12.2), and announce them with
    ``token_issued``. ``nonce`` is echoed in the ID token (OIDC Core §2).

    ``audience`` is the access token's audience, stored form (:mod:`oauth_provider.resources`:
    the resources space-separated; empty for the default resource).

    ``refresh_value`` is the new refresh token's value (default: fresh randomness);
    ``stored_refresh`` hands back a refresh token stored earlier, whose value is
    ``refresh_value``, instead of minting one (a retry inside the grace period).

    Token exchange (RFC 8693) passes the ``subject_token`` row the new token is obtained for
    (none for an ID token), the ``actor_token`` row when one acts, its ``act`` claim, its
    ``exchange_depth`` (how many exchanges it comes from) and ``not_after`` (the new token
    expires no later); ``with_id_token`` False mints no ID token.

    ``condition`` (:mod:`oauth_provider.models.store`: the code consumed, the refresh token
    rotated or kept) makes the write conditional: the tokens are stored only if its UPDATE
    changes its row, in one statement with it on PostgreSQL (one transaction elsewhere), and
    :class:`NotStored` is raised, having stored and sent nothing, when it does not. The ID
    token is signed before anything is written, so a failure there spends no code.
    ``token_issued`` is sent once the tokens are stored.

    The tokens are bound to the key of the request's verified DPoP proof, if any (module
    docstring)."""
    proof = dpop.verified_proof(request)
    jkt = proof.jkt if proof is not None else ""
    now = secrets.now()
    lifetime = provider_settings.ACCESS_TOKEN_LIFETIME
    if not_after is not None:
        lifetime = max(0, min(lifetime, int((not_after - now).total_seconds())))
    if (client.access_token_format or provider_settings.ACCESS_TOKEN_FORMAT) == "jwt":
        raw_access = jwt_access_token(request, client=client, user=user, scope=scope,
                                      authorization=authorization, now=now, lifetime=lifetime, audience=audience,
                                      act=act, dpop_jkt=jkt)
    else:
        raw_access = secrets.generate_token()
    access = AccessToken(
        token_hash=secrets.hash_token(raw_access),
        client=client,  # type: ignore[misc]  # the FK is to the swappable client model
        user=user,
        authorization=authorization,
        scope=scope,
        audience=audience,
        created_at=now,
        expires_at=now + timedelta(seconds=lifetime),
        subject_token=subject_token,
        actor_token=actor_token,
        act=act or None,
        exchange_depth=exchange_depth,
        dpop_jkt=jkt,
    )
    issued = IssuedTokens(access_token=raw_access, access=access, expires_in=lifetime, scope=scope)
    new_refresh: RefreshToken | None = None
    if stored_refresh is not None and refresh_value is not None:
        issued.refresh_token, issued.refresh = refresh_value, stored_refresh
    elif refresh_scope is not None and authorization is not None:
        raw_refresh = refresh_value or secrets.generate_token()
        issued.refresh_token = raw_refresh
        issued.refresh = new_refresh = RefreshToken(
            token_hash=secrets.hash_token(raw_refresh),
            authorization=authorization,
            scope=refresh_scope,
            created_at=now,
            expires_at=refresh_expiry(authorization, now),
            dpop_jkt=jkt if client.is_public else "",
        )
    if (
        with_id_token and authorization is not None and user is not None and provider_settings.OIDC_ENABLED
        and "openid" in scope.split()
    ):
        from .oidc import id_token

        issued.id_token = id_token.build(
            issuer=get_issuer(request), client=client, authorization=authorization,
            access_token=raw_access, nonce=nonce,
        )
    rows = (access,) if new_refresh is None else (access, new_refresh)
    if condition is not None:
        if not insert_if(condition, *rows):  # one statement on PostgreSQL
            raise NotStored
    elif new_refresh is not None:
        insert_both(access, new_refresh)  # one statement on PostgreSQL
    else:
        insert(access)
    token_issued.send(
        sender=get_client_model(), request=request, client=client, user=user, grant_type=grant_type,
        scope=scope, access_token=access, refresh_token=issued.refresh,
    )
    return issued


def start_grant(request: HttpRequest, req: AuthorizationRequest, user: Any, granted: tuple[str, ...]) -> str:
    """Store a new grant (token family) of ``granted`` scopes by ``user`` to the request's
    client, with its first authorization code, atomically (one statement on PostgreSQL; one
    transaction, so one commit and one fsync, on SQLite); returns the raw code. An OpenID
    Connect grant remembers when and how the user logged in (``auth_time``, ``sid``,
    ``acr``/``amr``) and the ``claims`` request, for the ID token (OIDC Core §2, §3.1.2.1,
    §5.5)."""
    policy = adapter()
    family = Authorization(
        client=req.client,  # type: ignore[misc]  # the FK is to the swappable client model
        user=user, scope=scopes.join(granted), resources=resources.store(req.resources),
    )
    if req.openid:
        family.auth_time = policy.auth_time(request, user)
        family.session_id = session_id(request)
        family.claims = req.claims
        family.auth_context = policy.authentication_context(request, user) or None
    raw, code = new_code(
        authorization=family,
        redirect_uri=req.redirect_uri_sent,
        code_challenge=req.params["code_challenge"],
        code_challenge_method=req.params["code_challenge_method"],
        nonce=req.params.get("nonce", "") if req.openid else "",
        dpop_jkt=req.params.get("dpop_jkt", ""),
    )
    insert_with_parent(family, code, "authorization")
    return raw


def new_code(
    *, authorization: Authorization, redirect_uri: str, code_challenge: str, code_challenge_method: str,
    nonce: str = "", dpop_jkt: str = "",
) -> tuple[str, AuthorizationCode]:
    """A new, unsaved authorization code of the grant ``authorization``: the raw code (RFC 6749
    §4.1.2) and its row. ``dpop_jkt`` binds it to a DPoP key (RFC 9449 §10)."""
    now = secrets.now()
    raw = secrets.generate_token()
    return raw, AuthorizationCode(
        code_hash=secrets.hash_token(raw),
        authorization=authorization,
        redirect_uri=redirect_uri,
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method,
        nonce=nonce,
        dpop_jkt=dpop_jkt,
        created_at=now,
        expires_at=now + timedelta(seconds=provider_settings.AUTHORIZATION_CODE_LIFETIME),
    )


#: how many fresh user codes to try when one collides with a stored one (2^-43 odds each)
USER_CODE_ATTEMPTS = 5


def issue_device_code(*, client: AbstractClient, scope: str, audience: str = "") -> tuple[str, str, DeviceCode]:
    """Store a new pending device authorization of ``scope`` for ``client`` (RFC 8628 §3.2), at
    the resources ``audience`` (stored form, :mod:`oauth_provider.resources`);
    returns (device_code, user_code, row). The device code is 256-bit randomness stored as its
    SHA-256; the user code is :func:`oauth_provider.secrets.generate_user_code`, stored keyed
    (:func:`~oauth_provider.secrets.user_code_digest`) under a unique index: a collision with
    any stored code, live or not, draws a new one."""
    now = secrets.now()
    raw = secrets.generate_token()
    for attempt in range(USER_CODE_ATTEMPTS):
        user_code = secrets.generate_user_code()
        device = DeviceCode(
            device_code_hash=secrets.hash_token(raw),
            user_code_hash=secrets.user_code_digest(secrets.normalize_user_code(user_code) or ""),
            client=client,  # type: ignore[misc]  # the FK is to the swappable client model
            scope=scope,
            resources=audience,
            interval=timedelta(seconds=provider_settings.DEVICE_CODE_INTERVAL),
            created_at=now,
            expires_at=now + timedelta(seconds=provider_settings.DEVICE_CODE_LIFETIME),
        )
        try:
            with transaction.atomic():
                insert(device)
        except IntegrityError:
            if attempt == USER_CODE_ATTEMPTS - 1:
                raise
            continue
        break
    return raw, user_code, device

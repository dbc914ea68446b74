"""Token exchange (RFC 8693), grant type ``urn:ietf:params:oauth:grant-type:token-exchange``.

A confidential client registered for the grant trades a token it holds (``subject_token``)
for a new access token, narrowed to the scope and audience it names, optionally acting for the
subject through an ``actor_token`` (delegation, §1.1), which puts the actor in the new token's
``act`` claim (§4.1; an earlier actor chain is nested inside, the current actor outermost).

The checks, in order (each raising one error of §2.2.2 / RFC 6749 §5.2):

1. the client is confidential (§2.1: without client authentication a stolen token could be
   leveraged) -> ``unauthorized_client``;
2. :func:`check_parameters`: ``subject_token`` and ``subject_token_type`` present;
   ``actor_token_type`` with ``actor_token`` and never without it; the token types known URIs
   (§3); ``requested_token_type`` absent or the access-token type -> ``invalid_request``;
3. :func:`presented`: each token is ours and live, of the declared type: an access token is
   looked up by its digest (opaque or JWT alike, so revocation and expiry are the model
   layer's), an ID token is verified with our keys and must be addressed to the client, its
   user must still hold a live grant to the client, and only where the adapter accepts ID
   tokens. Anything else (a refresh token declared as an
   access token, an expired, revoked or foreign token) -> ``invalid_request`` (§2.2.2);
4. the ``act`` chain: at most :data:`~oauth_provider.models.tokens.EXCHANGE_MAX_DEPTH`
   exchanges deep -> ``invalid_request``;
5. the target: ``audience`` and ``resource`` values name resources of ``RESOURCES`` the client
   may have (RFC 8707 rules; an unknown one is ``invalid_target``), within the subject token's
   audience unless the adapter lets the exchange widen it;
6. the scope: within the subject token's and the client's, unless the adapter lets it widen
   -> ``invalid_scope``; then limited to what the audience accepts;
7. a DPoP-bound subject or actor token (``dpop_jkt``) comes with a DPoP proof by its key, so an
   exchange never strips the binding; the issued token is bound to the proof's key again
   (RFC 9449 §5, security checklist DERIVED-exchange-sender-constrained) -> ``invalid_dpop_proof``;
8. the adapter's :meth:`~oauth_provider.adapter.DefaultAdapter.allow_token_exchange` (default:
   a client may only exchange tokens issued to itself) -> ``invalid_request``.

The new token belongs to the subject token's family (an ID token's: the live grant of the login
it came from) and records the token it came from and the actor token it was obtained with, so
revoking the subject token (or its grant) or the actor token revokes it; it expires no later than the subject
(and actor) token, and no refresh token is issued (§2.2.1 leaves it to policy; ours is no).
Queries: client, subject token (an ID token: its login's grant), actor token (when sent), and
the INSERT, made only while the subject token (or the ID token's grant) is unrevoked, holding
its row to the end (one statement with the INSERT on PostgreSQL, an UPDATE before it
elsewhere); with an actor token, its row held first, in the exchange's own transaction. So a
revocation racing the exchange either refuses it or revokes its token too.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.http import HttpRequest

from .. import dpop, jwt, resources, scopes, secrets
from ..adapter import subject_for
from ..errors import InvalidRequest, InvalidScope, InvalidTarget, UnauthorizedClient
from ..issuer import get_issuer
from ..issuing import IssuedTokens, NotStored, issue_tokens
from ..models import AccessToken, Authorization, get_client_model
from ..models.store import access_token_by_value, exchanged_from, hold_access_token
from ..models.tokens import EXCHANGE_MAX_DEPTH
from ..params import getlist
from ..registry import adapter
from ..signals import token_exchanged
from .base import Grant

if TYPE_CHECKING:
    from ..models import AbstractClient

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
#: RFC 8693 §3 token type identifiers
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
REFRESH_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
SAML1_TYPE = "urn:ietf:params:oauth:token-type:saml1"
SAML2_TYPE = "urn:ietf:params:oauth:token-type:saml2"
KNOWN_TYPES = frozenset({ACCESS_TOKEN_TYPE, REFRESH_TOKEN_TYPE, ID_TOKEN_TYPE, JWT_TYPE, SAML1_TYPE, SAML2_TYPE})
#: the types accepted as subject or actor: our access tokens (the jwt type names our JWT
#: access tokens), and our ID tokens where the adapter allows it
ACCEPTED_TYPES = frozenset({ACCESS_TOKEN_TYPE, JWT_TYPE, ID_TOKEN_TYPE})


@dataclass(frozen=True)
class PresentedToken:
    """A verified subject or actor token, as the policy hooks see it.

    ``client`` is the client the token was issued to (an ID token: its audience), ``user`` its
    user (None for a client's own token), ``subject`` its ``sub`` (the user's subject, or the
    client_id of a client's own token), ``scopes`` and ``audience`` (resource identifiers) what
    it is good for, ``act`` its actor chain, ``access`` the stored access token (None for an ID
    token), ``grant`` the token family it belongs to (for an ID token: the live grant of the
    login it came from)."""

    token_type: str
    client: AbstractClient | None
    user: Any
    subject: str
    scopes: tuple[str, ...]
    audience: tuple[str, ...]
    expires_at: datetime
    act: dict[str, Any] | None = None
    access: AccessToken | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    grant: Authorization | None = None

    @property
    def depth(self) -> int:
        return self.access.exchange_depth if self.access is not None else 0


def check_parameters(params: dict[str, str]) -> None:
    """RFC 8693 §2.1: the required parameters and their pairing; known type URIs only."""
    for name in ("subject_token", "subject_token_type"):
        if not params.get(name):
            raise InvalidRequest(f"The {name} parameter is required (RFC 8693 section 2.1).")
    if params.get("actor_token") and not params.get("actor_token_type"):
        raise InvalidRequest("actor_token_type is required with actor_token (RFC 8693 section 2.1).")
    if params.get("actor_token_type") and not params.get("actor_token"):
        raise InvalidRequest("actor_token_type must not be sent without actor_token (RFC 8693 section 2.1).")
    for name in ("subject_token_type", "actor_token_type", "requested_token_type"):
        value = params.get(name)
        if value and value not in KNOWN_TYPES:
            raise InvalidRequest(f"Unknown {name}.")
    requested = params.get("requested_token_type")
    if requested and requested != ACCESS_TOKEN_TYPE:
        raise InvalidRequest("Only access tokens are issued by token exchange here (requested_token_type).")


def presented(
    request: HttpRequest, client: AbstractClient, raw: str, token_type: str, role: str
) -> PresentedToken:
    """The ``role`` token (``subject`` or ``actor``) ``raw`` of type ``token_type``, verified.
    Raises :class:`InvalidRequest` (RFC 8693 §2.2.2) with a fixed text per cause."""
    if token_type not in ACCEPTED_TYPES:
        raise InvalidRequest(f"This {role}_token_type is not accepted.")
    if token_type == ID_TOKEN_TYPE:
        return _id_token(request, client, raw, role)
    if len(raw) > jwt.MAX_LENGTH:
        raise InvalidRequest(f"The {role}_token is not a valid access token.")
    row = access_token_by_value(raw)
    if row is None or (token_type == JWT_TYPE and raw.count(".") != 2):
        raise InvalidRequest(f"The {role}_token is not a valid access token.")
    if not row.is_live(secrets.now()):
        raise InvalidRequest(f"The {role}_token is expired or revoked.")
    user = row.user if row.user_id is not None else None
    return PresentedToken(
        token_type=token_type, client=row.client, user=user,
        subject=subject_for(user, row.client) if user is not None else row.client.client_id,
        scopes=scopes.parse(row.scope), audience=resources.audience(row.audience, request),
        expires_at=row.expires_at, act=row.act or None, access=row,
    )


def _id_token(request: HttpRequest, client: AbstractClient, raw: str, role: str) -> PresentedToken:
    """An ID token we issued to ``client`` (OIDC Core §2: ``aud`` holds its client_id), where
    the adapter accepts ID tokens; its user must still be active and still hold a live grant to
    the client: an ID token cannot be revoked and outlives its grant, so once the user withdrew
    it (connected apps, or the client revoked it) the ID token no longer stands for one. Its
    scopes are that grant's: what the user approved for the client, not all the client may have."""
    policy = adapter()
    if not policy.token_exchange_accepts_id_tokens(client):
        raise InvalidRequest(f"ID tokens are not accepted as {role}_token for this client.")
    try:
        claims = jwt.decode(raw, typ=None, issuer=get_issuer(request), audience=client.client_id, leeway=0)
    except jwt.InvalidJWT:
        raise InvalidRequest(f"The {role}_token is not a valid ID token issued to this client.") from None
    subject = claims.get("sub")
    user = policy.get_user_by_subject(subject) if isinstance(subject, str) else None
    if user is None:
        raise InvalidRequest(f"The {role}_token's subject is not an active user.")
    grant = _id_token_grant(client, user, claims)
    if grant is None:
        raise InvalidRequest(f"The {role}_token's grant was revoked.")
    return PresentedToken(
        token_type=ID_TOKEN_TYPE, client=client, user=user, subject=str(subject),
        # what the user granted in that login, never more: a scope they declined on the consent
        # page must not come back through the ID token (the grant's scope is what they approved)
        scopes=scopes.parse(grant.scope),
        audience=(resources.default_identifier(request),),
        expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=timezone.utc), claims=claims, grant=grant,
    )


def _id_token_grant(client: AbstractClient, user: Any, claims: dict[str, Any]) -> Authorization | None:
    """The live grant (token family) of ``user`` to ``client`` an ID token came from, as far as
    its claims tell: one of its login (``sid``, ``auth_time`` to the second, when it carries
    them) made before it was issued (``iat``). None when a grant it may come from was revoked,
    so neither an earlier login's grant nor a sibling of the same login stands in for it
    (:meth:`~oauth_provider.models.tokens.AuthorizationQuerySet.of_id_token`)."""
    def seconds(name: str) -> datetime | None:
        value = claims.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, tz=timezone.utc)
        return None

    sid = claims.get("sid")
    grant: Authorization | None = Authorization.objects.filter(client=client, user=user).of_id_token(
        sid if isinstance(sid, str) else None, seconds("auth_time"), seconds("iat"))
    return grant


def exchange_depth(subject: PresentedToken, actor: PresentedToken | None) -> int:
    """How many exchanges the issued token comes from: one more than the deeper of the subject
    and actor tokens (an ID token, or a token no exchange made, counts 0), so a chain is
    bounded whichever token it passes through (:data:`EXCHANGE_MAX_DEPTH`)."""
    return max(subject.depth, actor.depth if actor is not None else 0) + 1


def actor_claim(subject: PresentedToken, actor: PresentedToken | None) -> dict[str, Any] | None:
    """The issued token's ``act`` (RFC 8693 §4.1): the actor outermost, the subject token's own
    chain nested inside; without an actor token, the subject's chain unchanged. Raises
    :class:`InvalidRequest` beyond :data:`EXCHANGE_MAX_DEPTH` exchanges."""
    if exchange_depth(subject, actor) > EXCHANGE_MAX_DEPTH:
        raise InvalidRequest(f"Tokens may be exchanged at most {EXCHANGE_MAX_DEPTH} times in a chain.")
    if actor is None:
        return subject.act
    act: dict[str, Any] = {"sub": actor.subject}
    if actor.client is not None:
        act["client_id"] = actor.client.client_id
    if subject.act:
        act["act"] = subject.act
    return act


class TokenExchangeGrant(Grant):
    """RFC 8693 §2; the checks are listed in the module docstring."""

    grant_type = GRANT_TYPE
    #: off until a client is registered for it: advertised only then (see the metadata endpoint)
    opt_in = True

    def issue(self, request: HttpRequest, params: dict[str, str], client: AbstractClient) -> IssuedTokens:
        if client.is_public:
            raise UnauthorizedClient("Token exchange needs a confidential client (RFC 8693 section 2.1).")
        check_parameters(params)
        subject = presented(request, client, params["subject_token"], params["subject_token_type"], "subject")
        actor = None
        if params.get("actor_token"):
            actor = presented(request, client, params["actor_token"], params["actor_token_type"], "actor")
        act = actor_claim(subject, actor)
        policy = adapter()
        audience = self.target(request, params, client, subject)
        granted = self.narrowed_scope(request, params, client, subject, audience)
        for token, role in ((subject, "subject_token"), (actor, "actor_token")):
            if token is not None and token.access is not None:
                dpop.require_key(request, token.access.dpop_jkt, f"The {role}")
        if not policy.allow_token_exchange(request, client, subject, actor, audience, granted):
            raise InvalidRequest("This client may not exchange the subject_token (RFC 8693 section 2.2.2).")
        not_after = subject.expires_at if actor is None else min(subject.expires_at, actor.expires_at)
        family = subject.access.authorization if subject.access is not None else subject.grant
        held_actor = actor.access if actor is not None else None
        # Stored only while the subject (and the actor) token is unrevoked, holding its row: a
        # revocation racing this exchange either refuses it or revokes the new token too.
        with transaction.atomic() if held_actor is not None else contextlib.nullcontext():
            if held_actor is not None and not hold_access_token(held_actor):
                raise InvalidRequest("The actor_token is expired or revoked.")
            try:
                issued = issue_tokens(
                    request, grant_type=self.grant_type, client=client, user=subject.user,
                    scope=scopes.join(granted), authorization=family,
                    audience=self.stored_audience(request, audience), subject_token=subject.access,
                    actor_token=held_actor, act=act, exchange_depth=exchange_depth(subject, actor),
                    not_after=not_after, with_id_token=False,
                    condition=exchanged_from(subject.access, family),
                )
            except NotStored:
                raise InvalidRequest("The subject_token is expired or revoked.") from None
        issued.issued_token_type = ACCESS_TOKEN_TYPE
        token_exchanged.send(
            sender=get_client_model(), request=request, client=client, user=subject.user,
            subject_token_type=subject.token_type, subject_token=subject.access,
            actor_token=actor.access if actor is not None else None, act=act, access_token=issued.access,
        )
        return issued

    @staticmethod
    def stored_audience(request: HttpRequest, audience: tuple[str, ...]) -> str:
        """The stored form: empty for the default resource alone (as other grants store it)."""
        if audience == (resources.default_identifier(request),):
            return ""
        return resources.store(audience)

    @staticmethod
    def target(
        request: HttpRequest, params: dict[str, str], client: AbstractClient, subject: PresentedToken
    ) -> tuple[str, ...]:
        """The issued token's audience: the ``audience`` and ``resource`` values (RFC 8693
        §2.1; both name resources here, checked as RFC 8707 §2 resources), else the subject
        token's, each of which this client must be allowed (``allows_resource``) as if it had
        named it. Beyond the subject token's audience only where the adapter allows widening."""
        asked = [*getlist(params, "audience"), *getlist(params, "resource")]
        for value in getlist(params, "audience"):
            if not resources.is_valid_identifier(value):
                raise InvalidTarget("The audience is unknown.")
        wanted = resources.requested(asked, client, request, required=False)
        if not wanted:
            # inherited, but only what this client could have asked for (a subject token of
            # another client, where the adapter allows that, was never checked for this one)
            policy = adapter()
            default = resources.default_identifier(request)
            if any(r != default and not policy.allows_resource(client, r) for r in subject.audience):
                raise InvalidTarget("This client may not request a token for the subject_token's audience.")
            return subject.audience
        if not set(wanted) <= set(subject.audience) and not adapter().token_exchange_may_widen(
                request, client, subject, wanted, subject.scopes):
            raise InvalidTarget("The requested audience is not covered by the subject_token.")
        return wanted

    @staticmethod
    def narrowed_scope(
        request: HttpRequest, params: dict[str, str], client: AbstractClient, subject: PresentedToken,
        audience: tuple[str, ...],
    ) -> tuple[str, ...]:
        """The issued token's scope: the requested one (else the subject token's), within the
        subject token's and the client's (RFC 8693 §5 limits delegated rights), then limited to
        what the audience accepts (RFC 8707)."""
        requested = scopes.parse(params.get("scope"))
        allowed = scopes.client_allowed(client)
        known = scopes.registered()
        if requested:
            if any(s not in known or (allowed is not None and s not in allowed) for s in requested):
                raise InvalidScope("A requested scope is unknown or not allowed for this client.")
            if not set(requested) <= set(subject.scopes) and not adapter().token_exchange_may_widen(
                    request, client, subject, audience, requested):
                raise InvalidScope("The requested scope exceeds the subject_token's scope.")
            wanted = requested
        else:
            wanted = tuple(s for s in subject.scopes if s in known and (allowed is None or s in allowed))
            if subject.scopes and not wanted:
                raise InvalidScope("None of the subject_token's scopes is allowed for this client.")
        stored = TokenExchangeGrant.stored_audience(request, audience)
        return resources.downscope(wanted, stored, request)

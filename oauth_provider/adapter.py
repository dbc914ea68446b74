"""Host policy hooks in one class, chosen by ``OAUTH_PROVIDER["ADAPTER"]``.

Subclass :class:`DefaultAdapter`, override the methods you need, and point the setting at
your class. Each method is small, typed, and called at one documented moment.

:meth:`~DefaultAdapter.get_subject` and :meth:`~DefaultAdapter.user_claims` receive the client
the answer is for, as the keyword argument ``client`` (so a host can give each client its own
subjects, e.g. pairwise ones, OIDC Core §8.1, or its own claims). An override written before
they did (``def get_subject(self, user)``) keeps working: the library calls the hook through
:func:`subject_for` / :func:`claims_for`, which look at the override's signature once per class
and pass ``client`` only when it is accepted (a parameter named ``client``, or ``**kwargs``),
with a :class:`DeprecationWarning` otherwise. A later major version will always pass it.
"""

from __future__ import annotations

import inspect
import warnings
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .conf import provider_settings

if TYPE_CHECKING:
    from django.http import HttpRequest

    from .grants.token_exchange import PresentedToken
    from .models import AbstractClient


class DefaultAdapter:
    """The default policy. Safe to subclass; every method has a working default."""

    def should_skip_consent(
        self, request: HttpRequest, client: AbstractClient, user: Any, scopes: tuple[str, ...]
    ) -> bool:
        """Return True to issue a code without showing the consent page.

        Called after the request is validated and the user is logged in, before stored
        consent is looked up; never for public clients, which always see the page (any app
        can claim their client_id, RFC 8252 §8.6). Default: only clients marked
        ``skip_consent`` (first-party apps registered by the site itself)."""
        return bool(client.skip_consent)

    def can_remember_consent(self, client: AbstractClient) -> bool:
        """May a stored consent stand in for the consent page for this client?

        Default: yes for confidential clients an operator registered, when ``REMEMBER_CONSENT``
        is on; never for public clients, whose identity a redirect URI alone does not prove
        (RFC 8252 §8.6), nor for a client that registered itself (dynamic registration, a
        client ID metadata document): nobody vouches for who makes it, so the user is asked
        every time (RFC 9700 §2.3)."""
        from .client_metadata import is_self_registered

        return bool(provider_settings.REMEMBER_CONSENT) and not client.is_public and not is_self_registered(client)

    def is_user_allowed(self, request: HttpRequest, client: AbstractClient, user: Any) -> bool:
        """May ``user`` authorize ``client`` at all? False answers ``access_denied``.
        Default: active users only."""
        return bool(getattr(user, "is_active", False))

    def redirects_errors(self, client: AbstractClient) -> bool:
        """May an authorization error found before the user has answered the consent page (a
        bad scope, ``prompt=none``, no PKCE) go straight back to ``client``'s redirect URI?
        False shows the error page with a link back instead, naming where it leads.

        Default: only for clients an operator registered (admin, ``createclient``). A client
        that registered itself (dynamic registration, a client ID metadata document) chose its
        own URIs, and redirecting automatically to them would make this site an open
        redirector (RFC 9700 §4.11.2)."""
        from .client_metadata import is_self_registered

        return not is_self_registered(client)

    # -- resource indicators (RFC 8707) ------------------------------------------------------
    def allows_resource(self, client: AbstractClient, resource: str) -> bool:
        """May ``client`` have a token for ``resource`` (an identifier of ``RESOURCES`` or the
        default resource)? False answers ``invalid_target`` (RFC 8707 §2). Called at the
        authorization endpoint and for every token request naming resources. Default: yes."""
        return True

    def allows_multiple_resources(self, client: AbstractClient) -> bool:
        """May one token of ``client`` be good at several resources? Default: the
        ``MULTI_AUDIENCE_TOKENS`` setting (off: one resource per token, RFC 8707 §3)."""
        return bool(provider_settings.MULTI_AUDIENCE_TOKENS)

    def allow_client_id_metadata_document(self, url: str) -> bool:
        """May the client whose ``client_id`` is the URL ``url`` use this server through its
        metadata document (``CLIENT_ID_METADATA_DOCUMENTS``)? Called before the document is
        fetched and whenever a request names the client, so refusing a URL takes effect at
        once; a refused URL is never fetched and the request stops at an error page
        (draft-ietf-oauth-client-id-metadata-document §6.8). ``url`` already passed the
        client-identifier and fetch rules. Default: every URL. For example, an allow-list::

            def allow_client_id_metadata_document(self, url):
                host = urlsplit(url).hostname
                return host in {"claude.ai", "chatgpt.com"} or host.endswith(".example.com")
        """
        return True

    # -- token exchange (RFC 8693) -----------------------------------------------------------
    def allow_token_exchange(
        self, request: HttpRequest, client: AbstractClient, subject: PresentedToken,
        actor: PresentedToken | None, audience: tuple[str, ...], scopes: tuple[str, ...],
    ) -> bool:
        """May ``client`` exchange ``subject`` (acting through ``actor``, if an actor token was
        sent) for a token of ``scopes`` good at ``audience`` (resource identifiers)? False
        answers ``invalid_request`` (RFC 8693 §2.2.2: a token "unacceptable based on policy").
        Called after both tokens were verified and the target and scope worked out.

        ``subject.client`` / ``actor.client`` are the clients the tokens were issued to. An
        exchange without an actor token for a token issued to another client is impersonation
        (RFC 8693 §1.1): allow it only for clients you trust with it. Default: a client may only
        exchange (narrow, or add itself as actor to) tokens issued to itself."""
        own = subject.client is not None and subject.client.pk == client.pk
        return own and (actor is None or (actor.client is not None and actor.client.pk == client.pk))

    def token_exchange_may_widen(
        self, request: HttpRequest, client: AbstractClient, subject: PresentedToken,
        audience: tuple[str, ...], scopes: tuple[str, ...],
    ) -> bool:
        """May the token ``client`` obtains by exchanging ``subject`` have scopes or an audience
        the subject token does not have? Called only when the request asks for more; False
        answers ``invalid_scope`` or ``invalid_target``. Default: never (the issued token is a
        narrowed copy of the subject token, RFC 8693 §5)."""
        return False

    def token_exchange_accepts_id_tokens(self, client: AbstractClient) -> bool:
        """May ``client`` present an ID token we issued to it as ``subject_token`` (type
        ``urn:ietf:params:oauth:token-type:id_token``) to get an access token for its user?
        Its scope ceiling is then the scopes the client may have; it is accepted only while the
        grant of its login (its ``sid`` and ``auth_time``) is live, and the token joins that
        grant (revoked with it). Default: no."""
        return False

    # -- JWT bearer grant (RFC 7523 §2.1) ---------------------------------------------------
    def user_for_assertion(
        self, issuer: str, subject: str, claims: dict[str, Any], client: AbstractClient
    ) -> Any | None:
        """The local user a verified JWT bearer assertion of ``issuer`` speaks for (its ``sub``
        is ``subject``; ``claims`` holds every claim), when ``client`` presents it. Return None
        to refuse (``invalid_grant``). Called after the signature, audience, lifetime and
        ``jti`` were checked. Default: None, so no assertion yields a token until the host
        says how an issuer's subjects map to its users (e.g. ``get_user_by_subject(subject)``
        for an issuer that uses our subjects)."""
        return None

    # -- dynamic client registration (RFC 7591) ----------------------------------------------
    def allow_registration(self, request: HttpRequest, metadata: Any) -> bool:
        """May this registration (or RFC 7592 update) go ahead? ``metadata`` is the validated
        :class:`~oauth_provider.client_metadata.ClientMetadata`. Called after validation, in every
        ``DYNAMIC_REGISTRATION`` mode; in ``"adapter"`` mode it is the only gate (check an API
        key, ``request.user``, an allow-list of redirect hosts...). False answers 403.
        Default: yes."""
        return True

    # -- OpenID Connect ----------------------------------------------------------------------
    def get_subject(self, user: Any, *, client: AbstractClient | None = None) -> str:
        """The ``sub`` claim for ``user`` as ``client`` sees it: stable, never reassigned, at most
        255 ASCII characters (OIDC Core §2). ``client`` is the client the token, ID token or
        UserInfo answer is for (None where no client is involved, e.g. matching a logout hint to
        the logged-in user without one). Default: the primary key as a string, for every client.

        If you return different subjects for different clients (pairwise, OIDC Core §8.1), make
        :meth:`get_user_by_subject` able to find the user again (JWT access tokens use it)."""
        return str(user.pk)

    def get_user_by_subject(self, subject: str) -> Any | None:
        """The inverse of :meth:`get_subject` (used by JWT access tokens to load
        ``request.user`` lazily). Return None when no active user has this subject."""
        from django.core.exceptions import ValidationError

        from .models.store import user_by_pk

        try:
            user = user_by_pk(subject)
        except (ValueError, TypeError, ValidationError):
            return None
        return user if user is not None and getattr(user, "is_active", True) else None

    def scope_claims(self) -> dict[str, tuple[str, ...]]:
        """Scope -> the names of the claims it releases. Default: the standard scopes of OIDC
        Core §5.4. Add your own scopes (also list them in ``SCOPES``) to release your own claims,
        e.g. ``{**super().scope_claims(), "groups": ("groups",)}``; a claim is only ever
        released for a scope the user granted."""
        from .oidc.claims import SCOPE_CLAIMS

        return dict(SCOPE_CLAIMS)

    def user_claims(self, user: Any, *, client: AbstractClient | None = None) -> dict[str, Any]:
        """Every standard claim (OIDC Core §5.1) known about ``user`` for ``client`` (the client
        of the ID token or UserInfo request); which of them the client sees is decided from the
        granted scopes. Override for your own user model, e.g. to add ``email_verified``,
        ``picture``, ``address`` or ``phone_number``, or to vary claims by client."""
        claims: dict[str, Any] = {"preferred_username": user.get_username()}
        full_name = user.get_full_name() if hasattr(user, "get_full_name") else ""
        if full_name:
            claims["name"] = full_name
        for claim, attribute in (("given_name", "first_name"), ("family_name", "last_name"), ("email", "email")):
            value = getattr(user, attribute, "")
            if value:
                claims[claim] = value
        return claims

    def authentication_context(self, request: HttpRequest, user: Any) -> dict[str, Any]:
        """``acr`` and/or ``amr`` (OIDC Core §2) for the current login, if the site knows
        them (e.g. ``{"amr": ["pwd", "otp"]}``). Default: none."""
        return {}

    def auth_time(self, request: HttpRequest, user: Any) -> datetime | None:
        """When ``user`` logged in to this session. Default: the time recorded by the
        library's ``user_logged_in`` receiver."""
        from .session import get_auth_time

        return get_auth_time(request)


# -- calling the hooks that take the client ------------------------------------------------
#: (adapter class, hook name) -> does the hook accept the ``client`` keyword?
_accepts_client_cache: dict[tuple[type, str], bool] = {}


def accepts_client(policy: Any, hook: str) -> bool:
    """Does ``policy``'s ``hook`` accept the keyword argument ``client``? Decided once per
    adapter class (from the signature); a hook that does not is warned about once."""
    key = (type(policy), hook)
    known = _accepts_client_cache.get(key)
    if known is not None:
        return known
    try:
        parameters = inspect.signature(getattr(policy, hook)).parameters.values()
        known = any(p.kind is p.VAR_KEYWORD or (p.name == "client" and p.kind is not p.POSITIONAL_ONLY)
                    for p in parameters)
    except (TypeError, ValueError):  # no introspectable signature: call it the old way
        known = False
    if not known:
        warnings.warn(
            f"{type(policy).__module__}.{type(policy).__qualname__}.{hook}() does not accept the keyword "
            f"argument 'client'; add `*, client=None` to its signature: a future version will always pass it.",
            DeprecationWarning, stacklevel=3,
        )
    _accepts_client_cache[key] = known
    return known


def _policy(policy: Any) -> Any:
    if policy is not None:
        return policy
    from .registry import adapter

    return adapter()


def subject_for(user: Any, client: AbstractClient | None, *, policy: Any = None) -> str:
    """The adapter's :meth:`~DefaultAdapter.get_subject` for ``user`` as ``client`` sees it,
    passing ``client`` only to an override that accepts it."""
    policy = _policy(policy)
    if accepts_client(policy, "get_subject"):
        return str(policy.get_subject(user, client=client))
    return str(policy.get_subject(user))


def claims_for(user: Any, client: AbstractClient | None, *, policy: Any = None) -> dict[str, Any]:
    """The adapter's :meth:`~DefaultAdapter.user_claims` for ``user`` and ``client``, passing
    ``client`` only to an override that accepts it."""
    policy = _policy(policy)
    if accepts_client(policy, "user_claims"):
        return dict(policy.user_claims(user, client=client))
    return dict(policy.user_claims(user))

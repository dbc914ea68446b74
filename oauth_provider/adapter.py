"""Host policy hooks in one class, chosen by ``OAUTH_PROVIDER["ADAPTER"]``.

Subclass :class:`DefaultAdapter`, override the methods you need, and point the setting at
your class. Each method is small, typed, and called at one documented moment.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from .conf import provider_settings

if TYPE_CHECKING:
    from django.http import HttpRequest

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

        Default: yes for confidential clients when ``REMEMBER_CONSENT`` is on; never for
        public clients, whose identity a redirect URI alone does not prove (RFC 8252 §8.6)."""
        return bool(provider_settings.REMEMBER_CONSENT) and not client.is_public

    def is_user_allowed(self, request: HttpRequest, client: AbstractClient, user: Any) -> bool:
        """May ``user`` authorize ``client`` at all? False answers ``access_denied``.
        Default: active users only."""
        return bool(getattr(user, "is_active", False))

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

    # -- OpenID Connect ----------------------------------------------------------------------
    def get_subject(self, user: Any) -> str:
        """The ``sub`` claim for ``user``: stable, never reassigned, at most 255 ASCII
        characters (OIDC Core §2). Default: the primary key as a string."""
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

    def user_claims(self, user: Any) -> dict[str, Any]:
        """Every standard claim (OIDC Core §5.1) known about ``user``; which of them a client
        sees is decided from the granted scopes. Override for your own user model, e.g. to
        add ``email_verified``, ``picture``, ``address`` or ``phone_number``."""
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

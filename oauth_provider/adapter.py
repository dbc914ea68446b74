"""Host policy hooks in one class, chosen by ``OAUTH_PROVIDER["ADAPTER"]``.

Subclass :class:`DefaultAdapter`, override the methods you need, and point the setting at
your class. Each method is small, typed, and called at one documented moment.
"""

from __future__ import annotations

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
        consent is looked up. Default: only clients marked ``skip_consent`` (first-party
        apps registered by the site itself)."""
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

"""The grant contract: one class per grant_type, one entry point."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

from ..issuing import IssuedTokens

if TYPE_CHECKING:
    from ..models import AbstractClient


class Grant:
    """Base class for a grant type (RFC 6749 §4).

    :meth:`issue` receives the token request's flattened parameters and the client that
    :func:`oauth_provider.client_auth.authenticate` already authenticated (and whose
    registration allows this grant type). It returns the issued tokens or raises an
    :class:`~oauth_provider.errors.OAuthError`; it never builds a response."""

    grant_type: str = ""

    def issue(self, request: HttpRequest, params: dict[str, str], client: AbstractClient) -> IssuedTokens:
        raise NotImplementedError

"""Scope permissions for DRF views authenticated by :class:`OAuth2Authentication`.

They are ordinary ``BasePermission`` classes returning True or False, so they compose with
``&``, ``|`` and ``~``. A request without an OAuth token (session, Basic, anonymous) fails
them, except :class:`IsAuthenticatedOrTokenHasScope`.

**The 403 challenge.** RFC 6750 §3.1 wants ``WWW-Authenticate: Bearer
error="insufficient_scope", scope="..."`` on the 403. DRF only sets that header from an
exception's ``auth_header``, and the ``PermissionDenied`` is raised by the view, after the
permissions have answered. So when a token lacks a scope, the permission still just returns
False, and also wraps that request's view instance's ``permission_denied`` so that *if* DRF
goes on to deny the request, its ``PermissionDenied`` carries the challenge. Nothing changes
when another permission grants access (``TokenHasScope | IsAdminUser``), and DRF's stock
exception handler renders the header; a custom handler that calls DRF's keeps it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from ... import resource
from ...errors import InsufficientScope
from ...resource import ResourceToken
from .authentication import OAuth2Authentication

_DENIAL_ATTR = "_oauth_provider_scope_denial"


def _token(request: Request) -> ResourceToken | None:
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ResourceToken) else None


def _resource_of(request: Request, view: Any) -> str | None:
    """The resource whose challenge a 403 carries: the one the request was authenticated for
    (:meth:`OAuth2Authentication.get_resource`: the view's ``oauth_resource``, else the
    authentication class's ``resource``), so the 401 and the 403 name the same resource
    (RFC 9728 §5.1); else the view's."""
    authenticator = getattr(request, "successful_authenticator", None)
    if isinstance(authenticator, OAuth2Authentication):
        return authenticator.get_resource(request)
    return getattr(view, "oauth_resource", None)


def _challenge_if_denied(request: Request, view: Any, required: Sequence[str]) -> None:
    """Make the view's eventual ``PermissionDenied`` (if any) carry the insufficient_scope
    challenge for ``required``."""
    http = resource.django_request(request)
    setattr(http, _DENIAL_ATTR, InsufficientScope(scopes=required))
    original = getattr(view, "permission_denied", None)
    if original is None or getattr(original, "_oauth_provider_hook", False):
        return

    def permission_denied(request: Request, message: Any = None, code: Any = None) -> None:
        try:
            original(request, message=message, code=code)
        except exceptions.PermissionDenied as exc:
            denial = getattr(http, _DENIAL_ATTR)
            exc.auth_header = resource.challenge(http, denial, resource=_resource_of(request, view))
            raise

    permission_denied._oauth_provider_hook = True  # type: ignore[attr-defined]
    view.permission_denied = permission_denied


class TokenHasScope(BasePermission):
    """The OAuth token carries every scope in the view's ``required_scopes``.

    ``TokenHasScope.for_scopes("notes:read")`` makes a permission with its own scopes, for
    views whose scopes are not an attribute (or several permissions on one view)."""

    message = "The access token does not carry the scope this resource requires."
    code = "insufficient_scope"
    #: set by :meth:`for_scopes`; None reads ``required_scopes`` from the view
    scopes: tuple[str, ...] | None = None

    @classmethod
    def for_scopes(cls, *scopes: str) -> type[TokenHasScope]:
        """A subclass requiring exactly ``scopes``, whatever the view says."""
        name = f"{cls.__name__}({' '.join(scopes)})"
        made: type[TokenHasScope] = type(name, (cls,), {"scopes": tuple(scopes), "__module__": cls.__module__})
        return made

    def get_scopes(self, request: Request, view: Any) -> list[str]:
        """The scopes this request needs. Raises ``ImproperlyConfigured`` when the view has
        no ``required_scopes`` (a programming error, not a client's)."""
        if self.scopes is not None:
            return list(self.scopes)
        scopes = getattr(view, "required_scopes", None)
        if scopes is None:
            raise ImproperlyConfigured(
                f"{type(self).__name__} needs required_scopes on {type(view).__name__} "
                f"(or use {type(self).__name__}.for_scopes(...))."
            )
        return [scopes] if isinstance(scopes, str) else list(scopes)

    def has_permission(self, request: Request, view: Any) -> bool:
        token = _token(request)
        if token is None:
            return False
        required = self.get_scopes(request, view)
        if token.has_scopes(required):
            return True
        _challenge_if_denied(request, view, required)
        return False


class TokenHasReadWriteScope(TokenHasScope):
    """Safe methods (GET, HEAD, OPTIONS) need the read scope, the others the write scope,
    plus any ``required_scopes`` on the view. The names default to ``read`` and ``write``;
    set ``read_scope`` / ``write_scope`` on the view to change them."""

    def get_scopes(self, request: Request, view: Any) -> list[str]:
        if request.method in SAFE_METHODS:
            needed = getattr(view, "read_scope", "read")
        else:
            needed = getattr(view, "write_scope", "write")
        extra = getattr(view, "required_scopes", None) or []
        extra = [extra] if isinstance(extra, str) else list(extra)
        return [needed, *extra]


class TokenHasResourceScope(TokenHasScope):
    """Each of the view's ``required_scopes`` suffixed ``:read`` for safe methods and
    ``:write`` for the others (``notes`` -> ``notes:read``), as django-oauth-toolkit does."""

    def get_scopes(self, request: Request, view: Any) -> list[str]:
        suffix = "read" if request.method in SAFE_METHODS else "write"
        return [f"{scope}:{suffix}" for scope in super().get_scopes(request, view)]


class IsAuthenticatedOrTokenHasScope(BasePermission):
    """A user authenticated some other way (a session, for the browsable API) may pass; a
    request authenticated by OAuth token must carry the view's ``required_scopes``."""

    message = TokenHasScope.message

    def has_permission(self, request: Request, view: Any) -> bool:
        user = getattr(request, "user", None)
        by_token = isinstance(getattr(request, "successful_authenticator", None), OAuth2Authentication)
        if user is not None and user.is_authenticated and not by_token:
            return True
        return TokenHasScope().has_permission(request, view)


__all__ = [
    "IsAuthenticatedOrTokenHasScope", "TokenHasReadWriteScope", "TokenHasResourceScope", "TokenHasScope",
]

"""drf-spectacular: :class:`~oauth_provider.contrib.rest_framework.OAuth2Authentication` in
the OpenAPI schema.

The extension registers itself when this module is imported, which the app does in
``AppConfig.ready()`` when drf-spectacular is installed (drf-spectacular's documented place
for extensions): a host adds nothing but ``drf_spectacular`` to ``INSTALLED_APPS``.

* ``components.securitySchemes.oauth2`` is the scheme of :mod:`oauth_provider.openapi`: the
  flows the provider has enabled, its endpoint URLs and scopes.
* Each operation's ``security`` names the scopes its permission classes require
  (:class:`~oauth_provider.contrib.rest_framework.TokenHasScope` and its subclasses, with the
  request's method for the read/write ones), combined as DRF combines them: ``&`` (and a view's
  list of permissions) unites the scopes, ``|`` gives alternatives, ``~`` and permissions that
  are not about scopes add no scope. A permission DRF may grant without a token scope
  (``IsAdminUser | TokenHasScope...``) shows as an alternative with no scope.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drf_spectacular.drainage import warn
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.settings import spectacular_settings
from rest_framework import permissions as drf_permissions

from ..openapi import SCHEME_NAME, security_scheme
from .rest_framework import IsAuthenticatedOrTokenHasScope, TokenHasScope

if TYPE_CHECKING:
    from drf_spectacular.openapi import AutoSchema

#: alternatives (OR) of scope sets (AND); None: the permission says nothing about scopes
Alternatives = list[list[str]] | None


def _both(left: Alternatives, right: Alternatives) -> Alternatives:
    if left is None or right is None:
        return right if left is None else left
    return [list(dict.fromkeys([*a, *b])) for a in left for b in right]


def _either(left: Alternatives, right: Alternatives) -> Alternatives:
    if left is None and right is None:
        return None
    # a side with no scope rule may let a token without scopes through
    return [*(left if left is not None else [[]]), *(right if right is not None else [[]])]


def required_scopes(permission: Any, request: Any, view: Any) -> Alternatives:
    """The scope alternatives ``permission`` demands of a token on ``view`` for ``request``."""
    if isinstance(permission, TokenHasScope):
        return [permission.get_scopes(request, view)]
    if isinstance(permission, IsAuthenticatedOrTokenHasScope):
        return [TokenHasScope().get_scopes(request, view)]
    if isinstance(permission, drf_permissions.AND):
        return _both(required_scopes(permission.op1, request, view), required_scopes(permission.op2, request, view))
    if isinstance(permission, drf_permissions.OR):
        return _either(required_scopes(permission.op1, request, view), required_scopes(permission.op2, request, view))
    return None


class OAuth2AuthenticationScheme(OpenApiAuthenticationExtension):
    """The OpenAPI side of :class:`~oauth_provider.contrib.rest_framework.OAuth2Authentication`."""

    target_class = "oauth_provider.contrib.rest_framework.OAuth2Authentication"
    name = SCHEME_NAME

    def get_security_requirement(self, auto_schema: AutoSchema) -> dict[str, list[Any]] | list[dict[str, list[Any]]]:
        view = auto_schema.view
        alternatives: Alternatives = None
        for permission in view.get_permissions():
            try:
                alternatives = _both(alternatives, required_scopes(permission, view.request, view))
            except Exception as exc:  # noqa: BLE001 - e.g. ImproperlyConfigured: no required_scopes on the view
                warn(f"could not read the scopes {type(permission).__name__} requires: {exc}")
        found = [[]] if alternatives is None else alternatives
        unique = list({tuple(scopes): scopes for scopes in found}.values())
        if len(unique) == 1:
            return {self.name: unique[0]}
        return [{self.name: scopes} for scopes in unique]

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        view = auto_schema.view
        request = getattr(getattr(view, "request", None), "_request", None)
        version = str(spectacular_settings.OAS_VERSION)
        return security_scheme(request, metadata_url_field=version.startswith("3.2"))


__all__ = ["OAuth2AuthenticationScheme", "required_scopes"]

"""Protecting plain Django views with bearer access tokens (RFC 6750).

``protected_resource`` for function views, ``ProtectedResourceMixin`` for class-based views.
Both are thin layers over :mod:`oauth_provider.resource` and answer alike:

* no token: 401 with a bare ``WWW-Authenticate: Bearer`` challenge (RFC 6750 §3.1);
* a bad, expired or revoked token: 401 ``invalid_token``;
* a token without the required scopes: 403 ``insufficient_scope`` naming them;
* the token sent twice (header and body): 400 ``invalid_request``.

On success the view runs with ``request.oauth_token`` (a
:class:`~oauth_provider.resource.ResourceToken`) and ``request.resource_owner`` (the token's
user, None for a client_credentials token). ``request.user`` is left alone.

Both exempt the view from CSRF: a bearer token is not an ambient credential a browser
attaches by itself, so a cross-site form cannot ride on it; and API clients send no CSRF
token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar, overload

from django.http import HttpRequest, HttpResponse

from . import resource
from .errors import OAuthError

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., HttpResponse])


def guard(request: HttpRequest, scopes: Iterable[str] = ()) -> HttpResponse | None:
    """Check ``request`` for a valid token with ``scopes``. Returns the error answer, or None
    after setting ``request.oauth_token`` and ``request.resource_owner``."""
    required = tuple(scopes)
    try:
        token = resource.require(request, required)
    except OAuthError as exc:
        return resource.error_response(request, exc, required)
    request.oauth_token = token  # type: ignore[attr-defined]
    request.resource_owner = token.user  # type: ignore[attr-defined]
    return None


@overload
def protected_resource(scopes: ViewFunc) -> ViewFunc: ...
@overload
def protected_resource(scopes: Iterable[str] | None = None) -> Callable[[ViewFunc], ViewFunc]: ...


def protected_resource(scopes: Any = None) -> Any:
    """Require a valid bearer token carrying every scope in ``scopes``::

        @protected_resource(scopes=["read"])
        def notes(request):
            owner = request.resource_owner  # None for a client_credentials token
            return JsonResponse({"owner": owner.get_username() if owner else None})

    ``@protected_resource`` without arguments requires a valid token and no particular scope.
    """
    if callable(scopes):
        return protected_resource()(scopes)
    required = tuple(scopes or ())

    def decorator(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            denied = guard(request, required)
            if denied is not None:
                return denied
            return view(request, *args, **kwargs)

        wrapped.csrf_exempt = True  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator


class ProtectedResourceMixin:
    """The same protection for a class-based view; put it first among the bases::

        class NotesView(ProtectedResourceMixin, View):
            required_scopes = ["read"]

    Override :meth:`get_required_scopes` to vary the scopes by method or request.
    """

    required_scopes: Iterable[str] = ()

    def get_required_scopes(self, request: HttpRequest) -> Iterable[str]:
        """The scopes ``request`` needs. Default: :attr:`required_scopes`."""
        return self.required_scopes

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., HttpResponse]:
        view = super().as_view(**initkwargs)  # type: ignore[misc]
        view.csrf_exempt = True
        return view  # type: ignore[no-any-return]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        denied = guard(request, self.get_required_scopes(request))
        if denied is not None:
            return denied
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc, no-any-return]


__all__ = ["ProtectedResourceMixin", "guard", "protected_resource"]

"""Protecting plain Django views with access tokens: bearer (RFC 6750) or DPoP-bound (RFC 9449 §7).

``protected_resource`` for function views, ``ProtectedResourceMixin`` for class-based views.
Both are thin layers over :mod:`oauth_provider.resource` and answer alike:

* no token: 401 with bare ``Bearer`` and ``DPoP`` challenges (RFC 6750 §3.1, RFC 9449 §7.1);
* a bad, expired or revoked token: 401 ``invalid_token``; a DPoP-bound token without a valid
  proof for the request, or sent as a bearer token: 401 (``invalid_dpop_proof``,
  ``invalid_token``, ``use_dpop_nonce`` with its ``DPoP-Nonce``);
* a token without the required scopes: 403 ``insufficient_scope`` naming them;
* the token sent twice (header and body): 400 ``invalid_request``.

On success the view runs with ``request.oauth_token`` (a
:class:`~oauth_provider.resource.ResourceToken`) and ``request.resource_owner`` (the token's
user, None for a client_credentials token). ``request.user`` is left alone.

**Which resource.** A view belongs to the default resource (``RESOURCE_IDENTIFIER``) unless
it names one of ``RESOURCES`` (``resource=`` on the decorator, ``oauth_resource`` on the
mixin); a token whose audience does not name it is ``invalid_token`` (RFC 8707, RFC 9068 §4),
and the challenge's ``resource_metadata`` points at that resource's metadata (RFC 9728 §5.1).

**async views.** ``protected_resource`` on an ``async def`` view, and the mixin on a class
whose handlers are ``async def``, check the token with
:func:`~oauth_provider.resource.arequire`: the query runs in a worker thread, never on the
event loop.

Both exempt the view from CSRF: an access token is not an ambient credential a browser
attaches by itself, so a cross-site form cannot ride on it; and API clients send no CSRF
token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from functools import wraps
from typing import Any, TypeVar, cast, overload

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from . import resource
from .errors import OAuthError

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., HttpResponse])


def _granted(request: HttpRequest, token: resource.ResourceToken) -> None:
    request.oauth_token = token  # type: ignore[attr-defined]
    request.resource_owner = token.user  # type: ignore[attr-defined]


def _required(scopes: str | Iterable[str] | None) -> tuple[str, ...]:
    """``scopes`` as a tuple; one string is one scope, as for the DRF and Ninja classes (never
    its characters: ``"read"`` as ``r``, ``e``, ``a``, ``d`` would refuse every token)."""
    if isinstance(scopes, str):
        return (scopes,)
    return tuple(scopes or ())


def guard(request: HttpRequest, scopes: str | Iterable[str] = (), *,
          resource_id: str | None = None) -> HttpResponse | None:
    """Check ``request`` for a valid token with ``scopes`` for the resource ``resource_id``
    (None: the default resource). Returns the error answer, or None after setting
    ``request.oauth_token`` and ``request.resource_owner``."""
    required = _required(scopes)
    try:
        token = resource.require(request, required, resource=resource_id)
    except OAuthError as exc:
        return resource.error_response(request, exc, required, resource=resource_id)
    _granted(request, token)
    return None


async def aguard(
    request: HttpRequest, scopes: str | Iterable[str] = (), *, resource_id: str | None = None
) -> HttpResponse | None:
    """:func:`guard` for ``async def`` views: the token is checked without blocking the event
    loop (:func:`oauth_provider.resource.arequire`)."""
    required = _required(scopes)
    try:
        token = await resource.arequire(request, required, resource=resource_id)
    except OAuthError as exc:
        return resource.error_response(request, exc, required, resource=resource_id)
    _granted(request, token)
    return None


@overload
def protected_resource(scopes: ViewFunc) -> ViewFunc: ...
@overload
def protected_resource(
    scopes: str | Iterable[str] | None = None, *, resource: str | None = None
) -> Callable[[ViewFunc], ViewFunc]: ...


def protected_resource(scopes: Any = None, *, resource: str | None = None) -> Any:
    """Require a valid bearer token carrying every scope in ``scopes``, meant for
    ``resource`` (an identifier of ``RESOURCES``; None: the default resource)::

        @protected_resource(scopes=["read"])
        def notes(request):
            owner = request.resource_owner  # None for a client_credentials token
            return JsonResponse({"owner": owner.get_username() if owner else None})

        @protected_resource(scopes=["mcp:tools"], resource="https://example.com/mcp")
        async def mcp(request):
            ...

    ``@protected_resource`` without arguments requires a valid token for the default resource
    and no particular scope; ``@protected_resource("read")`` requires the one scope ``read``.
    An ``async def`` view gets an ``async def`` wrapper.
    """
    if callable(scopes):
        return protected_resource()(scopes)
    required = _required(scopes)
    target = resource

    def decorator(view: ViewFunc) -> ViewFunc:
        if iscoroutinefunction(view):
            async_view = cast("Callable[..., Awaitable[HttpResponse]]", view)

            @wraps(view)
            async def awrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                denied = await aguard(request, required, resource_id=target)
                if denied is not None:
                    return denied
                return await async_view(request, *args, **kwargs)

            markcoroutinefunction(awrapped)
            awrapped.csrf_exempt = True  # type: ignore[attr-defined]
            awrapped.oauth_resource = target  # type: ignore[attr-defined]
            return awrapped  # type: ignore[return-value]

        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            denied = guard(request, required, resource_id=target)
            if denied is not None:
                return denied
            return view(request, *args, **kwargs)

        wrapped.csrf_exempt = True  # type: ignore[attr-defined]
        wrapped.oauth_resource = target  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator


class ProtectedResourceMixin:
    """The same protection for a class-based view; put it first among the bases::

        class NotesView(ProtectedResourceMixin, View):
            required_scopes = ["read"]
            oauth_resource = "https://example.com/notes"  # optional; default: RESOURCE_IDENTIFIER

    Override :meth:`get_required_scopes` to vary the scopes by method or request. A view whose
    handlers are ``async def`` is checked with :func:`aguard`.
    """

    #: the scopes every request needs (one string: that one scope)
    required_scopes: str | Iterable[str] = ()
    #: the resource identifier this view belongs to (RFC 8707); None: the default resource
    oauth_resource: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Refuse a view whose ``dispatch`` would run before this one (``class V(View,
        ProtectedResourceMixin)``): the check would never run and every request would reach
        the view, a token or not. Failing at import is failing closed."""
        super().__init_subclass__(**kwargs)
        for klass in cls.__mro__:
            if klass is ProtectedResourceMixin:
                return
            if "dispatch" in vars(klass) and not issubclass(klass, ProtectedResourceMixin):
                raise ImproperlyConfigured(
                    f"{cls.__module__}.{cls.__qualname__}: put ProtectedResourceMixin before "
                    f"{klass.__qualname__} among the bases, or its dispatch() skips the token check."
                )

    def get_required_scopes(self, request: HttpRequest) -> str | Iterable[str]:
        """The scopes ``request`` needs. Default: :attr:`required_scopes`."""
        return self.required_scopes

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., HttpResponse]:
        view = super().as_view(**initkwargs)  # type: ignore[misc]
        view.csrf_exempt = True
        return view  # type: ignore[no-any-return]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if getattr(self, "view_is_async", False):
            return self._adispatch(request, *args, **kwargs)
        denied = guard(request, self.get_required_scopes(request), resource_id=self.oauth_resource)
        if denied is not None:
            return denied
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]

    async def _adispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        denied = await aguard(request, self.get_required_scopes(request), resource_id=self.oauth_resource)
        if denied is not None:
            return denied
        return await super().dispatch(request, *args, **kwargs)  # type: ignore[misc, no-any-return]


__all__ = ["ProtectedResourceMixin", "aguard", "guard", "protected_resource"]

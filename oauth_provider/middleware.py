"""Optional middleware: :class:`OAuth2TokenMiddleware` exposes the request's access token
(bearer, or DPoP-bound with its proof, RFC 9449 §7) to every view;
:class:`FrontChannelLogoutMiddleware` signs the user out of the clients of their session when
they log out through the site's own logout view (Front-Channel Logout 1.0).

**OAuth2TokenMiddleware**

Add it after ``AuthenticationMiddleware``::

    MIDDLEWARE = [..., "oauth_provider.middleware.OAuth2TokenMiddleware"]

It sets ``request.oauth_token`` and never answers by itself (under WSGI and ASGI alike: in an
async stack it validates the token in a worker thread before the view runs): a view that needs a token still
says so with :func:`~oauth_provider.decorators.protected_resource`, the mixin or the DRF
classes (which reuse the same validation, so the token costs one query per request at most).

The token must be meant for the view's resource (RFC 8707, RFC 9068 §4): the one its
``oauth_resource`` attribute names (set by ``protected_resource(resource=...)``, the mixin or
a DRF view), else the default resource (``RESOURCE_IDENTIFIER``). A token for another resource
is None here, like an invalid one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from . import resource
from .conf import provider_settings
from .errors import OAuthError
from .oidc import frontchannel
from .session import forget_ended_login, forget_login


class _HybridMiddleware:
    """A middleware Django runs as sync under WSGI and as async under ASGI (no thread hop):
    the subclass's ``__call__`` hands an async stack to its ``__acall__``."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:  # pragma: no cover - each subclass answers
        raise NotImplementedError


class OAuth2TokenMiddleware(_HybridMiddleware):
    """Sets ``request.oauth_token``.

    * The request carries no bearer token: ``None``, at no cost.
    * It does: a lazy object, validated (one query) the first time it is used. It stands for
      the :class:`~oauth_provider.resource.ResourceToken`, or for None when the token is
      invalid, so test it for truth (``if request.oauth_token:``), not with ``is None``; or
      call :func:`oauth_provider.resource.get_token` for the plain value.
    """

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        self._set_token(request)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        """Under ASGI the token is validated here, in a worker thread
        (:func:`~oauth_provider.resource.aauthenticate`), not lazily: a lazy first use inside an
        ``async def`` view would run the query on the event loop (Django refuses it:
        ``SynchronousOnlyOperation``). ``request.oauth_token`` is then read without a query;
        a JWT's ``client`` and ``user`` stay lazy (``await token.aclient()`` / ``auser()``)."""
        if self._may_carry_token(request):
            try:
                await resource.aauthenticate(request)
            except OAuthError:
                pass  # remembered on the request: the token reads as None, the guards answer 401
        self._set_token(request)
        response: HttpResponse = await self.get_response(request)
        return response

    def _set_token(self, request: HttpRequest) -> None:
        if self._may_carry_token(request):
            request.oauth_token = SimpleLazyObject(lambda: resource.get_token(request))  # type: ignore[attr-defined]
        else:
            request.oauth_token = None  # type: ignore[attr-defined]

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> None:
        """Bind ``request.oauth_token`` to the resource of the view about to run."""
        target = _view_resource(view_func)
        if target is not None and request.oauth_token is not None:  # type: ignore[attr-defined]
            request.oauth_token = SimpleLazyObject(  # type: ignore[attr-defined]
                lambda: resource.get_token(request, resource=target)
            )

    @staticmethod
    def _may_carry_token(request: HttpRequest) -> bool:
        if request.META.get("HTTP_AUTHORIZATION", "")[:7].lower().startswith(("bearer ", "dpop ")):
            return True
        return bool(provider_settings.BEARER_FORM_BODY) and request.method == "POST" and (
            request.content_type == resource.FORM
        )


def _view_resource(view_func: Callable[..., Any]) -> str | None:
    """The ``oauth_resource`` of a view function, or of the class of a class-based (or DRF)
    view, else None."""
    target = getattr(view_func, "oauth_resource", None)
    if target is None:
        view_class = getattr(view_func, "view_class", None) or getattr(view_func, "cls", None)
        target = getattr(view_class, "oauth_resource", None)
    return target if isinstance(target, str) else None


#: the answers a logout view may send the browser on with
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class FrontChannelLogoutMiddleware(_HybridMiddleware):
    """When a request logs the user out (Django's ``logout()``, e.g. the site's ``LogoutView``)
    and the session had signed in to clients with a ``frontchannel_logout_uri``, the redirect
    the logout view answers with becomes the provider's "signed out" page, which loads each
    client's URI in an invisible iframe and then goes on to where the redirect pointed
    (OpenID Connect Front-Channel Logout 1.0 §3). Add it after ``SessionMiddleware``::

        MIDDLEWARE = [..., "django.contrib.sessions.middleware.SessionMiddleware", ...,
                      "oauth_provider.middleware.FrontChannelLogoutMiddleware"]

    Every other answer passes through untouched, and so does a logout view that renders its
    own page: put ``{% frontchannel_logout %}`` in that page instead. Works under WSGI and
    ASGI.

    A login that replaced another login session in this browser (another user signing in, or
    a login after the session expired) ends that session as a logout would: the redirect the
    login view answers with becomes the same page, loading the previous session's clients'
    URIs and then going on (to the authorization request that asked for the login, say)."""

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        return self.after(request, self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        response: HttpResponse = await self.get_response(request)
        if not getattr(request, frontchannel.PENDING_ATTR, None):
            # nearly every request: nothing to do, nothing leaves the event loop
            return forget_ended_login(request, response)
        result: HttpResponse = await sync_to_async(self.after, thread_sensitive=True)(request, response)
        return result

    @staticmethod
    def after(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """``response``, or the logout page standing in for it; after a logout, without the
        login cookie (its session's clients were told: the next login must not end it again)."""
        return forget_ended_login(request, FrontChannelLogoutMiddleware._page(request, response))

    @staticmethod
    def _page(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if not getattr(request, frontchannel.PENDING_ATTR, None) or response.status_code not in REDIRECTS:
            return response
        location = response.get("Location", "")
        if not location or not frontchannel.may_continue_to(location):
            return response
        switched = bool(getattr(request, frontchannel.SWITCHED_ATTR, False))
        page = frontchannel.render_logged_out(request, frontchannel.pending(request), location,
                                              extra={"account_switched": switched})
        page.cookies.update(response.cookies)  # what the logout or login view set (the session cookie, say)
        if switched:
            forget_login(page)  # its clients are signed out now: not again at the next login
        return page

"""An optional middleware that exposes the request's access token (bearer, or DPoP-bound with
its proof, RFC 9449 §7) to every view.

Add it after ``AuthenticationMiddleware``::

    MIDDLEWARE = [..., "oauth_provider.middleware.OAuth2TokenMiddleware"]

It sets ``request.oauth_token`` and never answers by itself: a view that needs a token still
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

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from . import resource
from .conf import provider_settings


class OAuth2TokenMiddleware:
    """Sets ``request.oauth_token``.

    * The request carries no bearer token: ``None``, at no cost.
    * It does: a lazy object, validated (one query) the first time it is used. It stands for
      the :class:`~oauth_provider.resource.ResourceToken`, or for None when the token is
      invalid, so test it for truth (``if request.oauth_token:``), not with ``is None``; or
      call :func:`oauth_provider.resource.get_token` for the plain value.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._may_carry_token(request):
            request.oauth_token = SimpleLazyObject(lambda: resource.get_token(request))  # type: ignore[attr-defined]
        else:
            request.oauth_token = None  # type: ignore[attr-defined]
        return self.get_response(request)

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

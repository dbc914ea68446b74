"""An optional middleware that exposes the request's bearer token to every view.

Add it after ``AuthenticationMiddleware``::

    MIDDLEWARE = [..., "oauth_provider.middleware.OAuth2TokenMiddleware"]

It sets ``request.oauth_token`` and never answers by itself: a view that needs a token still
says so with :func:`~oauth_provider.decorators.protected_resource`, the mixin or the DRF
classes (which reuse the same validation, so the token costs one query per request at most).
"""

from __future__ import annotations

from collections.abc import Callable

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

    @staticmethod
    def _may_carry_token(request: HttpRequest) -> bool:
        if request.META.get("HTTP_AUTHORIZATION", "")[:7].lower() == "bearer ":
            return True
        return bool(provider_settings.BEARER_FORM_BODY) and request.method == "POST" and (
            request.content_type == resource.FORM
        )

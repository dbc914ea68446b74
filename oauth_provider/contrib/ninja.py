"""Django Ninja: access tokens for Ninja operations, bearer (RFC 6750) or DPoP-bound (RFC 9449
§7), with the answers the DRF classes give.

::

    from ninja import NinjaAPI
    from oauth_provider.contrib.ninja import OAuth2, install

    api = NinjaAPI(auth=OAuth2())
    install(api)  # the RFC 6750 answers: challenges in WWW-Authenticate

    @api.get("/notes", auth=OAuth2(scopes=["notes:read"]))
    def notes(request):
        return {"owner": request.user.get_username(), "scope": request.auth.scope}

On success ``request.auth`` is the :class:`~oauth_provider.resource.ResourceToken` and
``request.user`` its user (``AnonymousUser`` for a client_credentials token), as in DRF; the
token is validated by :mod:`oauth_provider.resource`, once per request (one query for an
opaque token, none for a JWT access token until ``request.user`` is used).

The answers (RFC 6750 §3.1), once :func:`install` registered the handlers on the API:

* no token: 401 with a bare ``WWW-Authenticate: Bearer`` challenge; the request goes on to the
  operation's other auth classes first, as in Ninja (and DRF) when a class finds no credential;
* a bad, expired or revoked token: 401 ``error="invalid_token"``; a DPoP-bound one sent as a
  bearer token, or without a valid proof for the request: 401 (``invalid_token``,
  ``invalid_dpop_proof``, or ``use_dpop_nonce`` with a ``DPoP-Nonce`` header);
* a token without the operation's scopes: 403 ``error="insufficient_scope"`` naming them;
* the token sent twice (header and form body): 400 ``invalid_request``;

each answer with a ``Bearer`` and a ``DPoP`` challenge (RFC 9449 §7.1: ``algs``; the error in
the one of the scheme the request used), each with ``realm`` and ``resource_metadata``
(RFC 9728 §5.1), as :func:`oauth_provider.resource.error_response` renders them. Ninja answers an
exception from an auth class through the API's exception handlers, which only the API knows;
without :func:`install` the status codes are the same but Ninja's ``{"detail": ...}`` body
carries no challenge, so always call it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from ninja.errors import AuthenticationError, HttpError
from ninja.security.base import AuthBase, SecuritySchema

from .. import resource
from ..errors import MissingToken, OAuthError
from ..openapi import security_scheme
from ..resource import ResourceToken

if TYPE_CHECKING:
    from ninja import NinjaAPI

#: set on a request in which OAuth2 was consulted and found no token
_NO_TOKEN_ATTR = "_oauth_provider_ninja_no_token"


class BearerError(HttpError):
    """An OAuth error met by :class:`OAuth2`: ``status_code`` and ``message`` for Ninja's
    stock ``HttpError`` handler, and ``response``, the complete RFC 6750 answer, for the
    handler :func:`install` registers."""

    def __init__(self, error: OAuthError, response: HttpResponse) -> None:
        super().__init__(error.status, error.description or error.error or "Unauthorized")
        self.error = error
        self.response = response


class OAuth2(AuthBase):
    """Require a valid access token (bearer, or DPoP-bound with its proof) carrying every scope
    in ``scopes``.

    ``resource`` is the identifier (one of ``RESOURCES``) of the API the operation belongs to;
    None: the default resource (``RESOURCE_IDENTIFIER``). A token whose audience does not name
    it is ``invalid_token`` (RFC 8707, RFC 9068 §4), as for the DRF classes' ``oauth_resource``.
    ``form_body`` says whether a form-encoded POST body may carry the token (RFC 6750 §2.2;
    None: the ``BEARER_FORM_BODY`` setting). In the OpenAPI schema Ninja generates, the class is
    an ``oauth2`` security scheme with the provider's flows, URLs and scopes
    (:mod:`oauth_provider.openapi`)."""

    openapi_type = "oauth2"

    def __init__(
        self, scopes: Iterable[str] = (), *, resource: str | None = None, form_body: bool | None = None
    ) -> None:
        # Not AuthBase.__init__: it reads every openapi_* attribute at once, and the security
        # scheme needs the URLconf, which is not loaded yet where APIs are declared.
        self.scopes: tuple[str, ...] = (scopes,) if isinstance(scopes, str) else tuple(scopes)
        self.resource = resource
        self.form_body = form_body
        self.is_async = False

    @property
    def openapi_security_schema(self) -> SecuritySchema:
        """Built when a schema is generated, from the settings and URLconf of that moment."""
        return SecuritySchema(**security_scheme())

    @openapi_security_schema.setter
    def openapi_security_schema(self, value: Any) -> None:
        """Ignored: the scheme always reflects the provider's current metadata."""

    def __call__(self, request: HttpRequest) -> ResourceToken | None:
        """The request's token; None when it carries none (Ninja then tries the operation's
        next auth class). Raises :class:`BearerError` for a bad token, a missing scope or a
        malformed request."""
        try:
            token = resource.require(request, self.scopes, form_body=self.form_body, resource=self.resource)
        except MissingToken:
            setattr(request, _NO_TOKEN_ATTR, self.resource or True)
            return None
        except OAuthError as exc:
            raise BearerError(exc, resource.error_response(request, exc, self.scopes, resource=self.resource)) from None
        request.user = token.user if token.user is not None else AnonymousUser()
        return token


def install(api: NinjaAPI) -> None:
    """Register on ``api`` the exception handlers that answer as RFC 6750 §3 says: the
    :class:`BearerError` of a bad token or a missing scope, and Ninja's own
    ``AuthenticationError`` (no auth class accepted the request) with a bare Bearer challenge
    when :class:`OAuth2` was one of them. Other ``AuthenticationError`` answers are left to the
    handler the API had."""
    lookup = api._lookup_exception_handler
    previous = lookup(AuthenticationError())

    def bearer_error(request: HttpRequest, exc: Any) -> HttpResponse:
        response: HttpResponse = exc.response
        return response

    def authentication_error(request: HttpRequest, exc: Any) -> HttpResponse:
        marker = getattr(request, _NO_TOKEN_ATTR, None)
        if marker is not None:
            target = marker if isinstance(marker, str) else None
            return resource.error_response(request, MissingToken(), resource=target)
        if previous is None:  # as Ninja does without a handler
            raise exc
        response: HttpResponse = previous(request, exc)
        return response

    api.add_exception_handler(BearerError, bearer_error)
    api.add_exception_handler(AuthenticationError, authentication_error)


__all__ = ["BearerError", "OAuth2", "install"]

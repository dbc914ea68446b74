"""``OAuth2Authentication``: DRF authentication by bearer access token (RFC 6750).

It follows DRF's contract exactly: :meth:`~OAuth2Authentication.authenticate` returns None
when the request carries no bearer token (so other authenticators may try), raises
``AuthenticationFailed`` for a bad one, and :meth:`~OAuth2Authentication.authenticate_header`
gives the Bearer challenge, so DRF answers 401 (``error="invalid_token"`` for a bad token, no
error code when none was sent, RFC 6750 §3.1). DRF takes the challenge from the *first*
authentication class of the view: list this one first, or DRF turns the 401 into a 403.

A view belongs to the default resource (``RESOURCE_IDENTIFIER``) unless it sets
``oauth_resource`` to an identifier of ``RESOURCES``; a token whose audience does not name the
view's resource is refused like a bad one (401 ``invalid_token``, RFC 8707, RFC 9068 §4).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from ... import resource
from ...errors import InvalidRequest, OAuthError
from ...resource import ResourceToken


class InvalidBearerRequest(exceptions.APIException):
    """RFC 6750 §3.1 ``invalid_request`` (e.g. the token sent in the header *and* the body):
    400, with the Bearer challenge in ``auth_header``, which DRF's stock exception handler
    puts in ``WWW-Authenticate``."""

    status_code = 400
    default_detail = "The request is malformed."
    default_code = "invalid_request"

    def __init__(self, detail: str | None = None, *, auth_header: str | None = None) -> None:
        super().__init__(detail)
        self.auth_header = auth_header


class OAuth2Authentication(BaseAuthentication):
    """Authenticate by bearer access token.

    On success ``request.user`` is the token's user, or ``AnonymousUser`` for a
    client_credentials token, and ``request.auth`` is the
    :class:`~oauth_provider.resource.ResourceToken` (``.client``, ``.user``, ``.scopes``,
    ``.expires_at``)."""

    #: the resource identifier of every view using this class (a subclass may set it); a
    #: view's own ``oauth_resource`` wins. None: the default resource.
    resource: str | None = None

    def get_resource(self, request: Request) -> str | None:
        """The resource the request's view belongs to: the view's ``oauth_resource``, else
        :attr:`resource`, else None (the default resource)."""
        view = (getattr(request, "parser_context", None) or {}).get("view")
        return getattr(view, "oauth_resource", None) or self.resource

    def authenticate(self, request: Request) -> tuple[Any, ResourceToken] | None:
        """``(user, token)``; None without a bearer token. Raises ``AuthenticationFailed``
        for an invalid, expired or revoked token, or one for another resource, and
        :class:`InvalidBearerRequest` for a malformed request."""
        try:
            token = resource.authenticate(request, resource=self.get_resource(request))
        except InvalidRequest as exc:
            raise InvalidBearerRequest(exc.description, auth_header=self.authenticate_header(request)) from None
        except OAuthError as exc:
            raise exceptions.AuthenticationFailed(exc.description, code=exc.error) from None
        if token is None:
            return None
        return (token.user if token.user is not None else AnonymousUser(), token)

    def authenticate_header(self, request: Request) -> str:
        """The ``WWW-Authenticate`` challenge DRF sends with a 401: ``invalid_token`` when
        the request's token was bad, a bare challenge when it carried none; both with
        ``realm`` and ``resource_metadata`` (RFC 9728 §5.1)."""
        target = self.get_resource(request)
        return resource.challenge(
            resource.django_request(request), resource.outcome(request, resource=target), resource=target
        )

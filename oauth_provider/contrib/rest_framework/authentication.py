"""``OAuth2Authentication``: DRF authentication by access token, bearer (RFC 6750) or DPoP-bound
(RFC 9449 §7).

It follows DRF's contract exactly: :meth:`~OAuth2Authentication.authenticate` returns None
when the request carries no ``Bearer`` or ``DPoP`` token (so other authenticators may try),
raises ``AuthenticationFailed`` for a bad one, and
:meth:`~OAuth2Authentication.authenticate_header` gives the challenges, so DRF answers 401
(``error="invalid_token"`` for a bad token, ``invalid_dpop_proof`` for a bad proof, no error
code when none was sent, RFC 6750 §3.1, RFC 9449 §7.1), ``Bearer`` and ``DPoP`` alike, from
:func:`oauth_provider.resource.challenge`. DRF takes the challenge from the *first*
authentication class of the view: list this one first, or DRF turns the 401 into a 403.

A DPoP-bound token is good only with the DPoP scheme and a valid proof for the request; one
sent as a bearer token is refused (RFC 9449 §7.2). With ``DPOP_NONCE`` on, a proof without
the resource's nonce is answered 401 ``use_dpop_nonce`` with a ``DPoP-Nonce`` header (§9):
DRF's exception handler sets no such header, so the class adds it to the view's response.

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
from ...errors import InvalidRequest, OAuthError, UseDPoPNonce
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


def _add_headers(request: Request, headers: dict[str, str]) -> None:
    """Have the response of ``request``'s view carry ``headers`` (the ``DPoP-Nonce`` of
    ``use_dpop_nonce``), whichever exception handler renders the 401."""
    view = (getattr(request, "parser_context", None) or {}).get("view")
    original = getattr(view, "finalize_response", None)
    if original is None:
        return

    def finalize_response(request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = original(request, response, *args, **kwargs)
        for name, value in headers.items():
            response[name] = value
        return response

    view.finalize_response = finalize_response  # type: ignore[union-attr]


class OAuth2Authentication(BaseAuthentication):
    """Authenticate by access token: ``Authorization: Bearer`` or, for a DPoP-bound token,
    ``Authorization: DPoP`` with its ``DPoP`` proof.

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
        """``(user, token)``; None without a token. Raises ``AuthenticationFailed`` for an
        invalid, expired or revoked token, one for another resource, a DPoP-bound one without
        a valid proof (or sent as a bearer token), and :class:`InvalidBearerRequest` for a
        malformed request."""
        try:
            token = resource.authenticate(request, resource=self.get_resource(request))
        except InvalidRequest as exc:
            raise InvalidBearerRequest(exc.description, auth_header=self.authenticate_header(request)) from None
        except OAuthError as exc:
            if isinstance(exc, UseDPoPNonce):
                _add_headers(request, exc.headers)
            raise exceptions.AuthenticationFailed(exc.description, code=exc.error) from None
        if token is None:
            return None
        return (token.user if token.user is not None else AnonymousUser(), token)

    def authenticate_header(self, request: Request) -> str:
        """The ``WWW-Authenticate`` value DRF sends with a 401 (:func:`oauth_provider.resource.challenge`):
        the ``Bearer`` and ``DPoP`` challenges, the error (``invalid_token``,
        ``invalid_dpop_proof``, ``use_dpop_nonce``) in the one of the scheme the request used,
        bare ones when it carried no token; each with ``realm`` and ``resource_metadata``
        (RFC 9728 §5.1)."""
        target = self.get_resource(request)
        return resource.challenge(
            resource.django_request(request), resource.outcome(request, resource=target), resource=target
        )

"""The UserInfo endpoint (OpenID Connect Core §5.3).

GET or POST with an access token that carries ``openid`` (RFC 6750 errors otherwise,
§5.3.3): in the ``Authorization: Bearer`` header (RFC 6750 §2.1), ``Authorization: DPoP`` with
its proof for a DPoP-bound token (RFC 9449 §7.1; a bound token is never good as a bearer
token, §7.2), or, on a POST, as the
``access_token`` field of an ``application/x-www-form-urlencoded`` body (§2.2), which OIDC
Core §5.3.1 allows (any RFC 6750 §2 method) and some relying parties (pyoidc) send by default,
whatever ``BEARER_FORM_BODY`` says for the host's own APIs. Never from the URI query
(OAuth 2.1 §5.1.1); both header and body is ``invalid_request``, and so is a POST without
the header whose body is of another type (JSON, multipart): its description says where the
token goes, rather than a bare challenge that says nothing.

The answer holds ``sub`` (always, and equal to the ID token's) and the claims of the
granted profile/email/address/phone scopes (§5.4); a ``claims.userinfo`` request (§5.5) adds
none, since it may only name claims a granted scope covers (it never widens consent). A
client_credentials token has no user: ``invalid_token``. Open to browsers (CORS), never cached.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from .. import resource
from ..adapter import claims_for, subject_for
from ..conf import provider_settings
from ..errors import InvalidRequest, InvalidToken, OAuthError
from ..models import AbstractClient, AccessToken
from ..oidc import claims as oidc_claims
from ..registry import adapter
from ..responses import allow_cors, json_response, no_store

FORM = "application/x-www-form-urlencoded"


def _jwt_row(request: HttpRequest) -> AccessToken:
    """The row of the request's JWT access token, live.

    A JWT access token names no family, and a resource verifies it without the database (its
    revocation reaches resources only through the denylist). Here, on the authorization
    server, its row is read anyway (one query, its client, user and family joined): the token must
    still be live, as an opaque one must, so a revoked one, one whose family a replayed code
    revoked, or one of a deactivated client releases no claims (RFC 7009 §2). The row's user
    and client are then read from it, not by a second query."""
    row = resource.lookup(resource.extract(request, form_body=True) or "")
    if row is None or not resource.is_live(row):
        raise InvalidToken()
    return row


def _body_of_another_type(request: HttpRequest) -> bool:
    """A POST with no Authorization header whose body cannot carry the token (RFC 6750 §2.2
    names the urlencoded form only); decided from the headers, the body is not read."""
    if request.method != "POST" or request.META.get("HTTP_AUTHORIZATION"):
        return False
    has_body = (request.META.get("CONTENT_LENGTH") or "0") != "0"
    return has_body and request.content_type not in ("", FORM)


@method_decorator(csrf_exempt, name="dispatch")
class UserInfoView(View):
    http_method_names = ["get", "post", "options"]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not provider_settings.OIDC_ENABLED:
            raise Http404("OpenID Connect is not enabled.")
        # This dispatch replaces View.dispatch, so it enforces http_method_names itself.
        if (request.method or "").lower() not in self.http_method_names:
            return no_store(self.http_method_not_allowed(request, *args, **kwargs))
        if request.method == "OPTIONS":
            return allow_cors(HttpResponse(status=204), methods="GET, POST, OPTIONS")
        try:
            response = self.answer(request)
        except OAuthError as exc:
            response = resource.error_response(request, exc, ("openid",))
        return allow_cors(response, methods="GET, POST, OPTIONS")

    def answer(self, request: HttpRequest) -> HttpResponse:
        if _body_of_another_type(request):
            raise InvalidRequest(
                f"Send the access token in the Authorization header (Bearer) or as access_token in "
                f"an {FORM} POST body."
            )
        token = resource.require(request, ("openid",), form_body=True)
        client: AbstractClient
        if token.is_jwt:  # its lazy user and client are read from the row: no second query
            row = _jwt_row(request)
            user, client = (row.user if row.user_id is not None else None), row.client
        else:
            user, client = token.user, token.client
        if user is None:
            raise InvalidToken("This access token does not represent a user.")
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            raise InvalidToken("The user is no longer active.")
        policy = adapter()
        # every claim a granted scope covers (§5.4); a claims request (§5.5) adds none here: it
        # never widens consent, and at UserInfo the scopes' claims are all released already
        names = oidc_claims.requested_names(token.scopes, None, "userinfo")
        body = oidc_claims.select(claims_for(user, client, policy=policy), names)
        body["sub"] = subject_for(user, client, policy=policy)
        return json_response(body)

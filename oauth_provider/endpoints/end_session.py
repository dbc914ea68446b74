"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2-3).

``id_token_hint`` must be an ID token we issued (signature and issuer checked; expiry is not,
since a logout may come long after). ``post_logout_redirect_uri`` is followed only when it
exactly matches one registered for the client the hint (or ``client_id``) names, and
``state`` goes back with it. When the request cannot prove who sent it (no valid hint for
the logged-in user's current session: its ``sid``, §2) the user confirms on a CSRF-protected
page first, so a third-party page cannot log users out silently, not even with an old ID
token of theirs. A hint that does not verify (signed by a key retired since, forged, another
issuer's) is not used at all (§4): no client is taken from it and nobody is redirected, but
the user is still asked whether to log out, rather than left signed in behind an error page.
After a logout, clients of the session with a front-channel logout URI are signed out by the
page shown next (:mod:`oauth_provider.oidc.frontchannel`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, NamedTuple

from django.contrib.auth import logout
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.http.response import HttpResponseBase
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from .. import jwt, metadata_documents
from ..adapter import subject_for
from ..client_metadata import is_self_registered
from ..conf import provider_settings
from ..csrf import csrf_failure
from ..errors import InvalidRequest, OAuthError
from ..issuer import get_issuer
from ..models.store import client_by_id
from ..oidc import frontchannel
from ..params import flatten, request_data
from ..responses import ClientRedirect, add_query, error_page, page_headers, render_page
from ..session import forget_ended_login, session_id

if TYPE_CHECKING:
    from ..models import AbstractClient

PARAMETERS = ("id_token_hint", "logout_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales")
CONFIRM_FIELD = "logout_request"
CONFIRM_SALT = "oauth_provider.logout"
logger = logging.getLogger("oauth_provider.logout")


class Requester(NamedTuple):
    """Who a logout request says it comes from (:meth:`EndSessionView.identify`)."""

    #: from the hint's audience, else ``client_id``; None when neither names one
    client: AbstractClient | None
    #: the hint's ``sub`` and ``sid``; None without a verified hint (or a hint without ``sid``)
    subject: str | None
    sid: str | None
    #: an ``id_token_hint`` came and did not verify: nothing of it is used, nobody is redirected
    unverified_hint: bool = False


class EndSessionView(View):
    """End-session endpoint. ``confirm_template`` asks the user; ``done_template`` says
    they are logged out when there is nowhere to send them back to."""

    http_method_names = ["get", "post"]
    confirm_template = "oauth_provider/logout_confirm.html"
    done_template = "oauth_provider/logged_out.html"

    @method_decorator(csrf_exempt)
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not provider_settings.OIDC_ENABLED:
            raise Http404("OpenID Connect is not enabled.")
        # This dispatch replaces View.dispatch, so it enforces http_method_names itself.
        if (request.method or "").lower() not in self.http_method_names:
            return self.http_method_not_allowed(request, *args, **kwargs)
        try:
            data = request_data(request)
            if request.method == "POST" and CONFIRM_FIELD in data:
                return self.confirmed(request, data)
            return self.handle(request, flatten(data, known=PARAMETERS))
        except OAuthError as exc:
            return error_page(request, exc)

    def handle(self, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
        client, subject, sid, unverified_hint = self.identify(request, params)
        target = None if unverified_hint else self.redirect_target(client, params)
        user = request.user
        if not user.is_authenticated:
            return self.finish(request, target if self.may_redirect_anonymous(client, subject) else None, params)
        # Silent only for a hint of this very login (§2: a hint whose sid is not the current
        # session's is suspect): an older ID token of the user, found in a log, a history or an
        # old logout URL, must not log out the session they have now without asking them.
        if subject is not None and subject == subject_for(user, client) and sid and sid == session_id(request):
            logout(request)
            return self.finish(request, target, params)
        blob = signing.dumps(params, salt=CONFIRM_SALT, compress=True)
        return render_page(request, self.confirm_template, {
            "client": client, "confirm_field": CONFIRM_FIELD, "confirm_blob": blob, "user": user,
            # an ID token issued to the client came with the request; a bare client_id anyone can send
            "client_proven": subject is not None,
        }, ui_locales=params.get("ui_locales", ""))

    def confirmed(self, request: HttpRequest, data: QueryDict) -> HttpResponse:
        rejected = csrf_failure(request)
        if rejected is not None:
            return page_headers(rejected)  # still a page of ours: no framing, no caching
        try:
            params = signing.loads(data.get(CONFIRM_FIELD, ""), salt=CONFIRM_SALT, max_age=3600)
        except (signing.BadSignature, ValueError):
            raise InvalidRequest("The logout form has expired or was tampered with.") from None
        if not isinstance(params, dict):
            raise InvalidRequest("The logout form was tampered with.")
        client, _subject, _sid, unverified_hint = self.identify(request, params)
        target = None if unverified_hint else self.redirect_target(client, params)
        if is_self_registered(client):
            # Confirmed on our page: no hint proved the request came from this client, and a
            # self-registered one's URI is whatever anyone registered (RP-Initiated Logout §2).
            target = None
        if "logout" in data:
            logout(request)
        return self.finish(request, target, params)

    def identify(self, request: HttpRequest, params: dict[str, str]) -> Requester:
        """The client (from the hint's audience or ``client_id``), the hint's subject and its
        session (``sid``, None when it has none).

        A hint that does not verify is dropped (RP-Initiated Logout 1.0 §4: information that
        failed validation MUST NOT be used) and said so in ``unverified_hint``: the client is
        then only what ``client_id`` names, as with no hint. Refusing the request instead
        would leave the user signed in behind an error page whenever their relying party kept
        an ID token longer than its signing key stays published (key rotation)."""
        client_id = params.get("client_id")
        subject = sid = claims = None
        unverified_hint = False
        hint = params.get("id_token_hint")
        if hint:
            try:
                claims = jwt.decode(
                    hint, typ=None, issuer=get_issuer(request), verify_exp=False, require=("iss", "sub", "aud")
                )
            except jwt.InvalidJWT as exc:
                logger.info("id_token_hint not verified (%s): the user is asked, nobody is redirected", exc)
                unverified_hint = True
        if claims is not None:
            audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
            if client_id is not None and client_id not in audience:
                raise InvalidRequest("client_id is not an audience of id_token_hint.")
            client_id = client_id or claims.get("azp") or audience[0]
            subject = str(claims["sub"])
            sid = claims["sid"] if isinstance(claims.get("sid"), str) else None
        client = None
        if client_id is not None:
            client = metadata_documents.unless_documented(client_by_id(client_id, is_active=True))
            if client is None:
                raise InvalidRequest("Unknown client.")
        return Requester(client, subject, sid, unverified_hint)

    @staticmethod
    def may_redirect_anonymous(client: AbstractClient | None, subject: str | None) -> bool:
        """Send a visitor with no session back only when an ID token proves the request comes
        from the client (OIDC RP-Initiated Logout 1.0 §2: without ``id_token_hint`` the OP MUST
        NOT redirect unless it can confirm the target otherwise), and only to a client an
        operator registered: anyone can register a client of their own and get ID tokens for
        it, so for a self-registered one the hint proves nothing and the endpoint would be an
        open redirect on the provider's own domain."""
        return subject is not None and client is not None and not is_self_registered(client)

    @staticmethod
    def redirect_target(client: AbstractClient | None, params: dict[str, str]) -> str | None:
        uri = params.get("post_logout_redirect_uri")
        if uri is None:
            return None
        if client is None:
            raise InvalidRequest("post_logout_redirect_uri needs an id_token_hint (or client_id) naming the client "
                                 "it is registered for.")
        if uri not in client.post_logout_redirect_uri_list:
            raise InvalidRequest("post_logout_redirect_uri is not registered for this client.")
        return uri

    def finish(self, request: HttpRequest, target: str | None, params: dict[str, str]) -> HttpResponse:
        """Back to the client, or the "signed out" page; when the logout ended a session whose
        clients registered front-channel logout URIs, that page loads them first and then
        goes on to the client (Front-Channel Logout 1.0 §3)."""
        redirect = add_query(target, {"state": params.get("state")}) if target is not None else None
        frames = frontchannel.pending(request)
        if frames:
            response = frontchannel.render_logged_out(request, frames, redirect, template=self.done_template)
        elif redirect is not None:
            response = page_headers(ClientRedirect(redirect))
        else:
            response = render_page(request, self.done_template, {}, ui_locales=params.get("ui_locales", ""))
        return forget_ended_login(request, response)

"""The authorization endpoint (RFC 6749 §3.1 and §4.1.1-4.1.2, OAuth 2.1 §4.1, RFC 9207).

GET or POST carries the authorization request (OIDC Core §3.1.2.1 asks for both). A POST
that carries ``oauth_request`` is instead the user's decision on the consent page: it is
CSRF-checked, its signed blob is bound to the user, and the whole request is validated
again from that blob (the form carries no other trusted state).

Order: client and redirect URI (errors shown as a page) -> the user is logged in (else the
login page; no redirect to a client before the user is authenticated, RFC 9700 §4.11.2)
-> the remaining checks (errors redirected with ``state`` and ``iss``; for a self-registered
client a page with a link back until the user has answered the consent page) -> consent
(skipped for confidential ``skip_consent`` clients and for grants the user asked to be
remembered; never for public clients)
-> a code.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.views import redirect_to_login
from django.core import signing
from django.db import transaction
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters

from .. import metadata_documents, request_objects, resources, scopes
from ..authorization_request import (
    AuthorizationRequest,
    consent_needed,
    consent_scopes,
    establish_client,
    granted_scopes,
    may_remember,
    record_decision,
    validate,
)
from ..client_metadata import is_self_registered
from ..conf import provider_settings
from ..csrf import csrf_failure
from ..errors import AccessDenied, ConsentRequired, InvalidRequest, LoginRequired, OAuthError
from ..issuer import get_issuer
from ..issuing import start_grant
from ..models import get_client_model
from ..oidc import claims as oidc_claims
from ..oidc.reauthentication import forget_marker, logged_in_for, login_again, needs_login
from ..params import LOGIN_HINT_MAX_LENGTH, request_data
from ..redirect_uris import display_uri, offered_as_link
from ..registry import adapter
from ..responses import (
    ClientRedirect,
    add_query,
    error_page,
    error_redirect_url,
    page_headers,
    redirect_to_client,
    render_page,
)
from ..session import remember_login
from ..signals import consent_denied, consent_granted

CONSENT_FIELD = "oauth_request"
#: the consent page's checkbox asking to skip the page next time (absent: ask again)
REMEMBER_FIELD = "remember"
CONSENT_SALT = "oauth_provider.consent"
#: how long a consent page may stay open before its form expires (seconds)
CONSENT_MAX_AGE = 3600


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def _host(uri: str) -> str:
    try:
        return urlsplit(uri).hostname or ""
    except ValueError:
        return ""


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(sensitive_post_parameters(), name="dispatch")
class AuthorizationView(View):
    """Authorization endpoint. Subclass and set ``template_name`` to change the consent page."""

    http_method_names = ["get", "post"]
    template_name = "oauth_provider/authorize.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.post(request)

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            data = request_data(request)
        except OAuthError as exc:
            return error_page(request, exc)
        if request.method == "POST" and CONSENT_FIELD in data:
            return self.decide(request)
        return self.handle(request, data)

    # -- the request -----------------------------------------------------------------------
    def establish(self, request: HttpRequest, query: QueryDict) -> tuple[AuthorizationRequest, QueryDict]:
        """The request's client and redirect URI, from the parameters that count: a pushed
        request's (``request_uri``, RFC 9126 §4) or a request object's (``request``, RFC 9101 §6),
        else the query's (:func:`oauth_provider.request_objects.expand`). Raises
        :class:`OAuthError`, shown as a page."""
        # an anonymous browser's request fetches no client ID metadata document (the login
        # comes first): any page can make its visitors' browsers send them, cookie-less
        may_fetch = request.user.is_authenticated
        expanded = request_objects.expand(query, get_issuer(request), request, may_fetch=may_fetch)
        req = expanded.mark(establish_client(expanded.data, client=expanded.client, request=request,
                                             may_fetch=may_fetch))
        return req, expanded.data

    def handle(self, request: HttpRequest, query: QueryDict) -> HttpResponse:
        try:
            req, data = self.establish(request, query)
        except OAuthError as exc:
            return error_page(request, exc)
        except metadata_documents.NotFetched:  # the client is known once the user has logged in
            if "none" in query.get("prompt", "").split():  # it cannot be told: its redirect URI is unknown
                return error_page(request, LoginRequired("The user is not logged in."))
            return self.login(request, query, login_hint="")
        if not request.user.is_authenticated and "none" not in data.get("prompt", "").split():
            # Back here by GET with the query as sent: a pushed request stays off the front channel.
            # The login page's hint comes from the parameters that count (a request object's,
            # RFC 9101 §6.3), never from a query anyone can edit beside them; a pushed one's stays
            # off the front channel (RFC 9126 §4).
            return self.login(request, query, login_hint=data.get("login_hint", "") if req.pushed is None else "")
        req.issuer = get_issuer(request)
        req.request = request
        try:
            validate(req, data)
            self.check_user(request, req)
            if req.openid and needs_login(request, req):
                if "none" in req.prompt:
                    raise LoginRequired("The user must log in again.")
                if logged_in_for(request, req):  # logged in as asked, still not the hint's user
                    raise LoginRequired("The user who logged in is not the one id_token_hint names.")
                return self.login_again(request, req, query)
            if self.consent_needed(request, req):
                if "none" in req.prompt:
                    raise ConsentRequired("The user has not granted these scopes to this client.")
                return self.consent_page(request, req)
            return self.grant(request, req, req.scopes)
        except OAuthError as exc:
            return self.error(request, req, exc)

    def error(self, request: HttpRequest, req: AuthorizationRequest, exc: OAuthError, *,
              decided: bool = False) -> HttpResponse:
        """An error once the client and redirect URI are established: sent back to the client
        when the error may be (``redirectable``, RFC 6749 §4.1.2.1), else shown as a page.

        ``decided``: the user has answered our consent page, which named the client and where
        it sends them. Before that, a self-registered client's error is a page with a link back
        rather than a redirect (:meth:`~oauth_provider.adapter.DefaultAdapter.redirects_errors`):
        anyone can register a client with any redirect URI, and a link to an invalid request (a
        bad scope, ``prompt=none``) would otherwise bounce whoever follows it, logged in or not,
        from this site straight on to the attacker's page (RFC 9700 §4.11.2: redirect
        automatically only to URIs the server trusts; else inform the user and let them
        decide)."""
        if not exc.redirectable:
            return error_page(request, exc)
        request_objects.retire(req)  # the client has its answer: a pushed request is done
        back_to = error_redirect_url(exc, req.redirect_uri, req.state, get_issuer(request))
        if decided or adapter().redirects_errors(req.client):
            return page_headers(ClientRedirect(back_to))
        return error_page(request, exc, back_to=back_to if offered_as_link(req.redirect_uri) else "",
                          back_to_shown=display_uri(req.redirect_uri))

    def login(self, request: HttpRequest, data: QueryDict, login_hint: str | None = None) -> HttpResponse:
        """Send the user to the login page, coming back to this request by GET. The login
        page gets ``login_hint`` (OIDC Core §3.1.2.1) to pre-fill, if the request had one."""
        next_url = f"{request.path}?{data.urlencode()}"
        hint = login_hint if login_hint is not None else data.get("login_hint")
        response = redirect_to_login(next_url, provider_settings.LOGIN_URL)
        if hint and len(hint) <= LOGIN_HINT_MAX_LENGTH:
            response["Location"] = add_query(response["Location"], {"login_hint": hint})
        return page_headers(response)

    def login_again(self, request: HttpRequest, req: AuthorizationRequest, data: QueryDict) -> HttpResponse:
        """A fresh login this request demands (OIDC Core §3.1.2.1: prompt=login, max_age). A
        pushed request's ``login_hint`` stays off the front channel, like its other parameters."""
        hint = req.params.get("login_hint") if req.pushed is None else ""
        return login_again(request, req, data, lambda query: self.login(request, query, login_hint=hint))

    def check_user(self, request: HttpRequest, req: AuthorizationRequest) -> None:
        if not request.user.is_authenticated:
            raise LoginRequired("The user is not logged in.")
        if not adapter().is_user_allowed(request, req.client, request.user):
            raise AccessDenied("This account may not authorize this client.")
        if req.openid and req.claims and not oidc_claims.acr_satisfied(
                req.claims, adapter().authentication_context(request, request.user)):
            raise AccessDenied("The login does not meet the authentication context class the client requires.")

    def consent_needed(self, request: HttpRequest, req: AuthorizationRequest) -> bool:
        return consent_needed(request, req, request.user)

    # -- the consent page and the decision ---------------------------------------------------
    def consent_page(self, request: HttpRequest, req: AuthorizationRequest) -> HttpResponse:
        carried = request_objects.front_channel(req)
        blob = signing.dumps(
            {"p": carried, "r": [] if req.pushed is not None or req.request_object
             else list(req.params.getlist("resource")),
             "u": str(request.user.pk), "s": req.signed},
            salt=CONSENT_SALT, compress=True,
        )
        known = resources.configured(request) if req.resources else {}
        host = metadata_documents.display_host(req.client)
        context: dict[str, Any] = {
            "client": req.client,
            # A client ID metadata document names itself: its host is what the user can trust
            # (draft-ietf-oauth-client-id-metadata-document §6.4), shown wherever its name is.
            "client_host": host,
            "client_label": metadata_documents.display_label(req.client),
            "redirect_host": _host(req.redirect_uri),
            # MCP Security Considerations: a loopback redirect means an app on this device, and
            # for a client that registered itself any program on it could have (name included)
            "loopback_redirects_only": is_self_registered(req.client) and all(
                _host(uri) in LOOPBACK_HOSTS for uri in req.client.redirect_uri_list),
            # where the user will be sent, as the browser will read it (never a look-alike host)
            "redirect_uri": display_uri(req.redirect_uri),
            "scopes": consent_scopes(req.scopes),
            # RFC 8707: where the token will be good, when the client named resources
            "resources": [known[identifier] for identifier in req.resources],
            "consent_field": CONSENT_FIELD,
            "consent_blob": blob,
            "user": request.user,
            # Remembering is the user's choice, offered (ticked) where a stored consent may
            # ever stand in for this page: never for public or self-registered clients, nor
            # for a request naming another resource than the default one (may_remember).
            "offer_remember": may_remember(request, req),
            "remember_field": REMEMBER_FIELD,
        }
        return render_page(request, self.template_name, context, ui_locales=req.params.get("ui_locales", ""))

    def decide(self, request: HttpRequest) -> HttpResponse:
        rejected = csrf_failure(request)
        if rejected is not None:
            # Django's failure page is still a page of this endpoint: no framing, no cache.
            return page_headers(rejected)
        try:
            payload = signing.loads(request.POST[CONSENT_FIELD], salt=CONSENT_SALT, max_age=CONSENT_MAX_AGE)
            data = QueryDict(mutable=True)
            for key, value in dict(payload["p"]).items():
                data[key] = value
            data.setlist("resource", [str(value) for value in payload.get("r", [])])
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            return error_page(request, InvalidRequest("The consent form has expired or was tampered with."))
        if not request.user.is_authenticated:
            return self.login(request, data)
        if payload.get("u") != str(request.user.pk):
            return error_page(request, InvalidRequest("The consent form belongs to another user."))
        try:
            req, expanded = self.establish(request, data)
        except OAuthError as exc:
            return error_page(request, exc)
        # The form was signed by us, for this user: its parameters came from a verified request
        # object if it says so (RFC 9101); a pushed one says so itself.
        req.signed = req.signed or bool(payload.get("s"))
        req.issuer = get_issuer(request)
        req.request = request
        try:
            validate(req, expanded)
            self.check_user(request, req)
            if req.openid and needs_login(request, req):  # the consent page may have stayed open
                return self.login_again(request, req, data)
            if "allow" not in request.POST:
                self.record(request, req, granted=None)
                consent_denied.send(sender=get_client_model(), request=request, client=req.client,
                                    user=request.user, scope=scopes.join(req.scopes))
                raise AccessDenied()
            granted = self.granted_scopes(request, req)
            self.record(request, req, granted)
            consent_granted.send(sender=get_client_model(), request=request, client=req.client,
                                 user=request.user, scope=scopes.join(granted))
            return self.grant(request, req, granted)
        except OAuthError as exc:
            return self.error(request, req, exc, decided=True)

    def granted_scopes(self, request: HttpRequest, req: AuthorizationRequest) -> tuple[str, ...]:
        """Requested scopes minus the optional ones the user unticked."""
        return granted_scopes(req, request.POST.getlist("scope"))

    def record(self, request: HttpRequest, req: AuthorizationRequest, granted: tuple[str, ...] | None) -> None:
        """Remember the decision as the user asked ("Remember my decision" ticked or not),
        where it was offered (:func:`may_remember`)."""
        offered = may_remember(request, req)
        record_decision(req, request.user, granted, remember=REMEMBER_FIELD in request.POST if offered else None)

    def grant(self, request: HttpRequest, req: AuthorizationRequest, granted: tuple[str, ...]) -> HttpResponse:
        """Store the grant and its code, and send the code back (RFC 6749 §4.1.2, RFC 9207). A
        pushed request is spent in the same transaction (RFC 9126 §4, FAPI 2.0 §5.3.2.2 note 3:
        when the authorization completes, not when the page was shown)."""
        if req.pushed is None:
            code = start_grant(request, req, request.user, granted)
        else:
            with transaction.atomic():
                request_objects.spend(req)
                code = start_grant(request, req, request.user, granted)
        response = redirect_to_client(req.redirect_uri, {"code": code, "state": req.state, "iss": req.issuer})
        if req.openid:  # the grant names this login session (sid): the browser keeps which one
            remember_login(request, response)
        return forget_marker(request, req, response)

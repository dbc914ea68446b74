"""Connected apps: the logged-in user's view of the clients they have authorized.

Lists every client the user has a stored consent for or a live grant with (a live access
token, or a family whose refresh token can still be redeemed): its name, the scopes with
their descriptions, when access was granted and when a token was last issued. Each has a
Revoke button, which asks for confirmation on a page of its own (no JavaScript): its
CSRF-protected POST (``client_id`` with ``step=confirm``) changes nothing and shows that page,
whose own POST (``client_id`` alone) withdraws the client
(:meth:`~oauth_provider.models.ConsentQuerySet.revoke_client`: the consent and every grant and
access token of that client for that user, in one transaction), and when the client registered
a ``backchannel_logout_uri`` it receives a logout token once that transaction commits
(:mod:`oauth_provider.oidc.logout`).

Override ``oauth_provider/connected_apps.html`` and ``oauth_provider/connected_apps_confirm.html``
(or set ``template_name`` / ``confirm_template_name`` on a subclass) to change the pages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.core import signing
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from ..conf import provider_settings
from ..csrf import csrf_failure
from ..models import Consent, get_client_model
from ..models.consents import connected_apps
from ..models.store import client_by_id
from ..oidc import logout as backchannel_logout
from ..responses import page_headers, render_page
from ..signals import token_revoked

if TYPE_CHECKING:
    from ..models import AbstractClient


#: how long the "revoked" notice link the revocation redirects to stays valid (seconds)
NOTICE_MAX_AGE = 300


@method_decorator(never_cache, name="dispatch")
@method_decorator(csrf_exempt, name="dispatch")
class ConnectedAppsView(View):
    """``GET`` the list; ``POST client_id=...`` revokes that client. Login required.

    The POST is CSRF-checked in the view (:func:`oauth_provider.csrf.csrf_failure`) rather than
    by the middleware, so that the 403 page is still one of ours: no framing, no caching."""

    http_method_names = ["get", "post"]
    template_name = "oauth_provider/connected_apps.html"
    confirm_template_name = "oauth_provider/connected_apps_confirm.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), provider_settings.LOGIN_URL)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        apps = connected_apps(request.user)
        revoked = self.revoked_client(request)
        if revoked is not None and any(app.client.pk == revoked.pk for app in apps):
            revoked = None  # the notice is only true of a client that holds nothing
        return render_page(request, self.template_name, {"apps": apps, "revoked": revoked, "user": request.user})

    def revoked_client(self, request: HttpRequest) -> AbstractClient | None:
        """The client named by the notice the revocation redirected with: a value this view
        signed for this user a moment ago. A link made by anyone else (a ``revoked=`` naming a
        client of the attacker's choice, "X can no longer access your account") names nothing."""
        try:
            client_id = signing.loads(request.GET.get("revoked", ""), salt=self.notice_salt(request),
                                      max_age=NOTICE_MAX_AGE)
        except signing.BadSignature:
            return None
        return self.client_named(client_id) if isinstance(client_id, str) else None

    @staticmethod
    def notice_salt(request: HttpRequest) -> str:
        return f"oauth_provider.connected_apps.revoked:{request.user.pk}"

    @staticmethod
    def client_named(client_id: str) -> AbstractClient | None:
        # Not cut short: a client_id may be as long as its column (a metadata document's URL),
        # and a cut one would name no client, so Revoke would silently keep the app. A longer
        # one names no client: client_by_id answers None for it without a query.
        if not client_id:
            return None
        return client_by_id(client_id)

    def post(self, request: HttpRequest) -> HttpResponse:
        rejected = csrf_failure(request)
        if rejected is not None:
            return page_headers(rejected)
        client = self.client_named(request.POST.get("client_id", ""))
        if client is None or not any(app.client.pk == client.pk for app in connected_apps(request.user)):
            # only an app of the user's own list: another client_id gets no confirmation page
            # naming it, and no revocation signal for what was never granted (an audit log
            # receiving ``token_revoked`` would record a revocation that did not happen)
            return self.get(request)
        if request.POST.get("step") == "confirm":  # the list's button: ask first
            return render_page(request, self.confirm_template_name, {"client": client, "user": request.user})
        with transaction.atomic():  # the logout tokens go out once the revocation commits
            backchannel_logout.client_revoked(request, request.user, client)
            Consent.objects.revoke_client(request.user, client)
        token_revoked.send(sender=get_client_model(), request=request, client=client, token_type="authorization",
                           user=request.user, reason="user")
        # Post/Redirect/Get: a reload must not re-submit the form.
        notice = signing.dumps(client.client_id, salt=self.notice_salt(request))
        return page_headers(HttpResponseRedirect(f"{request.path}?{urlencode({'revoked': notice})}"))

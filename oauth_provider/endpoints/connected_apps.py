"""Connected apps: the logged-in user's view of the clients they have authorized.

Lists every client the user has a stored consent for or a live grant with (a live access
token, or a family whose refresh token can still be redeemed): its name, the scopes with
their descriptions, when access was granted and when a token was last issued. Each has a
Revoke button: a CSRF-protected POST that withdraws the client
(:meth:`~oauth_provider.models.ConsentQuerySet.revoke_client`: the consent and every grant and
access token of that client for that user, in one transaction).

Override ``oauth_provider/connected_apps.html`` (or set ``template_name`` on a subclass) to
change the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from .. import scopes, secrets
from ..conf import provider_settings
from ..csrf import csrf_failure
from ..models import AccessToken, Authorization, Consent, get_client_model
from ..models.store import client_by_id
from ..responses import page_headers, render_page
from ..signals import token_revoked


@dataclass
class ConnectedApp:
    """One row of the page."""

    client: Any
    scopes: list[tuple[str, str]] = field(default_factory=list)
    granted_at: datetime | None = None
    last_token_at: datetime | None = None


def connected_apps(user: Any) -> list[ConnectedApp]:
    """The clients ``user`` has authorized, most recently used first."""
    now = secrets.now()
    apps: dict[Any, ConnectedApp] = {}
    granted: dict[Any, set[str]] = {}
    for consent in Consent.objects.filter(user=user).select_related("client"):
        apps[consent.client_id] = ConnectedApp(consent.client, granted_at=consent.created_at)
        granted[consent.client_id] = set(consent.scope.split())
    live = list(AccessToken.objects.filter(user=user).live(now).values_list("client_id", "scope", "created_at"))
    live += list(
        Authorization.objects.filter(user=user).holding_tokens(now).values_list("client_id", "scope", "created_at")
    )
    missing = {client_pk for client_pk, _, _ in live} - set(apps)
    for client in get_client_model()._default_manager.filter(pk__in=missing):
        apps[client.pk] = ConnectedApp(client)
    for client_pk, scope, created_at in live:
        app = apps[client_pk]
        granted.setdefault(client_pk, set()).update(scope.split())
        if app.granted_at is None or created_at < app.granted_at:
            app.granted_at = created_at
    last_issued = (
        AccessToken.objects.filter(user=user, client_id__in=list(apps))
        .values("client_id").annotate(last=Max("created_at")).values_list("client_id", "last")
    )
    for client_pk, last in last_issued:
        apps[client_pk].last_token_at = last
    known = scopes.registered()
    for client_pk, app in apps.items():
        ordered = [s for s in known if s in granted[client_pk]]
        ordered += sorted(granted[client_pk] - set(known))
        app.scopes = scopes.describe(ordered)
    epoch = datetime.min.replace(tzinfo=now.tzinfo)
    return sorted(apps.values(), key=lambda a: a.last_token_at or a.granted_at or epoch, reverse=True)


@method_decorator(never_cache, name="dispatch")
@method_decorator(csrf_exempt, name="dispatch")
class ConnectedAppsView(View):
    """``GET`` the list; ``POST client_id=...`` revokes that client. Login required.

    The POST is CSRF-checked in the view (:func:`oauth_provider.csrf.csrf_failure`) rather than
    by the middleware, so that the 403 page is still one of ours: no framing, no caching."""

    http_method_names = ["get", "post"]
    template_name = "oauth_provider/connected_apps.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), provider_settings.LOGIN_URL)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        apps = connected_apps(request.user)
        revoked = self.client_named(request.GET.get("revoked", ""))
        if revoked is not None and any(app.client.pk == revoked.pk for app in apps):
            revoked = None  # the notice is only true of a client that holds nothing: never spoofable
        return render_page(request, self.template_name, {"apps": apps, "revoked": revoked, "user": request.user})

    @staticmethod
    def client_named(client_id: str) -> Any | None:
        if not client_id:
            return None
        return client_by_id(client_id[:100])

    def post(self, request: HttpRequest) -> HttpResponse:
        rejected = csrf_failure(request)
        if rejected is not None:
            return page_headers(rejected)
        client = self.client_named(request.POST.get("client_id", ""))
        if client is None:
            return self.get(request)
        Consent.objects.revoke_client(request.user, client)
        token_revoked.send(sender=get_client_model(), request=request, client=client, token_type="authorization",
                           user=request.user, reason="user")
        # Post/Redirect/Get: a reload must not re-submit the form.
        return page_headers(HttpResponseRedirect(f"{request.path}?{urlencode({'revoked': client.client_id})}"))

"""The device verification page (RFC 8628 §3.3): where a user enters the code a device shows.

``verification_uri`` is this page. A logged-in user (anyone else is sent to the login page
and back) gets a form with one input, ``user_code``, and a submit button;
``verification_uri_complete`` (``?user_code=...``) only pre-fills it (§3.3.1): nothing is
looked up, claimed or approved by following a link, so a link sent by an attacker approves
nothing (§5.4 remote phishing).

The POSTed code is compared case- and dash-insensitively (§6.1). Wrong codes are counted
per user and per address (:class:`oauth_provider.throttling.Throttle`,
``DEVICE_USER_CODE_THROTTLE``, §5.1); once either count is spent every code is refused, a
right one too, until the window ends, so an attacker's guesses stay far below the code
space. A right code is *claimed* for this user by a conditional UPDATE: only they may
approve it, and the same code entered under another account is refused (§5.5;
django-oauth-toolkit GHSA-cfrv-vfcq-245m). Then the consent page of the code flow, with the
client, the scopes (optional ones may be unticked), the user code to compare with the
device, and a warning that a device asked, not this browser. Its CSRF-checked POST, bound by
a signed form to this user and this device code, approves or denies. A public device client
is never approved silently: the page is shown every time (§5.6, RFC 8252 §8.6).

Every answer is a page of ours: no framing, no referrer, no-store (:func:`page_headers`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters

from .. import metadata_documents, resources, scopes, secrets, throttling
from ..authorization_request import choose_scopes, consent_scopes
from ..conf import provider_settings
from ..csrf import csrf_failure
from ..errors import AccessDenied, OAuthError
from ..models import DeviceCode, get_client_model
from ..models import devices as state
from ..models.store import device_code_by_user_code
from ..params import request_data
from ..registry import adapter
from ..responses import error_page, page_headers, render_page
from ..signals import device_authorization_approved, device_authorization_denied
from .device_authorization import device_grant_enabled

CODE_FIELD = "user_code"
CONSENT_FIELD = "device_request"
CONSENT_SALT = "oauth_provider.device-consent"
#: the longest value put back into the form (a code is 11 characters; typos add a few)
MAX_CODE_LENGTH = 32

#: wrong user codes, per user and per address (RFC 8628 §5.1)
user_code_throttle = throttling.Throttle("DEVICE_USER_CODE_THROTTLE", "device-", "device user-code")

MESSAGES = {
    "malformed": _("That is not a code we issue. Check the code on your device and type it again."),
    "unknown": _("That code was not recognised. Check the code on your device and type it again."),
    "expired": _("That code has expired. Start again on your device to get a new one."),
    "used": _("That code has already been used."),
    "claimed": _("That code is already being used by another account."),
    "throttled": _("Too many wrong codes. Wait a few minutes before you try again."),
    "not_allowed": _("This account may not authorize this device."),
    "form": _("This form has expired or was tampered with. Enter the code again."),
}
STATUS = {"malformed": 400, "unknown": 400, "expired": 400, "used": 400, "claimed": 403, "throttled": 429,
          "not_allowed": 403, "form": 400}


@method_decorator(csrf_exempt, name="dispatch")  # checked in the view: the 403 page is then ours
@method_decorator(sensitive_post_parameters(CODE_FIELD, CONSENT_FIELD), name="dispatch")
class DeviceVerificationView(View):
    """``verification_uri``. Subclass and set the template names to change the pages."""

    http_method_names = ["get", "post"]
    template_name = "oauth_provider/device.html"
    consent_template_name = "oauth_provider/device_consent.html"
    done_template_name = "oauth_provider/device_done.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not device_grant_enabled():
            raise Http404("The device authorization grant is not enabled.")
        if not request.user.is_authenticated:
            return self.login(request)
        return super().dispatch(request, *args, **kwargs)

    def login(self, request: HttpRequest) -> HttpResponse:
        """To the login page and back here, with the pre-filled code of a GET and nothing else
        (a bounded URL whatever the request carried)."""
        try:
            code = request_data(request).get(CODE_FIELD, "") if request.method == "GET" else ""
        except OAuthError:
            code = ""
        query = f"?{urlencode({CODE_FIELD: code[:MAX_CODE_LENGTH]})}" if code else ""
        return page_headers(redirect_to_login(request.path + query, provider_settings.LOGIN_URL))

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            data = request_data(request)
        except OAuthError as exc:
            return error_page(request, exc)
        return self.form(request, data.get(CODE_FIELD, ""))

    def form(self, request: HttpRequest, code: str = "", problem: str | None = None,
             headers: dict[str, str] | None = None) -> HttpResponse:
        context = {"user": request.user, "code_field": CODE_FIELD, "user_code": code[:MAX_CODE_LENGTH],
                   "problem": MESSAGES[problem] if problem else None}
        response = render_page(request, self.template_name, context, status=STATUS[problem] if problem else 200)
        for name, value in (headers or {}).items():
            response[name] = value
        return response

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            data = request_data(request)  # a body Django cannot parse is our error page, not its 400
        except OAuthError as exc:
            return error_page(request, exc)
        rejected = csrf_failure(request)
        if rejected is not None:
            return page_headers(rejected)
        if CONSENT_FIELD in data:
            return self.decide(request)
        return self.enter(request, data.get(CODE_FIELD, ""))

    # -- the code ------------------------------------------------------------------------
    def throttle_subjects(self, request: HttpRequest) -> dict[str, str]:
        return {f"user {request.user.pk}": f"device-user:{request.user.pk}"}

    def enter(self, request: HttpRequest, typed: str) -> HttpResponse:
        """A typed code: throttled, looked up, claimed for this user, then the consent page."""
        subjects = self.throttle_subjects(request)
        normalized = secrets.normalize_user_code(typed[:MAX_CODE_LENGTH])
        if normalized is None:  # not a guess: nothing is looked up
            return self.form(request, typed, "malformed")
        # counted before the lookup, handed back unless the code is unknown: guesses sent
        # together are each counted before any is looked up
        wait = user_code_throttle.reserve(request, subjects)
        if wait:
            return self.form(request, typed, "throttled", {"Retry-After": str(wait)})
        device = device_code_by_user_code(normalized)
        if device is None or not device.client.is_active:
            return self.form(request, typed, "unknown")
        user_code_throttle.give_back(request, subjects)
        current = device.state()
        if current == state.EXPIRED:
            return self.form(request, typed, "expired")
        if current != state.PENDING:
            return self.form(request, typed, "used")
        if not adapter().is_user_allowed(request, device.client, request.user):
            return self.form(request, typed, "not_allowed")
        if device.claimed_by_other(request.user) or not device.claim(request.user):
            return self.form(request, typed, "claimed")
        return self.consent_page(request, device, f"{normalized[:5]}-{normalized[5:]}")

    def consent_page(self, request: HttpRequest, device: DeviceCode, user_code: str) -> HttpResponse:
        requested = scopes.parse(device.scope)
        blob = signing.dumps({"d": device.pk, "u": str(request.user.pk), "c": user_code}, salt=CONSENT_SALT)
        context: dict[str, Any] = {
            "client": device.client,
            # a client ID metadata document chose its own name: the host it is served from
            # leads, as on the code flow's consent page (draft-ietf-oauth-client-id-metadata-document §6.4)
            "client_host": metadata_documents.display_host(device.client),
            "client_label": metadata_documents.display_label(device.client),
            "user_code": user_code,
            "scopes": consent_scopes(requested),
            "consent_field": CONSENT_FIELD,
            "consent_blob": blob,
            "user": request.user,
            # no offer_remember (authorize.html's "remember" box): a device is asked every time (§5.6)
        }
        if device.resources:  # RFC 8707: where the tokens will be good, when the device named resources
            known = resources.configured(request)
            context["resources"] = [known[i] for i in resources.audience(device.resources) if i in known]
        return render_page(request, self.consent_template_name, context)

    # -- the decision ----------------------------------------------------------------------
    def decide(self, request: HttpRequest) -> HttpResponse:
        try:
            # no max_age: the device code's own expiry bounds the form (its message says so)
            payload = signing.loads(request.POST[CONSENT_FIELD], salt=CONSENT_SALT)
            pk, owner, user_code = payload["d"], payload["u"], str(payload["c"])
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            return self.form(request, problem="form")
        if owner != str(request.user.pk):
            return self.form(request, problem="form")
        device = DeviceCode.objects.select_related("client").filter(pk=pk).first()
        if device is None or device.user_id != request.user.pk:
            return self.form(request, problem="form")
        current = device.state()
        if current != state.PENDING:
            return self.form(request, problem="expired" if current == state.EXPIRED else "used")
        if not device.client.is_active or not adapter().is_user_allowed(request, device.client, request.user):
            return self.form(request, problem="not_allowed")  # the policy may have changed since the code was entered
        requested = scopes.parse(device.scope)
        granted: tuple[str, ...] | None = None
        if "allow" in request.POST:
            try:
                granted = choose_scopes(requested, request.POST.getlist("scope"))
            except AccessDenied:
                granted = None
        if not device.decide(request.user, scopes.join(granted) if granted is not None else None,
                             auth_time=adapter().auth_time(request, request.user)):
            return self.form(request, problem="used")
        signal = device_authorization_approved if granted is not None else device_authorization_denied
        signal.send(sender=get_client_model(), request=request, client=device.client, user=request.user,
                    scope=device.scope, device_code=device)
        context = {"client": device.client, "client_label": metadata_documents.display_label(device.client),
                   "approved": granted is not None, "user_code": user_code, "user": request.user}
        return render_page(request, self.done_template_name, context)

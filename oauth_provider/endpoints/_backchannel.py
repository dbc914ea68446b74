"""What the back-channel endpoints share: token (RFC 6749 §3.2), introspection (RFC 7662 §2)
and revocation (RFC 7009 §2).

All three take a POST whose body is a bounded form (:func:`form_params`), authenticate the
client (:mod:`oauth_provider.client_auth`) and answer JSON with ``Cache-Control: no-store``.
:class:`BackchannelView` does that once: the method check (405 with ``Allow``), CORS for the
endpoints browsers may call, the form body (:func:`form_params`), client authentication, and
the rendering of every :class:`~oauth_provider.errors.OAuthError`, including the one decision
about ``WWW-Authenticate: Basic`` (:meth:`BackchannelView.error_response`). A subclass only
implements :meth:`BackchannelView.answer`: parse what is left, call the protocol code, render.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters

from .. import client_auth
from ..conf import provider_settings
from ..errors import InvalidClient, InvalidRequest, MethodNotAllowed, OAuthError
from ..params import Params, flatten, request_data
from ..responses import allow_cors, error_json, json_response

if TYPE_CHECKING:
    from ..models import AbstractClient

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
#: the body types read as a form (see :func:`form_params`)
FORM_TYPES = (FORM, MULTIPART)
#: what browsers may call at the endpoints open to them (RFC 9700 §2.6 allows CORS here)
CORS_METHODS = "POST, OPTIONS"
#: the challenge of the one HTTP authentication scheme these endpoints take (RFC 6749 §2.3.1)
BASIC_CHALLENGE = 'Basic realm="oauth"'
#: the smallest bound on a form body; see :func:`max_body_bytes`
MIN_BODY_BYTES = 64 * 1024


def max_body_bytes() -> int:
    """The largest form body read: far above any real request (a dozen parameters, each at
    most ``MAX_PARAMETER_LENGTH`` characters), so that nothing larger is ever read."""
    return max(MIN_BODY_BYTES, 16 * int(provider_settings.MAX_PARAMETER_LENGTH))


def form_params(request: HttpRequest) -> Params:
    """The request's form body as one flat mapping (:func:`oauth_provider.params.flatten`).

    The body is ``application/x-www-form-urlencoded`` (RFC 6749 §3.2, RFC 7009 §2.1,
    RFC 7662 §2.1). ``multipart/form-data`` is also read, for the clients that send every form
    that way (Django's own test client, some HTTP libraries, django-oauth-toolkit's users'
    tooling), but only as a form: a file part is ``invalid_request``. Any other type (JSON,
    XML) or a declared length above :func:`max_body_bytes` is ``invalid_request`` decided from
    the headers alone: the body is never read, so a large upload costs nothing before the
    client is authenticated."""
    if request.content_type not in FORM_TYPES:
        raise InvalidRequest(f"The body must be {FORM}.")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise InvalidRequest("The Content-Length header is malformed.") from None
    if length < 0:
        raise InvalidRequest("The Content-Length header is malformed.")
    if length > max_body_bytes():
        raise InvalidRequest("The request body is too large.")
    data = request_data(request)
    if request.content_type == MULTIPART and request.FILES:
        raise InvalidRequest(f"The body must be {FORM}; a file upload is not a parameter.")
    return flatten(data)


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(sensitive_post_parameters(), name="dispatch")
class BackchannelView(View):
    """Base of the token, introspection and revocation views.

    Subclasses set :attr:`endpoint` (its name in the 405 message) and implement
    :meth:`answer`; they call :meth:`authenticate` for the client. Every ``OAuthError``
    raised below :meth:`answer` is rendered once, by :meth:`error_response`."""

    #: the endpoint's name in error descriptions
    endpoint: str = ""
    #: open to browsers (CORS): OPTIONS answers the preflight and every answer allows any origin
    cors: bool = False
    #: answer every ``invalid_client`` 401 with ``WWW-Authenticate: Basic`` (RFC 9110 §15.5.2),
    #: not only when the client tried HTTP Basic (RFC 6749 §5.2, the token endpoint's rule:
    #: a browser app that failed with a body credential is not shown a password prompt)
    challenge_always: bool = False

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if self.cors and request.method == "OPTIONS":
            return self.finish(HttpResponse(status=204))
        if request.method != "POST":
            allow = CORS_METHODS if self.cors else "POST"
            return self.finish(error_json(MethodNotAllowed(self.endpoint, allow=allow)))
        try:
            response = self.answer(request, form_params(request))
        except OAuthError as exc:
            response = self.error_response(exc)
        return self.finish(response)

    def answer(self, request: HttpRequest, params: Params) -> HttpResponse:
        """The endpoint's answer to a POST whose form is ``params``; raise ``OAuthError``
        for any failure."""
        raise NotImplementedError

    def authenticate(self, request: HttpRequest, params: dict[str, str]) -> AbstractClient:
        """The authenticated, active client (:func:`oauth_provider.client_auth.authenticate`)."""
        return client_auth.authenticate(request, params)

    def error_response(self, error: OAuthError) -> HttpResponse:
        """RFC 6749 §5.2 JSON for ``error``. The one place that decides the ``WWW-Authenticate``
        of a failed client authentication: the challenge of the scheme the client tried
        (RFC 6749 §5.2 MUST), else ``Basic`` where :attr:`challenge_always` says so."""
        if not isinstance(error, InvalidClient) or "WWW-Authenticate" in error.headers:
            return error_json(error)
        challenge = getattr(error, "challenge", None)
        if challenge is None and self.challenge_always:
            challenge = BASIC_CHALLENGE
        if challenge is None:
            return error_json(error)
        headers = {**error.headers, "WWW-Authenticate": challenge}
        return json_response(error.as_dict(), status=error.status, headers=headers)

    def finish(self, response: HttpResponse) -> HttpResponse:
        return allow_cors(response, methods=CORS_METHODS) if self.cors else response

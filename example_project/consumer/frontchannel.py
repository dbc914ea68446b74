"""The consumer's front-channel logout page (OpenID Connect Front-Channel Logout 1.0 §2).

When a user logs out at Example, Example's "signed out" page loads this URL in an invisible
iframe, with ``iss`` and ``sid`` (this client registered ``frontchannel_logout_session_required``).
It is a plain GET that anyone could send, so it only acts when ``iss`` is Example's issuer, and
then ends only this site's sessions of that login (the ``sid`` its ID token carried): guessing a
``sid`` (128 random bits) is not practical. It answers an empty page that is never cached (§2),
so a cached answer never stands in for a later logout. The iframe may not carry this site's
cookie (browsers blocking third-party cookies), which is why the session is found by ``sid`` on
the server rather than through the cookie.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from .backchannel import end_sessions

logger = logging.getLogger("consumer.frontchannel")


@require_GET
def frontchannel_logout(request: HttpRequest) -> HttpResponse:
    iss, sid = request.GET.get("iss"), request.GET.get("sid")
    if iss == settings.PROVIDER_ISSUER and sid:
        ended = end_sessions({"iss": iss, "sid": sid})
        logger.info("Front-channel logout: %d session(s) ended", ended)
    response = HttpResponse("<!doctype html><title>Signed out</title>", content_type="text/html")
    response["Cache-Control"] = "no-cache, no-store"
    response["Pragma"] = "no-cache"
    return response

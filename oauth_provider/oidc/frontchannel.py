"""Front-channel logout (OpenID Connect Front-Channel Logout 1.0).

A client registers a ``frontchannel_logout_uri`` (§2): a page of its own site that ends its
session for the user when loaded. When the user's login session at the provider ends (Django's
``user_logged_out``: RP-initiated logout at the end-session endpoint, or the site's own logout
view), the page the user sees next loads that URI in an invisible ``<iframe>`` for every client
the session signed in to (§3):

* :func:`session_ended` (the ``user_logged_out`` receiver body, run before the session is
  flushed, so its ``sid`` is still known) finds those clients in one query, from the token
  families (:class:`~oauth_provider.models.Authorization`) made in this session: the same record
  back-channel logout reads. It keeps the iframe URLs on the request, nowhere else.
* The end-session endpoint renders them on its "signed out" page; for the site's own logout
  view, :class:`oauth_provider.middleware.FrontChannelLogoutMiddleware` turns its redirect into
  that page (which then continues to where the redirect pointed), and the
  ``{% frontchannel_logout %}`` tag renders them in a page of the site's own.

Each URL is the registered URI with ``iss`` and ``sid`` added, both or neither (§2), when the
client asked for them (``frontchannel_logout_session_required``); the registered query is kept.
The page waits for the iframes (a small script under a CSP nonce; a meta refresh when there is
no JavaScript) at most ``FRONTCHANNEL_LOGOUT["timeout"]`` seconds before it goes on to the
``post_logout_redirect_uri``. It is still a page of ours: never framed itself
(``frame-ancestors 'none'``, ``X-Frame-Options: DENY``), no ``Referer`` sent to the clients'
pages (the logout URL may carry an ``id_token_hint``), and its CSP allows frames only from the
clients' origins.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse

from .. import secrets
from ..conf import DEFAULTS, provider_settings
from ..issuer import get_issuer
from ..models import Authorization
from ..redirect_uris import FORBIDDEN_SCHEMES, origin
from ..responses import add_query, render_page
from ..session import session_id

#: where :func:`session_ended` leaves the iframes for the page that shows them
PENDING_ATTR = "_oauth_provider_frontchannel_logout"
#: set on a request whose login replaced another login session (:func:`login_replaced`): the
#: page that loads the iframes then speaks of the previous account, not of a logout
SWITCHED_ATTR = "_oauth_provider_frontchannel_switched"
#: a host (and port) that may stand in a CSP source list: a DNS name or an IP literal
_CSP_NETLOC = re.compile(r"(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")


@dataclass(frozen=True)
class LogoutFrame:
    """One client's front-channel logout URI, as the logout page loads it."""

    client_name: str
    url: str

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` for the page's CSP ``frame-src``."""
        parts = urlsplit(self.url)
        return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def options() -> dict[str, Any]:
    """``FRONTCHANNEL_LOGOUT`` merged over its defaults."""
    return {**DEFAULTS["FRONTCHANNEL_LOGOUT"].default, **provider_settings.FRONTCHANNEL_LOGOUT}


def enabled() -> bool:
    """Front-channel logout is on: OpenID Connect and ``FRONTCHANNEL_LOGOUT["enabled"]``."""
    return bool(provider_settings.OIDC_ENABLED and options()["enabled"])


def logout_url(uri: str, *, session_required: bool, issuer: str, sid: str) -> str:
    """``uri`` as the iframe loads it: with ``iss`` and ``sid`` added together when the client
    requires them (§2: if either is included, both must be), its own query kept."""
    if session_required and sid:
        return add_query(uri, {"iss": issuer, "sid": sid})
    return uri


def session_ended(request: HttpRequest | None, user: Any) -> list[LogoutFrame]:
    """``user_logged_out`` receiver body: the front-channel logout URIs of every active client
    holding an unrevoked grant made in this login session (one query; none when the feature is
    off or the session has no ``sid``). They are added to the request for the page to render,
    and returned."""
    if not enabled() or request is None or user is None:
        return []
    sid = session_id(request)
    if not sid:
        return []
    return _frames(request, Authorization.objects.filter(user=user), sid)


def login_replaced(request: HttpRequest, sid: str) -> list[LogoutFrame]:
    """A login in this browser replaced the login session ``sid`` without a logout (another
    user signed in, or the session had expired: see :func:`oauth_provider.oidc.logout.login_replaced`):
    that session's clients are signed out as at a logout, on the page the login's redirect
    leads to (the middleware's, under :data:`SWITCHED_ATTR`). Call it before that session's
    grants are revoked. One query; the ``sid`` is random per login session, so it names one
    user's grants."""
    if not enabled():
        return []
    frames = _frames(request, Authorization.objects.all(), sid)
    if frames:
        setattr(request, SWITCHED_ATTR, True)
    return frames


def _frames(request: HttpRequest, families: Any, sid: str) -> list[LogoutFrame]:
    """The iframes of the active clients with a live grant among ``families`` made in the login
    session ``sid``, added to the request's pending ones."""
    rows = (
        families.live().filter(session_id=sid, client__is_active=True)
        .exclude(client__frontchannel_logout_uri="")
        .values_list("client__name", "client__frontchannel_logout_uri", "client__frontchannel_logout_session_required")
        .distinct().order_by()
    )
    issuer = get_issuer(request)
    frames = []
    for name, uri, session_required in sorted(set(rows)):
        if origin(uri) is None:  # registered through the validator: never; a row written by hand
            continue
        if not _CSP_NETLOC.fullmatch(urlsplit(uri).netloc.lower()):
            # a host no DNS name has but URL parsers take ("rp.example;script-src"): written into
            # the page's CSP it would end the source list and start a directive of its own
            continue
        frames.append(LogoutFrame(name, logout_url(uri, session_required=session_required, issuer=issuer, sid=sid)))
    if frames:
        setattr(request, PENDING_ATTR, [*getattr(request, PENDING_ATTR, []), *frames])
    return frames


def pending(request: HttpRequest) -> list[LogoutFrame]:
    """The iframes still to show for ``request``, once: a later call returns none."""
    frames: list[LogoutFrame] = getattr(request, PENDING_ATTR, [])
    if frames:
        setattr(request, PENDING_ATTR, [])
    return frames


_C0_AND_SPACE = "".join(map(chr, range(0x21)))
_TAB_AND_NEWLINES = dict.fromkeys(map(ord, "\t\n\r"))


def may_continue_to(url: str) -> bool:
    """May the logout page send the browser on to ``url`` (the redirect it stands in for)?
    Never to a ``javascript:``/``data:``-like URL; relative URLs and other schemes pass, since
    the URL was already chosen by a view (a registered ``post_logout_redirect_uri``, or the
    site's logout view's own checked ``next``). The scheme is read as a browser reads it (WHATWG
    URL §4.4: leading and trailing C0 controls and spaces stripped, tabs and newlines removed
    anywhere), so ``java\tscript:`` is a ``javascript:`` URL here too."""
    cleaned = url.strip(_C0_AND_SPACE).translate(_TAB_AND_NEWLINES)
    scheme, sep, _rest = cleaned.partition(":")
    return not (sep and "/" not in scheme and scheme.lower() in FORBIDDEN_SCHEMES)


def page_context(frames: Sequence[LogoutFrame], continue_url: str | None = None) -> dict[str, Any]:
    """What ``oauth_provider/logged_out.html`` needs to load ``frames`` and then go on to
    ``continue_url`` (None: stay on the page). Pass the result to :func:`page_policy` too.
    A ``continue_url`` the page may not go on to (:func:`may_continue_to`, e.g. a script URL
    written into a client's row past validation) is dropped: never a link, a refresh or a
    script's target."""
    if continue_url is not None and not may_continue_to(continue_url):
        continue_url = None
    return {
        "frontchannel_frames": list(frames),
        "continue_url": continue_url,
        "frontchannel_timeout": options()["timeout"],
        "csp_nonce": secrets.generate_token() if frames and continue_url else "",
    }


def page_policy(context: dict[str, Any]) -> str:
    """The page's ``Content-Security-Policy``: never framed; when it loads clients' pages,
    frames only from their origins and scripts only by the page's nonce (an overriding template
    adding a script gives it ``nonce="{{ csp_nonce }}"``)."""
    frames: list[LogoutFrame] = context.get("frontchannel_frames") or []
    directives = ["frame-ancestors 'none'"]
    if frames:
        directives.append("frame-src " + " ".join(dict.fromkeys(frame.origin for frame in frames)))
    nonce = context.get("csp_nonce")
    if nonce:
        directives.append(f"script-src 'nonce-{nonce}'")
    return "; ".join(directives)


#: the page shown after logout (and while the clients' logout pages load)
LOGGED_OUT_TEMPLATE = "oauth_provider/logged_out.html"


def render_logged_out(request: HttpRequest, frames: Sequence[LogoutFrame], continue_url: str | None = None,
                      *, template: str = LOGGED_OUT_TEMPLATE, extra: dict[str, Any] | None = None) -> HttpResponse:
    """The "signed out" page loading ``frames`` and then, if given, going on to
    ``continue_url``, with the headers of every page of ours and :func:`page_policy`."""
    context = {**(extra or {}), **page_context(frames, continue_url)}
    response = render_page(request, template, context)
    response["Content-Security-Policy"] = page_policy(context)
    return response

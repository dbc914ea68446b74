"""What the library remembers in the user's session: the real login time (OIDC ``auth_time``),
recorded when Django's ``user_logged_in`` fires, never guessed from ``last_login``; and the
session's OIDC ``sid``, drawn at login and kept for as long as the login lasts.

And one thing the browser keeps beside the session: which login session (its ``sid``) its
OpenID Connect grants were made in (:data:`LOGIN_COOKIE`). A login as another user makes
Django start a new session without ``user_logged_out`` (``login()`` flushes the old one), and
so does a login after the session expired: the cookie is how the next login learns which
login session it replaced, so that session's clients are told and its grants end as at a
logout (Back-Channel Logout 1.0 §2.7)."""

from __future__ import annotations

import hashlib
import re
import secrets as _secrets
from datetime import datetime, timezone
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse

from . import secrets

AUTH_TIME_KEY = "_oauth_provider_auth_time"
SID_KEY = "_oauth_provider_sid"
_SID = re.compile(r"[0-9a-f]{32}")
#: drawn at every login: :func:`login_id`
LOGIN_KEY = "_oauth_provider_login"
_LOGIN_ID = re.compile(r"[0-9a-f]{16}")
#: the login session the browser's OpenID Connect grants were made in: signed
#: ``{"s": sid, "x": until}`` (:func:`remember_login`)
LOGIN_COOKIE = "oauth_provider_login"
_LOGIN_SALT = "oauth_provider.login"


def record_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """``user_logged_in`` receiver: store the login time in the new session, draw a new
    :func:`login_id`, and draw the session's ``sid`` unless this is the same user logging in
    again within it (Django flushes the session when another user logs in, so a login time
    already there is this user's)."""
    if request is not None and hasattr(request, "session"):
        session = request.session
        again = isinstance(session.get(AUTH_TIME_KEY), int) and _SID.fullmatch(str(session.get(SID_KEY, "")))
        session[AUTH_TIME_KEY] = int(secrets.now().timestamp())
        session[LOGIN_KEY] = _secrets.token_hex(8)
        if not again:
            session[SID_KEY] = _secrets.token_hex(16)


def get_auth_time(request: HttpRequest) -> datetime | None:
    session = getattr(request, "session", None)
    value = session.get(AUTH_TIME_KEY) if session is not None else None
    if not isinstance(value, int):
        return None
    return datetime.fromtimestamp(value, tz=timezone.utc)


def session_id(request: HttpRequest) -> str:
    """A stable, non-secret identifier of the login session for the OIDC ``sid`` claim
    (Front-Channel Logout 1.0 §3, Back-Channel Logout 1.0 §2.4): random, drawn at login and
    kept in the session. Not derived from the session key, which Django changes within one
    login (a password change cycles it; the signed-cookie engine's key is the signed session
    itself, new at every save): the clients signed in before such a change would never be
    told of the logout. A session from before the value was kept gets a hash of its key, kept
    from then on ("" without a session key: no session)."""
    session = getattr(request, "session", None)
    if session is None:
        return ""
    stored = session.get(SID_KEY)
    if isinstance(stored, str) and _SID.fullmatch(stored):
        return stored
    key = getattr(session, "session_key", None) or ""
    if not key:
        return ""
    derived = hashlib.sha256(b"oauth_provider.sid:" + key.encode()).hexdigest()[:32]
    session[SID_KEY] = derived
    return derived


def current_sid(request: HttpRequest) -> str:
    """The ``sid`` kept in the session ("" when there is none yet): no value drawn or derived."""
    session = getattr(request, "session", None)
    stored = session.get(SID_KEY) if session is not None else None
    return stored if isinstance(stored, str) and _SID.fullmatch(stored) else ""


def login_id(request: HttpRequest) -> str:
    """A random value drawn at every login into this session ("" before any, or without a
    session): a value that changed means someone logged in since, whatever the clock says."""
    session = getattr(request, "session", None)
    stored = session.get(LOGIN_KEY) if session is not None else None
    return stored if isinstance(stored, str) and _LOGIN_ID.fullmatch(stored) else ""


def previous_login(request: HttpRequest) -> str | None:
    """The ``sid`` of the login session this browser's OpenID Connect grants were last made in,
    from :data:`LOGIN_COOKIE`; None when there is none, it is past its own expiry, or the cookie
    was not ours (a bad signature or shape)."""
    raw = request.COOKIES.get(LOGIN_COOKIE)
    if not raw:
        return None
    try:
        value: object = signing.loads(raw, salt=_LOGIN_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(value, dict):
        return None
    sid, until = value.get("s"), value.get("x")
    if not isinstance(sid, str) or not _SID.fullmatch(sid) or not isinstance(until, int):
        return None
    return sid if secrets.now().timestamp() < until else None


def remember_login(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """An OpenID Connect grant was made in this login session: have the browser keep its
    ``sid`` (:data:`LOGIN_COOKIE`), sent again at every such grant. It must outlive the session
    (a login replacing the session reads it; after the session ended it names nothing live):
    it lasts the session's remaining lifetime plus ``SESSION_COOKIE_AGE``, so a session kept
    alive by use keeps it for one more session age after its last grant; the session
    cookie's domain, path, ``Secure`` and ``SameSite``; HttpOnly. Only the random ``sid``, which
    the clients of the session have in their ID tokens already, never the user's id. Returns
    ``response``."""
    sid = current_sid(request)
    if not sid:
        return response
    session = request.session
    lifetime = session.get_expiry_age() + settings.SESSION_COOKIE_AGE
    until = int(secrets.now().timestamp()) + lifetime
    response.set_cookie(
        LOGIN_COOKIE, signing.dumps({"s": sid, "x": until}, salt=_LOGIN_SALT),
        max_age=None if session.get_expire_at_browser_close() else lifetime,
        domain=settings.SESSION_COOKIE_DOMAIN, path=settings.SESSION_COOKIE_PATH,
        secure=settings.SESSION_COOKIE_SECURE or request.is_secure(), httponly=True,
        samesite=settings.SESSION_COOKIE_SAMESITE,
    )
    return response


def forget_login(response: HttpResponse) -> HttpResponse:
    """Have the browser drop :data:`LOGIN_COOKIE` (its login session was ended and its clients
    signed out: naming it again at the next login would sign them out again). Returns
    ``response``."""
    response.delete_cookie(LOGIN_COOKIE, domain=settings.SESSION_COOKIE_DOMAIN, path=settings.SESSION_COOKIE_PATH,
                           samesite=settings.SESSION_COOKIE_SAMESITE)
    return response


#: set on a request that ended its login session (a logout): its response drops the login cookie
ENDED_ATTR = "_oauth_provider_login_ended"


def login_ended(request: HttpRequest | None) -> None:
    """``user_logged_out``: this request ends its login session, whose clients are told now;
    :func:`forget_ended_login` then has the browser drop :data:`LOGIN_COOKIE`, so the next
    login in it does not end that session a second time."""
    if request is not None:
        setattr(request, ENDED_ATTR, True)


def forget_ended_login(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """``response``, dropping :data:`LOGIN_COOKIE` when the request logged out (and the browser
    sent one)."""
    if getattr(request, ENDED_ATTR, False) and LOGIN_COOKIE in request.COOKIES:
        forget_login(response)
    return response


def replaced_login(request: HttpRequest) -> str | None:
    """At a login (after :func:`record_login`): the ``sid`` of the login session of the
    browser's earlier OpenID Connect grants, when this login is not in that session (another
    user's login flushed it, or it expired or was flushed and a new one began); else None."""
    previous = previous_login(request)
    if previous is None or previous == current_sid(request):
        return None
    return previous

"""What the library remembers in the user's session: the real login time (OIDC ``auth_time``),
recorded when Django's ``user_logged_in`` fires, never guessed from ``last_login``; and the
session's OIDC ``sid``, drawn at login and kept for as long as the login lasts."""

from __future__ import annotations

import hashlib
import re
import secrets as _secrets
from datetime import datetime, timezone
from typing import Any

from django.http import HttpRequest

from . import secrets

AUTH_TIME_KEY = "_oauth_provider_auth_time"
SID_KEY = "_oauth_provider_sid"
_SID = re.compile(r"[0-9a-f]{32}")


def record_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """``user_logged_in`` receiver: store the login time in the new session, and draw the
    session's ``sid`` unless this is the same user logging in again within it (Django flushes
    the session when another user logs in, so a login time already there is this user's)."""
    if request is not None and hasattr(request, "session"):
        session = request.session
        again = isinstance(session.get(AUTH_TIME_KEY), int) and _SID.fullmatch(str(session.get(SID_KEY, "")))
        session[AUTH_TIME_KEY] = int(secrets.now().timestamp())
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

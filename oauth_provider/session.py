"""What the library remembers in the user's session: the real login time (OIDC ``auth_time``),
recorded when Django's ``user_logged_in`` fires, never guessed from ``last_login``."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from django.http import HttpRequest

from . import secrets

AUTH_TIME_KEY = "_oauth_provider_auth_time"


def record_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """``user_logged_in`` receiver: store the login time in the new session."""
    if request is not None and hasattr(request, "session"):
        request.session[AUTH_TIME_KEY] = int(secrets.now().timestamp())


def get_auth_time(request: HttpRequest) -> datetime | None:
    session = getattr(request, "session", None)
    value = session.get(AUTH_TIME_KEY) if session is not None else None
    if not isinstance(value, int):
        return None
    return datetime.fromtimestamp(value, tz=timezone.utc)


def session_id(request: HttpRequest) -> str:
    """A stable, non-secret identifier of the login session for the OIDC ``sid`` claim:
    a hash of the session key (the key itself is a bearer secret and never leaves)."""
    key = getattr(getattr(request, "session", None), "session_key", None) or ""
    return hashlib.sha256(b"oauth_provider.sid:" + key.encode()).hexdigest()[:32] if key else ""

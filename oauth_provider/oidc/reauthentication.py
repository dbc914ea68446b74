"""When an authorization request needs the user to log in again (OIDC Core §3.1.2.1, §3.1.2.3).

* ``prompt=login`` and ``max_age=0``: a fresh login, whatever the session says;
* ``max_age=N``: the last login (``auth_time``) must be at most N seconds old;
* ``id_token_hint``: the logged-in user must be the one the hint names.

A forced login sends the user to the login page with the request to come back to, minus
``prompt=login`` and plus ``login_after``: a random one-time marker. What it stands for is kept
in the user's session, never in the URL: when it was issued, which authorization request
demanded the login (a digest of its parameters) and the login the session had then. Coming
back, the marker counts only in the session that got it, for that same request, after a login
newer than both; it is forgotten once a code is issued. A marker from another session (another
user's, say), for another request, stale, replayed or forged only leads to another login, never
past one.

Logging in as *another* user makes Django start a new session, which has not seen the marker:
that user is asked to log in once more, and the request then goes through.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime

from django.http import HttpRequest, QueryDict

from .. import secrets
from ..authorization_request import LOGIN_AFTER, AuthorizationRequest
from ..registry import adapter

#: the session key holding the forced logins awaiting their login: marker -> [issued at,
#: request digest, the session's auth_time when issued (or None)]
SESSION_KEY = "_oauth_provider_forced_logins"
#: how long a forced login may take (seconds)
MARKER_MAX_AGE = 3600
#: forced logins kept per session at once (the oldest go first): bounded session growth
MAX_PENDING = 8


def _timestamp(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def _digest(params: Mapping[str, str]) -> str:
    """Which authorization request this is: its parameters without the marker and without
    ``prompt=login`` (which the request coming back no longer carries)."""
    items = {k: v for k, v in params.items() if k != LOGIN_AFTER}
    prompt = [v for v in items.pop("prompt", "").split() if v != "login"]
    if prompt:
        items["prompt"] = " ".join(prompt)
    blob = json.dumps(sorted(items.items()), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


def _pending(request: HttpRequest) -> dict[str, list]:
    """The session's forced logins still within :data:`MARKER_MAX_AGE`."""
    session = getattr(request, "session", None)
    stored = session.get(SESSION_KEY) if session is not None else None
    if not isinstance(stored, dict):
        return {}
    now = int(secrets.now().timestamp())
    return {k: v for k, v in stored.items()
            if isinstance(v, list) and len(v) == 3 and isinstance(v[0], int) and now - v[0] <= MARKER_MAX_AGE}


def _marker_satisfied(request: HttpRequest, req: AuthorizationRequest, auth_time: datetime | None) -> bool:
    entry = _pending(request).get(req.params.get(LOGIN_AFTER, ""))
    login = _timestamp(auth_time)
    if entry is None or login is None:
        return False
    issued, digest, login_before = entry
    if not isinstance(digest, str) or not secrets.constant_time_equals(digest, _digest(req.params)):
        return False
    return login >= issued and (login_before is None or login > login_before)


def needs_login(request: HttpRequest, req: AuthorizationRequest) -> bool:
    """Must the (logged-in) user authenticate again before this request may go on?"""
    policy = adapter()
    user = request.user
    if req.hint_subject is not None and req.hint_subject != policy.get_subject(user):
        return True
    auth_time = policy.auth_time(request, user)
    if LOGIN_AFTER in req.params:
        # Back from a forced login: that login must be the one the marker asked for. The
        # marker stands in for prompt=login / max_age=0 only; a positive max_age still holds.
        if not _marker_satisfied(request, req, auth_time):
            return True
    elif "login" in req.prompt or req.max_age == 0:
        return True
    if req.max_age:
        return auth_time is None or (secrets.now() - auth_time).total_seconds() > req.max_age
    return False


def return_query(request: HttpRequest, req: AuthorizationRequest, data: QueryDict) -> QueryDict:
    """The request to come back to after a forced login: without ``prompt=login``, with a
    fresh ``login_after`` marker, recorded in the session for this request."""
    query = data.copy()
    prompt = [v for v in query.get("prompt", "").split() if v != "login"]
    if prompt:
        query["prompt"] = " ".join(prompt)
    else:
        query.pop("prompt", None)
    marker = secrets.generate_token()
    pending = _pending(request)
    pending[marker] = [
        int(secrets.now().timestamp()), _digest(req.params),
        _timestamp(adapter().auth_time(request, request.user)),
    ]
    request.session[SESSION_KEY] = dict(list(pending.items())[-MAX_PENDING:])
    query[LOGIN_AFTER] = marker
    return query


def forget_marker(request: HttpRequest, req: AuthorizationRequest) -> None:
    """The request's forced login was used (a code is being issued): it cannot be used again."""
    marker = req.params.get(LOGIN_AFTER)
    pending = _pending(request)
    if marker is not None and pending.pop(marker, None) is not None:
        request.session[SESSION_KEY] = pending

"""When an authorization request needs the user to log in again (OIDC Core §3.1.2.1, §3.1.2.3).

* ``prompt=login``, ``prompt=select_account`` and ``max_age=0``: a fresh login, whatever the
  session says (the site's login page is where the user picks an account: signing in as
  someone else, or as themselves again);
* ``max_age=N``: the last login (``auth_time``) must be at most N seconds old;
* ``id_token_hint``: the logged-in user must be the one the hint names.

A forced login sends the user to the login page with the request to come back to, minus
``prompt=login`` and plus ``login_after``: a random one-time marker. What it stands for is kept
in a signed, HttpOnly cookie scoped to this endpoint, never in the URL: when it was issued,
which authorization request demanded the login (a digest of its parameters). Coming back, the
marker counts only in the browser that got it, for that same request, after a login made
after the marker was issued (``auth_time`` has a one-second resolution: within the marker's
second, the login id the session draws at every login tells); it is forgotten once a code is
issued. A marker from
another browser (another user's, say), for another request, stale, replayed or forged only
leads to another login, never past one.

The state lives in a cookie of its own rather than in the session because logging in as
*another* user makes Django start a new session: "log in again" is also how a user switches
accounts, and that login must count.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse, QueryDict

from .. import secrets
from ..adapter import subject_for
from ..authorization_request import LOGIN_AFTER, AuthorizationRequest
from ..registry import adapter
from ..session import login_id

#: the cookie holding the forced logins awaiting their login: marker -> [issued at, request
#: digest, the session's login id then], signed
COOKIE_NAME = "oauth_provider_reauth"
_SALT = "oauth_provider.reauthentication"
#: how long a forced login may take (seconds)
MARKER_MAX_AGE = 3600
#: forced logins kept per browser at once (the oldest go first): a bounded cookie
MAX_PENDING = 4


def _timestamp(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


#: the ``prompt`` values a login answers (OIDC Core §3.1.2.1): ``login``, and ``select_account``,
#: for which the site's login page is where the user picks the account (signing in as another
#: user, or as the same one again): an OP that cannot offer a choice must not skip it
FORCING_PROMPTS = frozenset({"login", "select_account"})


def _digest(params: Mapping[str, str]) -> str:
    """Which authorization request this is: its parameters (the repeatable ``resource``
    values too) without the marker and without the prompts a login answered (which the
    request coming back no longer carries)."""
    items: dict[str, Any] = {k: v for k, v in params.items() if k != LOGIN_AFTER}
    prompt = [v for v in items.pop("prompt", "").split() if v not in FORCING_PROMPTS]
    if prompt:
        items["prompt"] = " ".join(prompt)
    items.update({k: list(values) for k, values in getattr(params, "lists", {}).items()})
    blob = json.dumps(sorted(items.items()), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


#: marker -> (issued at, digest of the request that demanded the login, the session's
#: :func:`~oauth_provider.session.login_id` then)
Pending = dict[str, tuple[int, str, str]]


def _pending(request: HttpRequest) -> Pending:
    """The browser's forced logins still within :data:`MARKER_MAX_AGE`."""
    raw = request.COOKIES.get(COOKIE_NAME)
    if not raw:
        return {}
    try:
        stored: object = signing.loads(raw, salt=_SALT, max_age=MARKER_MAX_AGE)
    except signing.BadSignature:
        return {}
    if not isinstance(stored, dict):
        return {}
    now = int(secrets.now().timestamp())
    pending: Pending = {}
    for marker, entry in stored.items():
        if isinstance(entry, list) and len(entry) == 3:
            issued, digest, login = entry
            if (isinstance(issued, int) and isinstance(digest, str) and isinstance(login, str)
                    and now - issued <= MARKER_MAX_AGE):
                pending[str(marker)] = (issued, digest, login)
    return pending


def _store(response: HttpResponse, request: HttpRequest, pending: Pending) -> None:
    """Write ``pending`` back to the browser (only this endpoint's path ever sees it)."""
    if not pending:
        response.delete_cookie(COOKIE_NAME, path=request.path, samesite="Lax")
        return
    response.set_cookie(
        COOKIE_NAME, signing.dumps(pending, salt=_SALT, compress=True), max_age=MARKER_MAX_AGE,
        path=request.path, secure=settings.SESSION_COOKIE_SECURE or request.is_secure(), httponly=True,
        samesite="Lax",
    )


def _marker_satisfied(request: HttpRequest, req: AuthorizationRequest, auth_time: datetime | None) -> bool:
    entry = _pending(request).get(req.params.get(LOGIN_AFTER, ""))
    login = _timestamp(auth_time)
    if entry is None or login is None:
        return False
    issued, digest, login_then = entry
    if not secrets.constant_time_equals(digest, _digest(req.params)):
        return False
    if login == issued:
        # auth_time has a one-second resolution: a login in the second the marker was issued
        # counts only if it came after it (the session's login id changed since), not if it
        # was the one the request wanted renewed
        current = login_id(request)
        return bool(current) and current != login_then
    return login > issued


def needs_login(request: HttpRequest, req: AuthorizationRequest) -> bool:
    """Must the (logged-in) user authenticate again before this request may go on?"""
    policy = adapter()
    user = request.user
    if req.hint_subject is not None and req.hint_subject != subject_for(user, req.client, policy=policy):
        return True
    auth_time = policy.auth_time(request, user)
    if LOGIN_AFTER in req.params:
        # Back from a forced login: that login must be the one the marker asked for. The
        # marker stands in for prompt=login / max_age=0 only; a positive max_age still holds.
        if not _marker_satisfied(request, req, auth_time):
            return True
    elif req.prompt & FORCING_PROMPTS or req.max_age == 0:
        return True
    if req.max_age:
        return auth_time is None or (secrets.now() - auth_time).total_seconds() > req.max_age
    return False


def logged_in_for(request: HttpRequest, req: AuthorizationRequest) -> bool:
    """Is this request back from the forced login it asked for, done? Then a login it still
    needs (``id_token_hint`` naming someone else) is not asked for again: another login page
    would only loop (OIDC Core §3.1.2.1: the OP SHOULD return an error)."""
    return LOGIN_AFTER in req.params and _marker_satisfied(request, req, adapter().auth_time(request, request.user))


def login_again(
    request: HttpRequest, req: AuthorizationRequest, data: QueryDict,
    send_to_login: Callable[[QueryDict], HttpResponse],
) -> HttpResponse:
    """Send the user to log in (``send_to_login(query)``), coming back to this request without
    ``prompt=login`` or ``select_account`` and with a fresh ``login_after`` marker, recorded in
    the browser."""
    query = data.copy()
    prompt = [v for v in query.get("prompt", "").split() if v not in FORCING_PROMPTS]
    if prompt:
        query["prompt"] = " ".join(prompt)
    else:
        query.pop("prompt", None)
    marker = secrets.generate_token()
    query[LOGIN_AFTER] = marker
    pending = _pending(request)
    pending[marker] = (int(secrets.now().timestamp()), _digest(req.params), login_id(request))
    response = send_to_login(query)
    _store(response, request, dict(list(pending.items())[-MAX_PENDING:]))
    return response


def forget_marker(request: HttpRequest, req: AuthorizationRequest, response: HttpResponse) -> HttpResponse:
    """The request's forced login was used (a code is sent with ``response``): it cannot be
    used again. Returns ``response``."""
    marker = req.params.get(LOGIN_AFTER)
    pending = _pending(request)
    if marker is not None and pending.pop(marker, None) is not None:
        _store(response, request, pending)
    return response

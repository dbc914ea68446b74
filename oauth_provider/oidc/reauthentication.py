"""When an authorization request needs the user to log in again (OIDC Core §3.1.2.1, §3.1.2.3).

* ``prompt=login`` and ``max_age=0``: a fresh login, whatever the session says;
* ``max_age=N``: the last login (``auth_time``) must be at most N seconds old;
* ``id_token_hint``: the logged-in user must be the one the hint names.

A forced login sends the user to the login page with the request to come back to, minus
``prompt=login`` and plus ``login_after``: a signed timestamp that the new login must follow.
That breaks the loop a plain ``prompt=login`` would make, and a forged or stale marker only
leads to another login, never past one.
"""

from __future__ import annotations

from datetime import datetime, timezone

from django.core import signing
from django.http import HttpRequest, QueryDict

from .. import secrets
from ..authorization_request import LOGIN_AFTER, AuthorizationRequest
from ..registry import adapter

_SALT = "oauth_provider.login_after"


def login_after_marker() -> str:
    return signing.dumps(int(secrets.now().timestamp()), salt=_SALT)


def _marker_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        stamp = signing.loads(value, salt=_SALT, max_age=3600)
    except signing.BadSignature:
        return None
    return datetime.fromtimestamp(int(stamp), tz=timezone.utc) if isinstance(stamp, int) else None


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
        after = _marker_time(req.params[LOGIN_AFTER])
        if after is None or auth_time is None or auth_time < after:
            return True
    elif "login" in req.prompt or req.max_age == 0:
        return True
    if req.max_age:
        return auth_time is None or (secrets.now() - auth_time).total_seconds() > req.max_age
    return False


def return_query(data: QueryDict) -> QueryDict:
    """The request to come back to after a forced login: without ``prompt=login``, with a
    fresh ``login_after`` marker."""
    query = data.copy()
    prompt = [v for v in query.get("prompt", "").split() if v != "login"]
    if prompt:
        query["prompt"] = " ".join(prompt)
    else:
        query.pop("prompt", None)
    query[LOGIN_AFTER] = login_after_marker()
    return query

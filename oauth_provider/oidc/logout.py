"""Back-channel logout: logout tokens and their delivery (OpenID Connect Back-Channel Logout 1.0).

When a user's login session at the provider ends (Django's ``user_logged_out``: the site's
logout view, or RP-initiated logout at the end-session endpoint) or the user withdraws a client
on the connected-apps page, every affected client that registered a ``backchannel_logout_uri``
is told, server to server, with a signed logout token (§2.4):

* :func:`session_ended` / :func:`client_revoked` find the clients (one query; nothing more when
  none has a logout URI) and write one :class:`~oauth_provider.models.LogoutDelivery` row per
  client and session, in the caller's transaction;
* once that transaction commits (``transaction.on_commit``: never an HTTP request inside a
  transaction, and nothing sent for a logout that rolled back) the ids go to the
  ``BACKCHANNEL_LOGOUT["delivery"]`` hook: by default :func:`deliver_in_background` (a thread,
  so the user's page does not wait for slow clients), or :func:`deliver_now`, or a host's own
  function handing the ids to a task queue that calls :func:`deliver`;
* :func:`deliver` claims each due row (one conditional UPDATE, so two workers never send the
  same one), POSTs ``logout_token`` through :func:`oauth_provider.fetch.post_form` (https, the
  SSRF rules re-checked at send time, no redirects, short timeout; §2.5) and records the
  outcome: 200/204 delivered, 400-class refused for good (§2.8), anything else retried with
  doubling delays until ``max_attempts``; ``manage.py sendlogouts`` retries what is due.

The token (§2.4): ``iss``, ``aud`` (the client), ``iat``, ``exp`` (``token_lifetime``, two
minutes by default, §4), a unique ``jti``, ``events`` with the back-channel logout event, ``sub``
and, when the grant was made in a known session, ``sid``; never ``nonce`` (§2.4: it would let a
logout token pass for an ID token). Header ``typ: logout+jwt`` (§2.4, RFC 8725 §3.11), signed with
the key and algorithm of the provider's ID tokens. It is minted afresh at each attempt (new
``iat``, ``exp`` and ``jti``), since a retry may come long after the first.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db import connections, transaction
from django.http import HttpRequest
from django.utils.module_loading import import_string

from .. import fetch, jwt, keys, secrets
from ..adapter import subject_for
from ..conf import DEFAULTS, provider_settings
from ..issuer import get_issuer
from ..models import Authorization, LogoutDelivery, LogoutReason, get_client_model
from ..session import session_id
from ..signals import backchannel_logout

if TYPE_CHECKING:
    from ..models import AbstractClient

logger = logging.getLogger("oauth_provider.logout")

LOGOUT_TOKEN_TYP = "logout+jwt"
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: the longest wait between two attempts, however many failed before
MAX_RETRY_DELAY = timedelta(hours=6)


def options() -> dict[str, Any]:
    """``BACKCHANNEL_LOGOUT`` merged over its defaults."""
    return {**DEFAULTS["BACKCHANNEL_LOGOUT"].default, **provider_settings.BACKCHANNEL_LOGOUT}


def enabled() -> bool:
    """Back-channel logout is on: OpenID Connect and ``BACKCHANNEL_LOGOUT["enabled"]``."""
    return bool(provider_settings.OIDC_ENABLED and options()["enabled"])


# --- the logout token (§2.4) ------------------------------------------------------------------

def build_logout_token(delivery: LogoutDelivery, now: datetime | None = None) -> str:
    """Sign a logout token for ``delivery``'s client, subject and session."""
    issued = int((now or secrets.now()).timestamp())
    claims: dict[str, Any] = {
        "iss": delivery.issuer,
        "aud": delivery.client.client_id,
        "iat": issued,
        "exp": issued + int(options()["token_lifetime"]),
        "jti": secrets.generate_token(),
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        "sub": delivery.subject,
    }
    if delivery.session_id:
        claims["sid"] = delivery.session_id
    return jwt.encode(claims, typ=LOGOUT_TOKEN_TYP)  # the ID tokens' key and algorithm


# --- who must be told -------------------------------------------------------------------------

def session_ended(request: HttpRequest | None, user: Any, *, sid: str | None = None, once: bool = False) -> list[int]:
    """``user_logged_out`` receiver body: every client holding an unrevoked grant made in this
    login session (its ``sid``; ``sid`` names another session) is told. ``once``: not a client
    already told of that session's logout. Returns the ids of the deliveries recorded."""
    if not enabled() or user is None or request is None:
        return []
    sid = session_id(request) if sid is None else sid
    if not sid:
        return []
    families = Authorization.objects.live().filter(user=user, session_id=sid)
    return _record(request, user, families, str(LogoutReason.LOGOUT), once=once)


def revoke_session_grants(request: HttpRequest | None, user: Any, *, sid: str | None = None) -> int:
    """``user_logged_out`` receiver body, after the clients were told (:func:`session_ended`
    looks at live grants only): revoke this login session's (or ``sid``'s) grants that end with
    it (:meth:`~oauth_provider.models.AuthorizationQuerySet.ending_with_login`; §2.7). Returns
    how many were revoked."""
    if not (provider_settings.OIDC_ENABLED and provider_settings.LOGOUT_REVOKES_SESSION_GRANTS):
        return 0
    if user is None or request is None:
        return 0
    sid = session_id(request) if sid is None else sid
    if not sid:
        return 0
    families = Authorization.objects.live().filter(user=user, session_id=sid)
    return int(families.ending_with_login().revoke())


def login_replaced(request: HttpRequest, sid: str) -> list[int]:
    """A login in this browser replaced the login session ``sid`` without a logout (Django
    flushes the session when another user logs in, and starts a new one after it expired):
    that session has ended, as at a logout. The clients of its user's grants are told, each at
    most once for it (a browser whose user logged out without the cookie being dropped still
    names the session), and its grants that end with the login are revoked. The user is the
    one whose grants carry the ``sid`` (drawn at random per login session). Returns the ids of
    the deliveries recorded."""
    if not provider_settings.OIDC_ENABLED:
        return []
    ids: list[int] = []
    holders = Authorization.objects.filter(session_id=sid).values("user_id")
    for user in get_user_model()._default_manager.filter(pk__in=holders):
        ids += session_ended(request, user, sid=sid, once=True)
        revoke_session_grants(request, user, sid=sid)
    return ids


def client_revoked(request: HttpRequest | None, user: Any, client: AbstractClient) -> list[int]:
    """The user withdrew ``client`` (connected-apps page): it is told, once per login session
    its unrevoked grants came from. Call it before revoking (revoked grants are not looked at),
    in the same transaction."""
    if not enabled() or not client.backchannel_logout_uri:
        return []
    families = Authorization.objects.live().filter(user=user, client=client)
    return _record(request, user, families, str(LogoutReason.REVOKED))


def _record(request: HttpRequest | None, user: Any, families: Any, reason: str, *, once: bool = False) -> list[int]:
    """One statement to find the (client, sid) pairs; one more only if there are some (and one
    more with ``once``, to leave out the pairs already told for this reason)."""
    pairs = list(
        families.exclude(client__backchannel_logout_uri="").filter(client__is_active=True)
        .values_list("client_id", "session_id").distinct().order_by()
    )
    if pairs and once:
        told = set(LogoutDelivery.objects.filter(
            reason=reason, client_id__in={client_pk for client_pk, _sid in pairs},
            session_id__in={sid for _client_pk, sid in pairs},
        ).values_list("client_id", "session_id").order_by())
        pairs = [pair for pair in pairs if pair not in told]
    if not pairs:
        return []
    issuer = get_issuer(request)
    # the ``sub`` each client knows the user by (the adapter may make it per client, e.g.
    # pairwise, OIDC Core §8): the same value as in that client's ID tokens
    client_pks = {client_pk for client_pk, _sid in pairs}
    clients = get_client_model()._default_manager.filter(pk__in=client_pks)
    subjects = {client.pk: subject_for(user, client) for client in clients}
    now = secrets.now()
    rows = [
        LogoutDelivery(client_id=client_pk, issuer=issuer, subject=subjects[client_pk], session_id=sid,
                       reason=reason, created_at=now, next_attempt_at=now)
        for client_pk, sid in dict.fromkeys(pairs) if client_pk in subjects
    ]
    created = LogoutDelivery.objects.bulk_create(rows)
    ids = [row.pk for row in created if row.pk is not None]
    if len(ids) != len(rows):  # a backend that does not return ids (MySQL): read them back
        ids = list(LogoutDelivery.objects.filter(created_at=now, client_id__in=client_pks, reason=reason)
                   .values_list("pk", flat=True))
    schedule(ids)
    return ids


def schedule(ids: Sequence[int]) -> None:
    """Hand ``ids`` to the ``delivery`` hook once the current transaction commits (at once
    outside a transaction)."""
    if not ids:
        return
    hook = import_string(options()["delivery"])
    ids = list(ids)
    transaction.on_commit(lambda: _run_hook(hook, ids))


def _run_hook(hook: Any, ids: list[int]) -> None:
    try:
        hook(ids)
    except Exception:  # the user's logout has happened; sendlogouts retries the rows later
        logger.exception("The back-channel logout delivery hook failed; the deliveries stay pending.")


# --- delivery hooks ---------------------------------------------------------------------------

def deliver_now(ids: Sequence[int]) -> None:
    """Delivery hook: send in the current thread (the response waits for every client, up to
    ``timeout`` seconds each)."""
    deliver(ids)


#: the most threads a process sends logouts from at once (each holds a database connection)
BACKGROUND_THREADS = 4
#: the most delivery ids waiting for those threads; past it, ``sendlogouts`` sends the rest
BACKGROUND_QUEUE = 10_000
_waiting: deque[list[int]] = deque()
_background = {"threads": 0, "queued": 0}
_background_lock = threading.Lock()


def deliver_in_background(ids: Sequence[int]) -> None:
    """Delivery hook (default): send from daemon threads of this process, so the user's page
    is not held up. At most :data:`BACKGROUND_THREADS` of them, working through a queue: a
    slow or unreachable client (one an attacker registered, then signed in to and out of in a
    loop) cannot make every logout park a thread and a database connection for ``timeout``
    seconds. Ids past :data:`BACKGROUND_QUEUE`, and those of a process that stops before its
    threads are done, stay pending for ``sendlogouts``."""
    with _background_lock:
        if _background["queued"] + len(ids) > BACKGROUND_QUEUE:
            logger.warning("Back-channel logout queue full: %d deliveries left to sendlogouts.", len(ids))
            return
        _waiting.append(list(ids))
        _background["queued"] += len(ids)
        if _background["threads"] >= BACKGROUND_THREADS:
            return
        _background["threads"] += 1
    threading.Thread(target=_deliver_in_thread, name="oauth_provider-logout", daemon=True).start()


def _deliver_in_thread() -> None:
    counted = True  # this thread is among _background["threads"] until it says otherwise
    try:
        while True:
            with _background_lock:
                if not _waiting:
                    _background["threads"] -= 1
                    counted = False
                    return
                ids = _waiting.popleft()
                _background["queued"] -= len(ids)
            try:
                deliver(ids)
            except Exception:
                logger.exception("Back-channel logout delivery failed; the deliveries stay pending.")
    finally:
        if counted:  # ended by what is not an Exception (SystemExit, a green thread's timeout)
            with _background_lock:
                _background["threads"] -= 1
        connections.close_all()  # this thread's own connections


# --- sending ----------------------------------------------------------------------------------

def deliver(ids: Iterable[int] | None = None, *, now: datetime | None = None) -> dict[str, int]:
    """Attempt every due delivery among ``ids`` (None: every due delivery). Returns how many
    were ``delivered``, are to be ``retried`` and ``failed`` for good. What a task queue calls.

    A client whose delivery is to be retried (no answer in ``timeout``, a 5xx) gets no further
    attempt in this call, nor in later calls of this process until that delivery's retry time:
    its other due deliveries count as ``retried`` and stay due, untouched, for the next run.
    Sends are one after another, so otherwise a relying party that never answers, with a
    backlog piled up by logging in and out, would hold every other client's logout back by
    ``timeout`` per row (and spend its own rows' attempts on one outage)."""
    queryset = LogoutDelivery.objects.due(now).select_related("client").order_by("pk")
    if ids is not None:
        queryset = queryset.filter(pk__in=list(ids))
    counts = {"delivered": 0, "retried": 0, "failed": 0}
    failing: set[int] = set()
    for delivery in queryset:
        if delivery.client_id in failing or _backing_off(delivery.client.client_id, now):
            counts["retried"] += 1
            continue
        outcome = attempt(delivery, now=now)
        if outcome is not None:
            counts[outcome] += 1
        if outcome == "retried":
            failing.add(delivery.client_id)
            _failing_until[delivery.client.client_id] = delivery.next_attempt_at
    return counts


#: client_id -> when this process tries it again after an attempt to be retried: each logout
#: is its own call of :func:`deliver`, and without this a client that never answers would cost
#: ``timeout`` at every logout of its users (its new deliveries stay due for ``sendlogouts``).
#: A time past is no back-off, so an entry is never removed (one per client that ever failed).
_failing_until: dict[str, datetime | None] = {}


def _backing_off(client_id: str, now: datetime | None) -> bool:
    until = _failing_until.get(client_id)
    return until is not None and until > (now or secrets.now())


def attempt(delivery: LogoutDelivery, *, now: datetime | None = None) -> str | None:
    """One attempt at ``delivery``: ``"delivered"``, ``"retried"``, ``"failed"``, or None when
    another worker claimed it first."""
    opts = options()
    now = now or secrets.now()
    lease = timedelta(seconds=float(opts["timeout"]) + 30)
    if not LogoutDelivery.objects.claim(delivery.pk, now, lease):
        return None
    delivery.attempts += 1
    client = delivery.client
    status: int | None = None
    error = ""
    uri = client.backchannel_logout_uri
    if not uri or not client.is_active:
        return _record_outcome(delivery, None, "The client no longer has an active back-channel logout URI.",
                               now, opts, final=True)
    try:
        status = fetch.post_form(uri, {"logout_token": build_logout_token(delivery, now)},
                                 timeout=float(opts["timeout"]))
    except fetch.FetchError as exc:
        error = exc.detail
    except keys.NoSigningKey as exc:
        error = str(exc)
    return _record_outcome(delivery, status, error, now, opts)


def _record_outcome(delivery: LogoutDelivery, status: int | None, error: str, now: datetime,
                    opts: dict[str, Any], *, final: bool = False) -> str:
    """§2.8: 200 and 204 are success; a 4xx answer (but 408 and 429) is a refusal a retry
    cannot change; anything else (no answer, 5xx, a redirect, which is never followed) is
    retried after ``retry_delay`` doubled per failed attempt, until ``max_attempts``."""
    fields: dict[str, Any] = {"last_status": status, "last_error": (error or f"HTTP {status}")[:1000]}
    refused = status is not None and 400 <= status < 500 and status not in (408, 429)
    if status in (200, 204):
        outcome = "delivered"
        fields.update(delivered_at=now, next_attempt_at=None, last_error="")
    elif final or refused or delivery.attempts >= int(opts["max_attempts"]):
        outcome = "failed"
        fields.update(failed_at=now, next_attempt_at=None)
    else:
        outcome = "retried"
        delay = timedelta(seconds=int(opts["retry_delay"]) * 2 ** max(delivery.attempts - 1, 0))
        fields["next_attempt_at"] = now + min(delay, MAX_RETRY_DELAY)
    LogoutDelivery.objects.filter(pk=delivery.pk).update(**fields)
    for name, value in fields.items():
        setattr(delivery, name, value)
    if outcome == "failed":
        logger.warning("Back-channel logout to client %s given up after %d attempt(s): %s",
                       delivery.client.client_id, delivery.attempts, delivery.last_error)
    backchannel_logout.send(sender=get_client_model(), client=delivery.client, delivery=delivery, outcome=outcome)
    return outcome

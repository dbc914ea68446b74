"""Throttling of failed client authentication (OAuth 2.1 §2.4.1, RFC 6819 §5.1.4.2.3).

Endpoints that accept client secrets must not let an attacker guess them at line speed, nor
let anyone turn the defence into a way to lock clients out. :func:`oauth_provider.client_auth.authenticate`
(used by the token, introspection and revocation endpoints) therefore checks the credentials
**first**, and only credentials that prove nothing meet the throttle:

* **correct credentials are always accepted**, whatever others failed before, from whatever
  address: knowing a client_id, sitting behind the same proxy or NAT, or making visitors'
  browsers call the CORS-open revocation endpoint locks nobody out;
* every wrong credential is counted in Django's cache: once for the caller's address, and
  once for the ``client_id`` when it names a *confidential* client (the only kind with a
  secret to guess). Public clients (nothing to guess) and unknown client_ids (an attacker
  could invent any number of them) have no count of their own, only the address's;
* once either count reaches ``failures`` within ``window`` seconds of the first failure,
  further **wrong** credentials naming that client or coming from that address get, until
  the window ends::

    HTTP/1.1 429 Too Many Requests                  (RFC 6585 §4)
    Retry-After: 37                                 (seconds until the window ends)
    Cache-Control: no-store
    Content-Type: application/json

    {"error": "invalid_client", "error_description": "Too many failed client authentications..."}

What this buys, honestly: a caller that keeps failing is told to back off and stops
producing 401s, log lines and ``client_authentication_failed`` signals one per attempt;
a monitoring system sees the throttle engage (a warning is logged). What protects a secret
from being guessed is its size: secrets made here are 256-bit random values, which no rate
of online guessing finds; a correct guess is accepted even past the threshold, since the
server cannot tell an attacker from the client who shares its address. A host that
imports weak secrets (from another system) should rotate them (``Client.generate_secret``).

The error code stays ``invalid_client``: RFC 6749 §5.2 defines no code for rate limiting at
the token endpoint, the request did fail client authentication (the credentials were not
accepted), and a client library that knows only the §5.2 codes handles it correctly.
``temporarily_unavailable`` is an authorization-endpoint code that blames the server, and
``slow_down`` (RFC 8628 §3.5) belongs to device-code polling. The status and ``Retry-After``
carry the "back off" meaning (RFC 6585 §4). No ``WWW-Authenticate``: no credentials should be
retried now.

Successful authentications never touch the cache. A success does not clear the counters:
clearing would let an attacker who interleaves the client's own traffic keep guessing
unthrottled.

Settings, ``OAUTH_PROVIDER["CLIENT_AUTH_THROTTLE"]`` (keys left out keep these defaults)::

    "enabled": True       count failures and answer 429 at the threshold
    "failures": 10        failed attempts allowed per window, per client_id and per address
    "window": 60          seconds, counted from the first failure of a window
    "cache": "default"    the CACHES alias holding the counters; it must be shared by every
                          worker (Redis, Memcached, database): a per-process cache only
                          throttles within one process
    "ip_header": None     the ``request.META`` key of a header your reverse proxy sets to the
                          client's address (e.g. "HTTP_X_REAL_IP" or "HTTP_X_FORWARDED_FOR").
                          None: ``REMOTE_ADDR`` only, since any other header is client-controlled
                          unless a proxy you run overwrites it (RFC 9700 §4.13). For a
                          comma-separated list the last (rightmost) entry is used: it is the
                          one your proxy appended. Behind a proxy with the default, every
                          caller has the proxy's address: one count for all of them, which
                          costs wrong credentials their 401 (they get 429) and nothing more.

IPv6 addresses are counted per /64 prefix, the block a single subscriber usually holds.
Each count is opened with an atomic ``add`` and raised with an atomic ``incr``, so attempts
arriving at once are each counted (with a cache whose ``add`` is atomic: Redis, Memcached);
a cache outage lets requests through and is logged (the throttle must not take the token
endpoint down with it).

More counts, per address only, limit what a caller who proves nothing can make us store:
registrations (:func:`count_registration`, ``REGISTRATION_THROTTLE``), client ID metadata
document fetches (:func:`count_document_fetch`, the same setting, a count of their own), and a
public client's device authorization and pushed authorization requests
(:func:`count_public_client_request`, ``PUBLIC_CLIENT_THROTTLE``). Every attempt counts there,
accepted or not; they share this module's cache and address rule.

Any web page can make its visitors' browsers send such requests (a form POST needs no CORS
preflight, and the registration and PAR endpoints are open to browsers by design), so a count
shared by everyone at an address would be a lockout anyone can trigger: a page spending a
household's count would stop its TV from starting a device login. Requests a browser sends
(they carry ``Origin`` or ``Sec-Fetch-Site``, :func:`browser_sent`) are therefore counted apart
from those of devices, native apps and servers, which send neither; and document fetches for a
logged-in user's request (the authorization endpoint, with the session a cross-site subrequest
never carries under ``SameSite=Lax``) apart from the rest. A page can then spend only the count
of other browser-sent requests from its visitors' address.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.cache import caches
from django.http import HttpRequest

from . import secrets
from .conf import DEFAULTS, provider_settings
from .errors import ClientAuthThrottled, MetadataDocumentThrottled, PublicClientThrottled, RegistrationThrottled

if TYPE_CHECKING:
    from .models import AbstractClient

logger = logging.getLogger(__name__)

SETTING = "CLIENT_AUTH_THROTTLE"
_PREFIX = "oauth_provider:throttle:"


@dataclass(frozen=True)
class ThrottleSettings:
    """A throttle block (``CLIENT_AUTH_THROTTLE``, ``DEVICE_USER_CODE_THROTTLE``), defaults filled in."""

    enabled: bool
    failures: int
    window: int
    cache: str
    ip_header: str | None
    #: the count of the address: ``failures`` unless the block sets it apart
    #: (``DEVICE_USER_CODE_THROTTLE``)
    address_failures: int


def throttle_settings(setting: str = SETTING) -> ThrottleSettings:
    """The throttle block ``setting`` merged over its defaults (checks.py validates it)."""
    block: dict[str, Any] = {**DEFAULTS[setting].default, **(getattr(provider_settings, setting) or {})}
    return ThrottleSettings(
        enabled=bool(block["enabled"]), failures=int(block["failures"]), window=int(block["window"]),
        cache=str(block["cache"]), ip_header=block["ip_header"],
        address_failures=int(block.get("address_failures", block["failures"])),
    )


def client_ip(request: HttpRequest, ip_header: str | None = None) -> str:
    """The caller's address as counted: the configured proxy header's last entry when it
    parses as an IP address, else ``REMOTE_ADDR``; an IPv6 address stands for its /64."""
    candidates = [str(request.META.get(ip_header, "")).split(",")[-1].strip()] if ip_header else []
    candidates.append(str(request.META.get("REMOTE_ADDR", "")))
    for candidate in candidates:
        try:
            address = ipaddress.ip_address(candidate)
        except ValueError:
            continue
        if isinstance(address, ipaddress.IPv6Address):
            if address.ipv4_mapped is not None:
                return str(address.ipv4_mapped)
            return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))
        return str(address)
    return "unknown"


def _since(key: str) -> str:
    return key + ":since"


def _hit(cache: Any, key: str, window: int, now: float) -> tuple[int, float]:
    """Count one attempt under ``key``: (the count now, when its window began). A window is
    opened by the request whose atomic ``add`` of its start succeeds, and the count in it is
    created with an atomic ``add`` and raised with an atomic ``incr``: attempts arriving at
    once are each counted. (Read, then set to 1 when no window was open: every request of a
    burst at a window's start found none, and the whole burst passed; an outside race review.)
    A count evicted mid-window starts again at 1 in the same window."""
    since = cache.get(_since(key))
    if since is None or float(since) + window <= now:
        if since is not None:  # over by this clock before the cache let it expire
            cache.delete_many([key, _since(key)])
        since = now if cache.add(_since(key), now, timeout=window) else (cache.get(_since(key)) or now)
    remaining = math.ceil(float(since) + window - now)  # at least 1: the window is not over
    try:
        count = int(cache.incr(key))
    except ValueError:  # no count in this window yet (just opened, or evicted): one request creates it
        count = 1 if cache.add(key, 1, timeout=remaining) else int(cache.incr(key))
    return count, float(since)


class Throttle:
    """Failures counted per address and per named subjects in Django's cache, in fixed windows
    of ``window`` seconds from a window's first failure; ``failures`` of them spend a count.

    ``setting`` names the block of settings; ``namespace`` keeps this throttle's counts apart
    from another's; ``what`` names it in the log. Subjects are ``{label: identity}``: the label
    for the log, the identity hashed into the cache key (attacker-chosen text never reaches a
    cache key as such, and keys stay short and plain for memcached)."""

    def __init__(self, setting: str, namespace: str, what: str) -> None:
        self.setting = setting
        self.namespace = namespace
        self.what = what

    def conf(self) -> ThrottleSettings:
        return throttle_settings(self.setting)

    def keys(self, request: HttpRequest, subjects: dict[str, str], conf: ThrottleSettings) -> dict[str, str]:
        address = client_ip(request, conf.ip_header)
        raw = {f"address {address}": f"{self.namespace}ip:{address}", **subjects}
        return {
            label: _PREFIX + hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:40]
            for label, identity in raw.items()
        }

    @staticmethod
    def limits(keys: dict[str, str], conf: ThrottleSettings) -> dict[str, int]:
        """Cache key -> the failures that spend it, for :meth:`keys`: ``address_failures`` for
        the address (the first key), ``failures`` for each subject."""
        address, *others = keys.values()
        return {address: conf.address_failures, **dict.fromkeys(others, conf.failures)}

    def retry_after(self, request: HttpRequest, subjects: dict[str, str]) -> int:
        """Seconds until the longest spent count among the address and ``subjects`` ends its
        window; 0 when none is spent. One cache read (two when a count is spent)."""
        conf = self.conf()
        if not conf.enabled:
            return 0
        limits = self.limits(self.keys(request, subjects, conf), conf)
        try:
            cache = caches[conf.cache]
            counts = cache.get_many(list(limits))
            spent = [key for key, limit in limits.items() if counts.get(key, 0) >= limit]
            # Only a spent count needs its window's start: the usual request reads one batch.
            starts = cache.get_many([_since(key) for key in spent]) if spent else {}
        except Exception:  # the cache is down: serve rather than lock everyone out
            logger.exception("%s throttle: cache read failed; not throttling", self.what)
            return 0
        now = secrets.now().timestamp()
        waits = [starts[_since(key)] + conf.window - now for key in spent if _since(key) in starts]
        longest = max(waits, default=0)
        return max(1, math.ceil(longest)) if longest > 0 else 0

    def record_failure(self, request: HttpRequest, subjects: dict[str, str]) -> None:
        """Count one failure for the address and each subject. A count whose window has
        passed starts again at 1."""
        self._count(request, subjects)

    def reserve(self, request: HttpRequest, subjects: dict[str, str]) -> int:
        """Count an attempt *before* it is judged, and say (seconds to wait, else 0) whether it
        is one too many. Attempts in flight together are then each counted before any is
        looked at: checking first and counting the failure after would let every one of them
        through. An attempt that turns out not to be a failure is handed back with
        :meth:`give_back`."""
        return self._count(request, subjects)

    def give_back(self, request: HttpRequest, subjects: dict[str, str]) -> None:
        r"""Take back a :meth:`reserve`\ d attempt that was not a failure."""
        conf = self.conf()
        if not conf.enabled:
            return
        try:
            cache = caches[conf.cache]
            for key in self.keys(request, subjects, conf).values():
                try:
                    cache.decr(key)
                except ValueError:  # the window ended meanwhile: nothing to take back
                    pass
        except Exception:  # noqa: BLE001 - see retry_after()
            logger.exception("%s throttle: cache write failed", self.what)

    def _count(self, request: HttpRequest, subjects: dict[str, str]) -> int:
        """Add one to the address's and each subject's count; the seconds until the longest
        window ends among the counts now past ``failures``, else 0."""
        conf = self.conf()
        if not conf.enabled:
            return 0
        keys = self.keys(request, subjects, conf)
        limits = self.limits(keys, conf)
        now = secrets.now().timestamp()
        wait = 0
        try:
            cache = caches[conf.cache]
            for label, key in keys.items():
                count, since = _hit(cache, key, conf.window, now)
                remaining = math.ceil(since + conf.window - now)  # at least 1 (_hit); failures=1: spent at once
                if count == limits[key]:
                    logger.warning("%s throttle engaged for %s for %d s", self.what, label, remaining)
                if count > limits[key]:
                    wait = max(wait, remaining)
        except Exception:  # see retry_after(): an outage must not turn failures into 500s
            logger.exception("%s throttle: cache write failed", self.what)
        return wait


_client_auth = Throttle(SETTING, "", "client-authentication")


def _client_subjects(client_id: str | None) -> dict[str, str]:
    return {f"client_id {client_id[:100]!r}": f"client:{client_id}"} if client_id is not None else {}


def check(request: HttpRequest, client_id: str | None) -> None:
    """Raise :class:`~oauth_provider.errors.ClientAuthThrottled` when this client_id (None:
    none counted) or this address has used up its failures for the current window. Called
    for credentials already found wrong, never for correct ones. One cache read (two when a
    count is spent)."""
    wait = _client_auth.retry_after(request, _client_subjects(client_id))
    if wait:
        raise ClientAuthThrottled(retry_after=wait)


def record_failure(request: HttpRequest, client_id: str | None) -> None:
    """Count one failed client authentication for the address and (if given: a confidential
    client's) the client_id. A count whose window has passed starts again at 1."""
    _client_auth.record_failure(request, _client_subjects(client_id))


# -- per-address counts of requests that store a row ---------------------------------------
def browser_sent(request: HttpRequest) -> bool:
    """Did a browser send this request? Browsers add ``Origin`` to every POST, cross-site
    form posts included (Fetch §3.1), and ``Sec-Fetch-Site`` to every request (Fetch Metadata);
    devices, native apps and servers send neither unless they pretend, and a caller who
    pretends only moves its own requests to the browsers' count."""
    return "HTTP_ORIGIN" in request.META or "HTTP_SEC_FETCH_SITE" in request.META


def _count_per_address(request: HttpRequest, *, setting: str, limit_key: str, namespace: str,
                       what: str) -> int:
    """Count one attempt from the caller's address against the ``setting`` block
    (``limit_key`` attempts per ``window`` seconds from the window's first): seconds to wait
    once the limit is passed, else 0. The cache and the address rule are
    ``CLIENT_AUTH_THROTTLE``'s. A cache outage lets the attempt through (logged)."""
    block: dict[str, Any] = {**DEFAULTS[setting].default, **(getattr(provider_settings, setting) or {})}
    if not block["enabled"]:
        return 0
    conf = throttle_settings()
    address = client_ip(request, conf.ip_header)
    if browser_sent(request):
        namespace += "browser:"
    key = _PREFIX + namespace + hashlib.sha256(address.encode()).hexdigest()[:40]
    window, limit = int(block["window"]), int(block[limit_key])
    now = secrets.now().timestamp()
    try:
        count, since = _hit(caches[conf.cache], key, window, now)
    except Exception:
        logger.exception("%s throttle: cache failed; not throttling", what)
        return 0
    if count <= limit:
        return 0
    if count == limit + 1:
        logger.warning("%s throttle engaged for address %s", what, address)
    return max(1, math.ceil(float(since) + window - now))


# -- dynamic client registration (RFC 7591 §3, "open registration ... rate-limited") --------
REGISTRATION_SETTING = "REGISTRATION_THROTTLE"


def count_registration(request: HttpRequest) -> None:
    """Count one registration attempt from the caller's address and raise
    :class:`~oauth_provider.errors.RegistrationThrottled` once ``registrations`` attempts were
    made within ``window`` seconds of the first. Every attempt counts, accepted or not: what is
    limited is the work and the rows one address can cause. The cache and the address rule are
    ``CLIENT_AUTH_THROTTLE``'s. A cache outage lets registrations through (logged)."""
    wait = _count_per_address(request, setting=REGISTRATION_SETTING, limit_key="registrations",
                              namespace="register:", what="registration")
    if wait:
        raise RegistrationThrottled(retry_after=wait)


def count_document_fetch(request: HttpRequest) -> None:
    """Count one fetch of a client ID metadata document for a request from the caller's
    address against ``REGISTRATION_THROTTLE`` (a client described by a document it has not
    seen is registered by that fetch), and raise
    :class:`~oauth_provider.errors.MetadataDocumentThrottled` past the limit. Only a fetch
    counts: a document fresh in the cache costs nothing and is never refused. The count is
    apart from registrations', and a logged-in user's requests have one apart from the rest
    (see the module docstring: no page can spend it)."""
    user = getattr(request, "user", None)
    namespace = "document:login:" if user is not None and user.is_authenticated else "document:"
    wait = _count_per_address(request, setting=REGISTRATION_SETTING, limit_key="registrations",
                              namespace=namespace, what="metadata document fetch")
    if wait:
        raise MetadataDocumentThrottled(retry_after=wait)


# -- public clients' device authorization and pushed requests (RFC 8628 §5.2, RFC 9126 §2.3) --
PUBLIC_CLIENT_SETTING = "PUBLIC_CLIENT_THROTTLE"


def count_public_client_request(request: HttpRequest, client: AbstractClient) -> None:
    """Count one device authorization request (RFC 8628 §3.1) or pushed authorization request
    (RFC 9126 §2) of a *public* client from the caller's address, and raise
    :class:`~oauth_provider.errors.PublicClientThrottled` once ``requests`` were made within
    ``window`` seconds of the first. A public client proves nothing but its ``client_id``, so
    without this anyone could store device codes or pushed requests as fast as the endpoint
    answers. Counted per address only, never per client: a count per ``client_id`` would let
    anyone lock a public client's real users out. Confidential clients authenticated; they are
    not counted. Every attempt counts, accepted or not."""
    if not client.is_public:
        return
    wait = _count_per_address(request, setting=PUBLIC_CLIENT_SETTING, limit_key="requests",
                              namespace="public:", what="public-client request")
    if wait:
        raise PublicClientThrottled(retry_after=wait)

"""The one way the provider fetches a URL (SSRF defence for every outgoing request).

A client-supplied URL (a client ID metadata document, a ``jwks_uri``, a logout URI) makes the
server send a request on an attacker's behalf: server-side request forgery. Every outgoing
request therefore goes through this module, which applies these rules (security checklist
section Q; draft-ietf-oauth-client-id-metadata-document §6.5; RFC 9101 §10.4.1):

1. **Syntax** (:func:`validate_fetchable_url`, no network): ``https`` only; a host and no
   userinfo, fragment, zone ID, percent-encoded or non-canonical numeric host (``2130706433``,
   ``0177.0.0.1``, ``0x7f.1``, ``127.1``); port 443 or one listed in ``FETCH["allowed_ports"]``;
   ``localhost`` (and ``*.localhost``) and the cloud metadata names (``metadata``,
   ``metadata.google.internal``) refused by name. A trailing dot and upper case are normalised
   before the checks, an internationalised name is checked in its ASCII (IDNA) form.
2. **Addresses, after resolution**: the host is resolved once, *every* address returned is
   checked, and any special-purpose one refuses the URL: private, loopback, link-local
   (169.254.169.254 among them), multicast, reserved, unspecified, shared (100.64/10),
   benchmarking, documentation, IPv4-mapped / NAT64 / 6to4 / Teredo wrappings of those, and
   unique-local IPv6 (``fd00:ec2::254``), SRv6 (``5f00::/16``).
3. **Pinning**: the connection goes to the address that was checked, never to a name resolved
   again (no DNS rebinding between check and connect); TLS still verifies the certificate
   against the *name*, which is also sent as SNI and ``Host``.
4. **Limits**: connect timeout and a total deadline over the whole exchange (a server sending a
   byte a second is cut off at the deadline), a body limit enforced while reading (never more
   than ``max_bytes`` is read, with or without ``Content-Length``), no compressed bodies (none
   are asked for), only status 200, a JSON media type for :func:`fetch_json`.
5. **Redirects** are not followed by default (``FETCH["max_redirects"]`` = 0; the client ID
   metadata document draft §4 forbids following them, and every hop would be another request
   the attacker chooses). When a host raises the limit, each hop passes rules 1-3 again, an
   ``https`` -> ``http`` hop is refused, and a loop ends at the limit.
6. **Caching** in Django's cache (``FETCH["cache"]``): a document is kept for its
   ``Cache-Control: max-age`` clamped to ``[cache_min_seconds, cache_max_seconds]``;
   ``no-store``/``no-cache`` or no header at all keep it ``cache_min_seconds`` (a client
   cannot make us fetch on every request). Timeouts are remembered for
   ``error_cache_seconds``, so a deliberately slow target cannot tie up a worker per request;
   so is a name lookup still unanswered after ``connect_timeout`` (a name server that never
   answers: the lookup runs in a small per-process pool of threads and the request stops
   waiting for it at ``connect_timeout``, so the system resolver's own timeout, 30 seconds
   and more, holds neither the worker nor a logout delivery past its claim); other failures
   are not cached (the next request tries again).
7. **No oracle**: once the network is involved, every failure has the same client-facing
   message; what went wrong is logged (logger ``oauth_provider.fetch``), never shown to the
   requester, so the fetcher cannot be used to map an internal network.

For local development and black-box tests on one machine, ``ALLOW_INSECURE_LOOPBACK_FETCH``
lets ``http`` and ``https`` URLs whose host is exactly ``127.0.0.1``, ``[::1]`` or ``localhost``
through, on any port (``localhost`` must then resolve to loopback addresses only). Other names
resolving to loopback stay refused. ``check --deploy`` warns while it is on (W030).

Only the standard library is used (``http.client``, ``ssl``, ``socket``).
"""

from __future__ import annotations

import hashlib
import http.client
import io
import ipaddress
import json
import logging
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from concurrent import futures
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from django.core.cache import caches
from django.core.exceptions import ValidationError

from .conf import DEFAULTS, provider_settings
from .errors import printable

logger = logging.getLogger("oauth_provider.fetch")

#: the one message a requester sees for any failure once the network is involved
FETCH_FAILED = "The URL could not be fetched or did not return a valid document."
MAX_URL_LENGTH = 2000
LOOPBACK_NAMES = frozenset({"127.0.0.1", "::1", "localhost"})
BLOCKED_NAMES = frozenset({"localhost", "metadata", "metadata.google.internal"})
USER_AGENT = "oauth_provider (+https://pypi.org/project/oauth_provider/)"

# Special-purpose blocks that Python's ``is_global`` does not cover (RFC 6890 registries).
_EXTRA_BLOCKED = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
    "169.254.0.0/16", "100.100.100.200/32",
    "64:ff9b::/96", "64:ff9b:1::/48", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8", "2001::/32",
    "3fff::/20", "5f00::/16",  # documentation (RFC 9637), SRv6 SIDs (RFC 9602): global to Python 3.10-3.13
))
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_DIGITS = re.compile(r"[0-9]{1,20}")


class FetchError(Exception):
    """A URL was refused or could not be fetched. ``str(error)`` is safe to show the client
    that supplied the URL: syntax problems are described, network failures all read the same
    (:data:`FETCH_FAILED`); ``detail`` says what happened, for logs only, with the controls a
    peer's answer may carry (a status line of escape sequences) escaped: it goes to logs, to
    ``sendlogouts --list`` and into the admin."""

    def __init__(self, message: str = FETCH_FAILED, *, detail: str = "") -> None:
        super().__init__(message)
        self.detail = printable(detail or message)


class _Timeout(FetchError):
    """The connect timeout or the total deadline passed (remembered briefly, rule 6)."""


class _LookupsBusy(FetchError):
    """No lookup thread was free in time: says nothing about the URL (never remembered)."""


@dataclass(frozen=True)
class Target:
    """A URL that passed the syntax rules: what to resolve and what to ask for."""

    url: str
    scheme: str
    host: str  # ASCII, lower case, no trailing dot, IPv6 without brackets
    port: int
    path: str  # path and query, as sent in the request line
    loopback: bool  # an allowed loopback URL (ALLOW_INSECURE_LOOPBACK_FETCH)


@dataclass(frozen=True)
class FetchedJSON:
    """A fetched JSON document and how long it may be cached (rule 6), in seconds."""

    data: Any
    cache_seconds: int


def options() -> dict[str, Any]:
    """``FETCH`` merged over its defaults."""
    return {**DEFAULTS["FETCH"].default, **provider_settings.FETCH}


# --- rule 1: syntax -------------------------------------------------------------------------

def validate_fetchable_url(url: str) -> None:
    """Raise :class:`~django.core.exceptions.ValidationError` unless ``url`` passes the
    syntax rules (rule 1: scheme, host, port, no userinfo or fragment). No network access:
    fit for form and metadata validation. Addresses are checked when fetching."""
    try:
        parse(url)
    except FetchError as exc:
        raise ValidationError(str(exc), code="invalid_fetch_url") from None


def parse(url: str) -> Target:
    """Apply rule 1 to ``url``; raise :class:`FetchError` with a message saying which rule."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise FetchError("The URL is empty or too long.")
    if any(c <= " " or c in "\\\x7f" for c in url) or "#" in url:
        raise FetchError("The URL contains spaces, control characters, a backslash or a fragment.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchError("The URL is malformed.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise FetchError("Only https URLs can be fetched.")
    if not parts.netloc or "@" in parts.netloc:
        raise FetchError("The URL must have a host and no user information.")
    host = _normalise_host(parts.netloc, parts.hostname or "")
    # exactly these names as written: "localhost." or "127.0.0.1." stay refused
    loopback = bool(provider_settings.ALLOW_INSECURE_LOOPBACK_FETCH) and parts.hostname in LOOPBACK_NAMES
    if scheme == "http" and not loopback:
        raise FetchError("Only https URLs can be fetched.")
    if port == 0 or (port is not None and not loopback and port not in options()["allowed_ports"]):
        raise FetchError("The URL's port is not allowed (use the default https port).")
    if not loopback:
        _check_host_syntax(host)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    default = 443 if scheme == "https" else 80
    return Target(url, scheme, host, port or default, path, loopback)


def _normalise_host(netloc: str, hostname: str) -> str:
    if "%" in netloc:
        raise FetchError("The URL's host must not contain '%' (no zone IDs or escapes).")
    if not hostname:
        raise FetchError("The URL must have a host and no user information.")
    if not hostname.isascii():
        try:  # IDNA: a look-alike (fullwidth digits...) maps to what it will resolve as
            hostname = hostname.encode("idna").decode("ascii")
        except (UnicodeError, ValueError):
            raise FetchError("The URL's host is not a valid domain name.") from None
    host = hostname.lower()
    return host[:-1] if host.endswith(".") and not host.endswith("..") else host


def _check_host_syntax(host: str) -> None:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        if is_blocked_address(ip):
            raise FetchError("The URL's host is a special-purpose address.")
        return
    labels = host.split(".")
    if not all(_LABEL.match(label) for label in labels) or len(host) > 253:
        raise FetchError("The URL's host is not a valid domain name.")
    # WHATWG URL parsing (and inet_aton) read a numeric last label as an IPv4 address in
    # another notation: 2130706433, 0177.0.0.1, 0x7f.1, 127.1 are all 127.0.0.1.
    if _NUMERIC_LABEL.match(labels[-1]):
        raise FetchError("The URL's host is an IP address in a non-canonical form.")
    if host in BLOCKED_NAMES or host.endswith(".localhost"):
        raise FetchError("The URL's host is a local or metadata service name.")


# --- rule 2: addresses ------------------------------------------------------------------------

def is_blocked_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Is ``ip`` a special-purpose address (RFC 6890) the provider must never connect to?
    IPv6 wrappings of IPv4 addresses (mapped, 6to4, Teredo, NAT64) are judged by, or refused
    for, what they wrap."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None:
            return is_blocked_address(embedded)
        if ip.teredo is not None:
            return True
    if any(ip in net for net in _EXTRA_BLOCKED if net.version == ip.version):
        return True
    return (not ip.is_global or ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
            or ip.is_reserved or ip.is_unspecified)


#: threads that run name lookups (rule 6), at most this many per process
LOOKUP_THREADS = 16
_lookup_pools: dict[int, futures.ThreadPoolExecutor] = {}
_lookup_pools_lock = threading.Lock()


def _lookup_pool() -> futures.ThreadPoolExecutor:
    """This process's lookup threads (one pool per process id: a pool inherited through
    ``fork`` has no threads behind it)."""
    pid = os.getpid()
    with _lookup_pools_lock:
        pool = _lookup_pools.get(pid)
        if pool is None:
            _lookup_pools.clear()
            pool = _lookup_pools[pid] = futures.ThreadPoolExecutor(
                LOOKUP_THREADS, thread_name_prefix="oauth_provider-lookup")
        return pool


def _getaddrinfo(target: Target, wait: float) -> list[Any]:
    """``socket.getaddrinfo`` for ``target``, waited for at most ``wait`` seconds: a lookup
    still running then is left to finish on its thread and reported as :class:`_Timeout`
    (remembered, rule 6); one still queued behind others is withdrawn and reported as a
    plain failure (not remembered: a flood of someone else's slow names must not mark this
    URL as slow)."""
    job = _lookup_pool().submit(socket.getaddrinfo, target.host, target.port,
                                type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    try:
        return job.result(timeout=wait)
    except futures.TimeoutError:
        if job.cancel():
            raise _LookupsBusy(detail=f"{target.host!r}: every lookup thread is busy") from None
        raise _Timeout(detail=f"{target.host!r}: no answer from the name server in {wait:g} s") from None


def resolve(target: Target, wait: float) -> list[tuple[int, Any]]:
    """Resolve ``target`` once and check every address (rule 2). Returns the
    ``(family, sockaddr)`` pairs to connect to; raises :class:`FetchError` if any is refused.
    ``wait`` bounds the lookup in seconds."""
    try:
        infos = _getaddrinfo(target, wait)
    except (OSError, UnicodeError) as exc:
        raise FetchError(detail=f"cannot resolve {target.host!r}: {exc}") from None
    addresses: list[tuple[int, Any]] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        refused = not ip.is_loopback if target.loopback else is_blocked_address(ip)
        if refused:
            raise FetchError(detail=f"{target.host!r} resolves to the refused address {ip}")
        addresses.append((family, sockaddr))
    if not addresses:
        raise FetchError(detail=f"{target.host!r} has no IP address")
    return addresses


# --- rule 3 and 4: the pinned connection ------------------------------------------------------

def _ssl_context() -> ssl.SSLContext:
    """The TLS context: the system's trust store, hostname checking on (a seam for tests)."""
    return ssl.create_default_context()


def _open_socket(family: int, sockaddr: Any, timeout: float) -> socket.socket:
    """A TCP connection to exactly ``sockaddr``, the address that was checked."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


class _DeadlineReader(io.RawIOBase):
    """Socket reads that may not run past the total deadline, however slowly bytes arrive."""

    def __init__(self, sock: socket.socket, deadline: float, owner: _DeadlineSocket | None = None) -> None:
        self._sock, self._deadline, self._owner = sock, deadline, owner

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed and self._owner is not None:
            self._owner._reader_closed()
        super().close()

    def readinto(self, buffer: Any) -> int:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("total fetch deadline passed")
        self._sock.settimeout(remaining)
        return self._sock.recv_into(buffer)


class _DeadlineSocket:
    """What :mod:`http.client` needs of a socket (``sendall``, ``makefile``, ``close``),
    with the total deadline applied to every operation."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock, self._deadline = sock, deadline
        # http.client closes the connection as soon as the headers of a "Connection: close"
        # response are read, handing the body to the response's reader: like socket.makefile()
        # (its _io_refs), the descriptor stays open until that reader is closed too. Closing it
        # earlier made the body read fail with EBADF, or read whatever socket reused the number.
        self._readers = 0
        self._closing = False

    def sendall(self, data: bytes) -> None:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("total fetch deadline passed")
        self._sock.settimeout(remaining)
        self._sock.sendall(data)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        self._readers += 1
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline, self))

    def _reader_closed(self) -> None:
        self._readers -= 1
        if self._closing and self._readers <= 0:
            self._sock.close()

    def close(self) -> None:
        self._closing = True
        if self._readers <= 0:
            self._sock.close()


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to a checked address; ``Host``, SNI and the certificate check
    use the URL's name (rule 3)."""

    def __init__(self, target: Target, addresses: list[tuple[int, Any]], connect_timeout: float,
                 deadline: float) -> None:
        super().__init__(target.host, target.port, timeout=connect_timeout)
        self.default_port = 443 if target.scheme == "https" else 80  # Host: without :443
        self._target, self._addresses, self._deadline = target, addresses, deadline

    def connect(self) -> None:
        last: OSError | None = None
        for family, sockaddr in self._addresses:
            timeout = min(self.timeout or 0, self._deadline - time.monotonic())
            if timeout <= 0:
                raise TimeoutError("total fetch deadline passed")
            try:
                sock = _open_socket(family, sockaddr, timeout)
                break
            except OSError as exc:
                last = exc
        else:
            raise last or OSError("no address to connect to")
        if self._target.scheme == "https":
            try:
                # the handshake's timeout is its total duration (CPython's ssl module keeps a
                # deadline across its reads), so a server trickling it is cut off too
                remaining = self._deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("total fetch deadline passed")
                sock.settimeout(min(self.timeout or remaining, remaining))
                sock = _ssl_context().wrap_socket(sock, server_hostname=self._target.host)
            except BaseException:
                sock.close()
                raise
        self.sock = _DeadlineSocket(sock, self._deadline)


def _exchange(target: Target, method: str, body: bytes | None, headers: dict[str, str], max_bytes: int | None,
              timeout: float | None) -> tuple[int, http.client.HTTPResponse, bytes, _PinnedConnection]:
    """One request to ``target``; a 200 response's body is read under :func:`_read_limited`
    unless ``max_bytes`` is None (the caller reads what it wants of it)."""
    opts = options()
    total = float(timeout if timeout is not None else opts["timeout"])
    started = time.monotonic()
    deadline = started + total
    try:
        addresses = resolve(target, min(float(opts["connect_timeout"]), total))
    except (_Timeout, _LookupsBusy):
        raise
    except FetchError as exc:
        # a lookup that failed only after connect_timeout is a slow name server too:
        # remembered like a timeout (rule 6)
        if time.monotonic() - started >= float(opts["connect_timeout"]):
            raise _Timeout(detail=f"{target.url}: slow name resolution ({exc.detail})") from None
        raise
    conn = _PinnedConnection(target, addresses, float(opts["connect_timeout"]), deadline)
    try:
        conn.request(method, target.path, body=body, headers={"User-Agent": USER_AGENT, **headers})
        response = conn.getresponse()
        payload = b""
        if response.status == 200 and max_bytes is not None:
            payload = _read_limited(response, max_bytes)
        return response.status, response, payload, conn
    except TimeoutError as exc:
        conn.close()
        raise _Timeout(detail=f"{target.url}: timed out ({exc})") from None
    except FetchError:
        conn.close()
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        conn.close()
        raise FetchError(detail=f"{target.url}: {type(exc).__name__}: {exc}") from None


def _read_limited(response: http.client.HTTPResponse, max_bytes: int) -> bytes:
    """The body, or :class:`FetchError` as soon as it would exceed ``max_bytes`` (rule 4)."""
    encoding = (response.getheader("Content-Encoding") or "identity").strip().lower()
    if encoding != "identity":
        raise FetchError(detail=f"compressed body ({encoding}) refused")
    length = response.getheader("Content-Length")
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses
    if length is not None and (not _DIGITS.fullmatch(length.strip()) or int(length) > max_bytes):
        raise FetchError(detail=f"Content-Length {length!r} above the limit of {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = response.read(min(65536, max_bytes + 1 - size))
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(detail=f"body above the limit of {max_bytes} bytes")
        chunks.append(chunk)


# --- rule 5 and 6: redirects, JSON, cache ----------------------------------------------------

def get_json(url: str, *, max_bytes: int = 100_000, max_redirects: int | None = None) -> FetchedJSON:
    """GET ``url`` under every rule above except the positive cache: the parsed JSON and how
    long it may be cached. Callers that validate what they fetch (client ID metadata
    documents) cache the *validated* result themselves, so an invalid document is never kept.
    ``max_redirects`` defaults to ``FETCH["max_redirects"]``."""
    opts = options()
    limit = opts["max_redirects"] if max_redirects is None else max_redirects
    cache = caches[opts["cache"]]
    error_key = _cache_key(url, "error")
    remembered = cache.get(error_key)
    if remembered is not None:
        raise FetchError(detail=f"{url}: a recent fetch timed out ({remembered})")
    try:
        return _get_json(url, max_bytes, limit)
    except _Timeout as exc:
        if opts["error_cache_seconds"] > 0:
            cache.set(error_key, exc.detail[:200], opts["error_cache_seconds"])
        _log(url, exc)
        raise
    except FetchError as exc:
        _log(url, exc)
        raise


def _get_json(url: str, max_bytes: int, max_redirects: int) -> FetchedJSON:
    target = parse(url)
    seen = {url}
    for _hop in range(max_redirects + 1):
        status, response, payload, conn = _exchange(
            target, "GET", None, {"Accept": "application/json"}, max_bytes, None)
        conn.close()
        if status in (301, 302, 303, 307, 308) and max_redirects:
            location = response.getheader("Location") or ""
            following = _redirect_target(target, location)
            if following.url in seen:
                raise FetchError(detail=f"{url}: redirect loop at {following.url}")
            seen.add(following.url)
            target = following
            continue
        if status != 200:
            raise FetchError(detail=f"{target.url}: HTTP {status}")
        media_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
        if not (media_type == "application/json" or
                (media_type.startswith("application/") and media_type.endswith("+json"))):
            raise FetchError(detail=f"{target.url}: Content-Type {media_type!r} is not JSON")
        try:
            data = json.loads(payload.decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise FetchError(detail=f"{target.url}: invalid JSON ({exc})") from None
        return FetchedJSON(data, cache_seconds(response.getheader("Cache-Control")))
    raise FetchError(detail=f"{url}: more than {max_redirects} redirects")


def _redirect_target(current: Target, location: str) -> Target:
    if not location:
        raise FetchError(detail=f"{current.url}: redirect without Location")
    following = parse(urljoin(current.url, location.strip()))
    if current.scheme == "https" and following.scheme != "https":
        raise FetchError(detail=f"{current.url}: redirect from https to {following.scheme}")
    return following


def cache_seconds(cache_control: str | None) -> int:
    """How long a response may be cached: its ``max-age`` clamped to the configured bounds;
    ``no-store``/``no-cache`` or no ``max-age`` mean the minimum (rule 6)."""
    opts = options()
    low, high = int(opts["cache_min_seconds"]), int(opts["cache_max_seconds"])
    directives = [d.strip().lower() for d in (cache_control or "").split(",")]
    if "no-store" in directives or "no-cache" in directives:
        return low
    for directive in directives:
        name, _, value = directive.partition("=")
        seconds = value.strip().strip('"')
        if name.strip() == "max-age" and _DIGITS.fullmatch(seconds):  # never "²": int() refuses it
            return max(low, min(high, int(seconds)))
    return low


def fetch_json(url: str, *, max_bytes: int = 100_000, use_cache: bool = True) -> Any:
    """GET ``url`` under every rule of this module and return its parsed JSON; raise
    :class:`FetchError` otherwise. The result goes to Django's cache (``FETCH["cache"]``) for
    the time :func:`cache_seconds` allows; with ``use_cache`` it comes from there when it can.
    Without, it is fetched afresh and replaces the cached copy: whoever forced that fetch (a
    ``kid`` nobody knew yet: a client rotated its keys, or a stranger named one), the next
    lookup sees the document as it is now, not a copy cached before the change."""
    cache = caches[options()["cache"]]
    key = _cache_key(url, f"json:{max_bytes}")
    if use_cache:
        hit = cache.get(key)
        if hit is not None:
            return hit[0]
    fetched = get_json(url, max_bytes=max_bytes)
    cache.set(key, (fetched.data,), fetched.cache_seconds)
    return fetched.data


def post_form(url: str, data: Mapping[str, str], *, timeout: float | None = None) -> int:
    """POST ``data`` form-encoded to ``url`` (e.g. an OIDC back-channel logout token) under
    the same URL and address rules; redirects are not followed (a 3xx status is returned as
    it is). Returns the response status, which alone is the answer: whatever the status, at
    most 4 KB of the body is read and dropped (a logout endpoint that says more than that with
    its 200 has still answered 200). Raises :class:`FetchError` when the URL is refused or the
    request fails. ``timeout`` overrides ``FETCH["timeout"]`` for this request."""
    target = parse(url)
    body = urlencode(dict(data)).encode("ascii")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    try:
        status, response, _payload, conn = _exchange(target, "POST", body, headers, None, timeout)
    except FetchError as exc:
        _log(url, exc)
        raise
    try:
        response.read(4096)
    except (OSError, http.client.HTTPException):
        pass
    finally:
        conn.close()
    return status


def _cache_key(url: str, kind: str) -> str:
    return f"oauth_provider.fetch:{kind}:{hashlib.sha256(url.encode('utf-8', 'surrogatepass')).hexdigest()}"


def _log(url: str, exc: FetchError) -> None:
    logger.warning("Refused or failed fetch of %r: %s", url[:300], exc.detail)

"""oauth_provider.fetch: the one outgoing-request path (security checklist section Q).

Real HTTP servers on 127.0.0.1 (``ALLOW_INSECURE_LOOPBACK_FETCH`` on, as in a test setup on one
machine); public names are made by patching ``socket.getaddrinfo``, so an SSRF test can point
a public-looking host at any address and check that the listener recorded nothing."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.cache import caches
from django.core.checks import run_checks
from django.core.exceptions import ValidationError

from oauth_provider import fetch
from oauth_provider.fetch import FETCH_FAILED, FetchError, fetch_json, post_form, validate_fetchable_url
from tests.support.http_servers import (
    endless_route,
    json_route,
    local_server,
    redirect_route,
    send,
    slow_route,
    trickle_route,
)
from tests.support.settings import oauth_settings, override_oauth

LOOPBACK_ON = {"ALLOW_INSECURE_LOOPBACK_FETCH": True}
FAST = {"timeout": 1, "connect_timeout": 1}


@pytest.fixture(autouse=True)
def _clear_cache():
    caches["default"].clear()
    yield
    caches["default"].clear()


@pytest.fixture
def server():
    with local_server() as srv, override_oauth(**LOOPBACK_ON, FETCH=FAST):
        yield srv


def resolve_to(monkeypatch: Any, *addresses: str, calls: list[str] | None = None) -> None:
    """Make every name resolve to ``addresses`` (a stub resolver)."""

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if calls is not None:
            calls.append(host)
        out = []
        for address in addresses:
            if ":" in address:
                out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return out

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


# --- the happy path --------------------------------------------------------------------------

def test_fetches_json_from_the_loopback_when_allowed(server):
    server.routes["/doc"] = json_route({"a": 1})
    assert fetch_json(server.url("/doc")) == {"a": 1}
    (request,) = server.requests
    assert request["headers"]["Host"] == f"127.0.0.1:{server.port}"
    assert request["headers"]["Accept"] == "application/json"


def test_json_media_type_suffix_is_accepted(server):
    server.routes["/jwks"] = json_route({"keys": []}, content_type="application/jwk-set+json; charset=utf-8")
    assert fetch_json(server.url("/jwks")) == {"keys": []}


def test_localhost_and_ipv6_loopback_allowed_by_the_setting():
    try:
        six = local_server_v6()
    except OSError:
        pytest.skip("no IPv6 loopback")
    with six as srv, override_oauth(**LOOPBACK_ON, FETCH=FAST):
        srv.routes["/d"] = json_route([1])
        assert fetch_json(f"http://[::1]:{srv.port}/d") == [1]


def local_server_v6() -> Any:
    from http.server import ThreadingHTTPServer

    from tests.support import http_servers

    class V6(ThreadingHTTPServer):
        address_family = socket.AF_INET6

    server = http_servers.LocalServer.__new__(http_servers.LocalServer)
    http_servers.LocalServer.__init__(server)
    handler = server.httpd.RequestHandlerClass
    server.httpd.server_close()
    server.httpd = V6(("::1", 0), handler)
    server.httpd.daemon_threads = True
    server.port = server.httpd.server_address[1]
    server.thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)

    from contextlib import contextmanager

    @contextmanager
    def run() -> Any:
        server.thread.start()
        try:
            yield server
        finally:
            server.httpd.shutdown()
            server.httpd.server_close()

    return run()


# --- rule 1: syntax, before any connection ---------------------------------------------------

@pytest.mark.req("DERIVED-fetch-scheme")
@pytest.mark.parametrize("url", [
    "http://example.com/doc", "ftp://example.com/doc", "file:///etc/passwd", "gopher://example.com/",
    "data:application/json,{}", "dict://example.com:11211/", "ldap://example.com/", "jar:https://x/!/",
    "//example.com/doc", "example.com/doc", "https:///doc", "https://example.com:22/doc",
    "https://example.com:0/", "https://example.com:99999/", "https://u:p@example.com/doc",
    "https://@example.com/doc", "https://example.com/doc#x", "https://example.com/doc#", "",
    "https://exa mple.com/", "https://example.com\\@evil.com/", "https://example.com/\n",
    "https://example.com/a b", "https://example.com/doc?q=a b", "https://example.com/doc ",
    "https://" + "a" * 2000 + ".com/",
])
def test_syntax_refused_without_network(url, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("resolved"))
    with pytest.raises(ValidationError) as invalid:
        validate_fetchable_url(url)
    with pytest.raises(FetchError) as refused:
        fetch_json(url)
    # a form (admin, registration) names the rule, with the code a host can match on
    assert invalid.value.code == "invalid_fetch_url" and invalid.value.messages == [str(refused.value)]


@pytest.mark.req("DERIVED-fetch-ip-literal-forms")
@pytest.mark.req("DERIVED-fetch-cloud-metadata")
@pytest.mark.parametrize("host", [
    "127.0.0.1", "[::1]", "localhost", "localhost.", "LOCALHOST", "LocalHost.", "app.localhost",
    "2130706433", "0177.0.0.1", "0x7f.1", "0x7f000001", "127.1", "0x7f.0.0.1", "017700000001",
    "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]", "[::ffff:127.0.0.1]", "[fe80::1%25eth0]",
    "[::]", "0.0.0.0", "0", "10.0.0.5", "192.168.1.1", "172.16.0.1", "100.64.0.1",
    "169.254.169.254", "[fd00:ec2::254]", "100.100.100.200", "metadata.google.internal",
    "metadata", "METADATA.google.internal.", "[64:ff9b::7f00:1]", "[2002:7f00:1::1]",
    "\uff11\uff12\uff17.\uff10.\uff10.\uff11", "224.0.0.1", "255.255.255.255", "[ff02::1]",
    "127.0.0.1.", "example.com%2e", "example.com..",
])
def test_loopback_private_and_metadata_literals_refused(host, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("resolved"))
    with pytest.raises(ValidationError):
        validate_fetchable_url(f"https://{host}/doc")


@pytest.mark.parametrize("url", ["https://example.com/doc", "https://EXAMPLE.com./a?b=1",
                                 "https://93.184.216.34/x", "https://b\u00fccher.example/doc"])
def test_public_urls_pass_the_syntax_rules(url):
    validate_fetchable_url(url)


def test_loopback_setting_only_admits_the_three_loopback_names():
    with override_oauth(**LOOPBACK_ON):
        for url in ("http://127.0.0.1:8000/d", "http://[::1]:1/d", "http://localhost:9/d", "https://127.0.0.1/d"):
            validate_fetchable_url(url)
        for url in ("http://127.0.0.2/d", "http://example.com/d", "http://2130706433/d", "http://0.0.0.0/d",
                    "http://app.localhost/d", "http://[::ffff:127.0.0.1]/d", "http://localhost./d",
                    "https://localhost./d", "http://127.0.0.1./d"):
            with pytest.raises(ValidationError):
                validate_fetchable_url(url)


def test_loopback_refused_when_setting_off():
    with local_server() as srv, override_oauth(FETCH=FAST):
        srv.routes["/doc"] = json_route({})
        for url in (srv.url("/doc"), srv.url("/doc", scheme="https"), srv.url("/doc", host="localhost")):
            with pytest.raises(FetchError):
                fetch_json(url)
        assert srv.requests == []


def test_allowed_ports_setting():
    validate_fetchable_url("https://example.com:443/")
    with pytest.raises(ValidationError):
        validate_fetchable_url("https://example.com:8443/")
    with override_oauth(FETCH={"allowed_ports": [8443]}):
        validate_fetchable_url("https://example.com:8443/")


# --- rule 2: addresses after resolution -------------------------------------------------------

@pytest.mark.req("DERIVED-fetch-special-use")
@pytest.mark.req("CIMD-6.5-ssrf")
@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.5.5.5", "10.0.0.5", "172.16.0.1", "192.168.0.1", "169.254.169.254", "100.64.0.1",
    "100.100.100.200", "0.0.0.0", "0.1.2.3", "192.0.0.8", "198.18.0.1", "224.0.0.1", "240.0.0.1",
    "255.255.255.255", "192.0.2.1", "::1", "::", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "fd00:ec2::254",
    "fc00::1", "fe80::1", "fec0::1", "ff02::1", "64:ff9b::7f00:1", "64:ff9b:1::1", "2002:7f00:1::1",
    "2002:a00:1::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:db8::1",
    "3fff::1", "3fff:fff::1", "5f00::1",  # RFC 9637 documentation, RFC 9602 SRv6 (is_global says yes)
    "4000::1", "e000::1",  # unassigned (IETF-reserved) IPv6 space: Python calls it global, only is_reserved says no
    "fe80::1%eth0", "fe80::1%2",  # a link-local answer carries its zone, as getaddrinfo gives it
])
def test_names_resolving_to_special_addresses_refused(address, monkeypatch, server):
    server.routes["/doc"] = json_route({"a": 1})
    resolve_to(monkeypatch, address)
    with pytest.raises(FetchError) as caught:
        fetch_json("https://cimd.example/doc")
    assert str(caught.value) == FETCH_FAILED
    # refused for the address, before any connection attempt (not merely unreachable from here)
    assert "refused address" in caught.value.detail
    assert server.requests == []


def test_name_resolving_to_loopback_refused_even_with_the_loopback_setting(monkeypatch, server):
    """The setting admits the literal loopback names, never a DNS name pointing there."""
    server.routes["/doc"] = json_route({"a": 1})
    resolve_to(monkeypatch, "127.0.0.1")
    with pytest.raises(FetchError):
        fetch_json(f"http://evil.example:{server.port}/doc")
    with pytest.raises(FetchError):
        fetch_json("https://evil.example/doc")
    assert server.requests == []


@pytest.mark.req("DERIVED-fetch-dns-rebinding")
def test_mixed_answer_refused_if_any_address_is_special(monkeypatch, server):
    resolve_to(monkeypatch, "93.184.216.34", "127.0.0.1")
    with pytest.raises(FetchError):
        fetch_json("https://cimd.example/doc")
    assert server.requests == []


def test_an_answer_of_another_address_family_is_skipped_not_the_end_of_the_answer(monkeypatch):
    """Only IPv4 and IPv6 addresses are checked and connected to; an entry of another family
    in the resolver's answer is passed over and the addresses after it are still checked."""
    answer = [(getattr(socket, "AF_UNIX", 1), socket.SOCK_STREAM, 0, "", "/run/x.sock"),
              (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443)),
              (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", 443))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answer)
    target = fetch.parse("https://cimd.example/doc")
    with pytest.raises(FetchError) as caught:
        fetch.resolve(target, 1)
    assert "refused address 10.0.0.1" in caught.value.detail
    answer.pop()
    assert fetch.resolve(target, 1) == [(socket.AF_INET, ("93.184.216.34", 443))]


def test_localhost_must_resolve_to_loopback_only(monkeypatch, server):
    server.routes["/d"] = json_route({})
    resolve_to(monkeypatch, "127.0.0.1", "10.0.0.1")
    with pytest.raises(FetchError):
        fetch_json(server.url("/d", host="localhost"))
    assert server.requests == []


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "1.1.1.1",
                                     "2002:5db8:d822::1",
                                     # last 32 bits inside a blocked IPv4 range (0.0.0.0/8, 169.254/16):
                                     # IPv4 ranges are never applied to IPv6 addresses
                                     "2606:4700:4700::1111", "2001:4860:4860::a9fe:a9fe"])
def test_public_addresses_pass(address):
    import ipaddress

    assert not fetch.is_blocked_address(ipaddress.ip_address(address))


@pytest.mark.req("DERIVED-fetch-dns-rebinding")
def test_connects_to_the_checked_address_resolving_once(monkeypatch, server):
    """Resolve once, connect to exactly the address checked, with the original Host header:
    a resolver that answers differently the second time (rebinding) is never asked again."""
    server.routes["/doc"] = json_route({"ok": True})
    answers = iter(["93.184.216.34", "127.0.0.1", "127.0.0.1"])
    calls: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    connected: list[Any] = []

    def open_socket(family: int, sockaddr: Any, timeout: float) -> socket.socket:
        connected.append(sockaddr)
        # the "public" address is our test server: a stand-in for the real host
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.connect(("127.0.0.1", server.port))  # no resolver involved
        return sock

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(fetch, "_open_socket", open_socket)
    # plain http to a public name (TLS is checked in the next test)
    target = fetch.Target(f"http://rp.example:{server.port}/doc", "http", "rp.example", server.port, "/doc", False)
    status, _resp, payload, conn = fetch._exchange(target, "GET", None, {}, 1000, None)
    conn.close()
    assert status == 200 and payload == b'{"ok": true}'
    assert calls == ["rp.example"]
    assert connected == [("93.184.216.34", server.port)]
    assert server.requests[0]["headers"]["Host"] == f"rp.example:{server.port}"


# --- rule 4: limits ---------------------------------------------------------------------------

@pytest.mark.req("CIMD-6.6-size-all")
def test_oversize_body_with_content_length_refused_before_reading(server):
    server.routes["/big"] = json_route({"x": "a" * 2000})
    with pytest.raises(FetchError):
        fetch_json(server.url("/big"), max_bytes=1000)
    server.routes["/ok"] = json_route({"x": "a" * 900})
    assert fetch_json(server.url("/ok"), max_bytes=1000) == {"x": "a" * 900}


@pytest.mark.req("CIMD-6.6-size-all")
@pytest.mark.parametrize("claimed", [None, 10])
def test_endless_body_stops_at_the_limit(server, claimed):
    """No Content-Length, or a lying one: reading stops once max_bytes is passed."""
    server.routes["/endless"] = endless_route(claimed)
    started = time.monotonic()
    with pytest.raises(FetchError):
        fetch_json(server.url("/endless"), max_bytes=5000)
    assert time.monotonic() - started < 1.5


def test_read_limited_never_reads_past_the_limit():
    class Response:
        def __init__(self) -> None:
            self.asked: list[int] = []

        def getheader(self, name: str) -> None:
            return None

        def read(self, amount: int) -> bytes:
            self.asked.append(amount)
            return b"x" * amount

    response = Response()
    with pytest.raises(FetchError):
        fetch._read_limited(response, 100_000)  # type: ignore[arg-type]
    assert sum(response.asked) == 100_001


@pytest.mark.req("CIMD-6.6-size-all")
@pytest.mark.parametrize(("length", "refused"), [("1001", True), ("99999999999", True), ("1000", False), ("12", False)])
def test_a_content_length_above_the_limit_is_refused_before_any_byte_is_read(length, refused):
    class Response:
        asked: list[int] = []

        def getheader(self, name: str) -> str | None:
            return length if name == "Content-Length" else None

        def read(self, amount: int) -> bytes:
            self.asked.append(amount)
            return b"" if self.asked[1:] else b"{}"

    response = Response()
    if refused:
        with pytest.raises(FetchError):
            fetch._read_limited(response, 1000)  # type: ignore[arg-type]
        assert response.asked == []
    else:
        assert fetch._read_limited(response, 1000) == b"{}"  # type: ignore[arg-type]


@pytest.mark.req("CIMD-6.6-size-all")
@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd", "x-gzip", "deflate"])
def test_compressed_body_refused(server, encoding):
    """Any content coding but identity is refused, however the body reads (a decompression bomb
    would pass the size limit compressed)."""
    server.routes["/gz"] = lambda h: send(h, 200, b'{"a": 1}', headers={"Content-Encoding": encoding})
    with pytest.raises(FetchError) as caught:
        fetch_json(server.url("/gz"))
    assert "compressed body" in caught.value.detail
    server.routes["/plain"] = lambda h: send(h, 200, b'{"a": 1}', headers={"Content-Encoding": "Identity"})
    assert fetch_json(server.url("/plain")) == {"a": 1}


@pytest.mark.req("9101-10.4.1-timeouts")
def test_slow_server_hits_the_total_timeout_and_is_remembered(server):
    server.routes["/slow"] = slow_route(3)
    with override_oauth(**LOOPBACK_ON, FETCH={"timeout": 0.5, "connect_timeout": 0.5}):
        started = time.monotonic()
        with pytest.raises(FetchError):
            fetch_json(server.url("/slow"))
        assert time.monotonic() - started < 1.2
        # a slow target is not asked again for error_cache_seconds: no amplification
        started = time.monotonic()
        with pytest.raises(FetchError):
            fetch_json(server.url("/slow"))
        assert time.monotonic() - started < 0.2
    assert server.hits("/slow") == 1


def test_a_timeout_is_remembered_for_error_cache_seconds_exactly(server, monkeypatch):
    """Rule 6: remembered for ``error_cache_seconds`` (then the URL is tried again), never
    for the cache's default or forever: a host slow for a moment is not cut off for good."""
    server.routes["/slow"] = slow_route(3)
    cache = caches["default"]
    timeouts: list[Any] = []
    original = cache.set
    monkeypatch.setattr(cache, "set", lambda key, value, timeout=None: (timeouts.append(timeout),
                                                                         original(key, value, timeout))[1])
    with override_oauth(**LOOPBACK_ON, FETCH={"timeout": 0.3, "connect_timeout": 0.3, "error_cache_seconds": 7}):
        with pytest.raises(FetchError):
            fetch_json(server.url("/slow"))
    assert timeouts == [7]


@pytest.mark.req("9101-10.4.1-timeouts")
def test_trickling_server_is_cut_at_the_deadline(server):
    """One byte every 50 ms never trips a per-read timeout; the total deadline still ends it."""
    server.routes["/trickle"] = trickle_route(0.05)
    with override_oauth(**LOOPBACK_ON, FETCH={"timeout": 0.7, "connect_timeout": 0.5}):
        started = time.monotonic()
        with pytest.raises(FetchError):
            fetch_json(server.url("/trickle"))
        assert time.monotonic() - started < 1.3


@pytest.mark.req("9101-10.4.1-timeouts")
def test_a_lookup_that_took_exactly_connect_timeout_is_slow_on_a_clock_just_past_boot(monkeypatch):
    """The lookup's own time decides (the monotonic clock counts from boot, so a worker started
    with the machine reads small values): a failure after exactly ``connect_timeout`` seconds
    is a slow name server, remembered; one a moment sooner is an answer ("no such name")."""
    from types import SimpleNamespace

    now, lookups = [0.25], []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        lookups.append(host)
        now[0] += 0.5 if host.startswith("slow") else 0.375  # exact in binary: no rounding
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(fetch, "time", SimpleNamespace(monotonic=lambda: now[0]))
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with override_oauth(FETCH={"timeout": 1, "connect_timeout": 0.5}):
        for host, remembered in (("slow.example", True), ("sooner.example", False)):
            for _ in range(2):
                with pytest.raises(FetchError):
                    fetch_json(f"https://{host}/jwks")
            assert lookups.count(host) == (1 if remembered else 2)


def test_a_name_server_that_never_answers_is_remembered_like_a_slow_server(monkeypatch):
    """RFC 9101 §10.4.1, CIMD §6.5: a fetch must not let its URL's owner hold a worker per
    request. A name server that answers only after ``connect_timeout`` is a slow server: the
    request stops waiting for it then, and that is remembered for ``error_cache_seconds`` like a
    timed-out server's, so the next requests do not ask the resolver again."""
    calls: list[str] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(host)
        time.sleep(0.35)  # the resolver's own timeout, past connect_timeout
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with override_oauth(FETCH={"timeout": 1, "connect_timeout": 0.3}):
        for _ in range(3):
            with pytest.raises(FetchError) as caught:
                fetch_json("https://slow-dns.example/jwks")
            assert str(caught.value) == FETCH_FAILED
    assert calls == ["slow-dns.example"]
    # a lookup that fails at once (no such name) is not remembered: the next request asks again
    def unknown(host: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unknown)
    with override_oauth(FETCH={"timeout": 1, "connect_timeout": 0.3}):
        for _ in range(2):
            with pytest.raises(FetchError):
                fetch_json("https://no-such-name.example/jwks")
    assert calls == ["slow-dns.example", "no-such-name.example", "no-such-name.example"]


def test_a_host_that_never_completes_the_handshake_costs_connect_timeout():
    """A target that drops the connection attempts (a firewall, or here a listening socket whose
    backlog is full) would hold the worker for the kernel's own connect timeout, minutes: the
    connection attempt is given ``connect_timeout`` and the fetch fails then. The call runs
    on a thread so that a regression fails this test instead of hanging it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=1)  # the backlog's one place
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            fetch_json(f"http://127.0.0.1:{port}/jwks")
        except BaseException as exc:  # noqa: BLE001  (reported below)
            outcome.append(exc)

    try:
        with override_oauth(**LOOPBACK_ON, FETCH={"timeout": 30, "connect_timeout": 0.5, "error_cache_seconds": 0}):
            started = time.monotonic()
            caller = threading.Thread(target=call, daemon=True)
            caller.start()
            caller.join(10)
            assert not caller.is_alive(), "the connection attempt was not bounded"
            assert time.monotonic() - started < 3
        assert len(outcome) == 1 and isinstance(outcome[0], FetchError)
        assert "timed out" in outcome[0].detail
    finally:
        filler.close()
        listener.close()


def test_a_name_server_that_never_answers_holds_the_request_only_for_connect_timeout(monkeypatch):
    """``getaddrinfo`` cannot be interrupted and the system resolver may wait 30 seconds and more
    (timeouts times attempts times name servers): the lookup runs on a lookup thread and the
    request stops waiting at ``connect_timeout``, for a fetch and for a POST alike (a logout
    delivery must not outlast its claim, or a second worker sends it again)."""
    release = threading.Event()

    def never_answers(host: Any, *args: Any, **kwargs: Any) -> Any:
        release.wait(10)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", never_answers)
    try:
        with override_oauth(FETCH={"timeout": 5, "connect_timeout": 0.3}):
            for call in (lambda: fetch_json("https://silent-dns.example/jwks"),
                         lambda: post_form("https://silent-dns.example/logout", {"a": "b"})):
                started = time.monotonic()
                with pytest.raises(FetchError) as caught:
                    call()
                assert time.monotonic() - started < 1.5
                assert str(caught.value) == FETCH_FAILED
                assert "no answer from the name server" in caught.value.detail
    finally:
        release.set()


def test_a_lookup_queued_behind_busy_threads_is_withdrawn_and_not_remembered(monkeypatch):
    """Someone else's flood of slow names can fill the lookup threads; a lookup that never got
    one is withdrawn at ``connect_timeout`` and fails without being remembered, so the flood
    cannot mark an honest URL as slow for ``error_cache_seconds`` (a lockout anyone could
    trigger); once a thread is free the URL resolves again."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(1)
    monkeypatch.setattr(fetch, "_lookup_pools", {os.getpid(): pool})
    busy = threading.Event()
    pool.submit(busy.wait, 10)
    calls: list[str] = []

    def unknown(host: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unknown)
    try:
        with override_oauth(FETCH={"timeout": 1, "connect_timeout": 0.2}):
            with pytest.raises(FetchError) as caught:
                fetch_json("https://honest.example/jwks")
            assert "every lookup thread is busy" in caught.value.detail
            assert calls == []  # withdrawn, never run
            busy.set()
            with pytest.raises(FetchError) as caught:
                fetch_json("https://honest.example/jwks")
            assert "Name or service not known" in caught.value.detail
            assert calls == ["honest.example"]
    finally:
        busy.set()
        pool.shutdown()


def test_at_most_16_lookups_run_at_once_per_process(monkeypatch):
    """However many requests name slow hosts at once, a process runs at most
    ``LOOKUP_THREADS`` (16) name lookups: the 17th is not started, and fails (unremembered)
    when its wait is over, while the 16 stuck ones are reported as slow."""
    monkeypatch.setattr(fetch, "_lookup_pools", {})
    release, started = threading.Event(), []

    def stuck(host: Any, *args: Any, **kwargs: Any) -> Any:
        started.append(host)
        release.wait(10)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    outcomes: list[str] = []

    def look(n: int) -> None:
        try:
            fetch.resolve(fetch.parse(f"https://slow{n}.example/"), 2)
        except FetchError as exc:
            outcomes.append(type(exc).__name__)

    try:
        callers = [threading.Thread(target=look, args=(n,)) for n in range(17)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(5)
        assert len(started) == 16 == fetch.LOOKUP_THREADS
        assert sorted(outcomes) == ["_LookupsBusy"] + ["_Timeout"] * 16
    finally:
        release.set()
        for pool in fetch._lookup_pools.values():
            pool.shutdown()


def test_each_process_gets_its_own_lookup_threads(monkeypatch):
    """A pool inherited through ``fork`` (a pre-forking server imported the library, then forked
    its workers) has no threads behind it and would never answer: a pool is made per process."""
    monkeypatch.setattr(fetch, "_lookup_pools", {})
    first = fetch._lookup_pool()
    assert fetch._lookup_pool() is first
    monkeypatch.setattr(fetch, "os", SimpleNamespace(getpid=lambda: -1))
    assert fetch._lookup_pool() is not first
    assert list(fetch._lookup_pools) == [-1]  # the other process's pool is not kept
    fetch._lookup_pools[-1].shutdown()
    first.shutdown()


def test_timeouts_not_remembered_when_error_cache_off(server):
    server.routes["/slow"] = slow_route(1)
    with override_oauth(**LOOPBACK_ON, FETCH={"timeout": 0.3, "error_cache_seconds": 0}):
        for _ in range(2):
            with pytest.raises(FetchError):
                fetch_json(server.url("/slow"))
    assert server.hits("/slow") == 2


@pytest.mark.req("9101-10.4.1-media-type")
@pytest.mark.parametrize("content_type", ["text/html", "text/plain", "application/xml", "",
                                          "application/jsonp", "application/json-seq+xml"])
def test_wrong_content_type_refused(server, content_type):
    server.routes["/doc"] = json_route({"a": 1}, content_type=content_type)
    with pytest.raises(FetchError):
        fetch_json(server.url("/doc"))


@pytest.mark.req("CIMD-4-status-and-redirects")
@pytest.mark.parametrize("status", [201, 203, 204, 206, 301, 302, 304, 400, 404, 500, 503])
def test_only_200_is_a_document(server, status):
    server.routes["/doc"] = json_route({"a": 1}, status=status, headers={"Location": "/other"})
    server.routes["/other"] = json_route({"b": 1})
    with pytest.raises(FetchError):
        fetch_json(server.url("/doc"))
    assert server.hits("/other") == 0


def test_invalid_json_refused(server):
    server.routes["/doc"] = lambda h: send(h, 200, b"{not json")
    server.routes["/deep"] = lambda h: send(h, 200, b"[" * 50000 + b"]" * 50000)
    server.routes["/latin"] = lambda h: send(h, 200, b'"\xff"')
    for path in ("/doc", "/deep", "/latin"):
        with pytest.raises(FetchError):
            fetch_json(server.url(path), max_bytes=200_000)


@pytest.mark.req("DERIVED-fetch-no-oracle")
def test_one_message_for_every_network_failure(server, monkeypatch):
    server.routes["/404"] = json_route({"secret": "internal"}, status=404)
    server.routes["/html"] = lambda h: send(h, 200, b"<h1>internal admin</h1>", "text/html")
    server.routes["/slow"] = slow_route(2)
    messages = set()
    with override_oauth(**LOOPBACK_ON, FETCH={"timeout": 0.3}):
        for url in (server.url("/404"), server.url("/html"), server.url("/slow"), "http://127.0.0.1:1/closed"):
            with pytest.raises(FetchError) as caught:
                fetch_json(url)
            messages.add(str(caught.value))
        resolve_to(monkeypatch, "10.0.0.1")
        with pytest.raises(FetchError) as caught:
            fetch_json("https://internal.example/")
        messages.add(str(caught.value))
    assert messages == {FETCH_FAILED}


# --- rule 5: redirects ------------------------------------------------------------------------

@pytest.mark.req("CIMD-4-no-redirects-all")
def test_redirects_not_followed_by_default(server):
    server.routes["/start"] = redirect_route(server.url("/doc"))
    server.routes["/doc"] = json_route({"a": 1})
    with pytest.raises(FetchError):
        fetch_json(server.url("/start"))
    assert server.hits("/doc") == 0


@pytest.fixture
def redirecting(server):
    with override_oauth(**LOOPBACK_ON, FETCH={**FAST, "max_redirects": 3}):
        yield server


def test_redirect_followed_within_the_limit_when_enabled(redirecting):
    redirecting.routes["/a"] = redirect_route("/b", 301)
    redirecting.routes["/b"] = redirect_route(redirecting.url("/doc"), 307)
    redirecting.routes["/doc"] = json_route({"a": 1})
    assert fetch_json(redirecting.url("/a")) == {"a": 1}


def test_a_redirect_loop_is_stopped_where_it_comes_back_not_at_the_limit(redirecting):
    """A loop (/a -> /b -> /a) ends when a URL comes round again: each URL is asked once,
    however generous the redirect limit, so a document host cannot make us ask it over and
    over within one fetch."""
    redirecting.routes["/a"] = redirect_route(redirecting.url("/b"))
    redirecting.routes["/b"] = redirect_route(redirecting.url("/a"))
    with pytest.raises(FetchError) as refused:
        fetch_json(redirecting.url("/a"))
    assert "redirect loop" in refused.value.detail
    assert (redirecting.hits("/a"), redirecting.hits("/b")) == (1, 1)
    # a loop that does not pass through the first URL (/c -> /d -> /e -> /d) is caught too
    redirecting.routes["/c"] = redirect_route(redirecting.url("/d"))
    redirecting.routes["/d"] = redirect_route(redirecting.url("/e"))
    redirecting.routes["/e"] = redirect_route(redirecting.url("/d"))
    with pytest.raises(FetchError) as refused:
        fetch_json(redirecting.url("/c"))
    assert "redirect loop" in refused.value.detail and redirecting.hits("/d") == 1


@pytest.mark.parametrize("location", [
    "http://10.0.0.5/doc", "https://169.254.169.254/latest/meta-data/", "https://[::ffff:127.0.0.1]/",
    "https://2130706433/", "file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO", "https://metadata/",
    "https://u:p@example.com/", "",
])
def test_redirect_targets_rechecked(redirecting, location):
    redirecting.routes["/start"] = redirect_route(location)
    with pytest.raises(FetchError):
        fetch_json(redirecting.url("/start"))


def test_redirect_to_name_resolving_private_refused(redirecting, monkeypatch):
    redirecting.routes["/start"] = redirect_route("https://internal.example/doc")
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "internal.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.1.10", 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(FetchError):
        fetch_json(redirecting.url("/start"))


@pytest.mark.parametrize("url", [5, ["https://rp.example/"], {"url": "https://rp.example/"}, None, ""])
def test_a_url_that_is_not_a_non_empty_string_is_refused_as_such(url):
    """Whatever a caller hands over, the answer is a FetchError (the URL is refused), never a
    TypeError from deeper in."""
    with pytest.raises(FetchError):
        fetch.parse(url)


def test_port_zero_is_refused_when_the_url_is_checked_even_on_the_loopback():
    """Port 0 names no service: refused when the URL is checked (at registration), on the
    loopback too, not left to fail at connect time."""
    with override_oauth(**LOOPBACK_ON):
        for url in ("http://127.0.0.1:0/doc", "https://localhost:0/doc", "https://rp.example:0/doc"):
            with pytest.raises(FetchError):
                fetch.parse(url)
        assert fetch.parse("http://127.0.0.1:8080/doc").port == 8080


def test_redirect_from_https_to_http_refused():
    with override_oauth(**LOOPBACK_ON):
        current = fetch.parse("https://127.0.0.1:8443/a")
        with pytest.raises(FetchError):
            fetch._redirect_target(current, "http://127.0.0.1:8080/b")
        assert fetch._redirect_target(current, "/b").url == "https://127.0.0.1:8443/b"


def test_redirect_loop_and_long_chain_refused(redirecting):
    redirecting.routes["/loop1"] = redirect_route("/loop2")
    redirecting.routes["/loop2"] = redirect_route("/loop1")
    for i in range(6):
        redirecting.routes[f"/c{i}"] = redirect_route(f"/c{i + 1}")
    redirecting.routes["/c6"] = json_route({})
    for start in ("/loop1", "/c0"):
        with pytest.raises(FetchError):
            fetch_json(redirecting.url(start))
    assert redirecting.hits("/c6") == 0 and redirecting.hits("/c4") == 0


def test_explicit_max_redirects_zero_overrides_the_setting(redirecting):
    redirecting.routes["/start"] = redirect_route("/doc")
    redirecting.routes["/doc"] = json_route({})
    with pytest.raises(FetchError):
        fetch.get_json(redirecting.url("/start"), max_redirects=0)
    assert redirecting.hits("/doc") == 0


# --- rule 6: the cache ------------------------------------------------------------------------

def test_successful_fetch_cached_for_max_age(server):
    server.routes["/doc"] = json_route({"a": 1}, headers={"Cache-Control": "public, max-age=600"})
    assert fetch_json(server.url("/doc")) == {"a": 1}
    server.routes["/doc"] = json_route({"a": 2})
    assert fetch_json(server.url("/doc")) == {"a": 1}
    assert server.hits("/doc") == 1
    assert fetch_json(server.url("/doc"), use_cache=False) == {"a": 2}
    # a forced fetch replaces the cached copy: the next cached read sees the document as it is now
    assert fetch_json(server.url("/doc")) == {"a": 2}
    assert server.hits("/doc") == 2


def test_a_copy_cached_under_a_larger_size_limit_is_not_served_under_a_smaller_one(server):
    """Callers fetch the same URL with different limits (a metadata document, a JWK Set): a
    document cached for the generous one must not reach the strict one past its limit."""
    server.routes["/doc"] = json_route({"pad": "x" * 2000})
    assert fetch_json(server.url("/doc"), max_bytes=10_000)["pad"]
    with pytest.raises(FetchError):
        fetch_json(server.url("/doc"), max_bytes=1_000)
    assert server.hits("/doc") == 2


def test_no_store_still_cached_for_the_minimum(server, monkeypatch):
    server.routes["/doc"] = json_route({"a": 1}, headers={"Cache-Control": "no-store"})
    stored: list[Any] = []
    cache = caches["default"]
    original = cache.set
    monkeypatch.setattr(cache, "set", lambda key, value, timeout=None: (stored.append(timeout),
                                                                         original(key, value, timeout))[1])
    fetch_json(server.url("/doc"))
    fetch_json(server.url("/doc"))
    assert server.hits("/doc") == 1 and stored == [60]


@pytest.mark.parametrize(("header", "seconds"), [
    (None, 60), ("no-store", 60), ("no-cache, max-age=600", 60), ("max-age=600", 600), ("max-age=5", 60),
    ("no-store, max-age=3600", 60), ("max-age=3600, No-Store", 60),
    ("max-age=31536000", 86400), ("public, max-age=\"120\"", 120), ("max-age=-5", 60), ("max-age=abc", 60),
    ("s-maxage=600", 60), ("MAX-AGE=300", 300),
    # another directive's number, whichever way its name sorts, is not max-age
    ("community=86400, max-age=300", 300), ("a=86400", 60), ("x-ttl=86400", 60),
])
def test_cache_seconds_clamped(header, seconds):
    assert fetch.cache_seconds(header) == seconds


def test_cache_bounds_from_settings():
    with override_oauth(FETCH={"cache_min_seconds": 10, "cache_max_seconds": 100}):
        assert fetch.cache_seconds("max-age=1000") == 100
        assert fetch.cache_seconds("no-store") == 10


@pytest.mark.req("CIMD-4.4-caching")
def test_errors_are_not_cached(server):
    server.routes["/doc"] = json_route({"e": 1}, status=500)
    with pytest.raises(FetchError):
        fetch_json(server.url("/doc"))
    server.routes["/doc"] = json_route({"a": 1})
    assert fetch_json(server.url("/doc")) == {"a": 1}


def test_cache_alias_setting(server, settings):
    settings.CACHES = {**settings.CACHES, "fetches": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                                      "LOCATION": "fetches"}}
    settings.OAUTH_PROVIDER = oauth_settings(**LOOPBACK_ON, FETCH={**FAST, "cache": "fetches"})
    server.routes["/doc"] = json_route({"a": 1}, headers={"Cache-Control": "max-age=300"})
    fetch_json(server.url("/doc"))
    assert any(k for k in caches["fetches"]._cache)  # type: ignore[attr-defined]
    assert not list(caches["default"]._cache)  # type: ignore[attr-defined]


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_exactly_max_redirects_are_followed(redirecting, limit):
    """``max_redirects`` counts the redirects followed: a chain of that many ends at the
    document, one more is refused before its last hop is requested."""
    for i in range(limit + 1):
        redirecting.routes[f"/r{i}"] = redirect_route(f"/r{i + 1}")
    redirecting.routes[f"/r{limit + 1}"] = json_route({"hops": limit})
    assert fetch.get_json(redirecting.url("/r1"), max_redirects=limit).data == {"hops": limit}
    with pytest.raises(FetchError) as refused:
        fetch.get_json(redirecting.url("/r0"), max_redirects=limit)
    assert f"more than {limit} redirects" in refused.value.detail
    assert redirecting.hits(f"/r{limit + 1}") == 1  # only the first, successful, chain reached it


def record_sockets(monkeypatch: Any) -> list[socket.socket]:
    """Every socket the fetcher opens from now on, in order (to check each is closed)."""
    opened: list[socket.socket] = []
    real = fetch._open_socket

    def recording(*args: Any) -> socket.socket:
        opened.append(real(*args))
        return opened[-1]

    monkeypatch.setattr(fetch, "_open_socket", recording)
    return opened


def test_every_socket_is_closed_once_the_fetch_is_over(server, monkeypatch):
    """The connection's socket stays open while the body is read after ``Connection: close``
    (http.client closes the connection first), and is closed once both are done: a fetch,
    refused or not, leaves no descriptor open."""
    opened = record_sockets(monkeypatch)

    def keep_alive(h: Any) -> None:  # HTTP/1.1 without Connection: close: http.client leaves it open
        h.protocol_version = "HTTP/1.1"
        send(h, 200, b'{"b": 2}')

    server.routes["/doc"] = json_route({"a": 1}, headers={"Connection": "close"})
    server.routes["/kept"] = keep_alive
    server.routes["/missing"] = json_route({"error": "x"}, status=404)
    assert fetch.get_json(server.url("/doc")).data == {"a": 1}
    assert fetch.get_json(server.url("/kept")).data == {"b": 2}
    with pytest.raises(FetchError):
        fetch.get_json(server.url("/missing"))
    assert post_form(server.url("/doc"), {"a": "b"}) == 200
    assert len(opened) == 4
    assert [sock.fileno() for sock in opened] == [-1, -1, -1, -1]


# --- post_form --------------------------------------------------------------------------------

def test_post_form_posts_and_returns_the_status(server):
    server.routes["/logout"] = lambda h: send(h, 204, b"")
    assert post_form(server.url("/logout"), {"logout_token": "a.b.c"}) == 204
    (request,) = server.requests
    assert request["method"] == "POST" and request["body"] == b"logout_token=a.b.c"
    assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"


def test_post_form_never_follows_redirects(server):
    server.routes["/logout"] = redirect_route(server.url("/elsewhere"))
    assert post_form(server.url("/logout"), {"a": "b"}) == 302
    assert server.hits("/elsewhere") == 0


def test_post_form_same_url_rules(monkeypatch, server):
    resolve_to(monkeypatch, "169.254.169.254")
    for url in ("https://rp.example/logout", "http://rp.example/logout", "https://10.0.0.1/"):
        with pytest.raises(FetchError):
            post_form(url, {"a": "b"})
    assert server.requests == []


def test_post_form_timeout_argument(server):
    server.routes["/slow"] = slow_route(2)
    started = time.monotonic()
    with pytest.raises(FetchError):
        post_form(server.url("/slow"), {}, timeout=0.3)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("status", [200, 500])
def test_post_form_reads_little_of_an_answer_however_long(server, status):
    """The status is the answer (OpenID Connect Back-Channel Logout §2.8): whatever it is, at
    most 4 KB of the body is read and dropped, never the stream until the time limit (a hostile
    or broken relying party), and a 200 with a long body is still a 200, not a failure to be
    sent again."""
    def endless(h):
        h.send_response(status)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(b"x" * 8192)
        for _ in range(1000):  # then a trickle for up to 20 s, until the client hangs up
            h.wfile.write(b"x" * 64)
            h.wfile.flush()
            time.sleep(0.02)

    server.routes["/logout"] = endless
    started = time.monotonic()
    assert post_form(server.url("/logout"), {"a": "b"}, timeout=5) == status
    assert time.monotonic() - started < 2.5


def test_the_answers_cache_control_sets_how_long_it_is_kept(server):
    """Rule 6: the fetched document's own ``Cache-Control`` decides (within the bounds)."""
    server.routes["/doc"] = json_route({"a": 1}, headers={"Cache-Control": "public, max-age=600"})
    server.routes["/fresh"] = json_route({"a": 1}, headers={"Cache-Control": "max-age=600, no-store"})
    assert fetch.get_json(server.url("/doc")).cache_seconds == 600
    assert fetch.get_json(server.url("/fresh")).cache_seconds == 60  # cache_min_seconds


def test_a_document_longer_than_one_read_is_put_together_whole(server):
    """A body read in several pieces (here about 80 KB, over 64 KB a read) is joined as sent."""
    document = {"keys": [{"kid": f"k{n}", "x": "A" * 400} for n in range(190)]}
    server.routes["/doc"] = json_route(document)
    assert 65536 < len(json.dumps(document)) < 100_000
    assert fetch_json(server.url("/doc"), max_bytes=100_000) == document


# --- system checks ----------------------------------------------------------------------------

def _ids(deploy: bool = False, **changes: Any) -> list[str]:
    with override_oauth(**changes):
        return sorted(m.id for m in run_checks(include_deployment_checks=deploy) if m.id.startswith("oauth_provider."))


def test_w030_loopback_fetch_warns_on_deploy():
    assert "oauth_provider.W030" in _ids(deploy=True, ALLOW_INSECURE_LOOPBACK_FETCH=True)
    assert "oauth_provider.W030" not in _ids(deploy=False, ALLOW_INSECURE_LOOPBACK_FETCH=True)
    assert "oauth_provider.W030" not in _ids(deploy=True)


@pytest.mark.parametrize("fetch_setting", [
    {"timeot": 5}, {"timeout": 0}, {"timeout": "5"}, {"connect_timeout": -1}, {"max_redirects": -1},
    {"max_redirects": True}, {"allowed_ports": [0]}, {"allowed_ports": "443"}, {"allowed_ports": [70000]},
    {"cache": "nope"}, {"cache_min_seconds": 100, "cache_max_seconds": 10}, {"error_cache_seconds": 1.5},
])
def test_e030_bad_fetch_settings(fetch_setting):
    assert _ids(FETCH=fetch_setting) == ["oauth_provider.E030"]


def test_fetch_setting_partial_dict_is_fine():
    assert _ids(FETCH={"timeout": 2.5, "allowed_ports": [443, 8443]}) == []


@pytest.fixture
def pinned_tls(monkeypatch, tmp_path):
    """A TLS server for ``rp.example`` on 127.0.0.1, reached as if ``rp.example`` were the public
    address 93.184.216.34: the resolver answers that address, and the socket opened for it is
    connected to the local server instead. Its certificate is the only one trusted."""
    from tests.support.http_servers import self_signed_certificate, tls_server

    cert, key = self_signed_certificate(tmp_path, "rp.example")
    connected: list[Any] = []

    def open_socket(family: int, sockaddr: Any, timeout: float) -> socket.socket:
        connected.append(sockaddr[0])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(("127.0.0.1", srv.port))
        return sock

    def context() -> Any:
        import ssl

        ctx = ssl.create_default_context(cafile=cert)
        return ctx

    with tls_server(cert, key) as srv:
        resolve_to(monkeypatch, "93.184.216.34")
        monkeypatch.setattr(fetch, "_open_socket", open_socket)
        monkeypatch.setattr(fetch, "_ssl_context", context)
        srv.connected = connected  # type: ignore[attr-defined]
        with override_oauth(FETCH={**FAST, "allowed_ports": [srv.port]}):
            yield srv


@pytest.mark.req("DERIVED-fetch-dns-rebinding")
def test_tls_to_the_pinned_address_verifies_the_name(pinned_tls):
    """Connect to the checked address; SNI, Host and the certificate check use the name."""
    pinned_tls.routes["/doc"] = json_route({"ok": 1})
    assert fetch_json(f"https://rp.example:{pinned_tls.port}/doc") == {"ok": 1}
    assert pinned_tls.connected == ["93.184.216.34"]
    assert pinned_tls.requests[0]["headers"]["Host"] == f"rp.example:{pinned_tls.port}"


def test_tls_certificate_for_another_name_refused(pinned_tls, monkeypatch):
    pinned_tls.routes["/doc"] = json_route({"ok": 1})
    with pytest.raises(FetchError):
        fetch_json(f"https://other.example:{pinned_tls.port}/doc")
    assert pinned_tls.requests == []


def test_default_port_not_in_the_host_header(pinned_tls, monkeypatch):
    with override_oauth(FETCH=FAST):
        pinned_tls.routes["/doc"] = json_route({"ok": 1})
        assert fetch_json("https://rp.example/doc") == {"ok": 1}
    assert pinned_tls.requests[0]["headers"]["Host"] == "rp.example"


def test_default_http_port_not_in_the_host_header(server, monkeypatch):
    """A loopback ``http://`` URL without a port (80) sends ``Host`` without it, as for
    https and 443 (RFC 9110 §7.2: the port is left out when it is the scheme's default)."""
    real_open = fetch._open_socket

    def to_the_test_server(family: int, sockaddr: Any, timeout: float) -> socket.socket:
        return real_open(family, (sockaddr[0], server.port, *sockaddr[2:]), timeout)

    monkeypatch.setattr(fetch, "_open_socket", to_the_test_server)
    server.routes["/doc"] = json_route({"ok": 1})
    assert fetch_json("http://127.0.0.1/doc") == {"ok": 1}
    assert server.requests[0]["headers"]["Host"] == "127.0.0.1"


@pytest.mark.req("8725-3.10-no-ambient-credentials")
def test_no_ambient_credentials_and_proxies_ignored(server, monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://10.9.9.9:3128")
    server.routes["/doc"] = json_route({})
    fetch_json(server.url("/doc"))
    post_form(server.url("/doc"), {"a": "b"})
    for request in server.requests:
        names = {name.lower() for name in request["headers"]}
        assert not names & {"cookie", "authorization", "proxy-authorization"}
        assert not any(name.startswith("x-forwarded") for name in names)
        assert request["headers"]["User-Agent"] == fetch.USER_AGENT
    assert len(server.requests) == 2


@pytest.mark.req("9101-10.4.1-timeouts")
def test_trickled_tls_handshake_is_cut_at_the_deadline(monkeypatch):
    """A server that starts a TLS record and then sends a byte every 50 ms."""
    import socketserver

    class Trickle(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            try:
                self.request.sendall(b"\x16\x03\x03\x40\x00")
                for _ in range(200):
                    self.request.sendall(b"\x00")
                    time.sleep(0.05)
            except OSError:
                pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    resolve_to(monkeypatch, "93.184.216.34")

    def open_socket(family: int, sockaddr: Any, timeout: float) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(("127.0.0.1", port))
        return sock

    monkeypatch.setattr(fetch, "_open_socket", open_socket)
    try:
        with override_oauth(FETCH={"timeout": 0.8, "connect_timeout": 0.6, "allowed_ports": [port]}):
            started = time.monotonic()
            with pytest.raises(FetchError):
                fetch_json(f"https://rp.example:{port}/doc")
            # the 0.8 s deadline, plus slack for a loaded machine (1.34 s was seen at load 20);
            # the trickle itself would go on for 10 s, each byte well inside connect_timeout
            assert time.monotonic() - started < 2.0
    finally:
        server.shutdown()
        server.server_close()



@pytest.mark.req("DERIVED-fetch-scheme")
def test_url_and_host_length_limits_and_a_numeric_last_label():
    validate_fetchable_url("https://example.com/" + "a" * (2000 - 20))  # 2000 characters: accepted
    with pytest.raises(ValidationError):
        validate_fetchable_url("https://example.com/" + "a" * (2001 - 20))
    longest = ".".join(["a" * 63] * 3 + ["b" * 61])  # 253 characters
    validate_fetchable_url(f"https://{longest}/")
    with pytest.raises(ValidationError):
        validate_fetchable_url(f"https://{longest}c/")
    with pytest.raises(ValidationError):  # a numeric last label is an IP address in disguise
        validate_fetchable_url("https://example.123/")


# --- what the mutation run of fetch.py showed no test holding ---------------------------------

def test_a_timeout_is_remembered_for_an_error_cache_of_one_second(server):
    """The shortest error cache the setting allows still spares the slow target a second ask."""
    server.routes["/slow"] = slow_route(1)
    with override_oauth(**LOOPBACK_ON, FETCH={"timeout": 0.3, "connect_timeout": 0.3, "error_cache_seconds": 1}):
        for _ in range(2):
            with pytest.raises(FetchError):
                fetch_json(server.url("/slow"))
    assert server.hits("/slow") == 1


@pytest.mark.req("9101-10.4.1-timeouts")
def test_each_connection_attempt_gets_the_connect_timeout_and_none_starts_past_the_deadline(monkeypatch):
    """Each address is tried for ``connect_timeout`` (the rest of the total deadline when that
    is shorter), and none is tried once the deadline has passed."""
    resolve_to(monkeypatch, "93.184.216.34", "93.184.216.35")
    tried: list[float] = []

    def refusing(family: int, sockaddr: Any, timeout: float) -> Any:
        tried.append(timeout)
        raise ConnectionRefusedError("refused")

    monkeypatch.setattr(fetch, "_open_socket", refusing)
    with override_oauth(FETCH={"timeout": 30, "connect_timeout": 5}), pytest.raises(FetchError) as failed:
        fetch_json("https://documents.example/a.json")
    assert len(tried) == 2 and all(4.5 < t <= 5 for t in tried)
    assert failed.value.detail.endswith("ConnectionRefusedError: refused")  # the log says why
    tried.clear()
    with override_oauth(FETCH={"timeout": 2, "connect_timeout": 5}), pytest.raises(FetchError):
        fetch_json("https://documents.example/b.json")
    assert len(tried) == 2 and all(1.5 < t <= 2 for t in tried)
    tried.clear()
    with override_oauth(FETCH={"timeout": 1e-9, "connect_timeout": 5}), pytest.raises(FetchError):
        fetch_json("https://documents.example/c.json")
    assert tried == []


def test_a_deadline_passed_during_the_tcp_connect_is_a_timeout_before_the_tls_handshake(monkeypatch):
    """The handshake gets what is left of the deadline; when nothing is left once the TCP
    connection stands, the fetch is a timeout (remembered, rule 6) before a byte of TLS moves,
    never a negative socket timeout."""
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        with override_oauth(**LOOPBACK_ON):
            target = fetch.parse(f"https://127.0.0.1:{listener.getsockname()[1]}/doc")
        clock = iter([99.0])  # first reading: before the connect; every later one: past the deadline
        monkeypatch.setattr(fetch, "time", SimpleNamespace(monotonic=lambda: next(clock, 100.5)))
        conn = fetch._PinnedConnection(target, [(socket.AF_INET, ("127.0.0.1", target.port))], 5.0, 100.0)
        with pytest.raises(TimeoutError, match="deadline"):
            conn.connect()
        assert conn.sock is None
    finally:
        listener.close()


def test_no_connection_is_tried_at_the_deadline_itself(monkeypatch):
    """Nothing left of the deadline is a timeout too: at exactly the deadline no connection is
    tried (a zero socket timeout would make the connect non-blocking, a plain failure instead
    of the remembered timeout of rule 6)."""
    opened: list[Any] = []
    monkeypatch.setattr(fetch, "_open_socket", lambda *args: opened.append(args))
    with override_oauth(**LOOPBACK_ON):
        target = fetch.parse("https://127.0.0.1:8443/doc")
    monkeypatch.setattr(fetch, "time", SimpleNamespace(monotonic=lambda: 100.0))
    conn = fetch._PinnedConnection(target, [(socket.AF_INET, ("127.0.0.1", 8443))], 5.0, 100.0)
    with pytest.raises(TimeoutError, match="deadline"):
        conn.connect()
    assert opened == []


def test_post_form_returns_the_status_when_the_answers_body_never_comes(server):
    """An error answer whose body stalls (or breaks off) still gives its status within the
    timeout: the drain before closing is best effort, never the request's failure."""

    def stalled(h: Any) -> None:
        h.send_response(503)
        h.send_header("Content-Length", "100")
        h.end_headers()
        h.wfile.flush()
        time.sleep(2)

    server.routes["/logout"] = stalled
    started = time.monotonic()
    assert post_form(server.url("/logout"), {"a": "b"}, timeout=0.5) == 503
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("status", [201, 204, 404, 500])
def test_the_log_says_which_status_refused_a_document(server, status):
    server.routes["/doc"] = json_route({"a": 1}, status=status)
    with pytest.raises(FetchError) as refused:
        fetch_json(server.url("/doc"))
    assert refused.value.detail.endswith(f"HTTP {status}")
    assert str(refused.value) == FETCH_FAILED  # the client that gave the URL sees only the fixed words


@pytest.mark.req("9101-10.4.1-timeouts")
def test_the_tls_handshake_may_take_the_connect_timeout_within_the_deadline(pinned_tls, monkeypatch):
    """The handshake's whole duration is bounded by ``connect_timeout`` and by what is left of
    the total deadline, whichever is shorter."""
    handshakes: list[float] = []
    made = fetch._ssl_context

    class Recording:
        def __init__(self) -> None:
            self.ctx = made()

        def wrap_socket(self, sock: socket.socket, **kwargs: Any) -> Any:
            handshakes.append(sock.gettimeout())
            return self.ctx.wrap_socket(sock, **kwargs)

    monkeypatch.setattr(fetch, "_ssl_context", Recording)
    pinned_tls.routes["/doc"] = json_route({"ok": 1})
    for total, connect, low, high in ((30, 5, 4.5, 5), (2, 5, 1.5, 2)):
        caches["default"].clear()
        with override_oauth(FETCH={"timeout": total, "connect_timeout": connect,
                                   "allowed_ports": [pinned_tls.port]}):
            assert fetch_json(f"https://rp.example:{pinned_tls.port}/doc") == {"ok": 1}
        assert low < handshakes[-1] <= high, handshakes


@pytest.mark.parametrize(("url", "port"), [("http://127.0.0.1/doc", 80), ("https://rp.example/doc", 443),
                                           ("http://localhost:8000/doc", 8000)])
def test_a_url_without_a_port_is_fetched_from_its_schemes_default(url, port):
    """RFC 3986 §3.2.3: no port means the scheme's default; that is the port connected to (and
    checked against ``allowed_ports``)."""
    with override_oauth(**LOOPBACK_ON):
        assert fetch.parse(url).port == port


def test_the_query_is_sent_and_none_is_added(server):
    """A document URL may carry a query (a tenant, a version): it is part of what is fetched."""
    server.routes["/doc"] = json_route({"a": 1})
    fetch_json(server.url("/doc?tenant=a&v=2"))
    fetch_json(server.url("/doc"))
    assert [r["path"] for r in server.requests] == ["/doc?tenant=a&v=2", "/doc"]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_every_redirect_status_is_followed_when_enabled(redirecting, status):
    """RFC 9110 §15.4: 301, 302, 303, 307 and 308 all name a new location in Location."""
    redirecting.routes["/a"] = redirect_route(redirecting.url("/doc"), status)
    redirecting.routes["/doc"] = json_route({"a": status})
    assert fetch_json(redirecting.url("/a")) == {"a": status}


@pytest.mark.req("9101-10.4.1-timeouts")
@pytest.mark.parametrize("late_by", [1e-6, 0.5, 5.0])
def test_nothing_is_sent_or_read_once_the_deadline_has_passed(late_by):
    """A deadline passed by any amount, a microsecond or several seconds, is a timeout before
    any byte moves: never a negative socket timeout (a ``ValueError``, which would be a plain
    fetch failure instead of a remembered timeout) nor a read or write that could still block."""
    ours, theirs = socket.socketpair()
    try:
        theirs.sendall(b"HTTP/1.1 200 OK\r\n")
        wrapped = fetch._DeadlineSocket(ours, time.monotonic() - late_by)
        with pytest.raises(TimeoutError):
            wrapped.sendall(b"GET / HTTP/1.1\r\n")
        theirs.setblocking(False)
        with pytest.raises(BlockingIOError):  # nothing was sent
            theirs.recv(1)
        reader = wrapped.makefile("rb")
        with pytest.raises(TimeoutError):
            reader.read(1)
        ours.setblocking(False)
        assert ours.recv(64) == b"HTTP/1.1 200 OK\r\n"  # nothing was read
        reader.close()
    finally:
        ours.close()
        theirs.close()

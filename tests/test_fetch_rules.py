"""Rules of the SSRF-safe fetcher (:mod:`oauth_provider.fetch`) that a hand-made review broke one
line at a time without a failing test (December 2026): the production TLS context, zone IDs,
``+json`` media types, backslashes, and ``post_form`` closing its connection. Each test fails
with the break named in its docstring and passes on the code."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from django.core.cache import caches
from django.core.exceptions import ValidationError

from oauth_provider import fetch
from oauth_provider.fetch import FetchError, fetch_json, validate_fetchable_url
from tests.support.http_servers import json_route, local_server, self_signed_certificate, tls_server
from tests.support.settings import override_oauth
from tests.test_fetch import FAST, LOOPBACK_ON, resolve_to


@pytest.fixture(autouse=True)
def _clear_cache():
    caches["default"].clear()
    yield
    caches["default"].clear()


def test_the_real_tls_context_refuses_a_certificate_no_trusted_ca_signed(monkeypatch, tmp_path):
    """Rule 3 with the production context (every other TLS test swaps ``_ssl_context`` for one
    trusting the test certificate): a server whose certificate is for the right name but is
    self-signed is refused before any request is sent. Break: ``_ssl_context`` returning a
    context with ``check_hostname = False`` / ``CERT_NONE``."""
    cert, key = self_signed_certificate(tmp_path, "rp.example")
    with tls_server(cert, key) as srv:
        srv.routes["/doc"] = json_route({"ok": 1})
        resolve_to(monkeypatch, "93.184.216.34")

        def open_socket(family: int, sockaddr: Any, timeout: float) -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(("127.0.0.1", srv.port))
            return sock

        monkeypatch.setattr(fetch, "_open_socket", open_socket)
        with override_oauth(FETCH={**FAST, "allowed_ports": [srv.port]}):
            with pytest.raises(FetchError):
                fetch_json(f"https://rp.example:{srv.port}/doc")
        assert srv.requests == []
    context = fetch._ssl_context()
    assert context.check_hostname is True
    assert context.verify_mode == __import__("ssl").CERT_REQUIRED


@pytest.mark.parametrize("host", ["[2606:4700:4700::1111%25eth0]", "[2606:4700:4700::1111%25]"])
def test_a_zone_id_on_a_global_ipv6_literal_is_refused(host, monkeypatch):
    """Rule 1: no zone IDs, whatever the address (the link-local ones are refused as special
    addresses anyway). Break: dropping the ``'%' in netloc`` check in ``_normalise_host``."""
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("resolved"))
    with pytest.raises(ValidationError):
        validate_fetchable_url(f"https://{host}/doc")


@pytest.fixture
def server():
    with local_server() as srv, override_oauth(**LOOPBACK_ON, FETCH=FAST):
        yield srv


@pytest.mark.parametrize("content_type", ["text/x+json", "text/html+json", "+json", "image/svg+json"])
def test_a_json_suffix_counts_only_under_application(server, content_type):
    """RFC 6839 §3.1 structured suffix ``+json`` is accepted under ``application/`` only.
    Break: dropping ``media_type.startswith("application/")``."""
    server.routes["/doc"] = json_route({"a": 1}, content_type=content_type)
    with pytest.raises(FetchError):
        fetch_json(server.url("/doc"))


@pytest.mark.parametrize("url", ["https://cimd.example/tenant-a\\..\\tenant-b/c.json",
                                 "https://cimd.example/a\\b.json", "https://cimd.example/c.json?x=\\"])
def test_a_backslash_anywhere_in_the_url_is_refused(url, monkeypatch):
    """Rule 1: WHATWG URL parsing (and servers such as IIS) read ``\\`` in an https path as
    ``/``, so ``tenant-a\\..\\tenant-b`` is a ``..`` segment in disguise (CIMD §3 forbids dot
    segments). Break: dropping the backslash from the character check in ``fetch.parse``."""
    from oauth_provider import metadata_documents

    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("resolved"))
    with pytest.raises(ValidationError):
        validate_fetchable_url(url)
    assert metadata_documents.url_problem(url) is not None


def test_post_form_closes_a_kept_alive_connection(server, monkeypatch):
    """post_form closes its connection itself when the receiver keeps it alive (HTTP/1.1
    without ``Connection: close``); the suite only POSTs to a ``Connection: close`` route, where
    http.client closes it anyway. Break: dropping ``conn.close()`` in ``post_form``'s
    ``finally`` (the descriptor then lives until garbage collection)."""
    from tests.support.http_servers import send
    from tests.test_fetch import record_sockets

    opened = record_sockets(monkeypatch)
    server.routes["/kept"] = lambda h: send(h, 200, b"")
    server.routes["/kept-error"] = lambda h: send(h, 500, b"oops", "text/plain")
    assert fetch.post_form(server.url("/kept"), {"a": "b"}) == 200
    assert fetch.post_form(server.url("/kept-error"), {"a": "b"}) == 500
    assert [sock.fileno() for sock in opened] == [-1, -1]

"""Real HTTP servers on 127.0.0.1 (threads) for the outgoing-fetch tests.

``LocalServer`` answers each path with a handler function and records every request it
receives, so an SSRF test can assert that nothing reached it (the checklist's listener ``L``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Handler = Callable[[BaseHTTPRequestHandler], None]


class LocalServer:
    """A threaded HTTP server on 127.0.0.1; ``routes[path]`` answers ``path``."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[dict[str, Any]] = []
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                        "body": body})
                route = server.routes.get(self.path.split("?")[0])
                if route is None:
                    send(self, 404, b"not found", "text/plain")
                    return
                try:
                    route(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        # a short poll interval: shutdown() waits up to one interval, and every test using a server
        # pays it (0.5 s by default: half the run time of tests/test_fetch.py)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def hits(self, path: str) -> int:
        return sum(1 for r in self.requests if r["path"].split("?")[0] == path)


@contextmanager
def local_server() -> Iterator[LocalServer]:
    server = LocalServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str = "application/json",
         headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def json_route(data: Any, status: int = 200, content_type: str = "application/json",
               headers: dict[str, str] | None = None) -> Handler:
    body = json.dumps(data).encode()
    return lambda h: send(h, status, body, content_type, headers)


def redirect_route(location: str, status: int = 302) -> Handler:
    return lambda h: send(h, status, b"", "text/plain", {"Location": location})


def endless_route(with_length: int | None = None) -> Handler:
    """A body that never ends (optionally claiming a Content-Length)."""

    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        if with_length is not None:
            h.send_header("Content-Length", str(with_length))
        h.send_header("Connection", "close")
        h.end_headers()
        chunk = b" " * 65536
        for _ in range(2000):  # up to 128 MB, stops when the client hangs up
            h.wfile.write(chunk)

    return route


def slow_route(delay: float) -> Handler:
    def route(h: BaseHTTPRequestHandler) -> None:
        time.sleep(delay)
        send(h, 200, b"{}")

    return route


def trickle_route(interval: float) -> Handler:
    """Headers and body sent one byte per ``interval`` seconds, forever."""

    def route(h: BaseHTTPRequestHandler) -> None:
        data = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: " + b"a" * 10000
        for i in range(len(data)):
            h.wfile.write(data[i:i + 1])
            h.wfile.flush()
            time.sleep(interval)

    return route


def self_signed_certificate(tmp_path: Any, hostname: str) -> tuple[str, str]:
    """A certificate for ``hostname`` (its own issuer) and its key, as PEM file paths."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{hostname}.crt", tmp_path / f"{hostname}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@contextmanager
def tls_server(cert: str, key: str) -> Iterator[LocalServer]:
    """A :class:`LocalServer` speaking TLS with ``cert``."""
    import ssl

    server = LocalServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()

"""``fetch``: the connection's socket stays open until the response body is read.

http.client closes the connection as soon as it has the headers of a ``Connection: close``
response (every HTTP/1.0 server's), handing the body to the response's reader. The fetcher's
deadline-bounded socket wrapper must keep the descriptor open for that reader, as
``socket.makefile()`` does: closing it early fails the body read with EBADF, or, with threads,
reads from whichever new socket reused the descriptor number."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from oauth_provider import fetch
from tests.support.settings import override_oauth

BODY = b'{"keys": []}'


class SlowBody(http.server.BaseHTTPRequestHandler):
    """HTTP/1.0 (the connection closes after the response); the body comes after a pause, so
    the client has read only the headers when http.client hands the body over."""

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.flush()
        time.sleep(0.2)
        self.wfile.write(BODY)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowBody)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/jwks.json"
    server.shutdown()
    server.server_close()


@override_oauth(ALLOW_INSECURE_LOOPBACK_FETCH=True)
def test_a_body_that_arrives_after_the_headers_is_read(slow_server):
    assert fetch.get_json(slow_server).data == {"keys": []}


@override_oauth(ALLOW_INSECURE_LOOPBACK_FETCH=True)
def test_concurrent_fetches_each_read_their_own_body(slow_server):
    results: list[object] = []

    def worker() -> None:
        for _ in range(3):
            try:
                results.append(fetch.get_json(slow_server).data)
            except fetch.FetchError as exc:
                results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [{"keys": []}] * 12

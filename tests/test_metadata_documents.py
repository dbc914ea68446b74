"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document-01, checklist
section P): a URL client_id, its document served by a real HTTP server on 127.0.0.1 (with
``ALLOW_INSECURE_LOOPBACK_FETCH``, as a test setup on one machine), driven through the
authorization and token endpoints; SSRF targets through a stub resolver. An attack passes
only if the page is an error without ``Location`` and, where it says so, the listener recorded
nothing."""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.cache import caches
from django.test import Client as HttpClient

from oauth_provider.adapter import DefaultAdapter
from oauth_provider.models import AccessToken, Consent, get_client_model
from tests.support.endpoints import METADATA, assert_error_page
from tests.support.factories import ClientFactory
from tests.support.http_servers import endless_route, json_route, local_server, redirect_route, send
from tests.support.settings import override_oauth

from .conftest import pkce_pair, query_of

pytestmark = pytest.mark.django_db

ON = {"CLIENT_ID_METADATA_DOCUMENTS": True, "ALLOW_INSECURE_LOOPBACK_FETCH": True,
      "FETCH": {"timeout": 1, "connect_timeout": 1}}
CALLBACK = "http://127.0.0.1:3000/callback"


@pytest.fixture(autouse=True)
def _clear_cache():
    caches["default"].clear()
    yield
    caches["default"].clear()


@pytest.fixture
def cimd():
    """A document host on 127.0.0.1 with the feature on. ``cimd.url`` is the document URL,
    ``cimd.serve(**changes)`` serves a valid document with ``changes``."""
    with local_server() as server, override_oauth(**ON):
        server.doc_url = server.url("/client.json")

        def document(**changes: Any) -> dict[str, Any]:
            doc = {
                "client_id": server.doc_url,
                "client_name": "Example MCP Client",
                "redirect_uris": [CALLBACK],
                "application_type": "native",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
            }
            doc.update(changes)
            return {k: v for k, v in doc.items() if v is not None}

        def serve(path: str = "/client.json", headers: dict[str, str] | None = None, **changes: Any) -> None:
            server.routes[path] = json_route(document(**changes), headers=headers)

        server.document = document
        server.serve = serve
        yield server


def authorize(browser: HttpClient, client_id: str, **overrides: Any) -> tuple[Any, dict[str, str]]:
    verifier, challenge = pkce_pair()
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK, "scope": "read",
              "state": "xyz", "code_challenge": challenge, "code_challenge_method": "S256", **overrides}
    params = {k: v for k, v in params.items() if v is not None}
    return browser.get("/o/authorize/", params), {"verifier": verifier, **params}


def approve(browser: HttpClient, page: Any) -> Any:
    from .conftest import consent_blob

    return browser.post("/o/authorize/", {"oauth_request": consent_blob(page.content.decode()), "allow": "allow"})


def token(data: dict[str, str], **extra: Any) -> Any:
    return HttpClient().post("/o/token/", urlencode(data), content_type="application/x-www-form-urlencoded", **extra)


# -- the whole flow --------------------------------------------------------------------------------
@pytest.mark.req("CIMD-4.5-redirect-exact")
@pytest.mark.req("CIMD-6.2-key-auth")
def test_url_client_id_runs_the_code_flow_end_to_end(cimd, browser, user):
    cimd.serve()
    page, sent = authorize(browser, cimd.doc_url)
    assert page.status_code == 200, page.content[:500]
    approved = approve(browser, page)
    assert approved.status_code == 302 and approved["Location"].startswith(CALLBACK)
    code = query_of(approved["Location"])["code"]
    answer = token({"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
                    "code_verifier": sent["verifier"], "client_id": cimd.doc_url})
    assert answer.status_code == 200, answer.content
    client = get_client_model()._default_manager.get(client_id=cimd.doc_url)
    assert client.registration_method == "metadata_document"
    assert client.is_public and client.client_secret_hash == "" and client.redirect_uri_list == [CALLBACK]
    assert client.name == "Example MCP Client"
    assert AccessToken.objects.get().client_id == client.pk
    # refresh works for the public client, as for any other
    refreshed = token({"grant_type": "refresh_token", "refresh_token": answer.json()["refresh_token"],
                       "client_id": cimd.doc_url})
    assert refreshed.status_code == 200, refreshed.content
    assert cimd.hits("/client.json") == 1  # cached in between


@pytest.mark.req("CIMD-5-metadata")
def test_advertised_only_when_on(client):
    assert "client_id_metadata_document_supported" not in client.get(METADATA).json()
    assert "client_id_metadata_document_supported" not in client.get("/o/.well-known/openid-configuration").json()
    with override_oauth(CLIENT_ID_METADATA_DOCUMENTS=True):
        assert client.get(METADATA).json()["client_id_metadata_document_supported"] is True
        assert client.get("/o/.well-known/openid-configuration").json()["client_id_metadata_document_supported"]


@pytest.mark.req("CIMD-5-metadata")
def test_feature_off_url_client_id_is_an_unknown_client_and_nothing_is_fetched(browser):
    with local_server() as server, override_oauth(ALLOW_INSECURE_LOOPBACK_FETCH=True):
        url = server.url("/client.json")
        server.routes["/client.json"] = json_route({"client_id": url, "redirect_uris": [CALLBACK]})
        page, _ = authorize(browser, url)
        assert_error_page(page)
        assert b"unknown" in page.content
        answer = token({"grant_type": "authorization_code", "code": "x", "redirect_uri": CALLBACK,
                        "code_verifier": "v" * 43, "client_id": url})
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
        assert server.requests == []
    assert not get_client_model()._default_manager.filter(client_id=url).exists()


def test_switched_off_the_clients_documents_made_are_unknown_and_the_sites_own_are_not(cimd, browser, user):
    """Switching the feature off is how an operator stops document clients at once (after an
    abuse, say): the clients a document made are then unknown, for new authorizations and at
    the token endpoint (no refresh either), while a URL client the site registered itself goes
    on. Their rows stay for when it is switched on again."""
    cimd.serve()
    page, sent = authorize(browser, cimd.doc_url)
    code = query_of(approve(browser, page)["Location"])["code"]
    tokens = token({"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
                    "code_verifier": sent["verifier"], "client_id": cimd.doc_url}).json()
    own = ClientFactory(client_id=cimd.url("/registered-by-the-site.json"), redirect_uris="https://rp.example/cb")
    with override_oauth(CLIENT_ID_METADATA_DOCUMENTS=False, ALLOW_INSECURE_LOOPBACK_FETCH=True):
        page, _ = authorize(browser, cimd.doc_url)
        assert_error_page(page)
        assert b"unknown" in page.content
        refreshed = token({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                           "client_id": cimd.doc_url})
        assert refreshed.status_code == 401 and refreshed.json()["error"] == "invalid_client"
        page, _ = authorize(browser, own.client_id, redirect_uri="https://rp.example/cb")
        assert page.status_code == 200
        logout = browser.get("/o/logout/", {"client_id": cimd.doc_url})  # nor may it ask to log users out
        assert logout.status_code == 400 and b"Unknown client" in logout.content
    assert cimd.hits("/client.json") == 1
    assert get_client_model()._default_manager.filter(client_id=cimd.doc_url).exists()
    refreshed = token({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                       "client_id": cimd.doc_url})
    assert refreshed.status_code == 200  # switched on again, the client is back


# -- the URL itself (§3), refused before any fetch -----------------------------------------------
@pytest.mark.req("CIMD-3-client-id-url")
@pytest.mark.parametrize("path", ["", "/a/../client.json", "/./client.json", "/a/%2e%2e/client.json",
                                  "/client.json#x", "/client.json?x=1", "/client.json?"])
def test_client_id_url_rules(cimd, browser, path):
    cimd.serve()
    url = f"http://127.0.0.1:{cimd.port}{path}"
    page, _ = authorize(browser, url)
    assert_error_page(page)
    assert cimd.requests == []


@pytest.mark.req("CIMD-3-client-id-url")
@pytest.mark.req("DERIVED-fetch-scheme")
@pytest.mark.parametrize("url", [
    "http://cimd.example/c.json", "https://cimd.example", "https://u:p@cimd.example/c.json",
    "https://cimd.example:22/c.json", "https://2130706433/c.json", "https://localhost./c.json",
    "https://169.254.169.254/latest/meta-data/", "https://[::ffff:127.0.0.1]/c.json",
    "https://metadata.google.internal/c.json", "https://cimd.example/" + "a" * 300,
])
def test_bad_url_forms_refused_without_resolving(cimd, browser, url, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("resolved"))
    page, _ = authorize(browser, url)
    assert_error_page(page)


# -- SSRF (§6.5, section Q) -------------------------------------------------------------------------
@pytest.mark.req("CIMD-6.5-ssrf")
@pytest.mark.req("DERIVED-fetch-special-use")
@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.5", "169.254.169.254", "::1", "::ffff:127.0.0.1",
                                     "fd00:ec2::254", "100.64.0.1", "0.0.0.0"])
def test_document_host_resolving_to_special_address_is_never_contacted(cimd, browser, monkeypatch, address):
    cimd.serve()
    family = socket.AF_INET6 if ":" in address else socket.AF_INET

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
        return [(family, socket.SOCK_STREAM, 6, "", sockaddr)]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    page, _ = authorize(browser, "https://cimd.example/client.json")
    assert_error_page(page)
    assert cimd.requests == []
    answer = token({"grant_type": "authorization_code", "code": "x", "redirect_uri": CALLBACK,
                    "code_verifier": "v" * 43, "client_id": "https://cimd.example/client.json"})
    assert answer.status_code == 401
    assert cimd.requests == []


# -- the response (§4) ------------------------------------------------------------------------------
@pytest.mark.req("CIMD-4-status-and-redirects")
@pytest.mark.req("CIMD-4-no-redirects-all")
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("host_redirects", [0, 3])
def test_redirects_never_followed(cimd, browser, status, host_redirects):
    """Not even where the host lets its other fetches (JWKS, sector documents) follow some:
    a document is the one at its client_id URL (§4)."""
    cimd.serve(path="/real.json", client_id=cimd.doc_url)
    cimd.routes["/client.json"] = redirect_route(cimd.url("/real.json"), status)
    with override_oauth(**{**ON, "FETCH": {**ON["FETCH"], "max_redirects": host_redirects}}):
        page, _ = authorize(browser, cimd.doc_url)
    assert_error_page(page)
    assert cimd.hits("/real.json") == 0


@pytest.mark.req("CIMD-4-status-and-redirects")
@pytest.mark.req("CIMD-4.3-fetch-failure")
@pytest.mark.parametrize("status", [201, 203, 204, 404, 410, 500, 503])
def test_only_200_is_a_document(cimd, browser, status):
    cimd.routes["/client.json"] = json_route(cimd.document(), status=status)
    page, _ = authorize(browser, cimd.doc_url)
    assert_error_page(page)


@pytest.mark.req("CIMD-4.3-fetch-failure")
def test_unreachable_and_slow_hosts_are_error_pages(browser):
    with local_server() as server, override_oauth(**{**ON, "FETCH": {"timeout": 0.3}}):
        server.routes["/slow.json"] = lambda h: (__import__("time").sleep(1), send(h, 200, b"{}"))
        for url in ("http://127.0.0.1:1/client.json", server.url("/slow.json")):
            page, _ = authorize(browser, url)
            assert_error_page(page)


@pytest.mark.req("DERIVED-fetch-no-oracle")
def test_fetch_failures_read_the_same(cimd, browser):
    cimd.routes["/a.json"] = json_route({"secret": "internal-value"}, status=404)
    cimd.routes["/b.json"] = lambda h: send(h, 200, b"<h1>internal admin</h1>", "text/html")
    bodies = []
    for path in ("/a.json", "/b.json", "/none.json"):
        page, _ = authorize(browser, cimd.url(path))
        assert_error_page(page)
        assert b"internal" not in page.content
        bodies.append(page.content.replace(path.encode(), b""))
    assert len(set(bodies)) == 1


@pytest.mark.req("CIMD-6.6-size")
@pytest.mark.parametrize("route", ["big", "endless", "endless-lying"])
def test_oversized_documents_refused(cimd, browser, route):
    if route == "big":
        cimd.serve(client_name="x" * 6 * 1024)
    else:
        cimd.routes["/client.json"] = endless_route(10 if route == "endless-lying" else None)
    page, _ = authorize(browser, cimd.doc_url)
    assert_error_page(page)


@pytest.mark.req("CIMD-6.6-size")
def test_a_document_of_5_kib_is_read_and_one_byte_more_is_not(cimd, browser):
    """§6.6: at most 5 KiB (an unknown member pads the document, RFC 7591 §2 ignores it)."""
    room = 5 * 1024 - len(json.dumps(cimd.document(padding="")).encode())
    assert len(json.dumps(cimd.document(padding="x" * room)).encode()) == 5 * 1024
    cimd.serve(padding="x" * room)
    assert b"wants to access your account" in authorize(browser, cimd.doc_url)[0].content
    caches["default"].clear()
    cimd.serve(padding="x" * (room + 1))
    assert_error_page(authorize(browser, cimd.doc_url)[0])


@pytest.mark.req("CIMD-3-client-id-url")
def test_a_client_id_url_is_at_most_255_characters():
    """The client_id column's size; checked before anything is fetched."""
    from oauth_provider.metadata_documents import url_problem

    base = "https://cimd.example/"
    assert url_problem(base + "a" * (255 - len(base))) is None
    assert "at most 255 characters" in url_problem(base + "a" * (256 - len(base)))


def test_only_url_client_ids_name_documents(cimd):
    """With the feature on, an ordinary client_id stays an ordinary (here unknown) client, and
    an http URL is a document only with ALLOW_INSECURE_LOOPBACK_FETCH: otherwise it is an
    unknown client too, not a document that cannot be fetched."""
    from oauth_provider import metadata_documents

    cimd.serve()
    assert metadata_documents.lookup("my-client") is None
    with override_oauth(**{**ON, "ALLOW_INSECURE_LOOPBACK_FETCH": False}):
        assert metadata_documents.lookup(cimd.doc_url) is None
    assert cimd.requests == []


@pytest.mark.req("CIMD-6.1-redirect-origin")
def test_same_origin_compares_default_ports_and_keeps_out_private_schemes(browser, monkeypatch, caplog):
    """§6.1 with ``CLIENT_ID_METADATA_DOCUMENT_SAME_ORIGIN``: ``https://app.example:443`` is the
    origin of ``https://app.example/client.json``; a private-use scheme is no origin of the
    client's, whatever host it names (any app may claim the scheme)."""
    from oauth_provider import fetch

    url = "https://app.example/client.json"
    served: dict[str, Any] = {}
    monkeypatch.setattr(fetch, "get_json", lambda *a, **k: fetch.FetchedJSON(served, 0))
    with override_oauth(**ON, CLIENT_ID_METADATA_DOCUMENT_SAME_ORIGIN=True):
        served.update(client_id=url, redirect_uris=["https://app.example:443/cb"], token_endpoint_auth_method="none")
        page, _ = authorize(browser, url, redirect_uri="https://app.example:443/cb")
        assert b"wants to access your account" in page.content
        served.update(application_type="native", redirect_uris=["com.example.app://127.0.0.1/cb"])
        page, _ = authorize(browser, url, redirect_uri="com.example.app://127.0.0.1/cb")
        assert_error_page(page)
        assert b"own origin" in page.content
        # another origin is refused whichever way it sorts; the log (never the page: the
        # document's author would write on it) names the first one
        served.update(application_type="web", redirect_uris=[
            "https://app.example/cb", "https://another.example/cb", "https://zz.example/cb"])
        caplog.clear()
        page, _ = authorize(browser, url, redirect_uri="https://app.example/cb")
        assert_error_page(page)
        assert b"another.example" not in page.content
        assert "'https://another.example/cb' not on its origin" in caplog.text
        # another port is another origin (RFC 6454 §4), the default one named or not
        served.update(redirect_uris=["https://app.example/cb", "https://app.example:8443/cb"])
        assert_error_page(authorize(browser, url, redirect_uri="https://app.example/cb")[0])
        # loopback means RFC 8252 §7.3's: plain http; https on 127.0.0.1 is another origin
        served.update(redirect_uris=["https://app.example/cb", "https://127.0.0.1/cb"])
        assert_error_page(authorize(browser, url, redirect_uri="https://app.example/cb")[0])
        # a long foreign URI is logged by its first 200 characters
        long_uri = "https://another.example/" + "a" * 300
        served.update(redirect_uris=["https://app.example/cb", long_uri])
        caplog.clear()
        page, _ = authorize(browser, url, redirect_uri="https://app.example/cb")
        assert_error_page(page)
        assert repr(long_uri[:200]) + " not on its origin" in caplog.text


def test_two_first_requests_racing_store_one_row_and_both_go_on(cimd, browser, monkeypatch):
    """The request that loses the race for the first INSERT (it looked for the row before the
    winner stored it) uses the winner's row: the consent page, not a 500."""
    from oauth_provider import metadata_documents

    cimd.serve()
    assert b"wants to access your account" in authorize(browser, cimd.doc_url)[0].content
    caches["default"].clear()
    real, calls = metadata_documents.client_by_id, []

    def not_stored_yet(client_id: str) -> Any:
        calls.append(client_id)
        return None if len(calls) == 1 else real(client_id)

    monkeypatch.setattr(metadata_documents, "client_by_id", not_stored_yet)
    assert b"wants to access your account" in authorize(browser, cimd.doc_url)[0].content
    assert len(calls) == 2
    assert get_client_model()._default_manager.filter(client_id=cimd.doc_url).count() == 1


def test_an_operators_skip_consent_survives_refetches_while_the_client_is_confidential(cimd, browser):
    """An operator may trust a confidential document client (``skip_consent``); a refetch keeps
    that, and turns it off only when the document makes the client public (RFC 8252 §8.6, a
    database constraint too)."""
    _private, jwk = _key_pair()
    confidential = {"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [jwk]}}
    cimd.serve(**confidential)
    authorize(browser, cimd.doc_url)
    rows = get_client_model()._default_manager.filter(client_id=cimd.doc_url)
    rows.update(skip_consent=True)
    caches["default"].clear()
    cimd.serve(**confidential, client_name="Renamed")
    authorize(browser, cimd.doc_url)
    assert rows.get().name == "Renamed" and rows.get().skip_consent
    caches["default"].clear()
    cimd.serve()
    assert b"wants to access your account" in authorize(browser, cimd.doc_url)[0].content
    assert rows.get().is_public and not rows.get().skip_consent


# -- the document (§4.1) ----------------------------------------------------------------------------
@pytest.mark.req("CIMD-4.1-client-id-match")
@pytest.mark.parametrize("variant", ["slash", "host-case", "default-port", "encoded", "absent", "array", "other"])
def test_document_client_id_must_equal_the_url(cimd, browser, variant):
    url = cimd.doc_url
    value: Any = {
        "slash": url + "/", "host-case": url.replace("http://", "HTTP://"),
        "default-port": url.replace("127.0.0.1:", "127.0.0.1:0"), "encoded": url.replace("/client", "/%63lient"),
        "absent": None, "array": [url], "other": "https://app.example/client.json",
    }[variant]
    doc = cimd.document(client_id=value)
    if value is None:
        doc.pop("client_id", None)
    cimd.routes["/client.json"] = json_route(doc)
    page, _ = authorize(browser, url)
    assert_error_page(page)
    assert not get_client_model()._default_manager.filter(client_id=url).exists()


@pytest.mark.req("CIMD-4.1-no-shared-secret")
@pytest.mark.parametrize("changes", [
    {"token_endpoint_auth_method": "client_secret_basic"},
    {"token_endpoint_auth_method": "client_secret_post"},
    {"token_endpoint_auth_method": "client_secret_jwt"},
    {"client_secret": "s3cret"},
    {"client_secret_expires_at": 0},
])
def test_documents_with_shared_secrets_refused(cimd, browser, changes):
    cimd.serve(**changes)
    page, _ = authorize(browser, cimd.doc_url)
    assert_error_page(page)


@pytest.mark.req("CIMD-4.1-no-shared-secret")
def test_secret_sent_by_a_url_client_is_refused(cimd, browser):
    cimd.serve()
    authorize(browser, cimd.doc_url)
    answer = token({"grant_type": "authorization_code", "code": "x", "redirect_uri": CALLBACK,
                    "code_verifier": "v" * 43, "client_id": cimd.doc_url, "client_secret": "guess"})
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


PHISH = "Your account is suspended. Call 555-0100 now"


@pytest.mark.req("O21-7.12-input-is-malicious")
@pytest.mark.parametrize("changes,member", [
    ({"redirect_uris": [f"https://rp.example/ {PHISH}"]}, "redirect_uris"),
    ({"redirect_uris": [PHISH]}, "redirect_uris"),
    ({"scope": PHISH.replace(" ", "-")}, "scope"),
    ({"grant_types": ["authorization_code", PHISH]}, "grant_types"),
    ({"contacts": [PHISH]}, "contacts"),
])
def test_an_invalid_document_cannot_write_on_our_error_page(cimd, browser, changes, member):
    """Whoever links a user to /authorize with their document's URL chooses its content: the
    error page names the member at fault, never its value, or the provider's own page would
    read whatever the document's author wrote (OAuth 2.1 §7.12)."""
    cimd.serve(**changes)
    page, _ = authorize(browser, cimd.doc_url, redirect_uri=None)
    assert_error_page(page)
    html = page.content.decode()
    assert "555-0100" not in html and "suspended" not in html
    assert member in html


@pytest.mark.req("O21-7.12-input-is-malicious")
def test_a_foreign_redirect_uri_is_not_written_on_our_error_page(cimd, browser):
    cimd.serve(application_type="web", redirect_uris=[f"https://rp.example/{PHISH.replace(' ', '-')}"])
    with override_oauth(**ON, CLIENT_ID_METADATA_DOCUMENT_SAME_ORIGIN=True):
        page, _ = authorize(browser, cimd.doc_url, redirect_uri=None)
    assert_error_page(page)
    assert b"own origin" in page.content and b"555-0100" not in page.content


@pytest.mark.req("MCP-2026-07-28-cimd-validate")
@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"a string"',
                                  b'{"client_id": "URL", "client_name": "x"}',
                                  b'{"client_id": "URL", "client_name": "x", "redirect_uris": "http://127.0.0.1/cb"}'])
def test_malformed_documents_refused(cimd, browser, body):
    cimd.routes["/client.json"] = lambda h: send(h, 200, body.replace(b"URL", cimd.doc_url.encode()))
    page, _ = authorize(browser, cimd.doc_url)
    assert_error_page(page)


@pytest.mark.req("MCP-2026-07-28-cimd-validate")
def test_unknown_members_are_ignored(cimd, browser):
    cimd.serve(is_staff=True, x_vendor={"a": 1})
    page, _ = authorize(browser, cimd.doc_url)
    assert page.status_code == 200


@pytest.mark.req("CIMD-4.5-redirect-exact")
@pytest.mark.parametrize("redirect_uri", ["http://127.0.0.1:3000/callback/", "http://127.0.0.1:3000/callbacK",
                                          "http://localhost:3000/callback", "https://evil.example/callback",
                                          "http://127.0.0.1:3000/callback?x=1"])
def test_redirect_uri_must_be_one_of_the_documents(cimd, browser, redirect_uri):
    cimd.serve()
    page, _ = authorize(browser, cimd.doc_url, redirect_uri=redirect_uri)
    assert_error_page(page)


# -- caching (§4.4) ---------------------------------------------------------------------------------
@pytest.mark.req("CIMD-4.4-caching")
def test_document_cached_then_refetched_when_expired(cimd, browser):
    cimd.serve(headers={"Cache-Control": "max-age=600"})
    for _ in range(3):
        assert authorize(browser, cimd.doc_url)[0].status_code == 200
    assert cimd.hits("/client.json") == 1
    caches["default"].clear()  # the cache lifetime ends
    assert authorize(browser, cimd.doc_url)[0].status_code == 200
    assert cimd.hits("/client.json") == 2


@pytest.mark.req("CIMD-4.4-caching")
@pytest.mark.parametrize("first", ["error", "invalid"])
def test_errors_and_invalid_documents_not_cached(cimd, browser, first):
    if first == "error":
        cimd.routes["/client.json"] = json_route(cimd.document(), status=500)
    else:
        cimd.serve(redirect_uris=["https://evil.example/cb", "not a uri"])
    assert_error_page(authorize(browser, cimd.doc_url)[0])
    cimd.serve()
    assert authorize(browser, cimd.doc_url)[0].status_code == 200


# -- changes (§6.3) ---------------------------------------------------------------------------------
@pytest.mark.req("CIMD-6.3-metadata-change")
@pytest.mark.parametrize("change", [{"redirect_uris": ["http://127.0.0.1:4000/cb"]}, {"client_name": "Google"},
                                    {"logo_uri": "https://cimd.example/new.png"},
                                    # changes to values that sort before the old ones
                                    {"redirect_uris": ["http://127.0.0.1:2000/cb"]}, {"client_name": "A client"}])
def test_changed_document_forgets_remembered_consent(cimd, browser, user, change):
    cimd.serve()
    assert authorize(browser, cimd.doc_url)[0].status_code == 200
    client = get_client_model()._default_manager.get(client_id=cimd.doc_url)
    Consent.objects.create(user=user, client=client, scope="read")
    caches["default"].clear()
    cimd.serve()  # unchanged: the consent stays
    authorize(browser, cimd.doc_url)
    assert Consent.objects.filter(client=client).exists()
    caches["default"].clear()
    cimd.serve(**change)
    redirect_uri = change.get("redirect_uris", [CALLBACK])[0]
    page, _ = authorize(browser, cimd.doc_url, redirect_uri=redirect_uri)
    assert page.status_code == 200  # the consent page, not a code
    assert not Consent.objects.filter(client=client).exists()
    client.refresh_from_db()
    assert client.redirect_uri_list == [redirect_uri]


@pytest.mark.req("CIMD-6.3-metadata-change")
@pytest.mark.parametrize("change", [{"dpop_bound_access_tokens": True},
                                    {"require_pushed_authorization_requests": True},
                                    {"require_signed_request_object": True}])
def test_a_refetched_document_that_hardens_the_client_is_stored(cimd, browser, change):
    """A document that only turns on DPoP, PAR or signed requests changes the client as much as
    a new name: the row takes it (not only the one request that fetched it), so the demand holds
    on every later request while the document is cached."""
    cimd.serve()
    assert authorize(browser, cimd.doc_url)[0].status_code == 200
    caches["default"].clear()
    cimd.serve(**change)
    authorize(browser, cimd.doc_url)
    (name, value), = change.items()
    assert getattr(get_client_model()._default_manager.get(client_id=cimd.doc_url), name) is value


@pytest.mark.req("CIMD-6.3-metadata-change")
def test_old_redirect_uri_refused_after_the_document_changes(cimd, browser):
    cimd.serve()
    assert authorize(browser, cimd.doc_url)[0].status_code == 200
    caches["default"].clear()
    cimd.serve(redirect_uris=["http://127.0.0.1:4000/cb"])
    assert_error_page(authorize(browser, cimd.doc_url)[0])


def test_document_gone_the_client_gets_no_more_tokens(cimd, browser):
    cimd.serve()
    page, sent = authorize(browser, cimd.doc_url)
    code = query_of(approve(browser, page)["Location"])["code"]
    caches["default"].clear()
    cimd.routes.pop("/client.json")
    answer = token({"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
                    "code_verifier": sent["verifier"], "client_id": cimd.doc_url})
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


def test_deactivated_client_stays_deactivated(cimd, browser):
    cimd.serve()
    authorize(browser, cimd.doc_url)
    get_client_model()._default_manager.filter(client_id=cimd.doc_url).update(is_active=False)
    caches["default"].clear()
    assert_error_page(authorize(browser, cimd.doc_url)[0])
    assert not get_client_model()._default_manager.get(client_id=cimd.doc_url).is_active


def test_a_deactivation_made_while_a_changed_document_is_fetched_stands(cimd, browser, monkeypatch):
    """The refetch is slow when the document's host wants it to be; an operator deactivating
    the client meanwhile is not undone by the changed document's update (the row is read
    again, locked, before it is written)."""
    from oauth_provider import fetch

    cimd.serve()
    authorize(browser, cimd.doc_url)
    model = get_client_model()
    real_get_json = fetch.get_json

    def fetched_while_the_operator_deactivates(url, **kwargs):
        model._default_manager.filter(client_id=cimd.doc_url).update(is_active=False)
        return real_get_json(url, **kwargs)

    cimd.serve(client_name="Example MCP Client v2")
    caches["default"].clear()
    monkeypatch.setattr(fetch, "get_json", fetched_while_the_operator_deactivates)
    assert_error_page(authorize(browser, cimd.doc_url)[0])
    stored = model._default_manager.get(client_id=cimd.doc_url)
    assert not stored.is_active and stored.name == "Example MCP Client"


def test_pre_registered_url_client_is_never_fetched(cimd, browser):
    """An operator may register a document URL as an ordinary client (§6.10)."""
    ClientFactory(client_id=cimd.doc_url, redirect_uris="https://rp.example/cb", name="Registered")
    page, _ = authorize(browser, cimd.doc_url, redirect_uri="https://rp.example/cb")
    assert page.status_code == 200 and b"Registered" in page.content
    assert cimd.requests == []
    # the ordinary consent page: the client's own name, not a host it was fetched from (§6.4)
    html = page.content.decode()
    assert "<h1>Registered wants to access your account</h1>" in html
    assert "client-origin" not in html and f"127.0.0.1:{cimd.port}" not in html


# -- policy (§6.8) ----------------------------------------------------------------------------------
class OnlyExampleCom(DefaultAdapter):
    def allow_client_id_metadata_document(self, url: str) -> bool:
        return url.startswith("https://example.com/")


class OnlyTheLoopback(DefaultAdapter):
    def allow_client_id_metadata_document(self, url: str) -> bool:
        return url.startswith("http://127.0.0.1:")


def test_adapter_refuses_a_url_before_any_fetch(cimd, browser):
    cimd.serve()
    with override_oauth(**ON, ADAPTER="tests.test_metadata_documents.OnlyExampleCom"):
        page, _ = authorize(browser, cimd.doc_url)
    assert_error_page(page)
    assert b"does not accept" in page.content
    assert cimd.requests == []


def test_adapter_decides_by_the_url_it_is_given(cimd, browser):
    """The policy hook gets the client_id URL itself, so a host's allow-list can say yes."""
    cimd.serve()
    with override_oauth(**ON, ADAPTER="tests.test_metadata_documents.OnlyTheLoopback"):
        page, _ = authorize(browser, cimd.doc_url)
    assert b"wants to access your account" in page.content
    assert cimd.hits("/client.json") == 1


# -- the consent page (§6.4, §6.7) ------------------------------------------------------------------
@pytest.mark.req("CIMD-6.4-show-hostname")
@pytest.mark.req("CIMD-6.7-logo")
@pytest.mark.req("7591-5-display-uris")
def test_consent_page_leads_with_the_host(cimd, browser):
    cimd.serve(client_name="<b>Google</b>", logo_uri="https://cimd.example/logo.png")
    page, _ = authorize(browser, cimd.doc_url)
    html = page.content.decode()
    host = f"127.0.0.1:{cimd.port}"
    assert f"<h1>{host} wants to access your account</h1>" in html
    assert "&lt;b&gt;Google&lt;/b&gt;" in html and "<b>Google</b>" not in html
    assert f"<title>Authorize &lt;b&gt;Google&lt;/b&gt; ({host})" in html
    assert "logo.png" not in html  # never hot-linked from a host the client controls
    assert "127.0.0.1:3000" in html  # where the user is sent back


@pytest.mark.req("BCP-4.11.2-authenticate-before-redirect")
def test_prompt_none_without_a_session_is_a_page_not_a_redirect_to_the_document(cimd, browser):
    """Anyone can publish a document naming any redirect URI: a visitor with no session is
    never sent there automatically, even when prompt=none forbids the login page. A document
    not fetched yet is not fetched for them (see the drive-by test below): the page offers no
    way back, as no redirect URI is known; once a logged-in request has fetched it, the page
    lets the user choose to go back."""
    cimd.serve()
    page, _ = authorize(HttpClient(), cimd.doc_url, prompt="none")
    assert_error_page(page)
    assert b"login_required" in page.content and b"oauth-provider-back" not in page.content
    assert cimd.hits("/client.json") == 0
    authorize(browser, cimd.doc_url)  # a logged-in user's request fetches it
    page, _ = authorize(HttpClient(), cimd.doc_url, prompt="none")
    assert_error_page(page)
    assert b"login_required" in page.content
    assert b'id="oauth-provider-back" href="http://127.0.0.1:3000/' in page.content  # the user's choice


def test_a_page_making_its_visitors_browsers_name_documents_fetches_and_counts_nothing(cimd, browser, user):
    """Any page can make its visitors' browsers request the authorization endpoint (an image,
    no session cookie under SameSite=Lax) naming document URLs, missing ones too, each new. For a
    browser not logged in nothing is fetched: it is sent to log in first. So no page can spend
    the fetch count of its visitors' address (everyone behind their NAT) nor make this server
    fetch for it; the user's own sign-in and a registration from that address go through."""
    limit = 3
    with override_oauth(**ON, DYNAMIC_REGISTRATION="open",
                        REGISTRATION_THROTTLE={"registrations": limit, "window": 600}):
        drive_by = HttpClient()
        for i in range(limit + 2):
            page, _ = authorize(drive_by, cimd.url(f"/missing-{i}.json"))
            assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")
        assert cimd.requests == []
        cimd.serve()
        page, _ = authorize(browser, cimd.doc_url)
        assert page.status_code == 200, page.content[:300]
        registered = HttpClient().post("/o/register/", json.dumps({"redirect_uris": [CALLBACK],
                                                                    "application_type": "native"}),
                                       content_type="application/json")
        assert registered.status_code == 201, registered.content
        # after logging in, the request the user came back with fetches the document
        page, _ = authorize(browser, cimd.url("/missing-0.json"))
        assert_error_page(page)
        assert cimd.hits("/missing-0.json") == 1


@pytest.mark.req("MCP-2026-07-28-localhost-warning")
def test_loopback_only_redirects_warn(cimd, browser):
    cimd.serve()
    assert b"loopback-warning" in authorize(browser, cimd.doc_url)[0].content


def test_a_documents_links_show_only_on_the_host_it_sends_users_to(cimd, browser):
    """RFC 7591 §5, as for a registered client: a document naming https://claude.ai as its
    client_uri (and its privacy policy there) while sending users to this machine shows no
    link to claude.ai; links on its redirect URIs' host are shown."""
    cimd.serve(client_uri="https://claude.ai/", policy_uri="https://claude.ai/privacy",
               tos_uri="http://127.0.0.1:3000/terms")
    html = authorize(browser, cimd.doc_url)[0].content.decode()
    assert "claude.ai" not in html and "Privacy policy" not in html
    assert 'href="http://127.0.0.1:3000/terms"' in html


def test_ordinary_clients_consent_page_unchanged(browser, conf_client):
    from tests.support.endpoints import params_for

    with override_oauth(**ON):
        html = browser.get("/o/authorize/", params_for(conf_client)).content.decode()
    assert f"<h1>{conf_client.name} wants to access your account</h1>" in html
    assert "loopback-warning" not in html


# -- cost for everyone else ---------------------------------------------------------------------------
def test_no_extra_statement_for_ordinary_clients(browser, conf_client, assert_num_queries):
    from tests.support.endpoints import params_for

    def count(**changes: Any) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with override_oauth(**changes), CaptureQueriesContext(connection) as ctx:
            browser.get("/o/authorize/", params_for(conf_client))
        return len(ctx.captured_queries)

    assert count(**ON) == count()


def test_document_host_is_not_hit_per_request_when_cached(cimd, browser, assert_max_queries):
    cimd.serve(headers={"Cache-Control": "max-age=600"})
    authorize(browser, cimd.doc_url)
    from oauth_provider import metadata_documents

    with assert_max_queries(1):
        client = metadata_documents.lookup(cimd.doc_url)
    assert client is not None and client.client_id == cimd.doc_url
    assert cimd.hits("/client.json") == 1


def test_a_refetched_unchanged_document_costs_one_read_and_writes_nothing(cimd, browser, assert_num_queries):
    """Once its cached copy expires, a document is fetched again; unchanged, it costs the
    client's read alone (no lock, no write, no consent forgotten)."""
    from oauth_provider import metadata_documents

    cimd.serve()
    authorize(browser, cimd.doc_url)
    caches["default"].clear()
    with assert_num_queries(1):
        assert metadata_documents.lookup(cimd.doc_url).name == "Example MCP Client"
    assert cimd.hits("/client.json") == 2


def test_a_change_another_request_already_stored_forgets_no_consent_given_since(cimd, browser, user):
    """Two requests refetch a changed document at once: the first stores the change and
    forgets the remembered consents (§6.3); the user then consents again; the second, finding
    the row already as its document says, leaves that new consent alone."""
    from oauth_provider import metadata_documents
    from tests.support.factories import ConsentFactory

    cimd.serve()
    authorize(browser, cimd.doc_url)
    model = get_client_model()._default_manager
    stale = model.get(client_id=cimd.doc_url)
    cimd.serve(client_name="Example MCP Client v2")
    caches["default"].clear()
    assert metadata_documents.lookup(cimd.doc_url).name == "Example MCP Client v2"  # the first request
    ConsentFactory(user=user, client=stale)
    metadata, _seconds = metadata_documents._fetch_and_validate(cimd.doc_url)
    assert metadata_documents._store(cimd.doc_url, metadata, stale).name == "Example MCP Client v2"  # the second
    assert Consent.objects.filter(client=stale).count() == 1


def test_documents_are_json_objects_stored_once(cimd, browser):
    """Two first requests for one URL make one row (the unique client_id decides)."""
    cimd.serve()
    authorize(browser, cimd.doc_url)
    caches["default"].clear()
    authorize(browser, cimd.doc_url)
    assert get_client_model()._default_manager.filter(client_id=cimd.doc_url).count() == 1
    assert json.loads(json.dumps(cimd.document()))["client_id"] == cimd.doc_url


@pytest.mark.req("CIMD-6.1-redirect-origin")
def test_same_origin_option(cimd, browser):
    cimd.serve(application_type="web", redirect_uris=["https://other.example/cb"])
    assert authorize(browser, cimd.doc_url, redirect_uri="https://other.example/cb")[0].status_code == 200
    caches["default"].clear()
    with override_oauth(**ON, CLIENT_ID_METADATA_DOCUMENT_SAME_ORIGIN=True):
        page, _ = authorize(browser, cimd.doc_url, redirect_uri="https://other.example/cb")
        assert_error_page(page)
        assert b"own origin" in page.content
        cimd.serve()  # a loopback redirect URI: still accepted
        assert authorize(browser, cimd.doc_url)[0].status_code == 200


@pytest.mark.req("CIMD-6.1-redirect-origin")
@pytest.mark.parametrize(("member", "value"), [
    ("jwks_uri", "https://keys.other.example/jwks.json"),
    ("backchannel_logout_uri", "https://victim.example/logout"),
    ("post_logout_redirect_uris", ["https://other.example/bye"]),
])
def test_same_origin_also_holds_the_documents_logout_and_key_urls(browser, monkeypatch, member, value):
    """With ``CLIENT_ID_METADATA_DOCUMENT_SAME_ORIGIN`` a document cannot send the user's browser
    elsewhere after logout, nor make the provider fetch keys from, or post logout tokens to,
    another host (request forgery on the document author's behalf): those URLs are held to the
    ``client_id``'s origin like its redirect URIs. (A front-channel logout URI is held to a
    redirect URI's origin by its own rule, OIDC Front-Channel Logout §2.)"""
    from oauth_provider import fetch

    url = "https://app.example/client.json"
    document = {"client_id": url, "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none",
                member: value}
    if member == "jwks_uri":
        document["token_endpoint_auth_method"] = "private_key_jwt"
    monkeypatch.setattr(fetch, "get_json", lambda *a, **k: fetch.FetchedJSON(document, 0))
    with override_oauth(**ON, CLIENT_ID_METADATA_DOCUMENT_SAME_ORIGIN=True):
        page, _ = authorize(browser, url, redirect_uri="https://app.example/cb")
        assert_error_page(page)
        assert b"own origin" in page.content
        caches["default"].clear()
        document[member] = [f"https://app.example/{member}"] if isinstance(value, list) else f"https://app.example/{member}"
        page, _ = authorize(browser, url, redirect_uri="https://app.example/cb")
        assert b"wants to access your account" in page.content, page.content[:400]


@pytest.mark.req("CIMD-6.4-show-hostname")
def test_connected_apps_page_names_the_host(cimd, browser):
    from django.urls import reverse

    cimd.serve(client_name="Google", logo_uri="https://cimd.example/logo.png")
    page, sent = authorize(browser, cimd.doc_url)
    code = query_of(approve(browser, page)["Location"])["code"]
    token({"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
           "code_verifier": sent["verifier"], "client_id": cimd.doc_url})
    html = browser.get(reverse("oauth_provider:connected_apps")).content.decode()
    assert f'Google <span class="client-host">(127.0.0.1:{cimd.port})</span>' in html
    assert "logo.png" not in html


@pytest.mark.req("CIMD-6.4-show-hostname")
def test_device_consent_page_leads_with_the_host(cimd, browser):
    """A document may name itself anything, "Google" too; on the device flow's consent page
    (the page remote phishing aims at, RFC 8628 §5.4) the host it is served from leads, as on
    the code flow's, and the logo is not hot-linked."""
    from tests.support.device_helpers import decide, enter

    cimd.serve(client_name="Google", logo_uri="https://cimd.example/logo.png",
               grant_types=["authorization_code", "urn:ietf:params:oauth:grant-type:device_code"])
    flow = HttpClient().post("/o/device_authorization/", {"client_id": cimd.doc_url, "scope": "read"})
    assert flow.status_code == 200, flow.content
    page = enter(browser, flow.json()["user_code"])
    html = page.content.decode()
    host = f"127.0.0.1:{cimd.port}"
    assert f"<h1>{host} on a device wants to access your account</h1>" in html
    assert f"The application at <strong>{host}</strong> calls itself" in html
    assert "logo.png" not in html
    assert f"<title>Connect Google ({host})" in html
    done = decide(browser, page).content.decode()
    assert f"Google ({host}) can now access your account" in done


@pytest.mark.req("CIMD-6.4-show-hostname")
def test_a_look_alike_unicode_host_is_shown_as_the_name_that_was_contacted(cimd, browser, monkeypatch):
    """The host is the one thing on the page a document cannot choose, unless it is written
    in another script: "gоogle.com" with a Cyrillic "о" is fetched from xn--gogle-...; that
    is the name the page shows, never the look-alike. (The network is stubbed: only what
    the page shows is under test.)"""
    from oauth_provider import fetch

    url = "https://g\u043eogle.com/client.json"
    document = {**cimd.document(), "client_id": url, "client_name": "Google",
                "redirect_uris": [CALLBACK]}
    monkeypatch.setattr(fetch, "get_json", lambda *a, **k: fetch.FetchedJSON(document, 60))
    page, _ = authorize(browser, url)
    html = page.content.decode()
    ascii_host = "g\u043eogle.com".encode("idna").decode("ascii")
    assert f"<h1>{ascii_host} wants to access your account</h1>" in html
    assert "g\u043eogle.com" not in html.replace(url, "")


@pytest.mark.req("CIMD-6.4-show-hostname")
def test_logout_and_revoke_confirmations_name_the_host(cimd, browser, user):
    """The pages asking the user to confirm something a client asked for, or to revoke it,
    name a metadata-document client with its host too: "Google asks to log you out" would be
    the client's word alone."""
    from tests.support.factories import ConsentFactory

    cimd.serve(client_name="Google", post_logout_redirect_uris=["http://127.0.0.1:3000/bye"])
    assert authorize(browser, cimd.doc_url)[0].status_code == 200  # the client is known from here on
    host = f"127.0.0.1:{cimd.port}"
    logout = browser.get("/o/logout/", {"client_id": cimd.doc_url}).content.decode()
    assert f"The request names the application Google ({host})" in logout
    ConsentFactory(user=user, client=get_client_model()._default_manager.get(client_id=cimd.doc_url))
    confirm = browser.post("/o/connected-apps/", {"client_id": cimd.doc_url, "step": "confirm"}).content.decode()
    assert f"<h1>Revoke access for Google ({host})?</h1>" in confirm


@pytest.mark.parametrize("changes", [{"logo_uri": "https://cimd.example/" + "l" * 600},
                                     {"client_uri": "https://cimd.example/" + "c" * 600}])
def test_values_too_long_to_store_are_an_error_page(cimd, browser, changes):
    cimd.serve(**changes)
    assert_error_page(authorize(browser, cimd.doc_url)[0])
    assert not get_client_model()._default_manager.filter(client_id=cimd.doc_url).exists()


def test_a_value_valid_as_metadata_but_not_storable_is_an_error_page(cimd, browser):
    """The fetcher's rules take a host with ``_``; the model's URL field does not: the
    document is refused with the field's message, not a server error."""
    cimd.serve(backchannel_logout_uri="https://logout_host.example/bc")
    page, _ = authorize(browser, cimd.doc_url)
    assert_error_page(page)
    assert b"backchannel_logout_uri" in page.content
    assert not get_client_model()._default_manager.filter(client_id=cimd.doc_url).exists()


# -- private_key_jwt documents (§6.2) -----------------------------------------------------------------
def _key_pair() -> tuple[Any, dict[str, Any]]:
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    private = ec.generate_private_key(ec.SECP256R1())
    return private, {**ECAlgorithm.to_jwk(private.public_key(), as_dict=True), "kid": "k1", "alg": "ES256"}


def _assertion(url: str, private: Any, issuer: str) -> str:
    import time
    import uuid

    import jwt as pyjwt

    now = int(time.time())
    claims = {"iss": url, "sub": url, "aud": issuer, "iat": now, "exp": now + 60, "jti": uuid.uuid4().hex}
    return pyjwt.encode(claims, private, algorithm="ES256", headers={"kid": "k1"})


@pytest.mark.req("CIMD-6.2-key-auth")
def test_private_key_jwt_document_makes_a_confidential_client(cimd, browser):
    from oauth_provider.client_assertions import ASSERTION_TYPE

    private, jwk = _key_pair()
    cimd.serve(token_endpoint_auth_method="private_key_jwt", jwks={"keys": [jwk]})
    page, sent = authorize(browser, cimd.doc_url)
    assert page.status_code == 200
    code = query_of(approve(browser, page)["Location"])["code"]
    client = get_client_model()._default_manager.get(client_id=cimd.doc_url)
    assert not client.is_public and client.token_endpoint_auth_method == "private_key_jwt"
    issuer = HttpClient().get(METADATA).json()["issuer"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
            "code_verifier": sent["verifier"]}
    # no assertion: a confidential client cannot pass as public
    bare = token({**form, "client_id": cimd.doc_url})
    assert bare.status_code == 401 and bare.json()["error"] == "invalid_client"
    # an assertion signed by a key that is not in the document
    other, _ = _key_pair()
    forged = token({**form, "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": _assertion(cimd.doc_url, other, issuer)})
    assert forged.status_code == 401 and forged.json()["error"] == "invalid_client"
    good = token({**form, "client_assertion_type": ASSERTION_TYPE,
                  "client_assertion": _assertion(cimd.doc_url, private, issuer)})
    assert good.status_code == 200, good.content


@pytest.mark.req("CIMD-6.5-ssrf")
def test_jwks_uri_resolving_to_metadata_address_is_not_fetched(cimd, browser, monkeypatch):
    from oauth_provider.client_assertions import ASSERTION_TYPE

    private, _jwk = _key_pair()
    cimd.serve(token_endpoint_auth_method="private_key_jwt", jwks_uri="https://keys.example/jwks.json")
    page, sent = authorize(browser, cimd.doc_url)
    code = query_of(approve(browser, page)["Location"])["code"]
    issuer = HttpClient().get(METADATA).json()["issuer"]
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "keys.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    answer = token({"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
                    "code_verifier": sent["verifier"], "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": _assertion(cimd.doc_url, private, issuer)})
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


# -- fetches are counted per address (checklist: fetching, §6.5) ----------------------------------
@pytest.mark.req("CIMD-6.5-ssrf")
def test_fetches_for_one_address_are_counted_as_registrations(cimd, browser, user):
    """Each URL client_id the server has not seen makes it fetch a document. Without a count
    anyone could have it fetch URLs of their choosing (a third party's, a slow one holding a
    worker for the whole timeout) as fast as it answers authorization requests. A fetch is a
    registration: past ``REGISTRATION_THROTTLE`` from one address, a 429 page with
    ``Retry-After`` and nothing fetched; a document still fresh in the cache is not refused."""
    for path in ("/a.json", "/b.json", "/c.json"):
        cimd.routes[path] = json_route(cimd.document(client_id=cimd.url(path)))
    with override_oauth(**ON, REGISTRATION_THROTTLE={"registrations": 2, "window": 600}):
        for path in ("/a.json", "/b.json"):
            page, _ = authorize(browser, cimd.url(path))
            assert page.status_code == 200, page.content[:300]
        page, _ = authorize(browser, cimd.url("/c.json"))
        assert_error_page(page, status=429)
        assert 0 < int(page["Retry-After"]) <= 600
        assert cimd.hits("/c.json") == 0
        again, _ = authorize(browser, cimd.url("/a.json"))  # fresh in the cache: no fetch, no count
        assert again.status_code == 200 and cimd.hits("/a.json") == 1
        # and so does a request object by value (RFC 9101), which names its client the same way
        with override_oauth(**ON, REGISTRATION_THROTTLE={"registrations": 2, "window": 600}, REQUEST_OBJECTS=True):
            page = browser.get("/o/authorize/", {"client_id": cimd.url("/c.json"), "request": "e30.e30.c2ln"})
        assert_error_page(page, status=429)
        assert cimd.hits("/c.json") == 0
        # another address has its own count
        other = HttpClient(REMOTE_ADDR="203.0.113.9")
        other.force_login(user)
        page, _ = authorize(other, cimd.url("/c.json"))
        assert page.status_code == 200 and cimd.hits("/c.json") == 1
        # the token endpoint (no session) counts apart, the same way: past the limit an unseen
        # document is a 429, not fetched
        for path in ("/d.json", "/e.json", "/f.json"):
            cimd.routes[path] = json_route(cimd.document(client_id=cimd.url(path)))
            answer = token({"grant_type": "authorization_code", "code": "x", "redirect_uri": CALLBACK,
                            "code_verifier": "v" * 43, "client_id": cimd.url(path)})
        assert answer.status_code == 429 and answer.json()["error"] == "invalid_request"
        assert (cimd.hits("/d.json"), cimd.hits("/e.json"), cimd.hits("/f.json")) == (1, 1, 0)


@pytest.mark.req("CIMD-6.5-ssrf")
def test_registrations_and_fetches_are_counted_apart_and_browsers_apart(cimd, browser, user):
    """Registrations (which browsers may send: the endpoint is open to them) do not spend the
    fetches of a user's sign-in, and registrations a page makes its visitors' browsers send
    (they carry Origin) do not spend those of native apps at the same address."""
    metadata = json.dumps({"redirect_uris": [CALLBACK], "application_type": "native"})
    with override_oauth(**ON, DYNAMIC_REGISTRATION="open", REGISTRATION_THROTTLE={"registrations": 1, "window": 600}):
        from_a_page = HttpClient(HTTP_ORIGIN="https://ads.example", HTTP_SEC_FETCH_SITE="cross-site")
        assert from_a_page.post("/o/register/", metadata, content_type="application/json").status_code == 201
        assert from_a_page.post("/o/register/", metadata, content_type="application/json").status_code == 429
        native = HttpClient()
        assert native.post("/o/register/", metadata, content_type="application/json").status_code == 201
        assert native.post("/o/register/", metadata, content_type="application/json").status_code == 429
        cimd.serve()
        page, _ = authorize(browser, cimd.doc_url)
        assert page.status_code == 200, page.content[:300]
        assert cimd.hits("/client.json") == 1


@pytest.mark.req("CIMD-4.5-redirect-exact")
def test_a_document_gets_only_the_scopes_offered_to_self_registered_clients(cimd, browser, user):
    """``SELF_REGISTERED_SCOPES`` holds for metadata documents too: none named gets that set,
    one naming a withheld scope is invalid (an error page, no client)."""
    with override_oauth(**ON, SELF_REGISTERED_SCOPES=["read"]):
        cimd.serve()
        page, _ = authorize(browser, cimd.doc_url)
        assert page.status_code == 200, page.content[:300]
        assert get_client_model()._default_manager.get(client_id=cimd.doc_url).allowed_scope_tuple == ("read",)
        other = cimd.url("/wide.json")
        cimd.routes["/wide.json"] = json_route(cimd.document(client_id=other, scope="read write"))
        refused, _ = authorize(browser, other)
        assert_error_page(refused)
        assert not get_client_model()._default_manager.filter(client_id=other).exists()

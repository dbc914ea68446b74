"""The example project's MCP server (example_project/notes/mcp_server.py), over HTTP, and the
official MCP Python SDK client (the ``mcp`` package, unmodified) connecting to it from nothing.

The example runs as its own ``runserver`` process with its own settings (dynamic registration
on, the MCP server listed in ``RESOURCES``), as ``python3 dev.py serve`` runs it. The SDK's
``OAuthClientProvider`` meets the first 401, reads ``resource_metadata`` from the challenge,
fetches the protected-resource metadata (RFC 9728) and the authorization server's (RFC 8414,
path-inserted issuer), registers by dynamic registration (RFC 7591), runs the code flow with
PKCE (S256) and ``resource`` (RFC 8707), checks ``iss`` (RFC 9207), exchanges the code and
calls a tool with the token. The browser part (login, consent) is a requests session
submitting the provider's real forms.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from oauth_provider.conf import DEFAULTS
from tests.support.example_sites import ExampleSites, new_sites
from tests.support.https_documents import DocumentServer, https_documents

from ..conftest import pkce_pair, query_of
from .test_third_party_clients import authorize_in_browser

pytestmark = [pytest.mark.e2e]

TIMEOUT = 10
CLI = "Demo CLI"
JSON_RPC = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> ExampleSites:
    return new_sites(tmp_path_factory.mktemp("example_mcp"))


@pytest.fixture(scope="module")
def seeded(sites: ExampleSites) -> dict[str, dict]:
    sites.manage("check", "--fail-level", "WARNING")
    sites.prepare()
    return json.loads(sites.credentials_file.read_text())


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DocumentServer]:
    """An https server on 127.0.0.1 for client ID metadata documents, trusted by the provider's
    process alone (SSL_CERT_FILE)."""
    with https_documents(tmp_path_factory.mktemp("cimd")) as served:
        yield served


@pytest.fixture(scope="module")
def server(sites: ExampleSites, seeded: dict, documents: DocumentServer) -> Iterator[str]:
    with sites.running(consumer=False, SSL_CERT_FILE=str(documents.certificate)):
        yield sites.provider


def mcp_url(server: str) -> str:
    return server + "/mcp"


def tokens(server: str, seeded: dict, scope: str, resource: str | None) -> dict:
    """demo's tokens through the public demo CLI client, for ``resource``."""
    verifier, challenge = pkce_pair()
    redirect = "http://127.0.0.1/callback"
    query = {"response_type": "code", "client_id": seeded[CLI]["client_id"], "redirect_uri": redirect,
             "scope": scope, "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"}
    if resource:
        query["resource"] = resource
    callback = authorize_in_browser(server + "/o/authorize/?" + urlencode(query), redirect, "demo",
                                    password="demo-password")
    data = {"grant_type": "authorization_code", "client_id": seeded[CLI]["client_id"],
            "code": query_of(callback)["code"], "redirect_uri": redirect, "code_verifier": verifier}
    if resource:
        data["resource"] = resource
    response = requests.post(server + "/o/token/", data=data, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return response.json()


def rpc(server: str, token: str | None, message: object, **headers: str) -> requests.Response:
    sent = dict(JSON_RPC, **headers)
    if token:
        sent["Authorization"] = f"Bearer {token}"
    return requests.post(mcp_url(server), data=json.dumps(message), headers=sent, timeout=TIMEOUT)


def call(method: str, params: dict | None = None, message_id: int = 1) -> dict:
    return {"jsonrpc": "2.0", "id": message_id, "method": method, "params": params or {}}


@pytest.fixture(scope="module")
def mcp_token(server: str, seeded: dict) -> str:
    return tokens(server, seeded, "read write", mcp_url(server))["access_token"]


# -- the resource server side -------------------------------------------------------------------------
@pytest.mark.req("MCP-2026-07-28-no-passthrough")
def test_unauthenticated_request_gets_the_rfc_9728_challenge(server: str) -> None:
    response = rpc(server, None, call("initialize"))
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{server}/.well-known/oauth-protected-resource/mcp"' in challenge
    document = requests.get(f"{server}/.well-known/oauth-protected-resource/mcp", timeout=TIMEOUT).json()
    assert document["resource"] == mcp_url(server)
    assert document["authorization_servers"] == [server + "/o"]
    assert set(document["scopes_supported"]) == {"read", "write"}
    metadata = requests.get(f"{server}/.well-known/oauth-authorization-server/o", timeout=TIMEOUT).json()
    assert metadata["registration_endpoint"] == server + "/o/register/"
    assert mcp_url(server) in metadata.get("protected_resources", [mcp_url(server)])


def test_json_rpc_session(server: str, mcp_token: str) -> None:
    init = rpc(server, mcp_token, call("initialize", {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}))
    assert init.status_code == 200 and init.headers["Content-Type"] == "application/json"
    result = init.json()["result"]
    assert result["protocolVersion"] == "2025-11-25"
    assert result["capabilities"] == {"tools": {"listChanged": False}}
    headers = {"MCP-Protocol-Version": "2025-11-25"}
    notified = rpc(server, mcp_token, {"jsonrpc": "2.0", "method": "notifications/initialized"}, **headers)
    assert notified.status_code == 202 and notified.content == b""
    listed = rpc(server, mcp_token, call("tools/list", message_id=2), **headers).json()
    assert listed["id"] == 2
    assert {tool["name"] for tool in listed["result"]["tools"]} == {"list_notes", "add_note"}
    added = rpc(server, mcp_token, call("tools/call", {"name": "add_note", "arguments": {"text": "via MCP"}}),
                **headers).json()["result"]
    assert added["isError"] is False
    notes = rpc(server, mcp_token, call("tools/call", {"name": "list_notes", "arguments": {"limit": 5}}),
                **headers).json()["result"]
    assert "via MCP" in notes["content"][0]["text"]
    # an older client is answered in its own revision; an unknown one in ours
    assert rpc(server, mcp_token, call("initialize", {"protocolVersion": "2025-06-18"})).json()[
        "result"]["protocolVersion"] == "2025-06-18"
    assert rpc(server, mcp_token, call("initialize", {"protocolVersion": "1999-01-01"})).json()[
        "result"]["protocolVersion"] == "2025-11-25"


@pytest.mark.parametrize("message,status,code", [
    (call("server/discover"), 200, -32601),
    (call("no/such/method"), 200, -32601),
    (call("tools/call", {"name": "rm_rf"}), 200, -32602),
    (call("tools/call", {"name": ["list_notes"]}), 200, -32602),
    (call("tools/call", {"name": "list_notes", "arguments": [1]}), 200, -32602),
    (call("tools/call", {"name": "list_notes", "arguments": {"limit": 10_000}}), 200, -32602),
    (call("tools/call", {"name": "add_note", "arguments": {"text": ""}}), 200, -32602),
    ([call("tools/list")], 400, -32600),
    ({"jsonrpc": "1.0", "id": 1, "method": "ping"}, 400, -32600),
    ({"jsonrpc": "2.0", "id": True, "method": "ping"}, 400, -32600),
])
def test_json_rpc_errors(server: str, mcp_token: str, message: object, status: int, code: int) -> None:
    response = rpc(server, mcp_token, message)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_transport_rules(server: str, mcp_token: str) -> None:
    auth = {"Authorization": f"Bearer {mcp_token}"}
    get = requests.get(mcp_url(server), headers=auth, timeout=TIMEOUT)
    assert get.status_code == 405 and get.headers["Allow"] == "POST"
    not_json = requests.post(mcp_url(server), data="{", headers={**JSON_RPC, **auth}, timeout=TIMEOUT)
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == -32700
    form = requests.post(mcp_url(server), data={"a": "b"}, headers=auth, timeout=TIMEOUT)
    assert form.status_code == 400
    big = rpc(server, mcp_token, call("tools/call", {"name": "add_note", "arguments": {"text": "x" * 70_000}}))
    assert big.status_code == 413
    # DNS rebinding: a page on another origin is refused, the site's own origin is not
    assert rpc(server, mcp_token, call("ping"), Origin="http://evil.example").status_code == 403
    assert rpc(server, mcp_token, call("ping"), Origin=server).status_code == 200
    assert rpc(server, mcp_token, call("ping"), **{"MCP-Protocol-Version": "1999-01-01"}).status_code == 400


@pytest.mark.req("MCP-2026-07-28-no-passthrough")
def test_tokens_are_bound_to_their_resource(server: str, seeded: dict, mcp_token: str) -> None:
    """A token for the notes API is not good at the MCP server, nor the other way round."""
    api_token = tokens(server, seeded, "read write", None)["access_token"]
    refused = rpc(server, api_token, call("tools/list"))
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert requests.get(server + "/api/notes/", headers={"Authorization": f"Bearer {mcp_token}"},
                        timeout=TIMEOUT).status_code == 401
    assert requests.get(server + "/api/notes/", headers={"Authorization": f"Bearer {api_token}"},
                        timeout=TIMEOUT).status_code == 200


def test_a_tool_needing_a_scope_the_token_lacks_asks_for_it(server: str, seeded: dict) -> None:
    read_only = tokens(server, seeded, "read", mcp_url(server))["access_token"]
    assert rpc(server, read_only, call("tools/call", {"name": "list_notes"})).status_code == 200
    response = rpc(server, read_only, call("tools/call", {"name": "add_note", "arguments": {"text": "no"}}))
    assert response.status_code == 403
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="write"' in challenge


def test_home_page_shows_the_mcp_server(server: str) -> None:
    page = requests.get(server + "/", timeout=TIMEOUT).text
    assert mcp_url(server) in page
    assert "/.well-known/oauth-protected-resource/mcp" in page


# -- the official MCP Python SDK, from nothing to a tool call -----------------------------------------
class MemoryStorage:
    """The SDK's TokenStorage protocol, in memory."""

    def __init__(self) -> None:
        self.tokens = None
        self.client_info = None
        #: how many times a new refresh token replaced the one stored (rotation at refresh)
        self.refreshes = 0

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens) -> None:
        if self.tokens is not None and tokens.refresh_token not in (None, self.tokens.refresh_token):
            self.refreshes += 1
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info) -> None:
        self.client_info = client_info


class Browser:
    """The SDK's redirect and callback handlers: open the authorization URL in a browser (a
    requests session that logs in as demo and presses Allow) and hand back what the provider
    redirected to."""

    REDIRECT = "http://127.0.0.1:33418/callback"

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.callback: str | None = None

    async def redirect(self, authorization_url: str) -> None:
        self.seen.append(authorization_url)
        self.callback = await asyncio.to_thread(
            authorize_in_browser, authorization_url, self.REDIRECT, "demo", "demo-password")

    async def callback_handler(self):
        from mcp.client.auth import AuthorizationCodeResult

        params = {k: v[0] for k, v in parse_qs(urlsplit(self.callback or "").query).items()}
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))


async def connect_and_call(url: str, storage: MemoryStorage, browser: Browser,
                           client_metadata_url: str | None = None,
                           expire_between: bool = False) -> tuple[list[str], str]:
    import httpx2
    from mcp import Client
    from mcp.client.auth import OAuthClientProvider
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.auth import OAuthClientMetadata

    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(client_name="MCP SDK test", redirect_uris=[Browser.REDIRECT]),
        storage=storage,
        redirect_handler=browser.redirect,
        callback_handler=browser.callback_handler,
        client_metadata_url=client_metadata_url,
    )
    async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            listed = await client.list_tools()
            added = await client.call_tool("add_note", {"text": "written by the MCP SDK"})
            if expire_between:
                # an hour passes: the SDK's own clock says the access token has expired, so its
                # next request refreshes first (grant_type=refresh_token with resource)
                provider.context.token_expiry_time = time.time() - 1
            notes = await client.call_tool("list_notes", {"limit": 3})
    assert not added.is_error
    text = notes.content[0].text
    return [tool.name for tool in listed.tools], text


@pytest.mark.req("MCP-2026-07-28-dcr-deprecated")
def test_official_mcp_sdk_connects_registers_and_calls_a_tool(server: str, sites: ExampleSites) -> None:
    pytest.importorskip("mcp.client.auth", reason="the MCP Python SDK (mcp) is not installed")
    storage, browser = MemoryStorage(), Browser()
    names, text = asyncio.run(connect_and_call(mcp_url(server), storage, browser, expire_between=True))
    assert set(names) == {"list_notes", "add_note"}
    assert "written by the MCP SDK" in text
    # what the SDK did: dynamic registration as a native client naming no auth method, so it got
    # RFC 7591's default, client_secret_basic, and a secret it sent in the Basic header; then the
    # code flow with PKCE and the MCP server as resource
    info = storage.client_info
    assert info.application_type == "native"
    assert info.token_endpoint_auth_method == "client_secret_basic" and info.client_secret
    [authorization_url] = browser.seen
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorization_url).query).items()}
    assert query["resource"] == mcp_url(server)
    assert query["code_challenge_method"] == "S256"
    assert authorization_url.startswith(server + "/o/authorize/")
    registered = json.loads(sites.manage("dumpdata", "oauth_provider.client"))
    mine = [row["fields"] for row in registered if row["fields"]["name"] == "MCP SDK test"]
    assert len(mine) == 1 and mine[0]["registration_method"] == "dynamic"
    assert mine[0]["skip_consent"] is False

    # the access token "expired" between the two tool calls: the SDK refreshed it (with
    # resource, and its Basic credentials) and got a rotated refresh token
    assert storage.refreshes == 1
    # a second connection reuses the stored tokens: no new registration, no browser
    again, _ = asyncio.run(connect_and_call(mcp_url(server), storage, browser))
    assert set(again) == {"list_notes", "add_note"} and len(browser.seen) == 1
    assert len([n for n in registered_names(sites) if n == "MCP SDK test"]) == 1


def test_official_mcp_sdk_connects_with_a_client_id_metadata_document(
        server: str, sites: ExampleSites, documents: DocumentServer) -> None:
    """MCP 2026-07-28's preferred way: the SDK's ``client_id`` is the https URL of its metadata
    document, which the provider fetches (through oauth_provider.fetch); no registration."""
    pytest.importorskip("mcp.client.auth", reason="the MCP Python SDK (mcp) is not installed")
    if "CLIENT_ID_METADATA_DOCUMENTS" not in DEFAULTS:
        pytest.skip("client ID metadata documents are not in this version (session 'fetch', issue 13 item 5)")
    client_id = documents.url("/mcp/notes-agent.json")
    documents.documents["/mcp/notes-agent.json"] = {
        "client_id": client_id, "client_name": "Notes agent (metadata document)",
        "redirect_uris": [Browser.REDIRECT], "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"], "token_endpoint_auth_method": "none", "application_type": "native",
    }
    before = registered_names(sites)
    storage, browser = MemoryStorage(), Browser()
    names, text = asyncio.run(connect_and_call(mcp_url(server), storage, browser, client_metadata_url=client_id))
    assert "add_note" in names and "written by the MCP SDK" in text
    assert storage.client_info.client_id == client_id
    [authorization_url] = browser.seen
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorization_url).query).items()}
    assert query["client_id"] == client_id and query["resource"] == mcp_url(server)
    assert "/mcp/notes-agent.json" in documents.requests
    assert "Notes agent (metadata document)" not in before
    assert registered_names(sites).count("MCP SDK test") == before.count("MCP SDK test")  # no DCR


def registered_names(sites: ExampleSites) -> list[str]:
    return [row["fields"]["name"] for row in json.loads(sites.manage("dumpdata", "oauth_provider.client"))]

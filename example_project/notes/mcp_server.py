"""A small MCP server over the notes, at ``/mcp``, guarded by the provider's tokens.

The Model Context Protocol's Streamable HTTP transport (MCP 2025-11-25, "Transports"): the
client POSTs one JSON-RPC message per request, and the server answers a request with one
``application/json`` body (the spec lets a server answer JSON instead of opening an SSE
stream), a notification or a response with ``202 Accepted`` and no body. This server keeps
no session (no ``Mcp-Session-Id``) and sends nothing unasked, so a ``GET`` (which would open
a server-to-client stream) gets ``405`` as the transport allows.

It speaks the ``initialize`` handshake revisions (2025-03-26 to 2025-11-25). A client of the
2026-07-28 revision first probes ``server/discover``; the JSON-RPC "method not found" answer
sends it back to the handshake, as that revision's fallback rule says.

Authorization (MCP "Authorization"): the view is an OAuth resource server with its own
resource identifier (``MCP_RESOURCE`` in settings, listed in ``OAUTH_PROVIDER["RESOURCES"]``):
a token for the notes API (the default resource) is refused here, and the other way round.
Without a valid token for that resource it answers ``401`` with
``WWW-Authenticate: Bearer resource_metadata="..."`` (RFC 9728 §5.1), which is where an MCP
client starts: protected-resource metadata, then the authorization server's metadata, then
registration and the code flow with PKCE and ``resource``. A tool needing a scope the token
lacks answers ``403 insufficient_scope`` naming it, so a client can ask for more (step-up).
All of that is the library's; only the JSON-RPC below is this project's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from oauth_provider import resource
from oauth_provider.decorators import protected_resource
from oauth_provider.errors import InsufficientScope

from .models import Note

#: handshake revisions this server speaks, newest first (MCP "Lifecycle": the server answers
#: the client's version when it supports it, else its own newest)
PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")
SERVER_INFO = {"name": "example-notes", "title": "Example notes", "version": "1.0"}
#: one JSON-RPC message is small; anything bigger is refused before parsing
MAX_BODY = 64 * 1024

# JSON-RPC 2.0 error codes (§5.1)
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    scope: str
    input_schema: dict[str, Any]
    run: Callable[[Any, dict[str, Any]], str]

    def listing(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "inputSchema": self.input_schema}


def _list_notes(owner: Any, arguments: dict[str, Any]) -> str:
    limit = arguments.get("limit", 10)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 50:
        raise RpcError(INVALID_PARAMS, "limit must be an integer from 1 to 50.")
    notes = list(Note.objects.filter(owner=owner)[:limit])
    if not notes:
        return "You have no notes."
    return "\n".join(f"- {note.text}" for note in notes)


def _add_note(owner: Any, arguments: dict[str, Any]) -> str:
    text = arguments.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > 500:
        raise RpcError(INVALID_PARAMS, "text must be a non-empty string of at most 500 characters.")
    Note.objects.create(owner=owner, text=text.strip())
    return f"Added the note: {text.strip()}"


TOOLS = {
    tool.name: tool
    for tool in (
        Tool("list_notes", "List your newest notes.", "read", {
            "type": "object",
            "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": 50,
                                     "description": "How many notes (default 10)."}},
            "additionalProperties": False,
        }, _list_notes),
        Tool("add_note", "Add a note.", "write", {
            "type": "object",
            "properties": {"text": {"type": "string", "maxLength": 500}},
            "required": ["text"],
            "additionalProperties": False,
        }, _add_note),
    )
}


# -- the JSON-RPC methods ---------------------------------------------------------------------
def initialize(request: HttpRequest, params: dict[str, Any]) -> dict[str, Any]:
    asked = params.get("protocolVersion")
    version = asked if asked in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[0]
    return {
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": False}},
        "serverInfo": SERVER_INFO,
        "instructions": "Read and add the signed-in user's notes on the example site.",
    }


def tools_list(request: HttpRequest, params: dict[str, Any]) -> dict[str, Any]:
    return {"tools": [tool.listing() for tool in TOOLS.values()]}


def tools_call(request: HttpRequest, params: dict[str, Any]) -> dict[str, Any]:
    name = params.get("name")
    tool = TOOLS.get(name) if isinstance(name, str) else None
    if tool is None:
        raise RpcError(INVALID_PARAMS, f"Unknown tool: {params.get('name')!r}")
    arguments = params.get("arguments") or {}
    if not isinstance(arguments, dict):
        raise RpcError(INVALID_PARAMS, "arguments must be an object.")
    token = request.oauth_token  # type: ignore[attr-defined]
    if not token.has_scopes([tool.scope]):
        # MCP "Scope challenge handling": an HTTP 403 the client can answer by asking for more
        raise InsufficientScope(scopes=[tool.scope])
    owner = request.resource_owner  # type: ignore[attr-defined]
    if owner is None:
        return _tool_error("These tools act for a user; a client_credentials token has none.")
    return {"content": [{"type": "text", "text": tool.run(owner, arguments)}], "isError": False}


def _tool_error(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": True}


def ping(request: HttpRequest, params: dict[str, Any]) -> dict[str, Any]:
    return {}


METHODS: dict[str, Callable[[HttpRequest, dict[str, Any]], dict[str, Any]]] = {
    "initialize": initialize,
    "ping": ping,
    "tools/list": tools_list,
    "tools/call": tools_call,
}


# -- the transport ----------------------------------------------------------------------------
def _rpc_error(message_id: Any, code: int, text: str, status: int = 200) -> JsonResponse:
    return JsonResponse({"jsonrpc": "2.0", "id": message_id, "error": {"code": code, "message": text}},
                        status=status)


def _origin_allowed(request: HttpRequest) -> bool:
    """MCP "Transports", security warning: validate ``Origin`` against DNS rebinding. A
    browser page may call only from this site's own origin; clients that are not browsers
    send no ``Origin``."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return f"{parts.scheme}://{parts.netloc}" == f"{request.scheme}://{request.get_host()}"


def _parse(request: HttpRequest) -> Any:
    if request.content_type != "application/json":
        raise RpcError(PARSE_ERROR, "Send one JSON-RPC message as application/json.")
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise RpcError(PARSE_ERROR, "The body is not JSON.") from None


def dispatch(request: HttpRequest, message: Any) -> HttpResponse:
    """Answer one JSON-RPC message (already authorized)."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return _rpc_error(None, INVALID_REQUEST, "Expected one JSON-RPC 2.0 message (no batches).", 400)
    method, message_id = message.get("method"), message.get("id")
    if method is None or "id" not in message:
        # a notification (notifications/initialized, cancellations) or a response: accepted
        return HttpResponse(status=202)
    if not isinstance(method, str) or not isinstance(message_id, (str, int)) or isinstance(message_id, bool):
        return _rpc_error(None, INVALID_REQUEST, "A request needs a string method and a string or number id.", 400)
    handler = METHODS.get(method)
    if handler is None:
        return _rpc_error(message_id, METHOD_NOT_FOUND, f"Method not found: {method}")
    params = message.get("params") or {}
    if not isinstance(params, dict):
        return _rpc_error(message_id, INVALID_PARAMS, "params must be an object.")
    try:
        result = handler(request, params)
    except RpcError as exc:
        return _rpc_error(message_id, exc.code, exc.message)
    except InsufficientScope as exc:
        return resource.error_response(request, exc, exc.scope.split(), resource=settings.MCP_RESOURCE)
    return JsonResponse({"jsonrpc": "2.0", "id": message_id, "result": result})


@protected_resource(resource=settings.MCP_RESOURCE)
def mcp_endpoint(request: HttpRequest) -> HttpResponse:
    """``POST /mcp``: one JSON-RPC message in, its answer out."""
    if not _origin_allowed(request):
        return HttpResponse("Origin not allowed.", status=403, content_type="text/plain")
    if request.method != "POST":
        response = HttpResponse(status=405)
        response["Allow"] = "POST"
        return response
    version = request.headers.get("MCP-Protocol-Version")
    if version is not None and version not in PROTOCOL_VERSIONS:
        return _rpc_error(None, INVALID_REQUEST, f"Unsupported MCP-Protocol-Version: {version}", 400)
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > MAX_BODY:
        return _rpc_error(None, INVALID_REQUEST, "The message is too large.", 413)
    try:
        message = _parse(request)
    except RpcError as exc:
        return _rpc_error(None, exc.code, exc.message, 400)
    return dispatch(request, message)

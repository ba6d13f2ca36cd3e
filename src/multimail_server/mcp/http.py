"""`/mcp` of `multimail serve`: the MCP server as streamable HTTP, behind the API's own keys.

Every request must carry ``Authorization: Bearer <API key>``; it is checked exactly as the API
checks it (same lookup, same wrong-key budget per IP, so keys cannot be guessed through /mcp),
and a missing or wrong key is a 401 in the API's error shape before the MCP layer sees anything.
Each tool call then runs through the SDK with the key of the request that carried it, against
this server's own API on loopback, so it can do exactly what that key can do over REST.

An MCP session (``Mcp-Session-Id``) belongs to the key that opened it: a request naming a
session with another key is refused, so a leaked session id gives nobody another caller's stream.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from ..api.deps import get_principal
from ..api.errors import error_response, retry_headers
from ..core.errors import MultiMailError
from ..services import Context
from .server import Clients, build_server

PATH = "/mcp"
MAX_SESSIONS = 1000


def loopback_url(host: str, port: int) -> str:
    """Where this process's API answers from inside the process's host."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _bearer(headers: Any) -> str | None:
    value = headers.get("authorization") if headers is not None else None
    if value and value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None


def _fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class McpEndpoint:
    """The ASGI endpoint: authenticate, bind sessions to keys, hand over to the SDK's manager."""

    def __init__(self, manager: StreamableHTTPSessionManager):
        self.manager = manager
        self.owners: dict[str, str] = {}  # Mcp-Session-Id -> fingerprint of the key that opened it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        authorization = request.headers.get("authorization")
        try:
            get_principal(request, None, authorization)
        except MultiMailError as exc:
            await error_response(exc.status, exc.code, exc.message, exc.details, headers=retry_headers(exc))(scope, receive, send)
            return
        owner = _fingerprint(_bearer(request.headers) or "")
        session = request.headers.get("mcp-session-id")
        if session is not None and self.owners.get(session, owner) != owner:
            await error_response(403, "session_key_mismatch", "This MCP session was opened with another API key.")(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                for name, value in message.get("headers", []):
                    if name.lower() == b"mcp-session-id":
                        self.owners.setdefault(value.decode(), owner)
                        while len(self.owners) > MAX_SESSIONS:
                            self.owners.pop(next(iter(self.owners)))
            await send(message)

        await self.manager.handle_request(scope, receive, sending)


@asynccontextmanager
async def serving(ctx: Context) -> AsyncIterator[McpEndpoint]:
    """The endpoint, with the SDK's session manager running for as long as the context is open
    (mcp/lazy.py opens it on the first request to /mcp and closes it at shutdown)."""
    settings = ctx.settings
    clients = Clients(loopback_url(settings.host, settings.http_port))
    server = build_server(clients, lambda rctx: _bearer(getattr(rctx.request, "headers", None)))
    manager = StreamableHTTPSessionManager(app=server, max_sessions=MAX_SESSIONS)
    try:
        async with manager.run():
            yield McpEndpoint(manager)
    finally:
        await clients.aclose()

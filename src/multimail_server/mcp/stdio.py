"""`multimail mcp`: the MCP server over stdio, for one API key (Claude Desktop and other local clients)."""

from __future__ import annotations

import anyio
from mcp.server.stdio import stdio_server

from .server import Clients, build_server


async def serve_stdio(*, api_key: str | None, base_url: str | None, default_mailbox: str | None = None) -> None:
    clients = Clients(base_url)
    server = build_server(clients, lambda ctx: api_key, default_mailbox=default_mailbox)
    try:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    finally:
        await clients.aclose()


def run_stdio(*, api_key: str | None, base_url: str | None, default_mailbox: str | None = None) -> None:
    anyio.run(lambda: serve_stdio(api_key=api_key, base_url=base_url, default_mailbox=default_mailbox))

"""Drive our MCP server with the `mcp` SDK's own client, over stdio (`multimail mcp` as a
subprocess) and over streamable HTTP (`/mcp` of the session's real `multimail serve`), on both
databases."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

# The MCP suite runs against a server on SQLite and one on PostgreSQL, as the HTTP suite does.
from tests.api.conftest import admin, server  # noqa: F401


@contextlib.asynccontextmanager
async def stdio_client(base: str, key: str | None, **env: str) -> AsyncIterator[Client]:
    """`multimail mcp` as a subprocess, configured through the environment as Claude Desktop would."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MULTIMAIL_")}
    environ.update({"MULTIMAIL_BASE_URL": base, **({"MULTIMAIL_API_KEY": key} if key else {}), **env})
    params = StdioServerParameters(command=sys.executable, args=["-m", "multimail_server.cli", "mcp"], env=environ)
    async with Client(params, read_timeout_seconds=90, mode="legacy") as client:
        yield client


@contextlib.asynccontextmanager
async def http_client(base: str, key: str | None, *, mode: str = "legacy") -> AsyncIterator[Client]:
    """/mcp with the key as a Bearer header; `mode="legacy"` is the initialize handshake (sessions,
    what today's clients speak), `"auto"` lets the SDK pick the newest protocol the server offers."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(90)) as http:
        async with Client(streamable_http_client(f"{base}/mcp", http_client=http), read_timeout_seconds=90, mode=mode) as client:
            yield client


@pytest.fixture(params=["stdio", "http", "http-newest"])
def connect(request, server):
    """connect(key) -> an async context manager giving a connected MCP client, over each transport."""
    if request.param == "stdio":
        return lambda key, **env: stdio_client(server.base, key, **env)
    mode = "auto" if request.param == "http-newest" else "legacy"
    return lambda key: http_client(server.base, key, mode=mode)

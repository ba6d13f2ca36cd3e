"""`/mcp`, loaded on its first request.

Importing the MCP SDK and building the tools' schemas is about a third of what `multimail serve`
spends starting (about 1.2 s of CPU of 3.6 on a 2-core machine), and most servers, and every
process started only to send mail or to run a test, never see an MCP client. So the route is
mounted at once but the MCP stack (mcp/http.py) is imported on the first request to it, in a
thread so the event loop keeps serving the API meanwhile, and its session manager then runs in a
task of its own until shutdown: the SDK's task group must live in one task from start to end,
which a request's task is not.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..api.errors import error_response
from ..services import Context

PATH = "/mcp"
log = logging.getLogger("multimail.mcp")


class LazyMcp:
    """The ASGI endpoint at /mcp: starts the MCP stack on first use, then hands every request to it."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self._wanted = asyncio.Event()
        self._ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._endpoint: Any = None

    async def run(self) -> None:
        """The task that holds the MCP session manager open, from the first request to shutdown."""
        await self._wanted.wait()
        try:
            http = await asyncio.to_thread(importlib.import_module, f"{__package__}.http")
            async with http.serving(self.ctx) as endpoint:
                self._endpoint = endpoint
                self._ready.set()
                await self._stopping.wait()
        except Exception:
            log.exception("The MCP endpoint could not be started")
        finally:
            self._endpoint = None
            self._ready.set()  # waiting requests answer 503 rather than hang

    def stop(self) -> bool:
        """Let the MCP stack close; whether it was ever started (else its task still waits for a first request)."""
        self._stopping.set()
        return self._wanted.is_set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._wanted.set()
        await self._ready.wait()
        endpoint = self._endpoint
        if endpoint is None:
            await error_response(503, "mcp_unavailable", "The MCP endpoint is not available on this server; see its log.")(
                scope, receive, send)
            return
        await endpoint(scope, receive, send)


def mount(app: FastAPI, ctx: Context) -> None:
    """Add ``/mcp`` to the API app; the MCP stack starts on its first request and stops with the app."""
    lazy = LazyMcp(ctx)
    app.router.routes.append(Route(PATH, endpoint=lazy, methods=["GET", "POST", "DELETE"], include_in_schema=False))
    previous = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any):
        runner = asyncio.create_task(lazy.run(), name="mcp-endpoint")
        try:
            async with previous(application) as state:
                yield state
        finally:
            if not lazy.stop():
                runner.cancel()
            try:
                await runner
            except asyncio.CancelledError:
                pass

    app.router.lifespan_context = lifespan

"""One log line and one metrics sample per HTTP request, with a request id to find both by.

A pure ASGI middleware (not BaseHTTPMiddleware), so long-polls and streamed answers pass through
untouched. The id is the client's `X-Request-Id` when it sent a sensible one, else a new one; it
is echoed in the answer either way, so a client can quote it in a bug report.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from ..services.metrics import Metrics

log = logging.getLogger("multimail.http")

REQUEST_ID_HEADER = b"x-request-id"
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's id if it is short and plain (it goes into log lines), else a fresh one."""
    for name, value in headers:
        if name.lower() == REQUEST_ID_HEADER:
            text = value.decode("latin-1")
            if _CLIENT_ID.match(text):
                return text
    return uuid.uuid4().hex


def route_of(scope: dict[str, Any]) -> str:
    """The route's template (`/v1/read_email`, `/d/{token}`), so metrics never get a label per
    id; requests that matched no route share one label."""
    return getattr(scope.get("route"), "path", None) or "unmatched"


class RequestLog:
    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope.get("headers", []))
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 500  # what the client gets when the app fails before answering

        async def send_with_id(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started, request_id, state.get("key_id"))

    def _record(self, scope, status: int, seconds: float, request_id: str, key_id: str | None) -> None:
        route, method = route_of(scope), scope["method"]
        self.metrics.requests.labels(route=route, method=method, status=str(status)).inc()
        self.metrics.latency.labels(route=route).observe(seconds)
        fields = {"method": method, "path": scope["path"], "status": status, "ms": round(seconds * 1000, 1),
                  "key_id": key_id, "request_id": request_id}
        log.info("%s %s %d %.1fms key=%s request_id=%s", method, scope["path"], status, fields["ms"], key_id or "-",
                 request_id, extra=fields)

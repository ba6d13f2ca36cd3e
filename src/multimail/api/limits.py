"""Request gatekeeping before any route runs: body size (413) and JSON content type (415).

A plain ASGI middleware reads the body once, up to the limit, and replays it to the app; a larger
body is refused without being read further.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_WITH_BODY = {"POST", "PUT", "PATCH"}


def _error(status: int, code: str, message: str, details: dict | None = None) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "details": details or {}}}).encode()


class RequestLimits:
    def __init__(self, app: ASGIApp, *, max_bytes: int, json_prefixes: tuple[str, ...] = ("/v1/",), exempt: tuple[str, ...] = ()):
        self.app = app
        self.max_bytes = max_bytes
        self.json_prefixes = json_prefixes
        self.exempt = exempt

    async def _send_error(self, send: Send, status: int, body: bytes) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._send_error(send, 413, _error(413, "payload_too_large", f"The request body is larger than {self.max_bytes} bytes.", {"limit": self.max_bytes}))
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._send_error(send, 413, _error(413, "payload_too_large", f"The request body is larger than {self.max_bytes} bytes.", {"limit": self.max_bytes}))
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        path = scope["path"]
        if body and path.startswith(self.json_prefixes) and not path.startswith(self.exempt):
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json" and not ctype.endswith("+json"):
                await self._send_error(send, 415, _error(415, "unsupported_media_type", "Send the body as JSON with 'Content-Type: application/json'.", {"content_type": ctype or None}))
                return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

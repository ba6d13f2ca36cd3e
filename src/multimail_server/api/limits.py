"""Request gatekeeping before any route runs: body size (413), JSON content type (415), and JSON
that parses but could never be stored or sent (400).

A plain ASGI middleware reads the body once, up to the limit, and replays it to the app; a larger
body is refused without being read further.

What "could never be stored or sent" means: `NaN` / `Infinity` (not JSON, and not storable in a
JSON column), lone UTF-16 surrogates such as `"\\ud800"` (no UTF-8 encoding exists, so the database
driver or the MIME encoder would fail later), and NUL characters (PostgreSQL text cannot hold
them). All three can only reach the server as escapes or bare constants in the JSON text, so the
body is fully inspected only when it contains `\\u`, `NaN` or `Infinity`.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response

_WITH_BODY = {"POST", "PUT", "PATCH"}
_SUSPECT = (b"\\u", b"NaN", b"Infinity")




class _NonFinite(Exception):
    pass


def _reject_constant(name: str) -> Any:
    raise _NonFinite(name)


def _unstorable(value: str) -> str | None:
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone UTF-16 surrogate (not valid Unicode text)"
    return None


def _path(parts: list[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def find_unstorable(data: Any) -> tuple[str, str] | None:
    """The first string (key or value) that cannot be stored or sent: (field path, why)."""
    stack: list[tuple[list[Any], Any]] = [([], data)]
    while stack:
        parts, value = stack.pop()
        if isinstance(value, str):
            why = _unstorable(value)
            if why:
                return _path(parts), why
        elif isinstance(value, dict):
            for k, v in value.items():
                why = _unstorable(k)
                if why:
                    return _path(parts + [k]), f"has a key that {why}"
                stack.append((parts + [k], v))
        elif isinstance(value, list):
            stack.extend((parts + [i], v) for i, v in enumerate(value))
    return None


def check_json(body: bytes) -> Response | None:
    """A 400 answer for JSON that parses but cannot be accepted, else None (malformed JSON is left
    to the framework, which answers `invalid_json` with the position)."""
    if not any(s in body for s in _SUSPECT):
        return None
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except _NonFinite as exc:
        return error_response(400, "invalid_json", f"The request body is not valid JSON: {exc} is not a JSON number.", {"constant": str(exc)})
    except (ValueError, RecursionError):
        return None
    found = find_unstorable(data)
    if found:
        field, why = found
        field = field.encode("utf-8", "backslashreplace").decode("utf-8")  # a key may hold the lone surrogate
        return error_response(400, "invalid_string", f"{field} {why}.", {"field": field})
    return None


class RequestLimits:
    def __init__(self, app: ASGIApp, *, max_bytes: int, json_prefixes: tuple[str, ...] = ("/v1/",), exempt: tuple[str, ...] = ()):
        self.app = app
        self.max_bytes = max_bytes
        self.json_prefixes = json_prefixes
        self.exempt = exempt

    def _too_large(self) -> Response:
        return error_response(413, "payload_too_large", f"The request body is larger than {self.max_bytes} bytes.", {"limit": self.max_bytes})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%00" in scope.get("query_string", b""):
            await error_response(400, "invalid_string", "The query string contains a NUL character.", {"field": "query"})(scope, receive, send)
            return
        if "\x00" in scope.get("path", ""):  # an id in the path (/v1/contacts/%00) reaches SQL as it is
            await error_response(400, "invalid_string", "The path contains a NUL character.", {"field": "path"})(scope, receive, send)
            return
        if scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._too_large()(scope, receive, send)
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
                await self._too_large()(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        path = scope["path"]
        if body and path.startswith(self.json_prefixes) and not path.startswith(self.exempt):
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json" and not ctype.endswith("+json"):
                await error_response(415, "unsupported_media_type", "Send the body as JSON with 'Content-Type: application/json'.",
                                     {"content_type": ctype or None})(scope, receive, send)
                return
            refused = check_json(body)
            if refused:
                await refused(scope, receive, send)
                return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

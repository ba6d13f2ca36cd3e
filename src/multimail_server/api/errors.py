"""Every error answer in the API's one shape (docs/api.md, "Errors"), in one place: service errors,
validation errors, unknown routes, and — as a last resort — unexpected exceptions (a 5xx is a bug;
it is logged)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..client.types import ErrorBody
from ..core.errors import MultiMailError

log = logging.getLogger("multimail_server.api")


__all__ = ["ErrorBody", "error_response", "install", "responses", "retry_headers"]  # ErrorBody: client/types.py's


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None,
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": details or {}}}, status_code=status, headers=headers)


_SOURCES = ("body", "query", "header", "path")
# pydantic names the member of a union it tried in the error location ("to", "str"); those tags
# are not fields. Our field names never contain brackets.
_TYPE_TAGS = {"str", "int", "float", "bool", "none", "bytes", "dict", "list"}


def _is_type_tag(part: Any) -> bool:
    return isinstance(part, str) and (part in _TYPE_TAGS or "[" in part)


def _clean_loc(loc: tuple) -> tuple:
    parts = list(loc)
    if parts and parts[0] in _SOURCES:
        parts = parts[1:]
    return tuple(p for p in parts if not _is_type_tag(p))


def _field(loc: tuple) -> str:
    """`("body", "attachments", 0, "filename")` -> `attachments[0].filename`, as the services name fields."""
    out = ""
    for p in _clean_loc(loc):
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def _where(body: bytes, pos: Any) -> dict[str, int]:
    """Line and column (1-based, as editors count) of character offset `pos` in the body, computed
    by the json module's own error type so they match what `json.loads` would report."""
    if not isinstance(pos, int):
        return {}
    where = json.JSONDecodeError("", body.decode("utf-8", errors="replace"), pos)
    return {"line": where.lineno, "column": where.colno, "position": pos}


def _invalid_json(body: bytes, error: dict) -> JSONResponse:
    """Malformed JSON: the message says what is wrong and where, so the sender can find it."""
    reason = str(error.get("ctx", {}).get("error") or "malformed JSON")
    loc = tuple(error.get("loc", ()))
    where = _where(body, loc[1] if len(loc) > 1 else None)
    at = f" at line {where['line']}, column {where['column']}" if where else ""
    return error_response(400, "invalid_json", f"The request body is not valid JSON: {reason}{at}.", {"reason": reason, **where})


def _missing(errors: Sequence[Any]) -> JSONResponse | None:
    """One answer naming every missing required field (not just the first), so one round trip
    tells the caller all it has to add; None when nothing is missing."""
    fields = list(dict.fromkeys(_field(tuple(e.get("loc", ()))) for e in errors
                                if e.get("type") == "missing" and tuple(e.get("loc", ())) != ("body",)))
    if not fields:
        return None
    names = fields[0] if len(fields) == 1 else f"{', '.join(fields[:-1])} and {fields[-1]}"
    message = f"{names} {'is' if len(fields) == 1 else 'are'} required."
    return error_response(400, "missing_field", message, {"field": fields[0], "fields": fields, "errors": _error_list(errors)})


def _error_list(errors: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"field": _field(tuple(e.get("loc", ()))), "type": e.get("type"), "message": e.get("msg")} for e in errors]


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"type": "invalid", "loc": ("body",), "msg": "Invalid request."}
    kind = first.get("type", "")
    field = _field(tuple(first.get("loc", ())))
    if kind == "json_invalid":
        return _invalid_json(await request.body(), first)
    missing = _missing(errors)
    if missing is not None:
        return missing
    # Every error about the same field (one per member of a union such as `str | list[str]`).
    same = [e for e in errors if _field(tuple(e.get("loc", ()))) == field]
    whole_body = tuple(first.get("loc", ())) == ("body",)
    if kind == "missing" and whole_body:  # `null` or no body at all (FastAPI < 0.160 says so this way)
        code, message = "invalid_body", "The request body must be a JSON object."
    elif kind == "extra_forbidden":
        code, message = "unknown_field", f"{field} is not a field of this request."
    elif kind in ("model_attributes_type", "dict_type", "model_type") and field == "body":
        code, message = "invalid_body", "The request body must be a JSON object."
    else:
        reasons = list(dict.fromkeys(str(e.get("msg", "invalid value")) for e in same))
        code, message = "invalid_field", f"{field}: {' or '.join(r[:1].lower() + r[1:] for r in reasons)}."
    return error_response(400, code, message, {"field": field, "errors": _error_list(errors)})


def _undecodable(body: bytes) -> JSONResponse:
    """The framework could not decode the body at all: not UTF-8 (say at which byte), or nested
    too deeply for the parser."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return error_response(400, "invalid_json", f"The request body is not UTF-8 text (byte {exc.start} cannot be decoded).",
                              {"reason": "not UTF-8", "byte_offset": exc.start})
    return error_response(400, "invalid_json", "The request body is nested too deeply to parse.", {"reason": "nested too deeply"})


def retry_headers(exc: MultiMailError) -> dict[str, str] | None:
    """`Retry-After` for errors that say when to retry (429, core/limits.py)."""
    retry_after = getattr(exc, "retry_after", None)
    return {"Retry-After": str(retry_after)} if retry_after is not None else None


def install(app: FastAPI) -> None:
    @app.exception_handler(MultiMailError)
    async def _mm(request: Request, exc: MultiMailError):
        return JSONResponse(exc.to_body(), status_code=exc.status, headers=retry_headers(exc))

    @app.exception_handler(RequestValidationError)
    async def _val(request: Request, exc: RequestValidationError):
        return await _validation(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            return error_response(404, "route_not_found", f"No endpoint {request.method} {request.url.path}.")
        if exc.status_code == 405:
            return error_response(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}.", headers=exc.headers)
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):
            return _undecodable(await request.body())
        return error_response(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(ResponseValidationError)
    async def _drift(request: Request, exc: ResponseValidationError):
        """An answer whose shape differs from its declared model (client/types.py). Tests run
        strict (`strict_responses`), so drift fails them; a server in use logs it and sends
        the answer as the view built it, rather than failing a request that did its work."""
        log.error("answer of %s %s does not match its declared model: %s", request.method, request.url.path,
                  exc.errors()[:5])
        if getattr(request.app.state.ctx.settings, "strict_responses", False):
            return error_response(500, "internal_error", "The server failed unexpectedly; this is a bug and it was logged.")
        return JSONResponse(jsonable_encoder(exc.body))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "The server failed unexpectedly; this is a bug and it was logged.")


def responses(*statuses: int, body: bool = False) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses a route can answer with; `body=True` for routes
    that take a JSON body (which may also be too large, 413, or not JSON, 415)."""
    text = {
        400: "Malformed input (which field, why).",
        401: "No or unknown API key.",
        403: "The key is not allowed (role, mailbox, oversight).",
        404: "Unknown id (also for ids outside the key's scope).",
        409: "Conflict: idempotency key reused with another body, or a transition not allowed.",
        410: "The content was purged under its mailbox's retention settings (`content_purged`, with when).",
        413: "Request or message too large.",
        415: "The body is not JSON.",
        422: "Semantically invalid.",
        429: "Too many requests or open long-polls; retry after `Retry-After` seconds.",
    }
    every = (400, 401, 429, *statuses, *((413, 415) if body else ()))  # 429: every route is rate limited
    return {s: {"model": ErrorBody, "description": text[s]} for s in sorted(set(every))}

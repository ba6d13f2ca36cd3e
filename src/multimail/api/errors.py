"""Every error answer in API.md's shape, in one place: service errors, validation errors, unknown
routes, and — as a last resort — unexpected exceptions (a 5xx is a bug; it is logged)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..core.errors import MultiMailError

log = logging.getLogger("multimail.api")


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = {}


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": details or {}}}, status_code=status, headers=headers)


def _field(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "header")]
    return ".".join(parts) or "body"


def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"type": "invalid", "loc": ("body",), "msg": "Invalid request."}
    kind = first.get("type", "")
    field = _field(tuple(first.get("loc", ())))
    if kind == "json_invalid":
        return error_response(400, "invalid_json", "The request body is not valid JSON.", {"position": first.get("ctx", {}).get("error")})
    if kind == "missing":
        code, message = "missing_field", f"{field} is required."
    elif kind == "extra_forbidden":
        code, message = "unknown_field", f"{field} is not a field of this request."
    elif kind in ("model_attributes_type", "dict_type") and field == "body":
        code, message = "invalid_body", "The request body must be a JSON object."
    else:
        code, message = "invalid_field", f"{field}: {first.get('msg', 'invalid value')}."
    details = {
        "field": field,
        "errors": [{"field": _field(tuple(e.get("loc", ()))), "type": e.get("type"), "message": e.get("msg")} for e in errors],
    }
    return error_response(400, code, message, details)


def install(app: FastAPI) -> None:
    @app.exception_handler(MultiMailError)
    async def _mm(request: Request, exc: MultiMailError):
        return JSONResponse(exc.to_body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _val(request: Request, exc: RequestValidationError):
        return _validation(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            return error_response(404, "route_not_found", f"No endpoint {request.method} {request.url.path}.")
        if exc.status_code == 405:
            return error_response(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}.", headers=exc.headers)
        return error_response(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "The server failed unexpectedly; this is a bug and it was logged.")


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses a route can answer with."""
    text = {
        400: "Malformed input (which field, why).",
        401: "No or unknown API key.",
        403: "The key is not allowed (role, mailbox, oversight).",
        404: "Unknown id (also for ids outside the key's scope).",
        409: "Conflict: idempotency key reused with another body, or a transition not allowed.",
        413: "Request or message too large.",
        415: "The body is not JSON.",
        422: "Semantically invalid.",
    }
    return {s: {"model": ErrorBody, "description": text[s]} for s in (400, 401, *statuses)}

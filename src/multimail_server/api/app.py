"""Assemble the FastAPI app: routers, error handlers, request limits. Nothing else happens here."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..client.types import Health
from ..services import Context
from ..services.metrics import metrics_for
from ..services.rate_limits import RateLimits
from . import docs, errors, ratelimit
from .deps import get_principal
from .limits import RequestLimits
from .observability import RequestLog
from .routes import (
    admin,
    approvals,
    claims,
    contacts,
    export,
    flow_runs,
    identity,
    links,
    mailboxes,
    ops,
    reading,
    sending,
    spam,
    suppressions,
    whoami,
)
from .routes.hosted import ROUTERS as HOSTED_ROUTERS


def create_app(ctx: Context) -> FastAPI:
    app = FastAPI(
        title="MultiMail",
        version=__version__,
        description="Email for AI agents, with human oversight. Every error has the shape "
        '`{"error": {"code", "message", "details"}}`.',
        # Every route spends a rate-limit budget (api/ratelimit.py); keyed routes in get_principal.
        dependencies=[Depends(ratelimit.make_request_limit(get_principal))],
        **docs.OFF,  # /docs and /redoc come from docs.py, without a CDN
    )
    app.state.ctx = ctx
    errors.install(app)
    docs.install(app)
    ratelimit.install(app, RateLimits(ctx.settings))
    for module in (mailboxes, sending, approvals, reading, claims, flow_runs, admin, export, identity, links, ops, whoami):
        include_flat(app, module.router)
    include_flat(app, suppressions.router)
    include_flat(app, contacts.router)
    include_flat(app, spam.router)
    for router in HOSTED_ROUTERS:  # the hosted API's resource routes (docs/hosted-api.md)
        include_flat(app, router)

    @app.get("/health", tags=["health"], operation_id="health", response_model=Health,
             responses={503: {"model": errors.ErrorBody, "description": "The database does not answer."}})
    def health() -> JSONResponse:
        """200 when the server can serve (the database answers)."""
        try:
            ctx.store.ping()
        except Exception as exc:
            return errors.error_response(503, "unavailable", f"Database unavailable: {type(exc).__name__}.")
        return JSONResponse({"status": "ok", "version": __version__})

    # verify_message takes a raw RFC 5322 message, not JSON.
    app.add_middleware(RequestLimits, max_bytes=ctx.settings.max_request_bytes, exempt=("/v1/verify_message",))
    app.add_middleware(RequestLog, metrics=metrics_for(ctx))  # outermost: sees every answer, even a 413
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def include_flat(app: FastAPI, router: APIRouter) -> None:
    """Add a router's routes to the app itself, in order, as `include_router` once did.

    Why: FastAPI's `include_router` keeps each router as one nested route that is matched by
    matching all of its routes, and matched again to dispatch; with thirty routers that cost every
    request 0.2 ms (send_email, the second router) to 1 ms (/health and the hosted routes, the
    last) of CPU on the test machine, more than a whole request of the bare framework. Added
    flat, a request matches each route it passes once. Each route is rebuilt from what the router
    made of it (its path with the prefix, its tags, dependencies and responses already merged), so
    the OpenAPI document is the same (`scripts/export_openapi.py --check` compares it)."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"include_flat takes API routes only, not {route!r}")
        app.router.add_api_route(
            route.path, _awaitable(route.endpoint), response_model=route.response_model, status_code=route.status_code,
            tags=list(route.tags or []), dependencies=list(route.dependencies), summary=route.summary,
            description=route.description, response_description=route.response_description, responses=dict(route.responses),
            deprecated=route.deprecated, methods=sorted(route.methods or ()), operation_id=route.operation_id,
            response_model_include=route.response_model_include, response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias, response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none, include_in_schema=route.include_in_schema,
            response_class=route.response_class, name=route.name, route_class_override=type(route), callbacks=route.callbacks,
            openapi_extra=route.openapi_extra, generate_unique_id_function=route.generate_unique_id_function,
        )


def _awaitable(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """A plain `def` endpoint as a coroutine that runs it on the thread pool.

    Why: FastAPI runs a plain endpoint on its thread pool and then, because the endpoint was not
    a coroutine, validates and serializes the answer on the thread pool too: two hand-overs to a
    thread and back a request. Wrapped, the endpoint still runs in a thread (a route's database
    work never blocks the event loop) and the answer is validated on the loop, where that short
    CPU work costs no hand-over. The wrapper has the endpoint's signature and globals (FastAPI
    reads both through `__wrapped__`), so parameters, dependencies and OpenAPI are unchanged."""
    if inspect.iscoroutinefunction(endpoint):
        return endpoint

    @functools.wraps(endpoint)
    async def run(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(endpoint, *args, **kwargs)

    return run


def _openapi(app: FastAPI) -> dict:
    """FastAPI's document, minus the 422 `HTTPValidationError` it adds to every route with
    parameters: this API answers malformed input with a 400 in its own error shape (errors.py)."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    for path_item in doc.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            ref = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
            if ref.endswith("/HTTPValidationError"):
                del responses["422"]
    schemas = doc.get("components", {}).get("schemas", {})
    if "HTTPValidationError" not in str(doc.get("paths")):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    app.openapi_schema = doc
    return doc
